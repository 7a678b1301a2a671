//! Every `npl` code block of the design brief (../shared/LANGUAGE.md) and of
//! the user reference (docs/language.md) is a complete program that must
//! check with no diagnostics at all.

use std::path::{Path, PathBuf};

use nplc_compiler::{lint, render, Database, Program};

/// The ```npl blocks of a Markdown file, with their starting line.
fn npl_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```npl" => current = Some((i + 1, String::new())),
            Some((start, text)) if line.trim_start().starts_with("```") => {
                blocks.push((*start, std::mem::take(text)));
                current = None;
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

fn check_blocks(path: &Path) {
    let markdown = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let blocks = npl_blocks(&markdown);
    assert!(!blocks.is_empty(), "{} has no npl blocks", path.display());
    let mut failures = Vec::new();
    for (line, text) in blocks {
        let mut database = Database::default();
        let name = format!("{}:{line}", path.display());
        let file = database.set_file(&name, text);
        let program = Program::new(&database, vec![file]);
        let diags = lint::diagnostics(&database, program);
        if !diags.is_empty() {
            failures.push(render::human(&database, diags, false));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn design_brief_examples_check_clean() {
    check_blocks(&root().join("../shared/LANGUAGE.md"));
}

#[test]
fn reference_examples_check_clean() {
    check_blocks(&root().join("docs/language.md"));
}
