//! Go to definition, references, highlights and the import paths of a file.

use crate::db::{Db, Program, SourceFile};
use crate::diagnostic::Span;
use crate::names::{self, Def, DefId, Resolved};
use crate::syntax;
use crate::syntax::ast::Item;

use super::{clamp_offset, text, touches};

/// Where the name under the cursor is written, and where it is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Navigation {
    pub origin: Span,
    /// The defining name (for an import: the start of the imported file).
    pub target: Span,
    /// The whole defining item, when there is one.
    pub full: Option<Span>,
}

/// The name written at `offset` (a definition or a use) and what it names.
/// A name that ends at the cursor counts, but one that starts there wins.
pub(super) fn name_at(
    resolved: &Resolved,
    file: SourceFile,
    offset: usize,
) -> Option<(Span, DefId)> {
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
pub(super) fn same_def(a: &Def, b: &Def) -> bool {
    a.name == b.name && a.name_span == b.name_span
}

pub(super) fn find_def(resolved: &Resolved, like: &Def) -> Option<DefId> {
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
    for item in &syntax::parse(db, file).module.items {
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

pub(super) fn occurrences(
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

/// The `import` paths of a file: the span of each path literal and the
/// path as written.
pub fn imports_of(db: &dyn Db, file: SourceFile) -> Vec<(Span, String)> {
    syntax::parse(db, file)
        .module
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Import(i) => Some((i.path.span, i.path.value.clone())),
            _ => None,
        })
        .collect()
}
