//! SPF (RFC 7208): the record grammar, the evaluator, the walk of a published tree, and the
//! findings judged from them. One parser serves both the evaluator and the findings.

pub mod eval;
pub mod observe;
pub mod record;

pub use eval::{Resolver, SpfEvaluation, SpfVerdict, check_host};
pub use observe::{SpfNode, TermLookups, outcome_word, walk};
pub use record::{MAX_LOOKUPS, MAX_VOID, Qualifier, SpfSyntaxError, Term};
