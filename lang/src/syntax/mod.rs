//! Syntax: the pest grammar, the AST, and the parser that builds one from the other.

pub mod ast;
pub mod parser;

pub use parser::parse;
