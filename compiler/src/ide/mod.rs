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

mod completion;
mod fixes;
mod folding;
mod hover;
mod labels;
mod lexer;
mod navigation;
mod rename;
mod semantic_tokens;
mod symbols;
mod well_known;

pub use completion::{completions, Completion, CompletionKind};
pub use fixes::{fixes, Fix};
pub use folding::{folding_ranges, Fold, FoldKind};
pub use hover::{hover, inlay_hints, Hover, InlayHint};
pub use navigation::{definition, highlights, imports_of, references, Highlight, Navigation};
pub use rename::{prepare_rename, rename};
pub use semantic_tokens::{modifiers, semantic_tokens, SemanticToken, TokenKind};
pub use symbols::{document_symbols, workspace_symbols, Symbol, SymbolKind};

use std::path::Path;

use crate::db::{Db, SourceFile};
use crate::diagnostic::Span;
use crate::stdlib;

// ---------------------------------------------------------------- results

/// Replace the text at `span` with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEdit {
    pub span: Span,
    pub text: String,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Program;

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
            for diag in crate::lint::diagnostics(&db, program) {
                for fix in fixes(&db, diag) {
                    for edit in fix.edits {
                        proptest::prop_assert!(edit.span.end as usize <= text.len());
                    }
                }
            }
        }
    }
}
