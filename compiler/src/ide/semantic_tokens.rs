//! Semantic tokens: names by what they name, and the rest from the lexer.

use crate::db::{Db, Program, SourceFile};
use crate::diagnostic::Span;
use crate::names::{self, Def, DefKind, Origin};
use crate::syntax;
use crate::syntax::ast::{self, Item, PeerLiteral, ZoneLine};

use super::hover::peer_leaves;
use super::lexer::{lex, Tok};
use super::{slice, text};

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
                    // `tcp/8080`, `icmp/3/4`: numbers; `icmp/echo-request`: a
                    // well-known name, coloured like a built-in.
                    let kind = if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                        Some(TokenKind::Number)
                    } else if port.icmp.is_some() {
                        Some(TokenKind::Builtin)
                    } else {
                        None
                    };
                    if let Some(kind) = kind {
                        push(Span::new(file, at + 1, port.span.end as usize), kind, 0);
                    }
                }
                None if written.starts_with("icmp") => push(port.span, TokenKind::Protocol, 0),
                None => push(port.span, TokenKind::Number, 0),
            }
        }
    };
    for item in &syntax::parse(db, file).module.items {
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
            Tok::Word if crate::syntax::KEYWORDS.contains(&word) => (TokenKind::Keyword, 0),
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
