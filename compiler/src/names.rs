//! Names: loads the files a program imports, collects every definition,
//! resolves every name a rule uses, and reports unknown, duplicate, cyclic and
//! wrong-kind names. The result is the program with names replaced by ids.
//!
//! Scope: a file sees its own definitions, those of the files it imports
//! directly, the prelude and the built-in peers. Names are unique across the
//! whole program, because they end up in generated resource names.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::db::{Db, ImportError, Program, SourceFile};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::stdlib;
use crate::syntax;
use crate::syntax::ast::{self, Action, Item, PeerLiteral};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DefId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Built into the compiler (`world`, `host`, ...).
    Builtin,
    /// From a `std/...` module.
    Std,
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    World,
    Host,
    KubeApiserver,
    Health,
}

impl Entity {
    pub const ALL: [(Entity, &'static str, &'static str); 4] = [
        (
            Entity::World,
            "world",
            "everything outside the cluster: any address that is not a pod or a node",
        ),
        (Entity::Host, "host", "the node a pod runs on"),
        (
            Entity::KubeApiserver,
            "kube-apiserver",
            "the Kubernetes API server, wherever it runs",
        ),
        (
            Entity::Health,
            "health",
            "the kubelet's health probes and the CNI's node health checks",
        ),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Entity::World => "world",
            Entity::Host => "host",
            Entity::KubeApiserver => "kube-apiserver",
            Entity::Health => "health",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Def {
    pub name: String,
    /// Where the name is written; `None` for built-ins.
    pub name_span: Option<Span>,
    /// The whole defining item.
    pub span: Option<Span>,
    pub doc: Option<String>,
    pub kind: DefKind,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefKind {
    Zone(ast::Zone),
    /// `zone a = b | c`: the members that resolved to zones.
    ZoneUnion(Vec<DefId>),
    External(PeerLiteral),
    Tier,
    Gateway {
        kind: String,
        zone: Option<DefId>,
        port: Option<u64>,
    },
    Entity(Entity),
}

impl DefKind {
    /// What users call this kind of name, for messages.
    pub fn noun(&self) -> &'static str {
        match self {
            DefKind::Zone(_) | DefKind::ZoneUnion(_) => "zone",
            DefKind::External(_) => "external",
            DefKind::Tier => "tier",
            DefKind::Gateway { .. } => "gateway",
            DefKind::Entity(_) => "built-in peer",
        }
    }

    /// The noun with its article: "a zone", "an external".
    pub fn a_noun(&self) -> String {
        let noun = self.noun();
        let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {noun}")
    }

    fn is_zone(&self) -> bool {
        matches!(self, DefKind::Zone(_) | DefKind::ZoneUnion(_))
    }

    fn is_peer(&self) -> bool {
        matches!(
            self,
            DefKind::Zone(_) | DefKind::ZoneUnion(_) | DefKind::External(_) | DefKind::Entity(_)
        )
    }
}

/// A use of a name, for go-to-definition, references and rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    pub span: Span,
    pub def: DefId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerRef {
    Def { def: DefId, span: Span },
    Literal { value: PeerLiteral, span: Span },
    Set { members: Vec<PeerRef>, span: Span },
}

impl PeerRef {
    /// Every leaf of the peer, sets flattened.
    pub fn leaves(&self) -> Vec<&PeerRef> {
        match self {
            PeerRef::Set { members, .. } => members.iter().flat_map(PeerRef::leaves).collect(),
            leaf => vec![leaf],
        }
    }

    pub fn span(&self) -> Span {
        match self {
            PeerRef::Def { span, .. }
            | PeerRef::Literal { span, .. }
            | PeerRef::Set { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRule {
    pub action: Action,
    pub source: PeerRef,
    pub destination: PeerRef,
    pub ports: Option<Vec<ast::Port>>,
    pub l7: Option<ast::L7>,
    pub via: Option<DefId>,
    /// `None`: the implicit `default` tier.
    pub tier: Option<DefId>,
    pub span: Span,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    /// Program order: the prelude, then every file after the files it imports.
    pub files: Vec<SourceFile>,
    pub defs: Vec<Def>,
    /// Rules whose every name resolved; rules with unknown names are dropped
    /// (and reported) so later stages see only complete rules.
    pub rules: Vec<ResolvedRule>,
    /// Tiers in declaration order (program order).
    pub tiers: Vec<DefId>,
    pub references: Vec<Reference>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Resolved {
    pub fn def(&self, id: DefId) -> &Def {
        &self.defs[id.0 as usize]
    }

    pub fn lookup(&self, name: &str) -> Option<DefId> {
        self.defs
            .iter()
            .position(|d| d.name == name)
            .map(|i| DefId(i as u32))
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

#[salsa::tracked(returns(ref))]
pub fn resolve(db: &dyn Db, program: Program) -> Resolved {
    let loaded = load_files(db, program);
    let mut resolver = Resolver {
        db,
        out: Resolved {
            files: loaded.order.clone(),
            diagnostics: loaded.diagnostics,
            ..Resolved::default()
        },
        by_name: HashMap::new(),
        imports: loaded.imports,
        prelude: loaded.prelude,
    };
    resolver.collect_defs();
    resolver.resolve_bodies();
    resolver.resolve_rules();
    resolver.report_unused();
    resolver.out
}

struct LoadedFiles {
    order: Vec<SourceFile>,
    imports: HashMap<SourceFile, Vec<SourceFile>>,
    prelude: Option<SourceFile>,
    diagnostics: Vec<Diagnostic>,
}

/// Loads every file reachable from the roots, depth first, reporting missing
/// files and cycles. Post-order gives "imports before importers".
fn load_files(db: &dyn Db, program: Program) -> LoadedFiles {
    let mut loaded = LoadedFiles {
        order: Vec::new(),
        imports: HashMap::new(),
        prelude: None,
        diagnostics: Vec::new(),
    };
    let mut done = HashSet::new();
    let roots = program.roots(db);
    if let Some(&first) = roots.first() {
        if let Ok(prelude) = db.load_import(first, stdlib::PRELUDE) {
            loaded.prelude = Some(prelude);
            visit(db, prelude, &mut Vec::new(), &mut done, &mut loaded);
        }
    }
    for &root in roots {
        visit(db, root, &mut Vec::new(), &mut done, &mut loaded);
    }
    loaded
}

fn visit(
    db: &dyn Db,
    file: SourceFile,
    stack: &mut Vec<(SourceFile, Span)>,
    done: &mut HashSet<SourceFile>,
    loaded: &mut LoadedFiles,
) {
    if !done.insert(file) {
        return;
    }
    let mut targets = Vec::new();
    let mut seen: HashMap<SourceFile, Span> = HashMap::new();
    for item in &syntax::parse(db, file).module.items {
        let Item::Import(import) = item else { continue };
        let spec = import.path.value.as_str();
        match db.load_import(file, spec) {
            Ok(target) => {
                if let Some(first) = seen.get(&target) {
                    loaded.diagnostics.push(
                        Diagnostic::new(
                            Code::DuplicateImport,
                            import.span,
                            format!("`{spec}` is imported twice"),
                        )
                        .with_label("imported again here")
                        .with_secondary(*first, "first imported here")
                        .with_help("remove this line"),
                    );
                    continue;
                }
                seen.insert(target, import.span);
                if let Some(at) = stack.iter().position(|(f, _)| *f == target) {
                    loaded
                        .diagnostics
                        .push(cycle_diagnostic(db, &stack[at..], file, import.span));
                    continue;
                }
                if target == file {
                    loaded
                        .diagnostics
                        .push(cycle_diagnostic(db, &[], file, import.span));
                    continue;
                }
                if stack.len() >= MAX_IMPORT_DEPTH && !done.contains(&target) {
                    loaded
                        .diagnostics
                        .push(too_deep(db, stack, file, import.span));
                    continue;
                }
                targets.push(target);
                stack.push((file, import.span));
                visit(db, target, stack, done, loaded);
                stack.pop();
            }
            Err(err) => loaded
                .diagnostics
                .push(import_error(spec, import.path.span, err)),
        }
    }
    loaded.imports.insert(file, targets);
    loaded.order.push(file);
}

/// How deep unions of unions may nest (docs/limits.md).
pub const MAX_UNION_DEPTH: usize = 64;
const MAX_UNION_DEPTH_PLUS_ONE: usize = MAX_UNION_DEPTH + 1;

/// How deep imports may nest: `visit` recurses once per level
/// (docs/limits.md).
pub const MAX_IMPORT_DEPTH: usize = 64;

fn too_deep(db: &dyn Db, stack: &[(SourceFile, Span)], file: SourceFile, at: Span) -> Diagnostic {
    let root = stack.first().map_or(file, |(f, _)| *f);
    Diagnostic::new(
        Code::ImportsTooDeep,
        at,
        format!(
            "imports nest more than {MAX_IMPORT_DEPTH} deep: `{}` imports a file that imports a file ... {MAX_IMPORT_DEPTH} times",
            root.path(db)
        ),
    )
    .with_label(format!("import number {} of the chain", MAX_IMPORT_DEPTH + 1))
    .with_help("import the shared files from one file instead of through a chain")
}

fn cycle_diagnostic(
    db: &dyn Db,
    chain: &[(SourceFile, Span)],
    last: SourceFile,
    closing: Span,
) -> Diagnostic {
    let mut names: Vec<&str> = chain.iter().map(|(f, _)| f.path(db).as_str()).collect();
    names.push(last.path(db));
    names.push(chain.first().map_or(last.path(db), |(f, _)| f.path(db)));
    let mut diag = Diagnostic::new(
        Code::ImportCycle,
        closing,
        format!("import cycle: {}", names.join(" → ")),
    )
    .with_label("this import closes the cycle");
    for (_, span) in chain {
        diag = diag.with_secondary(*span, "imported here");
    }
    diag.with_help("move the shared definitions into a file that both import")
}

fn import_error(spec: &str, span: Span, err: ImportError) -> Diagnostic {
    match err {
        ImportError::UnknownStd { known } => {
            let mut diag = Diagnostic::new(
                Code::UnknownStdModule,
                span,
                format!("there is no standard library module `{spec}`"),
            )
            .with_label("unknown module");
            let public: Vec<&str> = known
                .into_iter()
                .filter(|k| *k != stdlib::PRELUDE)
                .collect();
            let hint = match did_you_mean(spec, public.iter().copied()) {
                Some(best) => format!("did you mean `{best}`? "),
                None => String::new(),
            };
            diag = diag.with_help(format!("{hint}the modules are: {}", public.join(", ")));
            diag
        }
        ImportError::NotFound { path } => {
            Diagnostic::new(Code::ImportNotFound, span, format!("cannot find `{path}`"))
                .with_label("no such file")
                .with_help(
                    "paths are relative to the importing file; standard modules are `std/NAME`",
                )
        }
        ImportError::Unreadable { path, reason } => Diagnostic::new(
            Code::ImportNotFound,
            span,
            format!("cannot read `{path}`: {reason}"),
        )
        .with_label("imported here"),
        ImportError::BadText { path, bad } => {
            Diagnostic::new(bad.code(), span, bad.describe(&path))
                .with_label("imported here")
                .with_help(bad.help())
        }
    }
}

struct Resolver<'db> {
    db: &'db dyn Db,
    out: Resolved,
    by_name: HashMap<String, DefId>,
    imports: HashMap<SourceFile, Vec<SourceFile>>,
    prelude: Option<SourceFile>,
}

impl Resolver<'_> {
    fn origin(&self, file: SourceFile) -> Origin {
        if file.is_std(self.db) {
            Origin::Std
        } else {
            Origin::User
        }
    }

    fn add_def(&mut self, def: Def) -> DefId {
        let id = DefId(self.out.defs.len() as u32);
        match self.by_name.get(&def.name) {
            Some(&first) => {
                let first_def = self.out.def(first);
                if let Some(span) = def.name_span {
                    let mut diag = Diagnostic::new(
                        Code::DuplicateDefinition,
                        span,
                        format!("`{}` is defined twice", def.name),
                    )
                    .with_label("defined again here");
                    diag = match first_def.name_span {
                        Some(first_span) => diag.with_secondary(first_span, "first defined here"),
                        None => diag.with_help(format!(
                            "`{}` is {}; choose another name",
                            def.name,
                            first_def.kind.a_noun()
                        )),
                    };
                    if first_def.name_span.is_some() {
                        diag = diag.with_help("names are unique across a program; rename one");
                    }
                    self.out.diagnostics.push(diag);
                }
            }
            None => {
                self.by_name.insert(def.name.clone(), id);
            }
        }
        self.out.defs.push(def);
        id
    }

    fn collect_defs(&mut self) {
        for (entity, name, doc) in Entity::ALL {
            self.add_def(Def {
                name: name.to_string(),
                name_span: None,
                span: None,
                doc: Some(doc.to_string()),
                kind: DefKind::Entity(entity),
                origin: Origin::Builtin,
            });
        }
        let files = self.out.files.clone();
        for file in files {
            let origin = self.origin(file);
            for item in &syntax::parse(self.db, file).module.items {
                let (name, doc, kind) = match item {
                    Item::Zone(zone) => (&zone.name, &zone.doc, DefKind::Zone(zone.clone())),
                    // Members are resolved once every name is known.
                    Item::ZoneUnion(u) => (&u.name, &u.doc, DefKind::ZoneUnion(Vec::new())),
                    Item::External(ext) => {
                        (&ext.name, &ext.doc, DefKind::External(ext.value.clone()))
                    }
                    Item::Tier(tier) => (&tier.name, &tier.doc, DefKind::Tier),
                    Item::Gateway(gw) => (
                        &gw.name,
                        &gw.doc,
                        DefKind::Gateway {
                            kind: gw.kind.name.clone(),
                            zone: None,
                            port: gw.port.map(|(p, _)| p),
                        },
                    ),
                    Item::Import(_) | Item::Rule(_) => continue,
                };
                let id = self.add_def(Def {
                    name: name.name.clone(),
                    name_span: Some(name.span),
                    span: Some(item.span()),
                    doc: doc.clone(),
                    kind,
                    origin,
                });
                if matches!(item, Item::Tier(_)) && self.by_name.get(&name.name) == Some(&id) {
                    self.out.tiers.push(id);
                }
            }
        }
    }

    /// Is `def` visible from `file`? Built-ins and the prelude everywhere;
    /// otherwise the file itself and the files it imports directly.
    fn visible(&self, file: SourceFile, def: DefId) -> bool {
        let Some(span) = self.out.def(def).name_span else {
            return true;
        };
        let home = span.file;
        home == file
            || Some(home) == self.prelude
            || self.imports.get(&file).is_some_and(|i| i.contains(&home))
    }

    /// Resolves a name used at `ident` in its file; reports unknown names.
    fn lookup(&mut self, ident: &ast::Ident, wanted: Wanted) -> Option<DefId> {
        let file = ident.span.file;
        match self.by_name.get(&ident.name).copied() {
            Some(id) if self.visible(file, id) => {
                self.out.references.push(Reference {
                    span: ident.span,
                    def: id,
                });
                Some(id)
            }
            Some(id) => {
                let home = self.out.def(id).name_span.map(|s| s.file);
                let home_path = home.map(|f| f.path(self.db).clone()).unwrap_or_default();
                self.out.diagnostics.push(
                    Diagnostic::new(
                        Code::UnknownName,
                        ident.span,
                        format!("`{}` is not imported here", ident.name),
                    )
                    .with_label("defined in a file this one does not import")
                    .with_help(format!(
                        "`{}` is defined in `{home_path}`; add `import \"{}\"`",
                        ident.name,
                        import_spec(self.db, file, &home_path)
                    )),
                );
                None
            }
            None => {
                let candidates: Vec<&str> = self
                    .out
                    .defs
                    .iter()
                    .enumerate()
                    .filter(|(i, d)| {
                        wanted.accepts(&d.kind) && self.visible(file, DefId(*i as u32))
                    })
                    .map(|(_, d)| d.name.as_str())
                    .collect();
                let mut diag = Diagnostic::new(
                    Code::UnknownName,
                    ident.span,
                    format!("unknown {} `{}`", wanted.noun(), ident.name),
                )
                .with_label("not defined");
                if let Some(best) = did_you_mean(&ident.name, candidates.into_iter()) {
                    diag = diag.with_help(format!("did you mean `{best}`?"));
                } else if let Some(module) = std_module_defining(&ident.name) {
                    diag = diag.with_help(format!(
                        "`{}` is defined in `{module}`; add `import \"{module}\"`",
                        ident.name
                    ));
                }
                self.out.diagnostics.push(diag);
                None
            }
        }
    }

    fn wrong_kind(&mut self, span: Span, id: DefId, expected: &str) {
        let def = self.out.def(id);
        let mut diag = Diagnostic::new(
            Code::WrongKind,
            span,
            format!(
                "`{}` is {}, but {expected} is needed here",
                def.name,
                def.kind.a_noun()
            ),
        )
        .with_label(format!("expected {expected}"));
        if let Some(at) = def.name_span {
            diag = diag.with_secondary(at, format!("`{}` is defined here", def.name));
        }
        self.out.diagnostics.push(diag);
    }

    /// Zone unions and gateways refer to other definitions.
    fn resolve_bodies(&mut self) {
        let files = self.out.files.clone();
        for file in files {
            for item in &syntax::parse(self.db, file).module.items {
                match item {
                    Item::ZoneUnion(u) => {
                        let Some(&id) = self.by_name.get(&u.name.name) else {
                            continue;
                        };
                        if self.out.def(id).name_span != Some(u.name.span) {
                            continue; // a duplicate, already reported
                        }
                        let mut members = Vec::new();
                        for m in &u.members {
                            if let Some(mid) = self.lookup(m, Wanted::Zone) {
                                if self.out.def(mid).kind.is_zone() {
                                    members.push(mid);
                                } else {
                                    self.wrong_kind(m.span, mid, "a zone");
                                }
                            }
                        }
                        self.out.defs[id.0 as usize].kind = DefKind::ZoneUnion(members);
                    }
                    Item::Gateway(gw) => {
                        let Some(&id) = self.by_name.get(&gw.name.name) else {
                            continue;
                        };
                        if self.out.def(id).name_span != Some(gw.name.span) {
                            continue;
                        }
                        let zone = gw.zone.as_ref().and_then(|z| {
                            let zid = self.lookup(z, Wanted::Zone)?;
                            if self.out.def(zid).kind.is_zone() {
                                Some(zid)
                            } else {
                                self.wrong_kind(z.span, zid, "a zone");
                                None
                            }
                        });
                        if let DefKind::Gateway { zone: slot, .. } =
                            &mut self.out.defs[id.0 as usize].kind
                        {
                            *slot = zone;
                        }
                    }
                    _ => {}
                }
            }
        }
        self.limit_union_depth();
        self.report_union_cycles();
    }

    /// Unions of unions nest at most [`MAX_UNION_DEPTH`] deep: cycle search
    /// and lowering recurse once per level. The first union past the limit
    /// gets an E0109 and every union past it loses its members, so later
    /// stages stay shallow. Iterative, ignoring cycles (reported next).
    fn limit_union_depth(&mut self) {
        let count = self.out.defs.len();
        let members_of = |defs: &[Def], id: usize| -> Vec<DefId> {
            match &defs[id].kind {
                DefKind::ZoneUnion(members) => members.clone(),
                _ => Vec::new(),
            }
        };
        // 0: unseen, 1: on the stack, 2: done.
        let mut state = vec![0u8; count];
        let mut depth = vec![0usize; count];
        for start in 0..count {
            if state[start] != 0 || !matches!(self.out.defs[start].kind, DefKind::ZoneUnion(_)) {
                continue;
            }
            state[start] = 1;
            let mut stack = vec![(start, members_of(&self.out.defs, start), 0usize)];
            while let Some((node, members, next)) = stack.last_mut() {
                let node = *node;
                if let Some(&m) = members.get(*next) {
                    *next += 1;
                    let m = m.0 as usize;
                    if state[m] == 0 && matches!(self.out.defs[m].kind, DefKind::ZoneUnion(_)) {
                        state[m] = 1;
                        stack.push((m, members_of(&self.out.defs, m), 0));
                    }
                    continue;
                }
                let deepest = members
                    .iter()
                    .map(|m| m.0 as usize)
                    .filter(|m| state[*m] == 2)
                    .map(|m| depth[m])
                    .max()
                    .unwrap_or(0);
                depth[node] = deepest + 1;
                state[node] = 2;
                stack.pop();
            }
        }
        for (id, d) in depth.iter().enumerate() {
            if *d <= MAX_UNION_DEPTH {
                continue;
            }
            let def = &mut self.out.defs[id];
            if let DefKind::ZoneUnion(members) = &mut def.kind {
                members.clear();
            }
            if let (MAX_UNION_DEPTH_PLUS_ONE, Some(span)) = (*d, def.span) {
                let diag = Diagnostic::new(
                    Code::UnionsTooDeep,
                    span,
                    format!(
                        "zone `{}` is a union of unions more than {MAX_UNION_DEPTH} deep",
                        def.name
                    ),
                )
                .with_label(format!(
                    "union number {MAX_UNION_DEPTH_PLUS_ONE} of the chain"
                ))
                .with_help("define the union directly from zones, or from unions of zones");
                self.out.diagnostics.push(diag);
            }
        }
    }

    fn report_union_cycles(&mut self) {
        let mut reported = HashSet::new();
        // Unions from which no cycle is reachable: searched once.
        let mut acyclic = HashSet::new();
        for start in 0..self.out.defs.len() {
            let start = DefId(start as u32);
            if !matches!(self.out.def(start).kind, DefKind::ZoneUnion(_)) {
                continue;
            }
            let mut path = vec![start];
            if let Some(cycle) = self.find_cycle(&mut path, &mut acyclic) {
                let mut key: Vec<DefId> = cycle.clone();
                key.sort();
                if !reported.insert(key) {
                    continue;
                }
                let names: Vec<&str> = cycle
                    .iter()
                    .chain(cycle.first())
                    .map(|d| self.out.def(*d).name.as_str())
                    .collect();
                let msg = format!(
                    "zone `{}` is defined in terms of itself: {}",
                    names[0],
                    names.join(" → ")
                );
                if let Some(span) = self.out.def(cycle[0]).span {
                    let mut diag = Diagnostic::new(Code::ZoneUnionCycle, span, msg)
                        .with_label("this union contains itself");
                    for d in &cycle[1..] {
                        if let Some(s) = self.out.def(*d).span {
                            diag = diag.with_secondary(s, "part of the cycle");
                        }
                    }
                    self.out.diagnostics.push(diag);
                }
                // Break the cycle so later stages terminate.
                if let DefKind::ZoneUnion(members) = &mut self.out.defs[cycle[0].0 as usize].kind {
                    let next = cycle.get(1).copied().unwrap_or(cycle[0]);
                    members.retain(|m| *m != next);
                }
            }
        }
    }

    fn find_cycle(
        &self,
        path: &mut Vec<DefId>,
        acyclic: &mut HashSet<DefId>,
    ) -> Option<Vec<DefId>> {
        let current = *path.last()?;
        let DefKind::ZoneUnion(members) = &self.out.def(current).kind else {
            return None;
        };
        for &m in members {
            if let Some(at) = path.iter().position(|p| *p == m) {
                return Some(path[at..].to_vec());
            }
            if acyclic.contains(&m) {
                continue;
            }
            path.push(m);
            if let Some(c) = self.find_cycle(path, acyclic) {
                return Some(c);
            }
            path.pop();
        }
        acyclic.insert(current);
        None
    }

    fn resolve_rules(&mut self) {
        let files = self.out.files.clone();
        for file in files {
            let origin = self.origin(file);
            for item in &syntax::parse(self.db, file).module.items {
                match item {
                    Item::Rule(rule) => self.resolve_rule(rule, None, origin),
                    Item::Tier(tier) => {
                        let id = self
                            .by_name
                            .get(&tier.name.name)
                            .copied()
                            .filter(|id| self.out.def(*id).name_span == Some(tier.name.span));
                        for rule in &tier.rules {
                            self.resolve_rule(rule, id, origin);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn resolve_rule(&mut self, rule: &ast::Rule, tier: Option<DefId>, origin: Origin) {
        let source = self.resolve_peer(&rule.source);
        let destination = self.resolve_peer(&rule.destination);
        let via = match &rule.via {
            None => Ok(None),
            Some(g) => match self.lookup(g, Wanted::Gateway) {
                Some(id) if matches!(self.out.def(id).kind, DefKind::Gateway { .. }) => {
                    Ok(Some(id))
                }
                Some(id) => {
                    self.wrong_kind(g.span, id, "a gateway");
                    Err(())
                }
                None => Err(()),
            },
        };
        let (Some(source), Some(destination), Ok(via)) = (source, destination, via) else {
            return;
        };
        if via.is_some() {
            self.check_via_destination(&destination);
        }
        self.out.rules.push(ResolvedRule {
            action: rule.action,
            source,
            destination,
            ports: rule.ports.clone(),
            l7: rule.l7.clone(),
            via,
            tier,
            span: rule.span,
            origin,
        });
    }

    fn check_via_destination(&mut self, destination: &PeerRef) {
        for leaf in destination.leaves() {
            let is_fqdn = match leaf {
                PeerRef::Literal { value, .. } => matches!(value, PeerLiteral::Fqdn(_)),
                PeerRef::Def { def, .. } => matches!(
                    self.out.def(*def).kind,
                    DefKind::External(PeerLiteral::Fqdn(_))
                ),
                PeerRef::Set { .. } => true,
            };
            if !is_fqdn {
                self.out.diagnostics.push(
                    Diagnostic::new(
                        Code::ViaNeedsFqdn,
                        leaf.span(),
                        "`via` routes traffic to external hosts named by FQDN, and this is not one",
                    )
                    .with_label("not an FQDN")
                    .with_help("write the destination as `fqdn \"host\"` (or an external defined with `fqdn`), or drop `via`"),
                );
            }
        }
    }

    /// `None` when a name inside does not resolve (already reported).
    fn resolve_peer(&mut self, peer: &ast::Peer) -> Option<PeerRef> {
        match peer {
            ast::Peer::Name(ident) => {
                let id = self.lookup(ident, Wanted::Peer)?;
                if !self.out.def(id).kind.is_peer() {
                    self.wrong_kind(ident.span, id, "a zone, an external or a built-in peer");
                    return None;
                }
                Some(PeerRef::Def {
                    def: id,
                    span: ident.span,
                })
            }
            ast::Peer::Literal { value, span } => Some(PeerRef::Literal {
                value: value.clone(),
                span: *span,
            }),
            ast::Peer::Set { members, span } => {
                let resolved: Vec<Option<PeerRef>> =
                    members.iter().map(|m| self.resolve_peer(m)).collect();
                let members: Option<Vec<PeerRef>> = resolved.into_iter().collect();
                Some(PeerRef::Set {
                    members: members?,
                    span: *span,
                })
            }
        }
    }

    fn report_unused(&mut self) {
        let mut used: HashSet<DefId> = self.out.references.iter().map(|r| r.def).collect();
        // A union member or gateway zone counts as used.
        for def in &self.out.defs {
            match &def.kind {
                DefKind::ZoneUnion(members) => used.extend(members.iter().copied()),
                DefKind::Gateway { zone: Some(z), .. } => {
                    used.insert(*z);
                }
                _ => {}
            }
        }
        let mut diags = Vec::new();
        for (i, def) in self.out.defs.iter().enumerate() {
            if def.origin != Origin::User || used.contains(&DefId(i as u32)) {
                continue;
            }
            let Some(span) = def.name_span else { continue };
            // An isolated zone does something without any rule: its pods are
            // default-deny. Only zones that change nothing are unused.
            let does_nothing = match &def.kind {
                DefKind::External(_) | DefKind::Gateway { .. } | DefKind::ZoneUnion(_) => true,
                DefKind::Zone(zone) => zone.lines.iter().any(|l| {
                    matches!(
                        l,
                        ast::ZoneLine::Isolate {
                            mode: ast::Isolate::None,
                            ..
                        }
                    )
                }),
                DefKind::Tier | DefKind::Entity(_) => false,
            };
            if does_nothing {
                diags.push(
                    Diagnostic::new(
                        Code::UnusedDefinition,
                        span,
                        format!("{} `{}` is never used", def.kind.noun(), def.name),
                    )
                    .with_label("defined here, used by no rule")
                    .with_help("use it in a rule or remove it"),
                );
            }
        }
        self.out.diagnostics.extend(diags);
    }
}

#[derive(Debug, Clone, Copy)]
enum Wanted {
    Peer,
    Zone,
    Gateway,
}

impl Wanted {
    fn accepts(self, kind: &DefKind) -> bool {
        match self {
            Wanted::Peer => kind.is_peer(),
            Wanted::Zone => kind.is_zone(),
            Wanted::Gateway => matches!(kind, DefKind::Gateway { .. }),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Wanted::Peer => "peer",
            Wanted::Zone => "zone",
            Wanted::Gateway => "gateway",
        }
    }
}

/// The closest candidate within an edit distance that still looks like a typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: BTreeMap<(usize, &str), ()> = BTreeMap::new();
    for c in candidates {
        let d = strsim::levenshtein(name, c);
        if d <= limit {
            best.insert((d, c), ());
        }
    }
    best.into_keys().next().map(|(_, c)| c)
}

/// Which standard module defines `name`, judged from the module sources.
fn std_module_defining(name: &str) -> Option<&'static str> {
    stdlib::MODULES.iter().find_map(|(module, text)| {
        let defines = text.lines().any(|line| {
            let mut words = line.split_whitespace();
            matches!(words.next(), Some("zone" | "external" | "gateway" | "tier"))
                && words.next() == Some(name)
        });
        (defines && *module != stdlib::PRELUDE).then_some(*module)
    })
}

/// The import spec that names `target` from `file`: `std/x` as is, otherwise
/// relative to the importing file's directory when possible.
fn import_spec(db: &dyn Db, file: SourceFile, target: &str) -> String {
    if stdlib::is_std_path(target) {
        return target.to_string();
    }
    let base = std::path::Path::new(file.path(db)).parent();
    let rel = base
        .and_then(|b| std::path::Path::new(target).strip_prefix(b).ok())
        .map(|p| format!("./{}", p.to_string_lossy()));
    rel.unwrap_or_else(|| target.to_string())
}
