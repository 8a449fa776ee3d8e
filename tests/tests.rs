//! End-to-end tests: the real `mxray` binary, run as a user would run it.
//! One test binary with a module per verb (ripgrep's layout); helpers in `util`.

mod util;

mod browser;
mod cli;
mod cluster;
mod diagnose;
mod dnssec;
mod examples;
mod explain;
mod hostile;
mod lab;
mod live;
mod logs;
mod logs_follow;
mod monitors;
mod preflight;
mod progress;
mod providers;
mod proxy;
mod queue;
mod records;
mod records_spf;
mod serve;
mod sessions;
mod verify;
