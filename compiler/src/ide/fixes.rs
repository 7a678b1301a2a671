//! Quick fixes for diagnostics.

use crate::db::{Db, SourceFile};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::syntax;
use crate::syntax::ast::Item;

use super::{text, TextEdit};

/// A quick fix for a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<TextEdit>,
    /// The fix to apply when the editor asks for "the" fix.
    pub preferred: bool,
}

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
            let item = syntax::parse(db, file)
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
    let last_import = syntax::parse(db, file)
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
