//! Renders norcompat results as a self-contained HTML compatibility report.
//! Knows nothing of devices: it takes only the results data.
