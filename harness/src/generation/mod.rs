//! Op sequences: the op-list format and the seeded, grammar-aware generator.

pub mod generator;
pub mod ops;
pub mod sequences;
