//! Minimizing failures: shrinking op lists and saving reproducers.

pub mod behaviour;
pub mod reproducer;
pub mod shrink;
