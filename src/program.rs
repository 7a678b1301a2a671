//! Loading a program for the commands that answer questions about it
//! (`query`, `explain`, `matrix`): errors in it are printed as `check` prints
//! them and end the command with exit status 1.

use std::path::PathBuf;

use nplc_compiler::{check, Database, Program};

use crate::inputs;
use crate::report::{load_failed, report_diagnostics, JsonStream, Outcome, OutputArgs};

/// The database and program of `paths`, or the outcome to end with: misuse
/// when they cannot be read, input errors (already printed) when the program
/// has errors. Warnings are not printed: the answer is the command's output.
pub fn load(paths: &[PathBuf], output: &OutputArgs) -> Result<(Database, Program), Outcome> {
    let mut database = Database::default();
    let program = inputs::load(&mut database, paths)
        .map_err(|err| load_failed(&mut database, err, output, JsonStream::Stdout))?;
    let diags = check::source_diagnostics(&database, program);
    if diags.iter().any(|d| d.is_error()) {
        return Err(report_diagnostics(&database, diags, output, program));
    }
    Ok((database, program))
}
