//! What the commands share to print their results: the output options
//! (`--format`, `--color`), diagnostics with a summary line, stdout and
//! stderr that tolerate a closed pipe, and how a command ended.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use nplc_compiler::{render, Database, Severity};

use crate::inputs;

/// How a command ended.
pub enum Outcome {
    /// No errors in the input (warnings allowed).
    Clean,
    /// Errors in the input were reported.
    InputErrors,
    /// The tool was misused or could not run; the message says why.
    Misuse(String),
}

#[derive(clap::Args)]
pub struct OutputArgs {
    /// How the output (diagnostics, and the answers of query and explain) is
    /// printed. JSON diagnostics go to standard output, except for `build`,
    /// whose YAML owns it: there they go to standard error.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Colour in human output: `auto` colours only on a terminal (and not with NO_COLOR).
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
    /// SARIF 2.1.0 on standard output, for code-scanning UIs (`check` only).
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

impl OutputArgs {
    /// Human diagnostics with the given colour choice.
    pub fn human(color: Color) -> OutputArgs {
        OutputArgs {
            format: Format::Human,
            color,
        }
    }

    pub fn is_json(&self) -> bool {
        matches!(self.format, Format::Json)
    }

    /// Whether to colour what is written to stdout.
    pub fn stdout_color(&self) -> bool {
        self.color.enabled(std::io::stdout().is_terminal())
    }

    /// Whether to colour what is written to stderr.
    pub fn stderr_color(&self) -> bool {
        self.color.enabled(std::io::stderr().is_terminal())
    }
}

impl Color {
    fn enabled(self, terminal: bool) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

/// The outcome of paths that could not be loaded: misuse, or input errors
/// (files that are not source text), printed like any other diagnostics.
pub fn load_failed(
    db: &mut Database,
    err: inputs::LoadError,
    output: &OutputArgs,
    json: JsonStream,
) -> Outcome {
    match err {
        inputs::LoadError::Misuse(message) => Outcome::Misuse(message),
        inputs::LoadError::BadFiles(bad) => {
            let (files, diags): (Vec<_>, Vec<_>) = bad.iter().map(|b| b.diagnostic(db)).unzip();
            let program = nplc_compiler::Program::new(db, files);
            report_diagnostics_to(db, &diags, output, program, json)
        }
    }
}

/// Prints diagnostics (human on stderr, JSON on stdout) with a summary line;
/// `InputErrors` when any is an error.
pub fn report_diagnostics(
    db: &Database,
    diags: &[nplc_compiler::Diagnostic],
    output: &OutputArgs,
    program: nplc_compiler::Program,
) -> Outcome {
    report_diagnostics_to(db, diags, output, program, JsonStream::Stdout)
}

/// Where JSON diagnostics go: standard output, unless a command's own output
/// (`nplc build`'s YAML) owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStream {
    Stdout,
    Stderr,
}

pub fn report_diagnostics_to(
    db: &Database,
    diags: &[nplc_compiler::Diagnostic],
    output: &OutputArgs,
    program: nplc_compiler::Program,
    json: JsonStream,
) -> Outcome {
    let errors = diags
        .iter()
        .filter(|d| d.severity() == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    match output.format {
        Format::Sarif => print_stdout(&format!("{}\n", crate::sarif::log(db, diags))),
        Format::Json => {
            let text = format!("{}\n", render::json(db, diags));
            match json {
                JsonStream::Stdout => print_stdout(&text),
                JsonStream::Stderr => print_stderr(&text),
            }
        }
        Format::Human => {
            let color = match output.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            let files = names_count(db, program);
            let (shown, hidden) = shown_per_code(diags);
            let mut text = render::human(db, &shown, color);
            for (code, (count, severity)) in hidden {
                text.push_str(&format!(
                    "note: {count} more {severity}{} with code {code} not shown (`--format json` lists every one)\n",
                    if count == 1 { "" } else { "s" },
                ));
            }
            text.push_str(&summary(files, errors, warnings));
            print_stderr(&text);
        }
    }
    if errors > 0 {
        Outcome::InputErrors
    } else {
        Outcome::Clean
    }
}

/// At most this many diagnostics of one code are rendered for people: a
/// program of thousands of rules can repeat one warning thousands of times.
const SHOWN_PER_CODE: usize = 10;

/// Per code left out: how many, and the word for their severity.
type Hidden = std::collections::BTreeMap<&'static str, (usize, &'static str)>;

/// The diagnostics to render, and how many of each code are left out.
/// Borrowed when nothing is left out.
fn shown_per_code(
    diags: &[nplc_compiler::Diagnostic],
) -> (std::borrow::Cow<'_, [nplc_compiler::Diagnostic]>, Hidden) {
    let mut seen: std::collections::HashMap<nplc_compiler::Code, usize> =
        std::collections::HashMap::new();
    let mut hidden = Hidden::new();
    let mut shown = Vec::new();
    for diag in diags {
        let count = seen.entry(diag.code).or_insert(0);
        *count += 1;
        if *count <= SHOWN_PER_CODE {
            shown.push(diag);
        } else {
            let word = if diag.is_error() { "error" } else { "warning" };
            hidden.entry(diag.code.as_str()).or_insert((0, word)).0 += 1;
        }
    }
    if hidden.is_empty() {
        return (std::borrow::Cow::Borrowed(diags), hidden);
    }
    (shown.into_iter().cloned().collect(), hidden)
}

/// The number of user files checked (standard modules not counted).
fn names_count(db: &Database, program: nplc_compiler::Program) -> usize {
    let resolved = nplc_compiler::names::resolve(db, program);
    resolved.files.iter().filter(|f| !f.is_std(db)).count()
}

fn summary(files: usize, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if errors == 0 && warnings == 0 {
        format!("checked {}: no problems\n", plural(files, "file"))
    } else {
        format!(
            "checked {}: {}, {}\n",
            plural(files, "file"),
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }
}

/// Writes to stdout; a closed pipe (`nplc ... | head`) is not an error.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

pub fn print_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
}
