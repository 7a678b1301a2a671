//! The IDE layer: what an editor asks about a program — hover, definition,
//! references, rename, completion, symbols, folding, semantic tokens and
//! quick fixes — as plain functions of the database.
//!
//! Positions are byte offsets into a file's text and results carry [`Span`]s;
//! the language server (`lsp/`) converts them to LSP positions and URIs.
//! Nothing here knows LSP. Every function tolerates any offset (clamped to
//! the text and to a char boundary) and half-typed files: it works from the
//! items that parsed and from a small lexer for the rest.
//!
//! A request about a file runs against the program rooted at that file (the
//! language server keeps one per open document); the functions that look
//! across files (references, rename, workspace symbols, label completion)
//! take every open program, and identify a definition across programs by its
//! name and where it is written.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use crate::db::{self, Db, Program, SourceFile};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::names::{self, Def, DefId, DefKind, Origin, Resolved};
use crate::stdlib;
use crate::syntax::ast::{
    self, Constraint, ConstraintOp, Isolate, Item, PeerLiteral, PortValue, ZoneLine,
};

// ---------------------------------------------------------------- results

/// Replace the text at `span` with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEdit {
    pub span: Span,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hover {
    /// What the hover is about (the word or construct under the cursor).
    pub span: Span,
    pub markdown: String,
}

/// Where the name under the cursor is written, and where it is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Navigation {
    pub origin: Span,
    /// The defining name (for an import: the start of the imported file).
    pub target: Span,
    /// The whole defining item, when there is one.
    pub full: Option<Span>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CompletionKind {
    Keyword,
    Zone,
    External,
    Tier,
    Gateway,
    Builtin,
    LabelKey,
    LabelValue,
    Protocol,
    Port,
    Module,
    File,
    Method,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
    pub documentation: Option<String>,
    /// The text that replaces `replace` (the partly typed word).
    pub insert: String,
    pub replace: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Import,
    Zone,
    External,
    Tier,
    Gateway,
    Rule,
    Builtin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    pub detail: Option<String>,
    /// The whole item.
    pub span: Span,
    /// The name, or the part to select.
    pub selection: Span,
    pub children: Vec<Symbol>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FoldKind {
    Region,
    Comment,
    Imports,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fold {
    pub start: usize,
    pub end: usize,
    pub kind: FoldKind,
}

/// Semantic token types, in the order of the legend the server announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKind {
    Keyword,
    Comment,
    String,
    Number,
    Operator,
    Zone,
    External,
    Tier,
    Gateway,
    Builtin,
    LabelKey,
    Protocol,
}

impl TokenKind {
    pub const ALL: [TokenKind; 12] = [
        TokenKind::Keyword,
        TokenKind::Comment,
        TokenKind::String,
        TokenKind::Number,
        TokenKind::Operator,
        TokenKind::Zone,
        TokenKind::External,
        TokenKind::Tier,
        TokenKind::Gateway,
        TokenKind::Builtin,
        TokenKind::LabelKey,
        TokenKind::Protocol,
    ];

    pub fn index(self) -> u32 {
        TokenKind::ALL.iter().position(|k| *k == self).unwrap_or(0) as u32
    }
}

/// Semantic token modifier bits, in legend order.
pub mod modifiers {
    pub const DECLARATION: u32 = 1;
    pub const DEFAULT_LIBRARY: u32 = 2;
    pub const DOCUMENTATION: u32 = 4;
    pub const NAMES: [&str; 3] = ["declaration", "defaultLibrary", "documentation"];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SemanticToken {
    pub start: usize,
    pub end: usize,
    pub kind: TokenKind,
    pub modifiers: u32,
}

/// A quick fix for a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<TextEdit>,
    /// The fix to apply when the editor asks for "the" fix.
    pub preferred: bool,
}

// ---------------------------------------------------------------- offsets

fn text(db: &dyn Db, file: SourceFile) -> &str {
    file.text(db).as_str()
}

/// `offset` cut to the text and moved back to a char boundary.
pub fn clamp_offset(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn touches(span: Span, file: SourceFile, offset: usize) -> bool {
    span.file == file && (span.start as usize) <= offset && offset <= span.end as usize
}

/// How to show `file` to someone reading `from`: `std/k8s`, `./zones.npl`
/// (relative to `from`'s directory when below it), or the path as loaded.
pub fn display_path(db: &dyn Db, from: SourceFile, file: SourceFile) -> String {
    let path = file.path(db);
    if stdlib::is_std_path(path) {
        return path.clone();
    }
    let base = Path::new(from.path(db)).parent();
    base.and_then(|b| Path::new(path).strip_prefix(b).ok())
        .map(|rel| format!("./{}", rel.to_string_lossy()))
        .unwrap_or_else(|| path.clone())
}

fn slice(db: &dyn Db, span: Span) -> &str {
    let t = text(db, span.file);
    t.get(span.range()).unwrap_or("")
}

// ---------------------------------------------------------------- names under the cursor

/// The name written at `offset` (a definition or a use) and what it names.
/// A name that ends at the cursor counts, but one that starts there wins.
fn name_at(resolved: &Resolved, file: SourceFile, offset: usize) -> Option<(Span, DefId)> {
    let mut found: Vec<(Span, DefId)> = Vec::new();
    for (i, def) in resolved.defs.iter().enumerate() {
        if let Some(span) = def.name_span {
            if touches(span, file, offset) {
                found.push((span, DefId(i as u32)));
            }
        }
    }
    for r in &resolved.references {
        if touches(r.span, file, offset) {
            found.push((r.span, r.def));
        }
    }
    found.sort_by_key(|(s, _)| (s.end as usize == offset, s.start));
    found.into_iter().next()
}

/// Same definition in two programs' `Resolved`: same name written at the same place.
fn same_def(a: &Def, b: &Def) -> bool {
    a.name == b.name && a.name_span == b.name_span
}

fn find_def(resolved: &Resolved, like: &Def) -> Option<DefId> {
    resolved
        .defs
        .iter()
        .position(|d| same_def(d, like))
        .map(|i| DefId(i as u32))
}

/// The definition under the cursor, for go-to-definition.
pub fn definition(
    db: &dyn Db,
    program: Program,
    file: SourceFile,
    offset: usize,
) -> Option<Navigation> {
    let offset = clamp_offset(text(db, file), offset);
    let resolved = names::resolve(db, program);
    if let Some((origin, id)) = name_at(resolved, file, offset) {
        let def = resolved.def(id);
        return Some(Navigation {
            origin,
            target: def.name_span?,
            full: def.span,
        });
    }
    // `import "..."`: the imported file.
    for item in &db::parse(db, file).module.items {
        if let Item::Import(import) = item {
            if touches(import.path.span, file, offset) {
                let target = db.load_import(file, &import.path.value).ok()?;
                let end = text(db, target).len();
                return Some(Navigation {
                    origin: import.path.span,
                    target: Span::new(target, 0, 0),
                    full: Some(Span::new(target, 0, end)),
                });
            }
        }
    }
    None
}

/// Every place the name under the cursor is written, in every program
/// (definition first when `include_declaration`), sorted by file and position.
pub fn references(
    db: &dyn Db,
    program: Program,
    workspace: &[Program],
    file: SourceFile,
    offset: usize,
    include_declaration: bool,
) -> Vec<Span> {
    let offset = clamp_offset(text(db, file), offset);
    let resolved = names::resolve(db, program);
    let Some((_, id)) = name_at(resolved, file, offset) else {
        return Vec::new();
    };
    let def = resolved.def(id).clone();
    occurrences(db, program, workspace, &def, include_declaration)
}

fn occurrences(
    db: &dyn Db,
    program: Program,
    workspace: &[Program],
    def: &Def,
    include_declaration: bool,
) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    if include_declaration {
        spans.extend(def.name_span);
    }
    let programs = std::iter::once(program).chain(workspace.iter().copied());
    for p in programs {
        let resolved = names::resolve(db, p);
        let Some(id) = find_def(resolved, def) else {
            continue;
        };
        spans.extend(
            resolved
                .references
                .iter()
                .filter(|r| r.def == id)
                .map(|r| r.span),
        );
    }
    sort_spans(db, &mut spans);
    spans
}

fn sort_spans(db: &dyn Db, spans: &mut Vec<Span>) {
    spans.sort_by(|a, b| (a.file.path(db), a.start, a.end).cmp(&(b.file.path(db), b.start, b.end)));
    spans.dedup();
}

// ---------------------------------------------------------------- rename

/// The name to rename at `offset`, or why it cannot be renamed.
pub fn prepare_rename(
    db: &dyn Db,
    program: Program,
    file: SourceFile,
    offset: usize,
) -> Result<Span, String> {
    let offset = clamp_offset(text(db, file), offset);
    let resolved = names::resolve(db, program);
    let (span, id) = name_at(resolved, file, offset)
        .ok_or_else(|| "there is no zone, external, tier or gateway name here".to_string())?;
    let def = resolved.def(id);
    match def.origin {
        Origin::Builtin => Err(format!("`{}` is built in and cannot be renamed", def.name)),
        Origin::Std => Err(format!(
            "`{}` is defined in the standard library (`{}`) and cannot be renamed",
            def.name,
            def.name_span
                .map(|s| s.file.path(db).as_str())
                .unwrap_or("std")
        )),
        Origin::User => Ok(span),
    }
}

/// The edits that rename the name at `offset` to `new_name` in every open
/// program: its definition and every use.
pub fn rename(
    db: &dyn Db,
    program: Program,
    workspace: &[Program],
    file: SourceFile,
    offset: usize,
    new_name: &str,
) -> Result<Vec<TextEdit>, String> {
    prepare_rename(db, program, file, offset)?;
    let offset = clamp_offset(text(db, file), offset);
    let resolved = names::resolve(db, program);
    let Some((_, id)) = name_at(resolved, file, offset) else {
        return Err("there is no name here".to_string());
    };
    let def = resolved.def(id).clone();
    if new_name == def.name {
        return Ok(Vec::new());
    }
    if !is_valid_name(new_name) {
        return Err(format!(
            "`{new_name}` is not a valid name: names are lowercase ASCII letters, digits and single dashes, starting with a letter, at most {} characters",
            crate::check::MAX_NAME_LEN
        ));
    }
    if crate::syntax::RESERVED.contains(&new_name) {
        return Err(format!("`{new_name}` is a keyword"));
    }
    let programs = std::iter::once(program).chain(workspace.iter().copied());
    for p in programs {
        if let Some(other) = names::resolve(db, p).lookup(new_name) {
            let other = names::resolve(db, p).def(other);
            return Err(format!(
                "`{new_name}` is already {} ({})",
                other.kind.a_noun(),
                other
                    .name_span
                    .map(|s| format!("defined in `{}`", display_path(db, file, s.file)))
                    .unwrap_or_else(|| "built in".to_string())
            ));
        }
    }
    if let Some(module) = std_module_defining(new_name) {
        return Err(format!(
            "`{new_name}` is a name of the standard library (`{module}`); choose another"
        ));
    }
    Ok(occurrences(db, program, workspace, &def, true)
        .into_iter()
        .map(|span| TextEdit {
            span,
            text: new_name.to_string(),
        })
        .collect())
}

/// `[a-z][a-z0-9]*(-[a-z0-9]+)*`, at most `MAX_NAME_LEN` characters.
pub fn is_valid_name(name: &str) -> bool {
    name.len() <= crate::check::MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn std_module_defining(name: &str) -> Option<&'static str> {
    stdlib::MODULES.iter().find_map(|(module, text)| {
        text.lines()
            .any(|line| {
                let mut words = line.split_whitespace();
                matches!(words.next(), Some("zone" | "external" | "gateway" | "tier"))
                    && words.next() == Some(name)
            })
            .then_some(*module)
    })
}

// ---------------------------------------------------------------- hover

/// What the thing under the cursor is and means: a name (its definition in
/// words and its doc comment), a rule (what it compiles to on each side), a
/// label key, a port, an import.
pub fn hover(db: &dyn Db, program: Program, file: SourceFile, offset: usize) -> Option<Hover> {
    let offset = clamp_offset(text(db, file), offset);
    let resolved = names::resolve(db, program);
    if let Some((span, id)) = name_at(resolved, file, offset) {
        return Some(Hover {
            span,
            markdown: describe_def(db, resolved, id, Some(file)),
        });
    }
    for item in &db::parse(db, file).module.items {
        if !touches(item.span(), file, offset) {
            continue;
        }
        match item {
            Item::Import(import) => {
                return Some(Hover {
                    span: import.path.span,
                    markdown: describe_import(db, file, &import.path.value),
                })
            }
            Item::Zone(zone) => {
                for line in &zone.lines {
                    if let ZoneLine::Namespaces { constraints, .. }
                    | ZoneLine::Pods { constraints, .. } = line
                    {
                        if let Some(h) = hover_constraints(db, program, constraints, file, offset) {
                            return Some(h);
                        }
                    }
                }
                return def_hover_for(db, resolved, &zone.name, file, zone.span);
            }
            Item::ZoneUnion(u) => return def_hover_for(db, resolved, &u.name, file, u.span),
            Item::External(e) => return def_hover_for(db, resolved, &e.name, file, e.span),
            Item::Gateway(g) => return def_hover_for(db, resolved, &g.name, file, g.span),
            Item::Rule(rule) => return hover_rule(resolved, rule, None, file, offset),
            Item::Tier(tier) => {
                for rule in &tier.rules {
                    if touches(rule.span, file, offset) {
                        return hover_rule(resolved, rule, Some(&tier.name), file, offset);
                    }
                }
                return def_hover_for(db, resolved, &tier.name, file, tier.span);
            }
        }
    }
    None
}

fn def_hover_for(
    db: &dyn Db,
    resolved: &Resolved,
    name: &ast::Ident,
    file: SourceFile,
    span: Span,
) -> Option<Hover> {
    let i = resolved
        .defs
        .iter()
        .position(|d| d.name_span == Some(name.span))?;
    Some(Hover {
        span,
        markdown: describe_def(db, resolved, DefId(i as u32), Some(file)),
    })
}

fn hover_constraints(
    db: &dyn Db,
    program: Program,
    constraints: &[Constraint],
    file: SourceFile,
    offset: usize,
) -> Option<Hover> {
    let c = constraints
        .iter()
        .find(|c| touches(c.key.span, file, offset))?;
    let key = &c.key.key;
    let mut md = format!("**label key** `{key}`\n\n");
    match key.split_once('/') {
        Some((prefix, name)) => md.push_str(&format!("Prefix `{prefix}`, name `{name}`.")),
        None => md.push_str("No prefix: a name of the user's own."),
    }
    if let Some(about) = well_known_label(key) {
        md.push_str(&format!("\n\n{about}"));
    }
    let values = label_values(db, &[program], key);
    if !values.is_empty() {
        let shown: Vec<String> = values.iter().take(20).map(|v| format!("`{v}`")).collect();
        md.push_str(&format!(
            "\n\nValues in this program: {}{}",
            shown.join(", "),
            if values.len() > 20 { ", …" } else { "" }
        ));
    }
    Some(Hover {
        span: c.key.span,
        markdown: md,
    })
}

fn hover_rule(
    resolved: &Resolved,
    rule: &ast::Rule,
    tier: Option<&ast::Ident>,
    file: SourceFile,
    offset: usize,
) -> Option<Hover> {
    if let Some(ports) = &rule.ports {
        if let Some(port) = ports.iter().find(|p| touches(p.span, file, offset)) {
            return Some(Hover {
                span: port.span,
                markdown: describe_port(&port.value),
            });
        }
    }
    Some(Hover {
        span: rule.span,
        markdown: describe_rule(resolved, rule, tier),
    })
}

/// A definition in words, with its doc comment.
fn describe_def(db: &dyn Db, resolved: &Resolved, id: DefId, from: Option<SourceFile>) -> String {
    let def = resolved.def(id);
    let mut md = String::new();
    let home = def.name_span.map(|s| s.file);
    let located = match home {
        Some(f) if Some(f) != from => format!(
            " — defined in `{}`",
            match from {
                Some(from) => display_path(db, from, f),
                None => f.path(db).clone(),
            }
        ),
        _ => String::new(),
    };
    match &def.kind {
        DefKind::Zone(zone) => {
            md.push_str(&format!("**zone** `{}`{located}\n\n", def.name));
            md.push_str(&zone_in_words(zone));
            md.push_str("\n\n");
            md.push_str(isolation_in_words(zone_isolation(zone)));
        }
        DefKind::ZoneUnion(members) => {
            let names: Vec<String> = members
                .iter()
                .map(|m| format!("`{}`", resolved.def(*m).name))
                .collect();
            md.push_str(&format!(
                "**zone** `{}` = {}{located}\n\n",
                def.name,
                names.join(" | ")
            ));
            md.push_str(&format!(
                "Every pod in {}. A union is not isolated by itself: its members decide.",
                join_or(&names)
            ));
        }
        DefKind::External(lit) => {
            md.push_str(&format!(
                "**external** `{}` = {}{located}\n\n",
                def.name,
                literal_source(lit)
            ));
            md.push_str(&literal_in_words(lit));
        }
        DefKind::Tier => {
            md.push_str(&format!("**tier** `{}`{located}\n\n", def.name));
            let position = resolved.tiers.iter().position(|t| *t == id);
            let rules = resolved.rules.iter().filter(|r| r.tier == Some(id)).count();
            if let Some(p) = position {
                md.push_str(&format!(
                    "Evaluated {} of {} declared tier{}, before the implicit `default` tier. ",
                    ordinal(p + 1),
                    resolved.tiers.len(),
                    if resolved.tiers.len() == 1 { "" } else { "s" }
                ));
            }
            md.push_str(&format!(
                "{rules} rule{}. In a tier, a matching `deny` wins over a matching `allow`; a connection no rule matches goes on to the next tier.",
                if rules == 1 { "" } else { "s" }
            ));
        }
        DefKind::Gateway { kind, zone, port } => {
            md.push_str(&format!("**gateway** `{}` = {kind}{located}\n\n", def.name));
            match zone {
                Some(z) => {
                    md.push_str(&format!("Gateway pods: zone `{}`. ", resolved.def(*z).name))
                }
                None => md.push_str("No gateway pods (`zone` line missing). "),
            }
            match port {
                Some(p) => md.push_str(&format!("They listen on pod port {p}.")),
                None => md.push_str(&format!(
                    "They listen on pod port {} (Istio's egress gateway serves TLS there, behind Service port 443).",
                    crate::ir::DEFAULT_GATEWAY_PORT
                )),
            }
            md.push_str(
                "\n\n`allow SRC -> fqdn \"HOST\" : PORT via GATEWAY` lets SRC reach the gateway pods, and the gateway reach HOST.",
            );
        }
        DefKind::Entity(_) => {
            md.push_str(&format!("**built-in peer** `{}`", def.name));
        }
    }
    if let Some(doc) = &def.doc {
        md.push_str("\n\n---\n\n");
        md.push_str(doc);
    }
    md
}

fn zone_isolation(zone: &ast::Zone) -> Isolate {
    zone.lines
        .iter()
        .find_map(|l| match l {
            ZoneLine::Isolate { mode, .. } => Some(*mode),
            _ => None,
        })
        .unwrap_or(Isolate::Both)
}

fn isolation_in_words(mode: Isolate) -> &'static str {
    match mode {
        Isolate::Both => "Isolated both ways (the default): nothing reaches these pods and they reach nothing except what rules allow.",
        Isolate::Ingress => "Isolated for ingress (`isolate ingress`): nothing reaches these pods except what rules allow; their egress is open.",
        Isolate::Egress => "Isolated for egress (`isolate egress`): these pods reach nothing except what rules allow; their ingress is open.",
        Isolate::None => "Not isolated (`isolate none`): the zone names these pods without locking them down.",
    }
}

/// `Pods labelled app is "web", in namespace "shop".`
pub fn zone_in_words(zone: &ast::Zone) -> String {
    let mut pods = "Every pod".to_string();
    let mut namespaces = "in every namespace".to_string();
    for line in &zone.lines {
        match line {
            ZoneLine::Namespace { name, .. } => {
                namespaces = format!("in namespace \"{}\"", name.value);
            }
            ZoneLine::Namespaces { constraints, .. } => {
                namespaces = format!(
                    "in the namespaces whose labels match: {}",
                    constraints_in_words(constraints)
                );
            }
            ZoneLine::Pods { constraints, .. } => {
                pods = format!(
                    "Pods whose labels match: {}",
                    constraints_in_words(constraints)
                );
            }
            ZoneLine::Isolate { .. } => {}
        }
    }
    format!("{pods}; {namespaces}.")
}

fn constraints_in_words(constraints: &[Constraint]) -> String {
    let words: Vec<String> = constraints
        .iter()
        .map(|c| {
            let key = &c.key.key;
            let list = |vs: &[ast::Str]| {
                vs.iter()
                    .map(|v| format!("\"{}\"", v.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match &c.op {
                ConstraintOp::Eq(v) => format!("`{key}` is \"{}\"", v.value),
                ConstraintOp::NotEq(v) => format!("`{key}` is not \"{}\" (or unset)", v.value),
                ConstraintOp::In(vs) => format!("`{key}` is one of {}", list(vs)),
                ConstraintOp::NotIn(vs) => format!("`{key}` is none of {} (or unset)", list(vs)),
                ConstraintOp::Has => format!("has a `{key}` label"),
                ConstraintOp::NotHas => format!("has no `{key}` label"),
            }
        })
        .collect();
    words.join(" and ")
}

fn literal_source(lit: &PeerLiteral) -> String {
    match lit {
        PeerLiteral::Fqdn(s) => format!("fqdn \"{}\"", s.value),
        PeerLiteral::Cidr { base, except } => {
            let mut s = format!("cidr {}", base.text);
            if !except.is_empty() {
                let e: Vec<&str> = except.iter().map(|c| c.text.as_str()).collect();
                s.push_str(&format!(" except {}", e.join(", ")));
            }
            s
        }
    }
}

fn literal_in_words(lit: &PeerLiteral) -> String {
    match lit {
        PeerLiteral::Fqdn(s) if s.value.starts_with("*.") => format!(
            "Outside the cluster: every host name one or more labels below `{}` (`{}`), resolved through DNS.",
            &s.value[2..],
            s.value
        ),
        PeerLiteral::Fqdn(s) => format!(
            "Outside the cluster: the host name `{}`, resolved through DNS.",
            s.value
        ),
        PeerLiteral::Cidr { base, except } if except.is_empty() => {
            format!("Addresses in `{}`.", base.text)
        }
        PeerLiteral::Cidr { base, except } => {
            let e: Vec<String> = except.iter().map(|c| format!("`{}`", c.text)).collect();
            format!("Addresses in `{}` except {}.", base.text, e.join(", "))
        }
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn peer_in_words(peer: &ast::Peer) -> String {
    match peer {
        ast::Peer::Name(id) => format!("`{}`", id.name),
        ast::Peer::Literal { value, .. } => format!("`{}`", literal_source(value)),
        ast::Peer::Set { members, .. } => {
            let m: Vec<String> = members.iter().map(peer_in_words).collect();
            join_and(&m)
        }
    }
}

fn peer_leaves(peer: &ast::Peer) -> Vec<&ast::Peer> {
    match peer {
        ast::Peer::Set { members, .. } => members.iter().flat_map(peer_leaves).collect(),
        leaf => vec![leaf],
    }
}

/// The leaves of a peer that are zones (they get a policy of their own), and
/// the others (in words).
fn split_zones(resolved: &Resolved, peer: &ast::Peer) -> (Vec<String>, Vec<String>) {
    let mut zones = Vec::new();
    let mut others = Vec::new();
    for leaf in peer_leaves(peer) {
        let is_zone = match leaf {
            ast::Peer::Name(id) => resolved.lookup(&id.name).is_some_and(|d| {
                matches!(
                    resolved.def(d).kind,
                    DefKind::Zone(_) | DefKind::ZoneUnion(_)
                )
            }),
            _ => false,
        };
        if is_zone {
            zones.push(peer_in_words(leaf));
        } else {
            others.push(peer_in_words(leaf));
        }
    }
    (zones, others)
}

pub fn ports_in_words(ports: &Option<Vec<ast::Port>>) -> String {
    match ports {
        None => "on every port".to_string(),
        Some(list) => {
            let words: Vec<String> = list.iter().map(|p| port_words(&p.value)).collect();
            format!("on {}", join_and(&words))
        }
    }
}

fn protocol_upper(p: ast::Protocol) -> &'static str {
    match p {
        ast::Protocol::Tcp => "TCP",
        ast::Protocol::Udp => "UDP",
        ast::Protocol::Sctp => "SCTP",
    }
}

fn port_words(port: &PortValue) -> String {
    match port {
        PortValue::Number { protocol, port } => format!("{} {port}", protocol_upper(*protocol)),
        PortValue::Range {
            protocol,
            start,
            end,
        } => format!("{} {start}-{end}", protocol_upper(*protocol)),
        PortValue::Named { protocol, name } => {
            format!("the {} port named `{name}`", protocol_upper(*protocol))
        }
        PortValue::Icmp => "ICMP".to_string(),
    }
}

fn describe_port(port: &PortValue) -> String {
    match port {
        PortValue::Number { protocol, port } => {
            let mut md = format!("**{} port {port}**", protocol_upper(*protocol));
            let known = well_known_ports(*protocol)
                .iter()
                .find(|(p, _)| u64::from(*p) == *port);
            if let Some((_, name)) = known {
                md.push_str(&format!(" — {name}"));
            }
            md
        }
        PortValue::Range {
            protocol,
            start,
            end,
        } => {
            let count = end.saturating_sub(*start) + 1;
            let mut md = format!(
                "**{} ports {start}–{end}** ({count} ports)",
                protocol_upper(*protocol)
            );
            if (*start, *end) == (30000, 32767) {
                md.push_str(" — the Kubernetes NodePort range");
            }
            md
        }
        PortValue::Named { protocol, name } => format!(
            "**{} port named `{name}`** — in each destination pod, the container port its spec names `{name}`",
            protocol_upper(*protocol)
        ),
        PortValue::Icmp => "**ICMP** — every ICMP type and code".to_string(),
    }
}

fn describe_rule(resolved: &Resolved, rule: &ast::Rule, tier: Option<&ast::Ident>) -> String {
    let action = rule.action.as_str();
    let source = peer_in_words(&rule.source);
    let destination = peer_in_words(&rule.destination);
    let ports = ports_in_words(&rule.ports);
    let mut md = format!("**{action}** {source} → {destination} {ports}");
    if let Some(l7) = &rule.l7 {
        md.push_str(&format!(", {}", l7_in_words(l7)));
    }
    md.push_str("\n\n");
    let allow = rule.action == ast::Action::Allow;
    let (src_zones, src_other) = split_zones(resolved, &rule.source);
    let (dst_zones, dst_other) = split_zones(resolved, &rule.destination);
    if let Some(via) = &rule.via {
        let gateway = resolved.lookup(&via.name).map(|g| resolved.def(g));
        let (pods, port) = match gateway.map(|g| &g.kind) {
            Some(DefKind::Gateway { zone, port, .. }) => (
                zone.map(|z| format!("`{}`", resolved.def(z).name))
                    .unwrap_or_else(|| "the gateway pods".to_string()),
                port.unwrap_or(u64::from(crate::ir::DEFAULT_GATEWAY_PORT)),
            ),
            _ => (
                "the gateway pods".to_string(),
                u64::from(crate::ir::DEFAULT_GATEWAY_PORT),
            ),
        };
        md.push_str(&format!(
            "Through gateway `{}`; there is no direct path:\n- **egress** of {source} and **ingress** of {pods}: {source} → {pods} on TCP {port}\n- **egress** of {pods}: → {destination} {ports}\n",
            via.name
        ));
    } else {
        let verdict = if allow { "allowed" } else { "denied" };
        if !src_zones.is_empty() {
            md.push_str(&format!(
                "- **egress** of {}: connections to {destination} {ports} are {verdict}\n",
                join_and(&src_zones)
            ));
        }
        if !dst_zones.is_empty() {
            md.push_str(&format!(
                "- **ingress** of {}: connections from {source} {ports} are {verdict}\n",
                join_and(&dst_zones)
            ));
        }
        for others in [&src_other, &dst_other] {
            match others.as_slice() {
                [] => {}
                [one] => md.push_str(&format!(
                    "- {one} is not a zone: no policy of its own on that side\n"
                )),
                many => md.push_str(&format!(
                    "- {} are not zones: no policies of their own on that side\n",
                    join_and(many)
                )),
            }
        }
    }
    md.push('\n');
    match tier {
        Some(t) => {
            let id = resolved
                .defs
                .iter()
                .position(|d| d.name_span == Some(t.span))
                .map(|i| DefId(i as u32));
            let position = id.and_then(|id| resolved.tiers.iter().position(|x| *x == id));
            match position {
                Some(p) => md.push_str(&format!(
                    "In tier `{}`, evaluated {} of {} (the implicit `default` tier is last).",
                    t.name,
                    ordinal(p + 1),
                    resolved.tiers.len()
                )),
                None => md.push_str(&format!("In tier `{}`.", t.name)),
            }
        }
        None => md.push_str("In the implicit `default` tier, evaluated after every declared tier."),
    }
    if let Some(doc) = &rule.doc {
        md.push_str("\n\n---\n\n");
        md.push_str(doc);
    }
    md
}

fn l7_in_words(l7: &ast::L7) -> String {
    match l7 {
        ast::L7::Http { rules, .. } => {
            let r: Vec<String> = rules
                .iter()
                .map(|r| {
                    let method = r.method.as_ref().map_or("any method", |m| m.name.as_str());
                    match &r.path {
                        Some(p) => format!("{method} `{}`", p.value),
                        None => method.to_string(),
                    }
                })
                .collect();
            format!("only HTTP requests {}", join_or(&r))
        }
        ast::L7::Dns { names, .. } => {
            let n: Vec<String> = names.iter().map(|n| format!("`{}`", n.value)).collect();
            format!("only DNS queries for {}", join_or(&n))
        }
    }
}

fn describe_import(db: &dyn Db, file: SourceFile, spec: &str) -> String {
    let mut md = format!("**import** `{spec}`");
    match db.load_import(file, spec) {
        Ok(target) => {
            if stdlib::is_std_path(spec) {
                md.push_str(" — standard library module");
            } else {
                md.push_str(&format!(" — `{}`", target.path(db)));
            }
            let header: Vec<&str> = text(db, target)
                .lines()
                .take_while(|l| l.starts_with('#'))
                .map(|l| l.trim_start_matches('#').trim())
                .collect();
            if !header.is_empty() {
                md.push_str(&format!("\n\n{}", header.join("\n")));
            }
            let defined: Vec<String> = db::parse(db, target)
                .module
                .items
                .iter()
                .filter_map(|i| i.defined_name().map(|n| format!("`{}`", n.name)))
                .collect();
            if !defined.is_empty() {
                md.push_str(&format!("\n\nDefines {}.", defined.join(", ")));
            }
        }
        Err(_) => md.push_str(" — cannot be loaded"),
    }
    md
}

/// Ports people recognise on a protocol, for hover and completion.
pub fn well_known_ports(protocol: ast::Protocol) -> &'static [(u16, &'static str)] {
    match protocol {
        ast::Protocol::Tcp => WELL_KNOWN_TCP_PORTS,
        ast::Protocol::Udp => WELL_KNOWN_UDP_PORTS,
        ast::Protocol::Sctp => WELL_KNOWN_SCTP_PORTS,
    }
}

const WELL_KNOWN_UDP_PORTS: &[(u16, &str)] = &[
    (53, "DNS"),
    (67, "DHCP server"),
    (123, "NTP"),
    (161, "SNMP"),
    (443, "HTTP/3 (QUIC)"),
    (514, "syslog"),
    (4789, "VXLAN"),
    (8472, "VXLAN (Flannel, Cilium)"),
    (51820, "WireGuard"),
];

const WELL_KNOWN_SCTP_PORTS: &[(u16, &str)] = &[(3868, "Diameter"), (38412, "NGAP (5G)")];

const WELL_KNOWN_TCP_PORTS: &[(u16, &str)] = &[
    (22, "SSH"),
    (25, "SMTP"),
    (53, "DNS"),
    (80, "HTTP"),
    (389, "LDAP"),
    (443, "HTTPS"),
    (636, "LDAPS"),
    (1433, "Microsoft SQL Server"),
    (2379, "etcd client"),
    (3000, "Grafana"),
    (3306, "MySQL / MariaDB"),
    (3900, "Garage S3 API"),
    (4317, "OpenTelemetry OTLP/gRPC"),
    (5432, "PostgreSQL"),
    (5672, "AMQP (RabbitMQ)"),
    (6379, "Redis / Dragonfly"),
    (6443, "Kubernetes API server"),
    (8080, "HTTP (alternative)"),
    (8443, "HTTPS (alternative), Istio egress gateway pod port"),
    (9090, "Prometheus"),
    (9091, "Prometheus Pushgateway"),
    (9092, "Kafka"),
    (9093, "Alertmanager"),
    (9100, "node-exporter"),
    (9200, "Elasticsearch"),
    (10250, "kubelet API"),
    (11211, "memcached"),
    (15017, "Istio sidecar injector webhook"),
    (27017, "MongoDB"),
];

/// Label keys with a meaning worth showing.
fn well_known_label(key: &str) -> Option<&'static str> {
    Some(match key {
        "kubernetes.io/metadata.name" => {
            "Set by Kubernetes on every namespace to the namespace's name (`namespace \"x\"` selects it)."
        }
        "app.kubernetes.io/name" => "Recommended label: the name of the application.",
        "app.kubernetes.io/instance" => "Recommended label: a unique name for this instance of the application.",
        "app.kubernetes.io/component" => "Recommended label: the component within the architecture.",
        "app.kubernetes.io/part-of" => "Recommended label: the higher-level application this is part of.",
        "app.kubernetes.io/managed-by" => "Recommended label: the tool that manages the resource.",
        "app.kubernetes.io/version" => "Recommended label: the application's version.",
        "k8s-app" => "Used by cluster add-ons, e.g. `k8s-app = \"kube-dns\"` for CoreDNS.",
        "app" => "The conventional application label of many charts and manifests.",
        "gateway.networking.k8s.io/gateway-name" => {
            "Set by Gateway API implementations on the pods they deploy for a Gateway."
        }
        "istio" => "Istio's gateway selector label (`ingressgateway`, `egressgateway`).",
        _ => return None,
    })
}

const WELL_KNOWN_LABEL_KEYS: &[&str] = &[
    "app",
    "app.kubernetes.io/component",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/name",
    "app.kubernetes.io/part-of",
    "gateway.networking.k8s.io/gateway-name",
    "k8s-app",
    "kubernetes.io/metadata.name",
];

// ---------------------------------------------------------------- label keys and values seen

/// What a zone line says about labels.
enum Seen<'a> {
    /// A constraint, and whether it is on a `namespaces` line.
    Constraint(&'a Constraint, bool),
    /// `namespace "name"`.
    Namespace(&'a str),
}

/// Every constraint and namespace name of every zone in the files of these programs.
fn for_each_constraint(db: &dyn Db, workspace: &[Program], mut f: impl FnMut(Seen<'_>)) {
    let mut seen = HashSet::new();
    for &p in workspace {
        for &file in &names::resolve(db, p).files {
            if !seen.insert(file) {
                continue;
            }
            for item in &db::parse(db, file).module.items {
                let Item::Zone(zone) = item else { continue };
                for line in &zone.lines {
                    match line {
                        ZoneLine::Namespaces { constraints, .. } => constraints
                            .iter()
                            .for_each(|c| f(Seen::Constraint(c, true))),
                        ZoneLine::Pods { constraints, .. } => constraints
                            .iter()
                            .for_each(|c| f(Seen::Constraint(c, false))),
                        ZoneLine::Namespace { name, .. } => f(Seen::Namespace(&name.value)),
                        ZoneLine::Isolate { .. } => {}
                    }
                }
            }
        }
    }
}

/// Label keys written in the workspace, with whether they label namespaces.
pub fn label_keys(db: &dyn Db, workspace: &[Program]) -> BTreeMap<String, bool> {
    let mut keys = BTreeMap::new();
    for_each_constraint(db, workspace, |seen| {
        if let Seen::Constraint(c, ns) = seen {
            let entry = keys.entry(c.key.key.clone()).or_insert(ns);
            *entry = *entry && ns;
        }
    });
    keys
}

/// Values written for `key` in the workspace (namespace names count as
/// values of `kubernetes.io/metadata.name`).
pub fn label_values(db: &dyn Db, workspace: &[Program], key: &str) -> BTreeSet<String> {
    let mut values = BTreeSet::new();
    for_each_constraint(db, workspace, |seen| match seen {
        Seen::Constraint(c, _) if c.key.key == key => match &c.op {
            ConstraintOp::Eq(v) | ConstraintOp::NotEq(v) => {
                values.insert(v.value.clone());
            }
            ConstraintOp::In(vs) | ConstraintOp::NotIn(vs) => {
                values.extend(vs.iter().map(|v| v.value.clone()));
            }
            ConstraintOp::Has | ConstraintOp::NotHas => {}
        },
        Seen::Namespace(ns) if key == crate::ir::NAMESPACE_NAME_LABEL => {
            values.insert(ns.to_string());
        }
        _ => {}
    });
    values
}

// ---------------------------------------------------------------- a small lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Word,
    /// A string; `closed` tells whether its closing quote was seen.
    Str {
        closed: bool,
    },
    Comment,
    Punct,
    Newline,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Tok,
    start: usize,
    end: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// Words, strings, comments, punctuation (`->` and `!=` as one) and newlines.
/// Never fails: every byte is in some token or skipped as space.
fn lex(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let kind;
        let mut end = start + c.len_utf8();
        match c {
            '\n' => kind = Tok::Newline,
            ' ' | '\t' | '\r' => continue,
            '#' => {
                while let Some(&(i, c)) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                kind = Tok::Comment;
            }
            '"' => {
                let mut closed = false;
                let mut escaped = false;
                while let Some(&(i, c)) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        closed = true;
                        break;
                    }
                }
                kind = Tok::Str { closed };
            }
            '-' if text[end..].starts_with('>') => {
                chars.next();
                end += 1;
                kind = Tok::Punct;
            }
            '!' if text[end..].starts_with('=') => {
                chars.next();
                end += 1;
                kind = Tok::Punct;
            }
            c if is_word_char(c) => {
                while let Some(&(i, c)) = chars.peek() {
                    let arrow = c == '-' && text[i + 1..].starts_with('>');
                    if !is_word_char(c) || arrow {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                kind = Tok::Word;
            }
            _ => kind = Tok::Punct,
        }
        out.push(Token { kind, start, end });
    }
    out
}

/// Every keyword of the grammar, for semantic highlighting.
const KEYWORDS: &[&str] = &[
    "import",
    "zone",
    "external",
    "allow",
    "deny",
    "tier",
    "gateway",
    "via",
    "fqdn",
    "cidr",
    "except",
    "namespace",
    "namespaces",
    "pods",
    "isolate",
    "has",
    "not",
    "in",
    "http",
    "dns",
    "port",
    "ingress",
    "egress",
    "none",
    "both",
];

// ---------------------------------------------------------------- completion

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Zone,
    Tier,
    Gateway,
    PeerSet,
    Http,
    Dns,
    Other,
}

/// Completion candidates at `offset`: keywords that fit there, names in
/// scope, label keys and values seen in the workspace, protocols and
/// well-known ports, import paths.
pub fn completions(
    db: &dyn Db,
    program: Program,
    workspace: &[Program],
    file: SourceFile,
    offset: usize,
) -> Vec<Completion> {
    let full = text(db, file);
    let offset = clamp_offset(full, offset);
    let before = &full[..offset];
    let tokens = lex(before);

    // Walk the tokens to the cursor: the enclosing blocks and the tokens of
    // the current statement.
    let mut stack: Vec<(Block, Vec<Token>)> = Vec::new();
    let mut stmt: Vec<Token> = Vec::new();
    let word = |t: &Token| &before[t.start..t.end];
    let mut last: Option<Token> = None;
    for tok in &tokens {
        last = Some(*tok);
        match tok.kind {
            Tok::Comment => continue,
            Tok::Newline => {
                if stack.last().map(|b| b.0) != Some(Block::PeerSet) {
                    stmt.clear();
                }
            }
            Tok::Punct if word(tok) == ";" => stmt.clear(),
            Tok::Punct if word(tok) == "{" => {
                let first = stmt.first().map(word);
                let last_word = stmt.last().map(word);
                let in_set = stack.last().map(|b| b.0) == Some(Block::PeerSet);
                let block = match (first, last_word) {
                    (_, Some("http")) => Block::Http,
                    (_, Some("dns")) => Block::Dns,
                    _ if in_set => Block::PeerSet,
                    (Some("zone"), _) => Block::Zone,
                    (Some("tier"), _) => Block::Tier,
                    (Some("gateway"), _) => Block::Gateway,
                    (Some("allow" | "deny"), _) => Block::PeerSet,
                    _ => Block::Other,
                };
                stack.push((block, std::mem::take(&mut stmt)));
            }
            Tok::Punct if word(tok) == "}" => {
                if let Some((block, saved)) = stack.pop() {
                    stmt = saved;
                    if matches!(block, Block::PeerSet | Block::Http | Block::Dns) {
                        stmt.push(*tok);
                    } else {
                        stmt.clear();
                    }
                }
            }
            _ => stmt.push(*tok),
        }
    }
    let block = stack.last().map_or(Block::Other, |b| b.0);
    let in_tier = stack.iter().any(|b| b.0 == Block::Tier);

    // Inside a string: import paths and label values.
    if let Some(Token {
        kind: Tok::Str { closed: false },
        start,
        end,
    }) = last
    {
        if end == offset {
            stmt.pop();
            let typed = &before[start + 1..offset];
            let replace = Span::new(file, start + 1, offset);
            let first = stmt.first().map(word);
            if first == Some("import") {
                return import_paths(db, file, typed, replace);
            }
            if block == Block::Zone {
                if let Some(key) = constraint_key(&stmt, before) {
                    return label_value_items(db, workspace, key, replace);
                }
                if first == Some("namespace") {
                    return label_value_items(
                        db,
                        workspace,
                        crate::ir::NAMESPACE_NAME_LABEL,
                        replace,
                    );
                }
            }
            return Vec::new();
        }
    }
    if matches!(last.map(|t| t.kind), Some(Tok::Comment | Tok::Str { .. }))
        && last.is_some_and(|t| t.end == offset)
    {
        return Vec::new();
    }

    // The word being typed, if any.
    let (replace_start, typed) = match stmt.last() {
        Some(t) if t.kind == Tok::Word && t.end == offset => {
            let t = *t;
            stmt.pop();
            (t.start, &before[t.start..offset])
        }
        _ => (offset, ""),
    };
    let replace = Span::new(file, replace_start, offset);
    let words: Vec<&str> = stmt.iter().map(word).collect();
    let first = words.first().copied();
    let prev = words.last().copied();

    let mut out = Vec::new();
    let keywords =
        |out: &mut Vec<Completion>, list: &[(&str, &str)]| keyword_completions(out, list, replace);
    let scope = Scope::new(db, program, file);
    match block {
        Block::Zone => match (first, prev) {
            (None, _) => keywords(
                &mut out,
                &[
                    ("namespace", "exactly this namespace: namespace \"shop\""),
                    ("namespaces", "namespaces whose labels match"),
                    ("pods", "pods whose labels match"),
                    ("isolate", "isolate ingress | egress | none | both"),
                ],
            ),
            (Some("isolate"), Some("isolate")) => keywords(
                &mut out,
                &[
                    ("both", "default-deny both ways (the default)"),
                    ("ingress", "default-deny for incoming connections only"),
                    ("egress", "default-deny for outgoing connections only"),
                    ("none", "name the pods without isolating them"),
                ],
            ),
            (Some("namespaces" | "pods"), Some("namespaces" | "pods" | "," | "has")) => {
                let ns = first == Some("namespaces");
                if prev != Some("has") {
                    keywords(
                        &mut out,
                        &[("has", "has KEY: the label is set"), ("not", "not has KEY")],
                    );
                }
                label_key_items(db, workspace, ns, replace, &mut out);
            }
            (Some("namespaces" | "pods"), Some("not")) => keywords(
                &mut out,
                &[("has", "not has KEY"), ("in", "KEY not in (\"a\", \"b\")")],
            ),
            _ => {}
        },
        Block::Gateway => match (first, prev) {
            (None, _) => keywords(
                &mut out,
                &[
                    ("zone", "the zone of the gateway pods"),
                    ("port", "the pod port the gateway listens on"),
                ],
            ),
            (Some("zone"), Some("zone")) => scope.items(db, &mut out, replace, Want::Zone),
            _ => {}
        },
        Block::Http => {
            if first.is_none() {
                for m in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
                    out.push(Completion {
                        label: m.to_string(),
                        kind: CompletionKind::Method,
                        detail: Some("HTTP method".to_string()),
                        documentation: None,
                        insert: m.to_string(),
                        replace,
                    });
                }
            }
        }
        Block::Dns => {}
        Block::PeerSet => {
            if prev.is_none() || prev == Some(",") {
                scope.items(db, &mut out, replace, Want::Peer);
                peer_literal_keywords(&mut out, replace);
            }
        }
        Block::Tier | Block::Other => {
            let top = block == Block::Other && !in_tier;
            match first {
                None if top => keywords(
                    &mut out,
                    &[
                        ("allow", "allow SOURCE -> DESTINATION : PORTS"),
                        ("deny", "deny SOURCE -> DESTINATION : PORTS"),
                        (
                            "zone",
                            "zone NAME { namespace \"...\" pods KEY = \"VALUE\" }",
                        ),
                        ("external", "external NAME = fqdn \"...\" | cidr ..."),
                        (
                            "tier",
                            "tier NAME { rules }: evaluated in declaration order",
                        ),
                        ("gateway", "gateway NAME = istio { zone ZONE }"),
                        ("import", "import \"std/...\" or \"./file.npl\""),
                    ],
                ),
                None => keywords(
                    &mut out,
                    &[
                        ("allow", "allow SOURCE -> DESTINATION : PORTS"),
                        ("deny", "deny SOURCE -> DESTINATION : PORTS"),
                    ],
                ),
                Some("import") if words.len() == 1 => {
                    for (module, _) in stdlib::MODULES {
                        if *module == stdlib::PRELUDE {
                            continue;
                        }
                        out.push(Completion {
                            label: format!("\"{module}\""),
                            kind: CompletionKind::Module,
                            detail: Some("standard library module".to_string()),
                            documentation: None,
                            insert: format!("\"{module}\""),
                            replace,
                        });
                    }
                }
                Some("zone") if matches!(prev, Some("=" | "|")) => {
                    scope.items(db, &mut out, replace, Want::Zone)
                }
                Some("external") if prev == Some("=") => {
                    peer_literal_keywords(&mut out, replace);
                }
                Some("gateway") if prev == Some("=") => {
                    keywords(&mut out, &[("istio", "an Istio egress gateway")])
                }
                Some("allow" | "deny") => {
                    rule_completions(db, &scope, &words, typed, replace, &mut out)
                }
                _ => {}
            }
        }
    }
    out
}

fn peer_literal_keywords(out: &mut Vec<Completion>, replace: Span) {
    keyword_completions(
        out,
        &[
            (
                "fqdn",
                "fqdn \"api.example.com\": a host name outside the cluster",
            ),
            ("cidr", "cidr 10.0.0.0/8 except 10.1.0.0/16: addresses"),
        ],
        replace,
    );
}

/// Keywords (with a one-line detail each) as completions replacing `replace`.
fn keyword_completions(out: &mut Vec<Completion>, list: &[(&str, &str)], replace: Span) {
    for (kw, detail) in list {
        out.push(Completion {
            label: kw.to_string(),
            kind: CompletionKind::Keyword,
            detail: Some(detail.to_string()),
            documentation: None,
            insert: kw.to_string(),
            replace,
        });
    }
}

fn rule_completions(
    db: &dyn Db,
    scope: &Scope,
    words: &[&str],
    typed: &str,
    replace: Span,
    out: &mut Vec<Completion>,
) {
    let prev = words.last().copied();
    let after_colon = words.contains(&":");
    match prev {
        Some("allow" | "deny" | "->") => {
            scope.items(db, out, replace, Want::Peer);
            peer_literal_keywords(out, replace);
        }
        Some("via") => scope.items(db, out, replace, Want::Gateway),
        Some(":") | Some(",") if after_colon => port_items(typed, replace, out),
        Some(_) if after_colon && !matches!(prev, Some("}" | "http" | "dns")) => {
            for (kw, detail) in [
                ("http", "http { GET \"/path\" }: only these HTTP requests"),
                ("dns", "dns { \"*.example.com\" }: only these DNS names"),
                ("via", "via GATEWAY: through an egress gateway"),
            ] {
                out.push(Completion {
                    label: kw.to_string(),
                    kind: CompletionKind::Keyword,
                    detail: Some(detail.to_string()),
                    documentation: None,
                    insert: kw.to_string(),
                    replace,
                });
            }
        }
        _ => {}
    }
}

fn port_items(typed: &str, replace: Span, out: &mut Vec<Completion>) {
    if let Some((proto, _)) = typed.split_once('/') {
        let protocol = match proto {
            "tcp" => Some(ast::Protocol::Tcp),
            "udp" => Some(ast::Protocol::Udp),
            "sctp" => Some(ast::Protocol::Sctp),
            _ => None,
        };
        if let Some(protocol) = protocol {
            for (port, name) in well_known_ports(protocol) {
                out.push(Completion {
                    label: format!("{proto}/{port}"),
                    kind: CompletionKind::Port,
                    detail: Some(name.to_string()),
                    documentation: None,
                    insert: format!("{proto}/{port}"),
                    replace,
                });
            }
        }
        return;
    }
    for (proto, detail) in [
        ("tcp/", "tcp/PORT, tcp/LOW-HIGH or tcp/NAME"),
        ("udp/", "udp/PORT"),
        ("sctp/", "sctp/PORT"),
        ("icmp", "every ICMP type"),
    ] {
        out.push(Completion {
            label: proto.to_string(),
            kind: CompletionKind::Protocol,
            detail: Some(detail.to_string()),
            documentation: None,
            insert: proto.to_string(),
            replace,
        });
    }
    for (port, name) in WELL_KNOWN_TCP_PORTS {
        out.push(Completion {
            label: port.to_string(),
            kind: CompletionKind::Port,
            detail: Some(format!("TCP {port}: {name}")),
            documentation: None,
            insert: port.to_string(),
            replace,
        });
    }
}

/// The label key of the constraint being written: `key =`, `key !=`,
/// `key in (`, `key not in ("a",`.
fn constraint_key<'t>(stmt: &[Token], text: &'t str) -> Option<&'t str> {
    let words: Vec<&str> = stmt.iter().map(|t| &text[t.start..t.end]).collect();
    let mut i = words.len();
    while i > 0 {
        i -= 1;
        match words[i] {
            "=" | "!=" | "in" => {
                let mut k = i.checked_sub(1)?;
                if words[k] == "not" {
                    k = k.checked_sub(1)?;
                }
                return Some(words[k]);
            }
            "(" => continue,
            "," if words[..i].contains(&"(") => continue,
            w if w.starts_with('"') => continue,
            _ => return None,
        }
    }
    None
}

fn label_key_items(
    db: &dyn Db,
    workspace: &[Program],
    namespaces: bool,
    replace: Span,
    out: &mut Vec<Completion>,
) {
    let mut keys: BTreeMap<String, &str> = BTreeMap::new();
    for (key, _) in label_keys(db, workspace) {
        keys.insert(key, "seen in the workspace");
    }
    for key in WELL_KNOWN_LABEL_KEYS {
        if *key == crate::ir::NAMESPACE_NAME_LABEL && !namespaces {
            continue;
        }
        keys.entry(key.to_string()).or_insert("well-known");
    }
    for (key, detail) in keys {
        out.push(Completion {
            documentation: well_known_label(&key).map(str::to_string),
            label: key.clone(),
            kind: CompletionKind::LabelKey,
            detail: Some(format!("label key ({detail})")),
            insert: key,
            replace,
        });
    }
}

fn label_value_items(
    db: &dyn Db,
    workspace: &[Program],
    key: &str,
    replace: Span,
) -> Vec<Completion> {
    label_values(db, workspace, key)
        .into_iter()
        .map(|v| Completion {
            label: v.clone(),
            kind: CompletionKind::LabelValue,
            detail: Some(format!("value of `{key}` seen in the workspace")),
            documentation: None,
            insert: v,
            replace,
        })
        .collect()
}

fn import_paths(db: &dyn Db, file: SourceFile, typed: &str, replace: Span) -> Vec<Completion> {
    let mut out = Vec::new();
    for (module, source) in stdlib::MODULES {
        if *module == stdlib::PRELUDE || !module.starts_with(typed) {
            continue;
        }
        let summary = source
            .lines()
            .next()
            .map(|l| l.trim_start_matches('#').trim().to_string());
        out.push(Completion {
            label: module.to_string(),
            kind: CompletionKind::Module,
            detail: summary,
            documentation: None,
            insert: module.to_string(),
            replace,
        });
    }
    if stdlib::is_std_path(typed) {
        return out;
    }
    // Relative paths: the directory typed so far, from the importing file's.
    let base = Path::new(file.path(db)).parent().unwrap_or(Path::new(""));
    let (dir_typed, _) = typed.rsplit_once('/').unwrap_or(("", typed));
    let dir = if dir_typed.is_empty() {
        base.to_path_buf()
    } else {
        base.join(dir_typed)
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    let prefix = if dir_typed.is_empty() {
        "./".to_string()
    } else {
        format!("{dir_typed}/")
    };
    let own = Path::new(file.path(db))
        .file_name()
        .map(|n| n.to_os_string());
    let mut found: Vec<(String, bool)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.file_type().ok()?.is_dir();
            let keep = if is_dir {
                !name.starts_with('.')
            } else {
                name.ends_with(".npl") && Some(e.file_name()) != own
            };
            keep.then_some((name, is_dir))
        })
        .collect();
    found.sort();
    for (name, is_dir) in found {
        let path = format!("{prefix}{name}{}", if is_dir { "/" } else { "" });
        out.push(Completion {
            label: path.clone(),
            kind: CompletionKind::File,
            detail: Some(if is_dir { "directory" } else { "NPL file" }.to_string()),
            documentation: None,
            insert: path,
            replace,
        });
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Peer,
    Zone,
    Gateway,
}

/// The definitions visible from one file: its own, those of the files it
/// imports directly, the prelude's and the built-ins.
struct Scope<'db> {
    resolved: &'db Resolved,
    visible_files: HashSet<SourceFile>,
    file: SourceFile,
}

impl<'db> Scope<'db> {
    fn new(db: &'db dyn Db, program: Program, file: SourceFile) -> Scope<'db> {
        let mut visible_files = HashSet::new();
        visible_files.insert(file);
        if let Ok(prelude) = db.load_import(file, stdlib::PRELUDE) {
            visible_files.insert(prelude);
        }
        for item in &db::parse(db, file).module.items {
            if let Item::Import(import) = item {
                if let Ok(target) = db.load_import(file, &import.path.value) {
                    visible_files.insert(target);
                }
            }
        }
        Scope {
            resolved: names::resolve(db, program),
            visible_files,
            file,
        }
    }

    /// Names of the wanted kind: this file's first, then the imported
    /// files', the standard library's, the built-ins.
    fn items(&self, db: &dyn Db, out: &mut Vec<Completion>, replace: Span, want: Want) {
        let mut seen = HashSet::new();
        let mut ranked = Vec::new();
        for (i, def) in self.resolved.defs.iter().enumerate() {
            let visible = def
                .name_span
                .is_none_or(|s| self.visible_files.contains(&s.file));
            let fits = matches!(
                (&def.kind, want),
                (
                    DefKind::Zone(_) | DefKind::ZoneUnion(_),
                    Want::Peer | Want::Zone
                ) | (DefKind::External(_) | DefKind::Entity(_), Want::Peer)
                    | (DefKind::Gateway { .. }, Want::Gateway)
            );
            if !visible || !fits || !seen.insert(def.name.clone()) {
                continue;
            }
            let kind = match &def.kind {
                DefKind::Zone(_) | DefKind::ZoneUnion(_) => CompletionKind::Zone,
                DefKind::External(_) => CompletionKind::External,
                DefKind::Gateway { .. } => CompletionKind::Gateway,
                DefKind::Tier => CompletionKind::Tier,
                DefKind::Entity(_) => CompletionKind::Builtin,
            };
            let (rank, from) = match def.name_span {
                Some(s) if s.file == self.file => (0, String::new()),
                Some(s) => (
                    if s.file.is_std(db) { 2 } else { 1 },
                    format!(" ({})", display_path(db, self.file, s.file)),
                ),
                None => (3, " (built in)".to_string()),
            };
            let item = Completion {
                label: def.name.clone(),
                kind,
                detail: Some(format!("{}{from}", def.kind.noun())),
                documentation: Some(describe_def(
                    db,
                    self.resolved,
                    DefId(i as u32),
                    Some(self.file),
                )),
                insert: def.name.clone(),
                replace,
            };
            ranked.push((rank, item));
        }
        ranked.sort_by_key(|(rank, _)| *rank);
        out.extend(ranked.into_iter().map(|(_, item)| item));
    }
}

// ---------------------------------------------------------------- symbols

fn one_line(text: &str) -> String {
    let squashed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if squashed.chars().count() > 80 {
        let cut: String = squashed.chars().take(79).collect();
        format!("{cut}…")
    } else {
        squashed
    }
}

fn rule_symbol(db: &dyn Db, rule: &ast::Rule) -> Symbol {
    Symbol {
        name: one_line(slice(db, rule.span)),
        kind: SymbolKind::Rule,
        detail: None,
        span: rule.span,
        selection: rule.action_span,
        children: Vec::new(),
    }
}

/// The outline of one file: imports, zones, externals, tiers (with their
/// rules), gateways and rules, in file order.
pub fn document_symbols(db: &dyn Db, file: SourceFile) -> Vec<Symbol> {
    let mut out = Vec::new();
    for item in &db::parse(db, file).module.items {
        let symbol = match item {
            Item::Import(i) => Symbol {
                name: format!("import \"{}\"", i.path.value),
                kind: SymbolKind::Import,
                detail: None,
                span: i.span,
                selection: i.path.span,
                children: Vec::new(),
            },
            Item::Zone(z) => Symbol {
                name: z.name.name.clone(),
                kind: SymbolKind::Zone,
                detail: Some(one_line(&zone_in_words(z))),
                span: z.span,
                selection: z.name.span,
                children: Vec::new(),
            },
            Item::ZoneUnion(u) => Symbol {
                name: u.name.name.clone(),
                kind: SymbolKind::Zone,
                detail: Some(
                    u.members
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" | "),
                ),
                span: u.span,
                selection: u.name.span,
                children: Vec::new(),
            },
            Item::External(e) => Symbol {
                name: e.name.name.clone(),
                kind: SymbolKind::External,
                detail: Some(literal_source(&e.value)),
                span: e.span,
                selection: e.name.span,
                children: Vec::new(),
            },
            Item::Tier(t) => Symbol {
                name: t.name.name.clone(),
                kind: SymbolKind::Tier,
                detail: Some(match t.rules.len() {
                    1 => "1 rule".to_string(),
                    n => format!("{n} rules"),
                }),
                span: t.span,
                selection: t.name.span,
                children: t.rules.iter().map(|r| rule_symbol(db, r)).collect(),
            },
            Item::Gateway(g) => Symbol {
                name: g.name.name.clone(),
                kind: SymbolKind::Gateway,
                detail: Some(g.kind.name.clone()),
                span: g.span,
                selection: g.name.span,
                children: Vec::new(),
            },
            Item::Rule(r) => rule_symbol(db, r),
        };
        out.push(symbol);
    }
    out
}

/// Definitions of every open program (user files and the standard library)
/// whose name contains `query` (case-insensitive), sorted by name.
pub fn workspace_symbols(db: &dyn Db, workspace: &[Program], query: &str) -> Vec<Symbol> {
    let query = query.to_lowercase();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for &p in workspace {
        for def in &names::resolve(db, p).defs {
            let (Some(selection), Some(span)) = (def.name_span, def.span) else {
                continue;
            };
            if !def.name.to_lowercase().contains(&query) || !seen.insert(selection) {
                continue;
            }
            let kind = match def.kind {
                DefKind::Zone(_) | DefKind::ZoneUnion(_) => SymbolKind::Zone,
                DefKind::External(_) => SymbolKind::External,
                DefKind::Tier => SymbolKind::Tier,
                DefKind::Gateway { .. } => SymbolKind::Gateway,
                DefKind::Entity(_) => SymbolKind::Builtin,
            };
            out.push(Symbol {
                name: def.name.clone(),
                kind,
                detail: Some(selection.file.path(db).clone()),
                span,
                selection,
                children: Vec::new(),
            });
        }
    }
    out.sort_by(|a, b| (&a.name, &a.detail).cmp(&(&b.name, &b.detail)));
    out
}

// ---------------------------------------------------------------- folding

/// Foldable regions: blocks (zones, tiers, gateways, multi-line rules), runs
/// of comment lines and runs of imports. Byte ranges; the editor folds lines.
pub fn folding_ranges(db: &dyn Db, file: SourceFile) -> Vec<Fold> {
    let full = text(db, file);
    let mut out = Vec::new();
    let mut imports: Option<(usize, usize)> = None;
    let multi_line = |s: usize, e: usize| full.get(s..e).is_some_and(|t| t.contains('\n'));
    for item in &db::parse(db, file).module.items {
        let span = item.span();
        if let Item::Import(_) = item {
            imports = Some(match imports {
                Some((s, _)) => (s, span.end as usize),
                None => (span.start as usize, span.end as usize),
            });
            continue;
        }
        if let Some((s, e)) = imports.take() {
            if multi_line(s, e) {
                out.push(Fold {
                    start: s,
                    end: e,
                    kind: FoldKind::Imports,
                });
            }
        }
        let mut block = |span: Span| {
            if multi_line(span.start as usize, span.end as usize) {
                out.push(Fold {
                    start: span.start as usize,
                    end: span.end as usize,
                    kind: FoldKind::Region,
                });
            }
        };
        block(span);
        if let Item::Tier(t) = item {
            t.rules.iter().for_each(|r| block(r.span));
        }
    }
    if let Some((s, e)) = imports {
        if multi_line(s, e) {
            out.push(Fold {
                start: s,
                end: e,
                kind: FoldKind::Imports,
            });
        }
    }
    // Runs of two or more comment lines.
    let mut run: Option<(usize, usize, usize)> = None; // start, end, lines
    let mut at = 0;
    for line in full.split_inclusive('\n') {
        let trimmed = line.trim();
        let content_end = at + line.trim_end().len();
        if trimmed.starts_with('#') {
            run = Some(match run {
                Some((s, _, n)) => (s, content_end, n + 1),
                None => (at + (line.len() - line.trim_start().len()), content_end, 1),
            });
        } else if let Some((s, e, n)) = run.take() {
            if n >= 2 {
                out.push(Fold {
                    start: s,
                    end: e,
                    kind: FoldKind::Comment,
                });
            }
        }
        at += line.len();
    }
    if let Some((s, e, n)) = run {
        if n >= 2 {
            out.push(Fold {
                start: s,
                end: e,
                kind: FoldKind::Comment,
            });
        }
    }
    out.sort_by_key(|f| (f.start, f.end));
    out
}

// ---------------------------------------------------------------- semantic tokens

/// Classified tokens of one file, sorted and never overlapping: names by
/// what they name (from name resolution), label keys, ports and CIDRs from
/// the tree, keywords, strings and comments from the lexer.
pub fn semantic_tokens(db: &dyn Db, program: Program, file: SourceFile) -> Vec<SemanticToken> {
    let full = text(db, file);
    let resolved = names::resolve(db, program);
    let mut precise: Vec<SemanticToken> = Vec::new();
    let kind_of = |def: &Def| match def.kind {
        DefKind::Zone(_) | DefKind::ZoneUnion(_) => TokenKind::Zone,
        DefKind::External(_) => TokenKind::External,
        DefKind::Tier => TokenKind::Tier,
        DefKind::Gateway { .. } => TokenKind::Gateway,
        DefKind::Entity(_) => TokenKind::Builtin,
    };
    let library = |def: &Def| {
        if def.origin == Origin::User {
            0
        } else {
            modifiers::DEFAULT_LIBRARY
        }
    };
    let mut push = |span: Span, kind: TokenKind, mods: u32| {
        if span.file == file && span.end > span.start {
            precise.push(SemanticToken {
                start: span.start as usize,
                end: span.end as usize,
                kind,
                modifiers: mods,
            });
        }
    };
    for def in &resolved.defs {
        if let Some(span) = def.name_span {
            push(span, kind_of(def), modifiers::DECLARATION | library(def));
        }
    }
    for r in &resolved.references {
        let def = resolved.def(r.def);
        push(r.span, kind_of(def), library(def));
    }
    let cidr = |lit: &PeerLiteral, push: &mut dyn FnMut(Span, TokenKind, u32)| {
        if let PeerLiteral::Cidr { base, except } = lit {
            push(base.span, TokenKind::Number, 0);
            except
                .iter()
                .for_each(|c| push(c.span, TokenKind::Number, 0));
        }
    };
    let rule_tokens = |rule: &ast::Rule, push: &mut dyn FnMut(Span, TokenKind, u32)| {
        for peer in [&rule.source, &rule.destination] {
            for leaf in peer_leaves(peer) {
                if let ast::Peer::Literal { value, .. } = leaf {
                    cidr(value, push);
                }
            }
        }
        for port in rule.ports.iter().flatten() {
            let written = slice(db, port.span);
            let start = port.span.start as usize;
            match written.split_once('/') {
                Some((proto, rest)) => {
                    let at = start + proto.len();
                    push(Span::new(file, start, at), TokenKind::Protocol, 0);
                    if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                        push(
                            Span::new(file, at + 1, port.span.end as usize),
                            TokenKind::Number,
                            0,
                        );
                    }
                }
                None if written == "icmp" => push(port.span, TokenKind::Protocol, 0),
                None => push(port.span, TokenKind::Number, 0),
            }
        }
    };
    for item in &db::parse(db, file).module.items {
        match item {
            Item::Zone(z) => {
                for line in &z.lines {
                    if let ZoneLine::Namespaces { constraints, .. }
                    | ZoneLine::Pods { constraints, .. } = line
                    {
                        constraints
                            .iter()
                            .for_each(|c| push(c.key.span, TokenKind::LabelKey, 0));
                    }
                }
            }
            Item::External(e) => cidr(&e.value, &mut push),
            Item::Rule(r) => rule_tokens(r, &mut push),
            Item::Tier(t) => t.rules.iter().for_each(|r| rule_tokens(r, &mut push)),
            Item::Gateway(g) => {
                push(g.kind.span, TokenKind::Keyword, 0);
                if let Some((_, span)) = g.port {
                    push(span, TokenKind::Number, 0);
                }
            }
            Item::Import(_) | Item::ZoneUnion(_) => {}
        }
    }
    precise.sort_by_key(|t| (t.start, t.end));
    precise.dedup_by(|b, a| b.start < a.end); // drop overlaps, keep the first

    let mut lexed = Vec::new();
    for tok in lex(full) {
        let word = &full[tok.start..tok.end];
        let (kind, mods) = match tok.kind {
            Tok::Comment if word.starts_with("##") => {
                (TokenKind::Comment, modifiers::DOCUMENTATION)
            }
            Tok::Comment => (TokenKind::Comment, 0),
            Tok::Str { .. } => (TokenKind::String, 0),
            Tok::Word if KEYWORDS.contains(&word) => (TokenKind::Keyword, 0),
            Tok::Word if word.chars().all(|c| c.is_ascii_digit()) => (TokenKind::Number, 0),
            Tok::Punct if matches!(word, "->" | "=" | "!=" | "|") => (TokenKind::Operator, 0),
            _ => continue,
        };
        lexed.push(SemanticToken {
            start: tok.start,
            end: tok.end,
            kind,
            modifiers: mods,
        });
    }
    // Merge: a lexed token that overlaps a precise one gives way.
    let mut out = Vec::with_capacity(precise.len() + lexed.len());
    let mut p = precise.into_iter().peekable();
    for t in lexed {
        while let Some(next) = p.next_if(|n| n.start < t.end) {
            out.push(next);
        }
        if out
            .last()
            .is_none_or(|prev: &SemanticToken| prev.end <= t.start)
        {
            out.push(t);
        }
    }
    out.extend(p);
    out.sort_by_key(|t| (t.start, t.end));
    out.dedup_by(|b, a| b.start < a.end);
    out
}

// ---------------------------------------------------------------- quick fixes

/// Fixes for a diagnostic whose fix is known: a did-you-mean name, a missing
/// import, a CIDR written from its network address, removing an unused
/// definition or a duplicate import.
pub fn fixes(db: &dyn Db, diag: &Diagnostic) -> Vec<Fix> {
    let help = diag.help.as_deref().unwrap_or("");
    let mut out = Vec::new();
    match diag.code {
        Code::UnknownName => {
            if let Some(name) = quoted_after(help, "did you mean `") {
                out.push(Fix {
                    title: format!("Change to `{name}`"),
                    edits: vec![TextEdit {
                        span: diag.span,
                        text: name.to_string(),
                    }],
                    preferred: true,
                });
            }
            if let Some(module) = quoted_after(help, "add `import \"") {
                let module = module.trim_end_matches('"');
                out.push(Fix {
                    title: format!("Add `import \"{module}\"`"),
                    edits: vec![insert_import(db, diag.span.file, module)],
                    preferred: true,
                });
            }
        }
        Code::CidrHostBits => {
            if let Some(cidr) = quoted_after(help, "write `") {
                out.push(Fix {
                    title: format!("Change to `{cidr}`"),
                    edits: vec![TextEdit {
                        span: diag.span,
                        text: cidr.to_string(),
                    }],
                    preferred: true,
                });
            }
        }
        Code::UnusedDefinition => {
            let file = diag.span.file;
            let item = db::parse(db, file)
                .module
                .items
                .iter()
                .find(|i| i.defined_name().is_some_and(|n| n.span == diag.span));
            if let Some(item) = item {
                let name = item.defined_name().map_or("", |n| n.name.as_str());
                out.push(Fix {
                    title: format!("Remove unused `{name}`"),
                    edits: vec![TextEdit {
                        span: whole_lines(db, item.span(), true),
                        text: String::new(),
                    }],
                    preferred: false,
                });
            }
        }
        Code::DuplicateImport => out.push(Fix {
            title: "Remove the duplicate import".to_string(),
            edits: vec![TextEdit {
                span: whole_lines(db, diag.span, false),
                text: String::new(),
            }],
            preferred: true,
        }),
        _ => {}
    }
    out
}

fn quoted_after<'h>(help: &'h str, marker: &str) -> Option<&'h str> {
    let rest = &help[help.find(marker)? + marker.len()..];
    let end = rest.find('`')?;
    Some(&rest[..end])
}

/// `import "module"` after the file's last import, or at the top.
fn insert_import(db: &dyn Db, file: SourceFile, module: &str) -> TextEdit {
    let full = text(db, file);
    let last_import = db::parse(db, file)
        .module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Import(import) => Some(import.span.end as usize),
            _ => None,
        })
        .max();
    let at = match last_import {
        Some(end) => full[end..].find('\n').map_or(full.len(), |i| end + i + 1),
        None => 0,
    };
    let prefix = if at == full.len() && !full.is_empty() && !full.ends_with('\n') {
        "\n"
    } else {
        ""
    };
    TextEdit {
        span: Span::new(file, at, at),
        text: format!("{prefix}import \"{module}\"\n"),
    }
}

/// `span` grown to whole lines (with the doc comment above when `with_doc`)
/// and its line break, when nothing else shares those lines.
fn whole_lines(db: &dyn Db, span: Span, with_doc: bool) -> Span {
    let full = text(db, span.file);
    let mut start = span.start as usize;
    let mut end = (span.end as usize).min(full.len());
    let line_start = full[..start].rfind('\n').map_or(0, |i| i + 1);
    if full[line_start..start].trim().is_empty() {
        start = line_start;
        if with_doc {
            while start > 0 {
                let prev_start = full[..start - 1].rfind('\n').map_or(0, |i| i + 1);
                if full[prev_start..start].trim_start().starts_with("##") {
                    start = prev_start;
                } else {
                    break;
                }
            }
        }
    }
    let line_end = full[end..].find('\n').map_or(full.len(), |i| end + i);
    let rest = full[end..line_end].trim();
    if rest.is_empty() || rest.starts_with('#') {
        end = (line_end + 1).min(full.len());
        // Between two blank lines (or a blank line and the start), take one
        // of them too, so no double blank line is left.
        let blank_before = start == 0 || full[..start].ends_with("\n\n");
        if blank_before && full[end..].starts_with('\n') {
            end += 1;
        }
    }
    Span::new(span.file, start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexer_splits_arrows_and_keeps_label_keys_whole() {
        let text = "allow a->b:8080 # c\nzone x { pods app.kubernetes.io/name != \"v\" }";
        let words: Vec<&str> = lex(text).iter().map(|t| &text[t.start..t.end]).collect();
        assert_eq!(
            words,
            [
                "allow",
                "a",
                "->",
                "b",
                ":",
                "8080",
                "# c",
                "\n",
                "zone",
                "x",
                "{",
                "pods",
                "app.kubernetes.io/name",
                "!=",
                "\"v\"",
                "}"
            ]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

        /// Half-typed programs: every function answers at every offset
        /// without panicking.
        #[test]
        fn every_query_at_every_offset(tokens in proptest::collection::vec(proptest::sample::select(&[
            "zone ", "web", " { ", "}", "\n", "pods ", "app", " = ", "\"v\"", ", ", "namespace ",
            "namespaces ", "has ", "not ", "in ", "(", ")", "allow ", "deny ", " -> ", " : ", "80",
            "tcp/", "udp/53", "icmp", "tier ", "gateway ", "istio", "via ", "external ", "fqdn ",
            "cidr ", "10.0.0.0/8", " except ", "import ", "\"std/k8s\"", "\"./x.npl\"", "# c",
            "## d\n", "é", "😀", "\"", "http { GET \"/\" }", "dns { \"a.b\" }", "isolate ", "none",
            "ingress-nginx", "world", "|", ";",
        ][..]), 0..40)) {
            let text: String = tokens.concat();
            let mut db = crate::db::Database::default();
            let file = db.set_file("/ide-fuzz/main.npl", text.clone());
            let program = Program::new(&db, vec![file]);
            let workspace = [program];
            for offset in (0..=text.len() + 2).filter(|o| *o > text.len() || text.is_char_boundary(*o)) {
                let _ = hover(&db, program, file, offset);
                let _ = definition(&db, program, file, offset);
                let _ = references(&db, program, &workspace, file, offset, true);
                let _ = prepare_rename(&db, program, file, offset);
                let _ = rename(&db, program, &workspace, file, offset, "renamed");
                let _ = completions(&db, program, &workspace, file, offset);
            }
            let _ = document_symbols(&db, file);
            let _ = workspace_symbols(&db, &workspace, "");
            let _ = folding_ranges(&db, file);
            let tokens = semantic_tokens(&db, program, file);
            for pair in tokens.windows(2) {
                proptest::prop_assert!(pair[0].end <= pair[1].start, "overlapping tokens");
            }
            for diag in crate::db::diagnostics(&db, program) {
                for fix in fixes(&db, diag) {
                    for edit in fix.edits {
                        proptest::prop_assert!(edit.span.end as usize <= text.len());
                    }
                }
            }
        }
    }

    #[test]
    fn valid_names() {
        assert!(is_valid_name("web-2"));
        assert!(!is_valid_name("Web"));
        assert!(!is_valid_name("a--b"));
        assert!(!is_valid_name("a-"));
        assert!(!is_valid_name(""));
    }
}

/// A highlight of the name under the cursor in its file: where it is
/// defined (`definition`) and used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Highlight {
    pub span: Span,
    pub definition: bool,
}

/// Every occurrence, in `file`, of the name under the cursor.
pub fn highlights(
    db: &dyn Db,
    program: Program,
    file: SourceFile,
    offset: usize,
) -> Vec<Highlight> {
    let offset = clamp_offset(text(db, file), offset);
    let resolved = names::resolve(db, program);
    let Some((_, id)) = name_at(resolved, file, offset) else {
        return Vec::new();
    };
    let mut out: Vec<Highlight> = Vec::new();
    if let Some(span) = resolved.def(id).name_span.filter(|s| s.file == file) {
        out.push(Highlight {
            span,
            definition: true,
        });
    }
    for reference in &resolved.references {
        if reference.def == id && reference.span.file == file {
            out.push(Highlight {
                span: reference.span,
                definition: false,
            });
        }
    }
    out.sort_by_key(|h| (h.span.start, h.span.end));
    out.dedup_by_key(|h| (h.span.start, h.span.end));
    out
}

/// A hint shown after a name: what it stands for that the line does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlayHint {
    /// Where the hint goes (the end of the name).
    pub offset: usize,
    pub label: String,
    pub tooltip: String,
}

/// Hints for the names used in `file` between `start` and `end`: the
/// namespace a zone pins (when it is not the zone's own name), and the pod
/// port a `via` gateway is reached on (8443 unless its `port` line says).
pub fn inlay_hints(
    db: &dyn Db,
    program: Program,
    file: SourceFile,
    start: usize,
    end: usize,
) -> Vec<InlayHint> {
    let resolved = names::resolve(db, program);
    let mut out = Vec::new();
    for reference in &resolved.references {
        let span = reference.span;
        if span.file != file || (span.end as usize) < start || (span.start as usize) > end {
            continue;
        }
        let def = resolved.def(reference.def);
        let hint = match &def.kind {
            DefKind::Zone(zone) => pinned_namespace(zone)
                .filter(|ns| *ns != def.name)
                .map(|ns| {
                    (
                        format!("ns {ns}"),
                        format!("zone `{}` is in namespace `{ns}`", def.name),
                    )
                }),
            DefKind::Gateway { port, .. } => {
                let pod_port = port.unwrap_or(8443);
                Some((
                    format!("port {pod_port}"),
                    format!(
                        "sources reach gateway `{}` on pod port {pod_port}{}",
                        def.name,
                        if port.is_none() { " (the default)" } else { "" }
                    ),
                ))
            }
            _ => None,
        };
        if let Some((label, tooltip)) = hint {
            out.push(InlayHint {
                offset: span.end as usize,
                label,
                tooltip,
            });
        }
    }
    out.sort_by(|a, b| (a.offset, &a.label).cmp(&(b.offset, &b.label)));
    out.dedup();
    out
}

/// The one namespace a zone's `namespace "x"` line pins, if it has one.
fn pinned_namespace(zone: &ast::Zone) -> Option<&str> {
    let mut names = zone.lines.iter().filter_map(|line| match line {
        ZoneLine::Namespace { name, .. } => Some(name.value.as_str()),
        _ => None,
    });
    let first = names.next()?;
    names.next().is_none().then_some(first)
}

/// The `import` paths of a file: the span of each path literal and the
/// path as written.
pub fn imports_of(db: &dyn Db, file: SourceFile) -> Vec<(Span, String)> {
    db::parse(db, file)
        .module
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Import(i) => Some((i.path.span, i.path.value.clone())),
            _ => None,
        })
        .collect()
}
