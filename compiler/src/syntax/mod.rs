//! Syntax: the grammar (`grammar/npl.pest`), the owned tree, and a parser
//! that never fails.

pub mod ast;
pub mod limits;
mod parser;

pub use parser::{parse, Parsed, RESERVED};

/// Every keyword of the grammar (highlighting, the fuzz tests' token soups).
pub const KEYWORDS: &[&str] = &[
    "import",
    "zone",
    "external",
    "allow",
    "deny",
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
