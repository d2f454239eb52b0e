//! Renders norcompat results as a self-contained HTML compatibility report.
//! Knows nothing of devices: it takes only the results data.

mod escape;
mod html;
pub mod results;
mod summary;
mod view;

pub use escape::escape_html;
pub use html::render_html;
pub use results::{Outcome, Results};
pub use summary::summary_table;
