//! Rename a definition across the workspace.

use crate::check;
use crate::db::{Db, Program, SourceFile};
use crate::diagnostic::Span;
use crate::names::{self, Origin};
use crate::stdlib;

use super::navigation::{name_at, occurrences};
use super::{clamp_offset, display_path, text, TextEdit};

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
    if !check::is_valid_name(new_name) {
        return Err(format!(
            "`{new_name}` is not a valid name: names are lowercase ASCII letters, digits and single dashes, starting with a letter, at most {} characters",
            check::MAX_NAME_LEN
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
