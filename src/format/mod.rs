//! Weight formats users hand in, and quantizers from float weights.

pub mod ternary;

pub use ternary::{ScaleGranularity, TernaryMatrix};
