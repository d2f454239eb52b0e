//! Running versions: machines of a version (in-process models and real QEMU
//! processes), trials along chains, behaviour runs and the matrix.

pub mod behaviour;
pub mod board;
pub mod execute;
pub mod launch;
pub mod machine;
pub mod matrix;
pub mod modes;
pub mod observation;
pub mod qemu_machine;
pub mod replay;
pub mod streams;
pub mod trial;
