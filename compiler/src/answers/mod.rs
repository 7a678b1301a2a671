//! Answers to the questions the commands ask about a program, kept out of
//! the binary so that the language server and future commands can ask them
//! too: the connectivity of an inventory, an endpoint written as text, and
//! the IR's sets in words. Printing them is the caller's business.

pub mod connectivity;
pub mod describe;
pub mod endpoint;
