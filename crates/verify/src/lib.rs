//! mxray-verify: address verification by SMTP probe that never calls a transient failure
//! invalid. `engine` schedules, `classify` judges replies, `store` makes bulk runs resumable.

pub mod budget;
pub mod classify;
pub mod engine;
pub mod input;
pub mod lists;
pub mod model;
pub mod store;

pub use budget::BudgetLimits;
pub use engine::{Config, Decided, Engine, Item};
pub use model::{DecidingReply, Reason, Verdict, VerifyResult};
