//! One module per verb: each takes its parsed arguments, calls the library, and prints.

pub mod explain;
