//! One module per verb: each takes its parsed arguments, calls the library, and prints.

pub mod demo;
pub mod diagnose;
pub mod explain;
pub mod lab;
pub mod logs;
pub mod verify;

/// This machine's name, the default EHLO name of the probing verbs.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
