//! `nplc`: the command line. Thin: parse arguments, run a command, turn its
//! outcome into an exit status (0 clean, 1 problems in the input, 2 misuse).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod build;
mod cli;
mod diff_cmd;
mod explain;
mod flows_cmd;
mod fmt_cmd;
mod graph;
mod inputs;
mod lint_args;
mod matrix;
mod nca;
mod program;
mod query;
mod report;
mod sarif;

use std::process::ExitCode;

use clap::Parser;

use crate::report::Outcome;

// A build allocates and frees many small values (label maps, rules, YAML
// text) on every core; mimalloc does that faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Outcome::Clean => ExitCode::SUCCESS,
        Outcome::InputErrors => ExitCode::from(1),
        Outcome::Misuse(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
