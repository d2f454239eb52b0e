//! Renders norcompat results as a self-contained HTML compatibility report.
//! Knows nothing of devices: it takes only the results data.

pub mod results;

pub use results::{Outcome, Results};
