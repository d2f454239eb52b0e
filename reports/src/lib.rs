//! Renders norcompat results as a self-contained HTML compatibility report.
//! Knows nothing of devices: it takes only the results data.
//!
//! - [`render_html`]: the whole report as one HTML page (inline CSS, no
//!   external resources, printable).
//! - [`write_report`]: writes `<stem>.html` and `<stem>.json` atomically
//!   ([`write_atomically`]: any file so).
//! - [`summary_table`]: the plain-text table printed on the terminal.
//! - [`prediction`]: the static checker's prediction beside what a cell's
//!   trials did.

mod escape;
mod html;
pub mod results;
mod summary;
mod view;
mod write;

pub use escape::escape_html;
pub use html::render_html;
pub use results::{Outcome, Results};
pub use summary::summary_table;
pub use view::{coverage_by_type, prediction, prediction_failed, TypeCoverage};
pub use write::{write_atomically, write_report, ReportPaths};
