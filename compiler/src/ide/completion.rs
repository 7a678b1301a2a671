//! Completion: keywords that fit at the cursor, names in scope, label keys
//! and values seen in the workspace, protocols, ports and import paths.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::algebra::icmp::{self, IcmpFamily};
use crate::db::{Db, Program, SourceFile};
use crate::diagnostic::Span;
use crate::names::{self, DefId, DefKind, Resolved};
use crate::stdlib;
use crate::syntax;
use crate::syntax::ast::{self, Item};

use super::hover::describe_def;
use super::labels::{label_keys, label_values};
use super::lexer::{lex, Tok, Token};
use super::well_known::{
    well_known_label, well_known_ports, WELL_KNOWN_LABEL_KEYS, WELL_KNOWN_TCP_PORTS,
};
use super::{clamp_offset, display_path, text};

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
                    (Some("allow" | "deny" | "log"), _) => Block::PeerSet,
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
                        (LOG_KEYWORD, LOG_DETAIL),
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
                        (LOG_KEYWORD, LOG_DETAIL),
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
                Some("allow" | "deny" | "log") => {
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
        Some("allow" | "deny" | "log" | "->") => {
            scope.items(db, out, replace, Want::Peer);
            peer_literal_keywords(out, replace);
        }
        Some("via") => scope.items(db, out, replace, Want::Gateway),
        Some(":") | Some(",") if after_colon => port_items(typed, replace, out),
        Some(_) if after_colon && !matches!(prev, Some("}" | "http" | "dns")) => {
            keyword_completions(
                out,
                &[
                    ("http", "http { GET \"/path\" }: only these HTTP requests"),
                    ("dns", "dns { \"*.example.com\" }: only these DNS names"),
                    ("via", "via GATEWAY: through an egress gateway"),
                ],
                replace,
            );
        }
        _ => {}
    }
}

const LOG_KEYWORD: &str = "log";
const LOG_DETAIL: &str =
    "log SOURCE -> DESTINATION : PORTS: records connections (calico), decides nothing";

fn port_items(typed: &str, replace: Span, out: &mut Vec<Completion>) {
    if let Some((proto, _)) = typed.split_once('/') {
        let family = match proto {
            "icmp" | "icmpv4" => Some(IcmpFamily::V4),
            "icmpv6" => Some(IcmpFamily::V6),
            _ => None,
        };
        if let Some(family) = family {
            for (name, number) in icmp::type_names(family) {
                out.push(Completion {
                    label: format!("{proto}/{name}"),
                    kind: CompletionKind::Port,
                    detail: Some(format!("{} type {number}", family.title())),
                    documentation: None,
                    insert: format!("{proto}/{name}"),
                    replace,
                });
            }
            return;
        }
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
        (
            "icmp",
            "every ICMP message; icmp/TYPE, icmp/TYPE/CODE, icmp/echo-request",
        ),
        ("icmpv4", "every ICMPv4 message"),
        (
            "icmpv6",
            "every ICMPv6 message; icmpv6/TYPE, icmpv6/echo-request",
        ),
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
        for item in &syntax::parse(db, file).module.items {
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
