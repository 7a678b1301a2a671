//! Syntax: the grammar (`grammar/npl.pest`), the owned tree, and a parser
//! that never fails.

pub mod ast;
pub mod limits;
mod parser;

pub use parser::{parse, Parsed, RESERVED};
