//! # lutgemm
//!
//! CPU kernels for low-bit LLM inference: ternary (1.58-bit) and 1–4-bit
//! integer weights times float or int8 activations, by table lookup (LUT)
//! and by multiply-add, with AVX2 and AVX-512 kernels, portable Rust
//! kernels, and a scalar f64 oracle ([`reference`](mod@reference)) that every kernel is
//! tested against.
//!
//! Shapes follow the linear layer: `W` is `m × k` (out × in features,
//! row-major), `X` is `n × k` (tokens × in features), `Y = X · Wᵀ` is
//! `n × m`.
//!
//! ```
//! use lutgemm::{Context, PackOptions, PackedWeights, ScaleGranularity, TernaryMatrix};
//!
//! let (m, k, n) = (64, 256, 2);
//! // Float weights → ternary (absmean, per tensor, as BitNet b1.58).
//! let w: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
//! let tern = TernaryMatrix::quantize_f32(&w, m, k, ScaleGranularity::PerTensor)?;
//! // Pack once for the kernel selected on this CPU.
//! let packed = PackedWeights::pack(&tern, &PackOptions::default())?;
//! println!("{}", packed.describe());
//!
//! // A context holds the workspace: repeated calls allocate nothing.
//! let mut ctx = Context::new();
//! let x: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.01).sin()).collect();
//! let mut y = vec![0f32; n * m];
//! ctx.matmul(&packed, &x, n, &mut y)?;
//!
//! // Same result as the oracle on the quantized activations.
//! let (q, d) = lutgemm::reference::quantize_activations(&x, n, k);
//! let want = lutgemm::reference::matmul_exact(&tern, &q, &d, n);
//! for (a, b) in y.iter().zip(&want) {
//!     assert!((*a as f64 - b).abs() <= 1e-6 * b.abs().max(1.0));
//! }
//! # Ok::<(), lutgemm::Error>(())
//! ```
//!
//! ## Formats and contracts
//!
//! [`TernaryMatrix`] and [`IntMatrix`] (1–4-bit codes with a scale and an
//! offset per group, or per-bit-plane scales) are described in [`format`](mod@format).
//! Every kernel meets one of three numerical contracts ([`Contract`]:
//! Exact, Fast, Float), chosen when packing; [`contract`] states each
//! contract's guarantee and error bound, and [`activation`] exactly how
//! the Exact contract quantizes activations. The epilogue's overflow policy
//! is in the docs of [`Context::matmul`] and the README.
//!
//! ## ISA selection
//!
//! The best ISA compiled in and supported by the CPU is used; set
//! `LUTGEMM_ISA=scalar|avx2|avx512` to force one process-wide, or
//! [`PackOptions::isa`] / [`Context::set_isa`] per matrix or context.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod activation;
mod aligned;
mod cache;
mod capi;
mod context;
pub mod contract;
mod epilogue;
mod error;
mod exec;
pub mod format;
pub mod isa;
pub mod kernels;
mod layout;
mod lut;
mod packed;
mod plan;
pub mod reference;
mod select;

pub use activation::ActivationElem;
pub use context::Context;
pub use contract::Contract;
pub use error::{Error, Result};
pub use format::{Dequantize, Format, IntMatrix, IntQuantizer, ScaleGranularity, TernaryMatrix};
pub use isa::Isa;
pub use kernels::{KernelDesc, KernelFamily};
pub use layout::Layout;
pub use packed::{PackOptions, PackedTernary, PackedWeights};

/// The README's examples run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
