//! The target checks of the language server: what `nplc build --target T`
//! would report, as a tracked query per (program, target), so that an edit
//! recomputes only the builds whose inputs it changed (a comment edit that
//! leaves the IR as it was recomputes nothing past lowering).
//!
//! Builds go through the public `emit::build` only; the resources are
//! dropped, the diagnostics kept. A program with errors of its own has no
//! target diagnostics: its fast diagnostics already say what is wrong.

use crate::diagnostic::Diagnostic;
use crate::emit::{self, Options, Target};
use crate::{check, Db, Program};

/// The diagnostics of building `program` for `target` (errors and the
/// warnings the build adds), or none when the program has errors of its own.
#[salsa::tracked(returns(ref))]
pub fn diagnostics(db: &dyn Db, program: Program, target: Target) -> Vec<Diagnostic> {
    if check::source_diagnostics(db, program)
        .iter()
        .any(Diagnostic::is_error)
    {
        return Vec::new();
    }
    match emit::build(db, program, target, &Options::default()) {
        Ok(_) => Vec::new(),
        Err(diags) => diags,
    }
}
