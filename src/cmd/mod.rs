//! One module per verb: each takes its parsed arguments, calls the library, and prints.

pub mod demo;
pub mod diagnose;
pub mod explain;
pub mod lab;
pub mod verify;
