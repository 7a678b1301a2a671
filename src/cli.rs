//! Argument definitions (clap) and the commands behind them.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use nplc_compiler::emit::{self, Target};
use nplc_compiler::{render, Database, Diagnostic, Severity};

use crate::{inputs, Outcome};

#[derive(Parser)]
#[command(
    name = "nplc",
    version,
    about = "Compiler for NPL, a network policy language",
    long_about = "nplc compiles one NPL source — zones, tiers, `allow frontend -> backend : 8080` — \
                  to Kubernetes NetworkPolicy, Cilium, Calico or Istio resources.",
    after_help = "Examples:\n  nplc check examples/three-tier\n  nplc check policy.npl --format json\n  cat policy.npl | nplc check -"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check programs and report diagnostics; writes nothing.
    #[command(
        after_help = "Exit status: 0 no errors (warnings allowed), 1 errors in the input, 2 misuse.\n\nExamples:\n  nplc check                      # every .npl file below the current directory\n  nplc check examples/homelab\n  nplc check a.npl b.npl --format json\n  nplc check policy/ -D W0009 -A W0008 --cluster-cidr 10.244.0.0/16\n  nplc check policy/ --format sarif > nplc.sarif\n\nLint levels come from nplc.toml (next to the program or above it) and then from -A, -W, -D."
    )]
    Check {
        /// Files, directories (searched recursively for *.npl) or `-` for standard input.
        paths: Vec<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        lints: crate::lint_args::LintArgs,
        /// Also report what this target cannot express, as `nplc build`
        /// would, without writing anything; repeat for several.
        #[arg(long = "target", short = 't', value_enum)]
        targets: Vec<crate::build::TargetArg>,
        /// The cluster's namespaces (`kubectl get ns -o yaml`), for
        /// `--target kubernetes` when zones select namespaces by label.
        #[arg(long, value_name = "NS.yaml", requires = "targets")]
        namespaces: Option<PathBuf>,
    },
    /// Compile programs to Kubernetes, Cilium, ... resources.
    Build(crate::build::BuildArgs),
    /// Is one connection allowed, and which rules decided it? Answers for
    /// the program as it will be enforced (`log` rules decide nothing; a
    /// `--staged` build enforces nothing until it is applied unstaged).
    Query(crate::query::QueryArgs),
    /// Everything a zone may reach and be reached by, with the rules behind it.
    Explain(crate::explain::ExplainArgs),
    /// The connectivity of a concrete inventory of namespaces and pods, as nca
    /// prints it, for the program as it will be enforced (as `query`).
    Matrix(crate::matrix::MatrixArgs),
    /// What a change opens and closes: two versions compared exactly.
    Diff(crate::diff_cmd::DiffArgs),
    /// Language server (LSP) on stdin/stdout, for editors.
    Lsp(LspArgs),
    /// Rewrite .npl files in the canonical layout, or list those that are not (--check).
    Fmt(crate::fmt_cmd::FmtArgs),
}

#[derive(clap::Args)]
pub struct LspArgs {
    /// Serve on standard input and output (the only transport; accepted
    /// because editor clients such as vscode-languageclient pass it).
    #[arg(long)]
    stdio: bool,
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

pub fn run(args: Args) -> Outcome {
    match args.command {
        Command::Check {
            paths,
            output,
            lints,
            targets,
            namespaces,
        } => {
            let targets: Vec<Target> = targets.iter().map(|t| t.target()).collect();
            check(&paths, &output, &lints, &targets, namespaces.as_deref())
        }
        Command::Build(args) => crate::build::build(&args),
        Command::Query(args) => crate::query::query(&args),
        Command::Explain(args) => crate::explain::explain(&args),
        Command::Matrix(args) => crate::matrix::matrix(&args),
        Command::Diff(args) => crate::diff_cmd::diff(&args),
        Command::Lsp(_) => match nplc_lsp::run_stdio() {
            Ok(()) => Outcome::Clean,
            Err(err) => Outcome::Misuse(format!("the language server could not start: {err}")),
        },
        Command::Fmt(args) => crate::fmt_cmd::fmt(&args),
    }
}

fn check(
    paths: &[PathBuf],
    output: &OutputArgs,
    lints: &crate::lint_args::LintArgs,
    targets: &[Target],
    namespaces: Option<&std::path::Path>,
) -> Outcome {
    let config = match lints.config(paths) {
        Ok(c) => c,
        Err(message) => return Outcome::Misuse(message),
    };
    let options = match crate::build::target_options(namespaces, &config) {
        Ok(o) => o,
        Err(message) => return Outcome::Misuse(message),
    };
    let mut db = Database::default();
    let program = match inputs::load(&mut db, paths) {
        Ok(p) => p,
        Err(err) => return load_failed(&mut db, err, output, JsonStream::Stdout),
    };
    let mut diags = nplc_compiler::config::diagnostics(&db, program, &config);
    // The targets' limits, as `nplc build` reports them (only for a program
    // without errors of its own: a build would stop there).
    if !targets.is_empty() && !diags.iter().any(Diagnostic::is_error) {
        for &target in targets {
            if let Err(errors) = emit::build(&db, program, target, &options) {
                for d in errors {
                    if !diags.contains(&d) {
                        diags.push(d);
                    }
                }
            }
        }
        diags.extend(emit::istio::missing_routing(&db, program, targets));
        if targets.contains(&Target::Kubernetes) {
            let platform = emit::kubernetes::warnings(&db, program, &options);
            diags.extend(config.apply(&platform));
        }
        diags.extend(emit::log::dropped_logs(&db, program, targets));
    }
    report_diagnostics(&db, &diags, output, program)
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
            let mut text = render::human(db, diags, color);
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
