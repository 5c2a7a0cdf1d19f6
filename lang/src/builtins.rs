//! The builtin functions (strings, lists, maps, encoding, CIDR math, inputs):
//! each with a type rule for the checker and an implementation for the evaluator.
