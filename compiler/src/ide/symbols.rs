//! Document and workspace symbols.

use std::collections::HashSet;

use crate::db::{Db, Program, SourceFile};
use crate::diagnostic::Span;
use crate::names::{self, DefKind};
use crate::syntax;
use crate::syntax::ast::{self, Item};

use super::hover::{literal_source, zone_in_words};
use super::slice;

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
    for item in &syntax::parse(db, file).module.items {
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
