//! Syntax: the grammar (`grammar/npl.pest`), the owned tree, and a parser
//! that never fails.

pub mod ast;
pub mod limits;
mod parser;

pub use parser::{parse_text, Parsed, RESERVED};

use crate::db::{Db, SourceFile};

/// A file's tree and syntax diagnostics, reparsed only when its text changes.
#[salsa::tracked(returns(ref))]
pub fn parse(db: &dyn Db, file: SourceFile) -> Parsed {
    parse_text(file, file.text(db))
}

/// Every keyword of the grammar (highlighting, the fuzz tests' token soups).
pub const KEYWORDS: &[&str] = &[
    "import",
    "zone",
    "external",
    "allow",
    "deny",
    "log",
    "tier",
    "gateway",
    "via",
    "fqdn",
    "cidr",
    "except",
    "namespace",
    "namespaces",
    "pods",
    "isolate",
    "has",
    "not",
    "in",
    "http",
    "dns",
    "port",
    "ingress",
    "egress",
    "none",
    "both",
];
