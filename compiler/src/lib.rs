//! The NPL compiler: syntax → names → check → ir → eval → emit.
//!
//! Everything is driven through the salsa database in [`db`]; see
//! ARCHITECTURE.md for the pipeline and its invariants.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod algebra;
pub mod allow;
pub mod answers;
pub mod check;
pub mod config;
pub mod db;
pub mod diagnostic;
pub mod diff;
pub mod emit;
pub mod eval;
pub mod flows;
pub mod formatter;
pub mod ide;
pub mod inventory;
pub mod ir;
pub mod lines;
pub mod lint;
pub mod meaning;
pub mod names;
pub mod render;
pub mod source;
pub mod stdlib;
pub mod syntax;
pub mod targets;

pub use db::{Database, Db, Program, SourceFile};
pub use diagnostic::{Code, Diagnostic, Severity, Span};
