//! Folding ranges: blocks, comment runs and import runs.

use crate::db::{Db, SourceFile};
use crate::diagnostic::Span;
use crate::syntax;
use crate::syntax::ast::Item;

use super::text;

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

/// Foldable regions: blocks (zones, tiers, gateways, multi-line rules), runs
/// of comment lines and runs of imports. Byte ranges; the editor folds lines.
pub fn folding_ranges(db: &dyn Db, file: SourceFile) -> Vec<Fold> {
    let full = text(db, file);
    let mut out = Vec::new();
    let mut imports: Option<(usize, usize)> = None;
    let multi_line = |s: usize, e: usize| full.get(s..e).is_some_and(|t| t.contains('\n'));
    for item in &syntax::parse(db, file).module.items {
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
