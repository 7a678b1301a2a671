//! Argument definitions (clap) and the commands behind them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use nplc_compiler::emit::{self, Target};
use nplc_compiler::{Database, Diagnostic};

use crate::inputs;
use crate::report::{load_failed, report_diagnostics, JsonStream, Outcome, OutputArgs};

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
    let options = match config.build_options(namespaces) {
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
        diags.extend(nplc_compiler::targets::missing_routing(
            &db, program, targets,
        ));
        if targets.contains(&Target::Kubernetes) {
            let platform = nplc_compiler::targets::kubernetes_warnings(&db, program, &options);
            diags.extend(config.apply(&platform));
        }
        diags.extend(nplc_compiler::targets::dropped_logs(&db, program, targets));
    }
    report_diagnostics(&db, &diags, output, program)
}
