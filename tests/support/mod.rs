//! Test support: generators of valid NPL programs and matching inventories
//! (proptest strategies), builders for the evaluator's types, and a
//! deterministic generator of large programs for benchmarks.
//!
//! Use from an integration test with `mod support;`, from a bench with
//! `#[path = "../tests/support/mod.rs"] mod support;`.
//!
//! - [`program::program_strategy`] with a [`program::GenConfig`] gives a
//!   [`program::GenProgram`]; `render()` is its NPL text.
//! - [`inventory::inventory_strategy`] gives an [`inventory::Inventory`];
//!   [`inventory::connection_strategy`] connections into it
//!   ([`inventory::Inventory::connection`] builds the evaluator's
//!   `Connection`).
//! - [`scenario`] is all three at once.
//! - [`compile`] / [`lower`] run text through the salsa database.
#![allow(dead_code)]

pub mod alphabet;
pub mod inventory;
pub mod program;
pub mod scale;
pub mod schemas;
pub mod sources;

use nplc_compiler::ir::Ir;
use nplc_compiler::{ir, lint, render, Database, Diagnostic, Program};
use proptest::prelude::*;

#[allow(unused_imports)]
pub use inventory::{ConnSpec, EndRef, Inventory};

/// The documents of a YAML stream as nplc writes it (`---` lines between),
/// as text; blank documents are left out.
pub fn yaml_documents(stream: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in stream.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(last) = docs.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    docs.retain(|d| !d.trim().is_empty());
    docs
}
pub use program::{GenConfig, GenProgram};

/// A program text in a fresh database.
pub struct Compiled {
    pub db: Database,
    pub program: Program,
}

impl Compiled {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        lint::diagnostics(&self.db, self.program)
    }

    pub fn errors(&self) -> Vec<&Diagnostic> {
        self.diagnostics().iter().filter(|d| d.is_error()).collect()
    }

    /// The diagnostics, rendered for a failure message.
    pub fn rendered(&self) -> String {
        render::human(&self.db, self.diagnostics(), false)
    }

    pub fn ir(&self) -> Option<Ir> {
        ir::lower(&self.db, self.program).clone()
    }
}

pub fn compile(text: &str) -> Compiled {
    compile_named("generated.npl", text)
}

pub fn compile_named(path: &str, text: &str) -> Compiled {
    let mut db = Database::default();
    let file = db.set_file(path, text.to_string());
    let program = Program::new(&db, vec![file]);
    Compiled { db, program }
}

/// The IR of a program that must have no errors; panics with the rendered
/// diagnostics otherwise.
pub fn lower(text: &str) -> Ir {
    let compiled = compile(text);
    match compiled.ir() {
        Some(ir) => ir,
        None => panic!(
            "the program has errors:\n{}\n--- program ---\n{text}",
            compiled.rendered()
        ),
    }
}

/// A program, an inventory and `connections` connections into it, half of
/// them on ports the program names.
pub fn scenario(
    cfg: GenConfig,
    connections: usize,
) -> impl Strategy<Value = (GenProgram, Inventory, Vec<ConnSpec>)> {
    program::program_strategy(cfg).prop_flat_map(move |program| {
        let conns = prop::collection::vec(
            inventory::connection_strategy_for(program.mentioned_transports()),
            connections,
        );
        (Just(program), inventory::inventory_strategy(), conns)
    })
}

/// A connection, readable in a failure message.
pub fn describe_connection(conn: &nplc_compiler::eval::Connection) -> String {
    use nplc_compiler::eval::Endpoint;
    fn end(e: &Endpoint) -> String {
        match e {
            Endpoint::Pod(p) => format!(
                "pod ns={} ns-labels={:?} labels={:?} ports={:?}",
                p.namespace, p.namespace_labels, p.labels, p.ports
            ),
            other => format!("{other:?}"),
        }
    }
    format!(
        "{}\n  -> {}\n  {:?} request {:?}",
        end(&conn.source),
        end(&conn.destination),
        conn.transport,
        conn.request
    )
}
