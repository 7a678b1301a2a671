//! Prints a generated program shaped like real ones (benches/support/
//! realistic.rs), for profiling:
//!
//! ```console
//! $ cargo run --release --example gen_program -- 10000 > /tmp/p.npl
//! $ cargo run --release --example gen_program -- 10000 --shape pinned > /tmp/p.npl
//! $ cargo run --release --example gen_program -- --namespaces > /tmp/ns.yaml
//! ```
//!
//! The number is the count of zones; each has ten rules.

#[path = "realistic.rs"]
#[allow(dead_code)] // shared with benches/build.rs
mod realistic;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut zones = 1_000;
    let mut shape = realistic::Shape::Mixed;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--namespaces" => {
                print!("{}", realistic::namespaces_yaml());
                return ExitCode::SUCCESS;
            }
            "--shape" => match args.next().as_deref().and_then(realistic::Shape::parse) {
                Some(s) => shape = s,
                None => return usage("--shape takes `pinned` or `mixed`"),
            },
            n => match n.parse() {
                Ok(n) => zones = n,
                Err(_) => return usage(&format!("unexpected argument `{n}`")),
            },
        }
    }
    print!("{}", realistic::program(zones, shape));
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("{problem}\nusage: gen_program [ZONES] [--shape pinned|mixed] | --namespaces");
    ExitCode::from(2)
}
