//! # lutgemm
//!
//! CPU kernels for low-bit LLM inference: ternary (1.58-bit) weights times
//! float or int8 activations, by table lookup (LUT) and by multiply-add, with
//! AVX2 and AVX-512 kernels, portable Rust kernels, and a scalar f64 oracle
//! ([`reference`]) that every kernel is tested against.
//!
//! Shapes follow the linear layer: `W` is `m × k` (out × in features,
//! row-major), `X` is `n × k` (tokens × in features), `Y = X · Wᵀ` is
//! `n × m`.
//!
//! ```
//! use lutgemm::{Context, PackOptions, PackedTernary, ScaleGranularity, TernaryMatrix};
//!
//! let (m, k, n) = (64, 256, 2);
//! // Float weights → ternary (absmean, per tensor, as BitNet b1.58).
//! let w: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
//! let tern = TernaryMatrix::quantize_f32(&w, m, k, ScaleGranularity::PerTensor)?;
//! // Pack once for the kernel selected on this CPU.
//! let packed = PackedTernary::pack(&tern, &PackOptions::default())?;
//! println!("{}", packed.describe());
//!
//! // A context holds the workspace: repeated calls allocate nothing.
//! let mut ctx = Context::new();
//! let x: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.01).sin()).collect();
//! let mut y = vec![0f32; n * m];
//! ctx.matmul(&packed, &x, n, &mut y)?;
//!
//! // Same result as the oracle on the quantized activations, to a few ulps.
//! let (q, d) = lutgemm::reference::quantize_activations(&x, n, k);
//! let want = lutgemm::reference::matmul_exact(&tern, &q, &d, n);
//! for (a, b) in y.iter().zip(&want) {
//!     assert!((*a as f64 - b).abs() <= 1e-5 * b.abs().max(1.0));
//! }
//! # Ok::<(), lutgemm::Error>(())
//! ```
//!
//! ## Numerical contract
//!
//! All kernels here meet the **exact** contract (DESIGN.md §3): activations
//! are quantized to int8 per token (`d = max|x| / 127`, `q = round(x / d)`),
//! the integer sums per scale block are exact int32 and identical to
//! [`reference::integer_sums`] bit for bit on every kernel and ISA, and the
//! float result is `y = (Σ_b f32(isum_b) · s_b) · d`, evaluated the same way
//! by every kernel, so results are bit-identical across kernels, ISAs and
//! thread counts. NaN/±Inf activations and int8 activations of −128 are
//! rejected with an error.
//!
//! ## ISA selection
//!
//! The best ISA compiled in and supported by the CPU is used; set
//! `LUTGEMM_ISA=scalar|avx2|avx512` to force one process-wide, or
//! [`PackOptions::isa`] / [`Context::set_isa`] per matrix or context.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod activation;
mod aligned;
mod error;
pub mod format;
mod gemm;
pub mod isa;
pub mod kernels;
mod lut;
pub mod pack;
mod portable;
pub mod reference;
mod select;

pub use activation::ActivationElem;
pub use error::{Error, Result};
pub use format::{ScaleGranularity, TernaryMatrix};
pub use gemm::{Context, PackOptions, PackedTernary};
pub use isa::Isa;
pub use kernels::{KernelDesc, KernelFamily};
pub use pack::Layout;

/// The README's examples run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
