//! `nplc fmt`: rewrites `.npl` files in the canonical layout
//! (`nplc_compiler::formatter`), or with `--check` lists the files that are not in
//! it. A file with syntax errors is never rewritten: its diagnostics are
//! printed and the other files are still formatted.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use nplc_compiler::formatter::format_source;
use nplc_compiler::{render, syntax, Database};

use crate::inputs;
use crate::report::{print_stderr, print_stdout, Color, Outcome, OutputArgs};

/// The name `inputs` gives standard input.
const STDIN: &str = "<stdin>";

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 every file formatted (or, with --check, already formatted); 1 a file has syntax errors, or --check found files to format; 2 misuse (unreadable paths, unwritable files).\n\nExamples:\n  nplc fmt                        # every .npl file below the current directory\n  nplc fmt policy/ --check        # CI: list unformatted files, exit 1 if any\n  nplc fmt - < policy.npl         # standard input to standard output"
)]
pub struct FmtArgs {
    /// Files, directories (searched recursively for *.npl) or `-` to format
    /// standard input to standard output.
    paths: Vec<PathBuf>,
    /// Write nothing: list the files that formatting would change, and exit
    /// with status 1 if there are any.
    #[arg(long)]
    check: bool,
    /// Colour in diagnostics: `auto` colours only on a terminal (and not with NO_COLOR).
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

pub fn fmt(args: &FmtArgs) -> Outcome {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    // Every path is read before anything is written: a bad path is misuse
    // and changes nothing.
    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    let mut bad_files = Vec::new();
    for path in &paths {
        match inputs::read_path(path) {
            Ok(found) => {
                for (name, text) in found {
                    let key = std::fs::canonicalize(&name).unwrap_or_else(|_| PathBuf::from(&name));
                    if seen.insert(key) {
                        sources.push((name, text));
                    }
                }
            }
            Err(inputs::LoadError::Misuse(message)) => return Outcome::Misuse(message),
            Err(inputs::LoadError::BadFiles(found)) => bad_files.extend(found),
        }
    }
    // Files that are not source text (E0106, E0107) are errors in the input:
    // reported, and nothing is written.
    if !bad_files.is_empty() {
        let mut db = Database::default();
        let diagnostics: Vec<_> = bad_files.iter().map(|b| b.diagnostic(&mut db).1).collect();
        let color = OutputArgs::human(args.color).stderr_color();
        print_stderr(&render::human(&db, &diagnostics, color));
        return Outcome::InputErrors;
    }

    let color = OutputArgs::human(args.color).stderr_color();
    let mut db = Database::default();
    let mut refused = 0;
    let mut unformatted = Vec::new();
    let mut write_errors = 0;
    for (name, text) in &sources {
        let file = db.set_file(name, text.clone());
        let diagnostics = &syntax::parse(&db, file).diagnostics;
        if !diagnostics.is_empty() {
            let mut report = render::human(&db, diagnostics, color);
            report.push_str(&format!(
                "error: not formatting `{name}`: fix its syntax errors first\n"
            ));
            print_stderr(&report);
            refused += 1;
            continue;
        }
        let formatted = match format_source(text) {
            Ok(formatted) => formatted,
            Err(err) => {
                print_stderr(&format!("error: not formatting `{name}`: {err}\n"));
                refused += 1;
                continue;
            }
        };
        let changed = &formatted != text;
        if args.check {
            if changed {
                print_stdout(&format!("{name}\n"));
                unformatted.push(name);
            }
        } else if name == STDIN {
            print_stdout(&formatted);
        } else if changed {
            if let Err(message) = write_in_place(Path::new(name), &formatted) {
                print_stderr(&format!("error: {message}\n"));
                write_errors += 1;
            }
        }
    }

    if args.check && !unformatted.is_empty() {
        let n = unformatted.len();
        print_stderr(&format!(
            "{n} of {} file{} would be reformatted; run `nplc fmt` to format {}\n",
            sources.len(),
            if sources.len() == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        ));
    }
    if write_errors > 0 {
        return Outcome::Misuse(format!(
            "{write_errors} file{} could not be written",
            if write_errors == 1 { "" } else { "s" }
        ));
    }
    if refused > 0 || !unformatted.is_empty() {
        Outcome::InputErrors
    } else {
        Outcome::Clean
    }
}

/// Replaces a file's contents atomically: a temporary file next to it, then a
/// rename over it. A symbolic link is followed, and the file keeps its
/// permissions.
fn write_in_place(path: &Path, text: &str) -> Result<(), String> {
    let target = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.nplc-fmt-{}", std::process::id()));
    let result = (|| {
        let mut out = std::fs::File::create(&temp)?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        if let Ok(meta) = std::fs::metadata(&target) {
            std::fs::set_permissions(&temp, meta.permissions())?;
        }
        std::fs::rename(&temp, &target)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot write `{}`: {e}", path.display())
    })
}
