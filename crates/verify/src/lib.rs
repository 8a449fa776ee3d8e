//! mxray-verify: address verification by SMTP probe that never calls a transient failure
//! invalid.
//!
//! # Layout
//! - `engine`: the scheduler (per-domain sessions, retries, deadlines); records what happened
//!   and asks `verdict` what it means.
//! - `classify`: what one SMTP reply means for an address (pure).
//! - `verdict`: the one place a verdict and reason are decided, from recorded facts (pure).
//! - `budget`: per-provider session and connection-rate budgets, slowed by throttling.
//! - `input`: streaming address input (lines or a CSV column), read in batches.
//! - `run`: verify's job on the bulk runner (mxray-run): batches in, results out, store, resume.
//! - `store`: the SQLite job store that makes bulk runs resumable.
//! - `model`: the result types (verdict, reason, deciding reply) as plain data.
//! - `providers`: provider knowledge as data (MX patterns, reply rules, budgets, flags).
//! - `lists`: disposable, role and free-provider lists.

pub mod budget;
pub mod classify;
pub mod engine;
pub mod input;
pub mod lists;
pub mod model;
pub mod providers;
pub mod run;
pub mod store;
pub mod verdict;

pub use budget::{BudgetLimits, Budgets, SharedBudget, SharedLease};
pub use engine::{Config, Decided, Engine, Item, Waiting};
pub use model::{DecidingReply, Reason, Verdict, VerifyResult};
pub use run::{Resume, VerifyRun};
