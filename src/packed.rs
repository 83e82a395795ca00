//! Packed weights and pack options.

use crate::aligned::AlignedBuf;
use crate::contract::Contract;
use crate::error::{Error, Result};
use crate::format::{Dequantize, Format};
use crate::isa::Isa;
use crate::kernels::{self, KernelDesc, KernelFamily};
use crate::layout::{Geometry, GroupScales};
use crate::select;

/// How to pack a matrix; `Default` selects automatically for decode under
/// the Exact contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackOptions {
    /// Force a kernel family (else selected from measured crossovers):
    /// its first kernel for the format and contract on the ISA.
    pub family: Option<KernelFamily>,
    /// Force one kernel, from [`crate::kernels::available`] (where a
    /// family has several kernels for one format and ISA, e.g. the two
    /// 2-bit multiply-add layouts); its ISA and family replace `isa` and
    /// `family`. It must support the format and the contract.
    pub kernel: Option<&'static KernelDesc>,
    /// Force an ISA (else `LUTGEMM_ISA`, else the best available).
    pub isa: Option<Isa>,
    /// The numerical contract (default Exact).
    pub contract: Contract,
    /// Typical tokens per call (1 for decode), for selection.
    pub tokens: usize,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            family: None,
            kernel: None,
            isa: None,
            contract: Contract::Exact,
            tokens: 1,
        }
    }
}

impl PackOptions {
    /// Default options with `contract`.
    pub fn with_contract(contract: Contract) -> PackOptions {
        PackOptions {
            contract,
            ..PackOptions::default()
        }
    }
}

/// Where a call under the Exact contract applies the scales and offsets of
/// the weights (`src/epilogue.rs` states both policies and the bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupScaling {
    /// After the kernel, in f64, rounded once to f32: every kernel of the
    /// contract gives the same bits. Weights on table layouts, with
    /// per-plane scales, or with a scale or offset outside
    /// [2^−64, 2^64] (besides 0), and every Fast and Float kernel.
    Epilogue,
    /// Inside the multiply-add integer kernel, accumulated in f32 with FMA
    /// in one fixed order (every ISA gives the portable kernel's bits),
    /// from scales stored next to the codes as f16 (`f16: true`, when
    /// every scale and offset is an f16 value) or f32.
    Fused {
        /// The stored scales and offsets are f16.
        f16: bool,
        /// Every offset is `−z · s` with `z = 2^(b−1)` (symmetric weights,
        /// [`crate::IntQuantizer::Symmetric`], GGUF Q4_0): the kernel folds
        /// it into the exact integer sum, `s · f32(isum − z · qsum)`, one
        /// FMA per group, and no offsets are stored.
        zero_point: bool,
    },
}

/// Weights packed for one kernel: immutable, `Send + Sync`, 64-byte
/// aligned. Pack once at load time; any number of threads and contexts may
/// compute with it at once.
pub struct PackedWeights {
    kernel: &'static KernelDesc,
    reason: &'static str,
    format: Format,
    group_desc: String,
    pub(crate) geo: Geometry,
    /// Sums per (row, group) the kernels write: 1, or `bits` when the
    /// weights carry per-plane scales.
    pub(crate) plane_out: usize,
    /// m × nb × plane_out, row-major: the scale of every (row, group[,
    /// plane]), for the f64 epilogue (empty with `group_scales`).
    pub(crate) scales: Vec<f32>,
    /// m × nb offsets, or `None` when every offset is zero (or with
    /// `group_scales`).
    pub(crate) offsets: Option<Vec<f32>>,
    /// The scales for fused group scaling, when the kernel's layout fuses
    /// them and the weights pass the magnitude check.
    pub(crate) group_scales: Option<GroupScales>,
    pub(crate) data: AlignedBuf,
}

/// Ternary weights packed for one kernel (the same type as every format).
pub type PackedTernary = PackedWeights;

impl PackedWeights {
    /// Packs `w` (a [`crate::TernaryMatrix`], [`crate::IntMatrix`] or any
    /// [`Dequantize`] format) for the kernel chosen by `opts`.
    pub fn pack<W: Dequantize + ?Sized>(w: &W, opts: &PackOptions) -> Result<PackedWeights> {
        let format = w.format();
        let contract = opts.contract;
        let isa = match (opts.kernel, opts.isa) {
            (Some(k), _) => k.isa.require()?,
            (None, Some(isa)) => isa.require()?,
            (None, None) => Isa::default_isa()?,
        };
        let plane_scales = w.has_plane_scales();
        let (kernel, reason) = match (opts.kernel, opts.family) {
            (Some(k), _) => {
                if !k.supports(format) || k.contract != contract {
                    return Err(Error::Unavailable(format!(
                        "kernel {} does not run {format} weights under the {contract} contract",
                        k.name
                    )));
                }
                (k, "forced by PackOptions::kernel")
            }
            (None, Some(family)) => (
                kernels::find(family, format, contract, isa).ok_or_else(|| {
                    Error::Unavailable(format!(
                        "no {family} kernel for {format} weights under the {contract} contract \
                         on ISA {isa}"
                    ))
                })?,
                "forced by PackOptions::family",
            ),
            (None, None) => select::select(
                format,
                contract,
                isa,
                opts.tokens.max(1),
                plane_scales,
                w.group_len(),
                (w.m(), w.k()),
            )?,
        };
        if plane_scales && !kernel.layout.supports_plane_scales() {
            return Err(Error::Unavailable(format!(
                "{} cannot apply per-bit-plane scales (use the {} family)",
                kernel.name,
                KernelFamily::BitLutG4
            )));
        }
        let (m, k) = (w.m(), w.k());
        let geo = Geometry::new(m, k, w.group_len(), kernel.layout, format, contract);
        let mut data = AlignedBuf::zeroed(geo.packed_bytes());
        kernel.layout.pack(w, &geo, data.bytes_mut());
        let signed_planes = kernel.layout.ternary_as_signed_planes(format);
        let planes = plane_scales || signed_planes;
        let plane_out = if planes { geo.bits } else { 1 };
        let group_scales = (contract == Contract::Exact
            && kernel.layout.fuses_group_scaling(format))
        .then(|| GroupScales::build(w, &geo))
        .flatten();
        let epilogue_rows = if group_scales.is_some() { 0 } else { m };
        let mut scales = Vec::with_capacity(epilogue_rows * geo.nb * plane_out);
        let mut offsets = Vec::with_capacity(epilogue_rows * geo.nb);
        for r in 0..epilogue_rows {
            for g in 0..geo.nb {
                if signed_planes {
                    scales.extend([w.scale(r, g), -w.scale(r, g)]);
                } else if planes {
                    scales.extend((0..plane_out).map(|i| w.plane_scale(r, g, i).unwrap_or(0.0)));
                } else {
                    scales.push(w.scale(r, g));
                }
                offsets.push(w.offset(r, g));
            }
        }
        let offsets = offsets.iter().any(|&o| o != 0.0).then_some(offsets);
        let group_desc = if w.group_len() == k {
            "whole-row groups".to_string()
        } else {
            format!("groups of {}", w.group_len())
        };
        Ok(PackedWeights {
            kernel,
            reason,
            format,
            group_desc,
            geo,
            plane_out,
            scales,
            offsets,
            group_scales,
            data,
        })
    }

    /// Where an Exact call applies the scales and offsets (always
    /// [`GroupScaling::Epilogue`] under Fast and Float).
    pub fn group_scaling(&self) -> GroupScaling {
        match &self.group_scales {
            Some(g) => GroupScaling::Fused {
                f16: g.f16,
                zero_point: g.zero_point,
            },
            None => GroupScaling::Epilogue,
        }
    }

    /// Rows of `W` (outputs per token).
    pub fn m(&self) -> usize {
        self.geo.m
    }
    /// Columns of `W` (inputs per token).
    pub fn k(&self) -> usize {
        self.geo.k
    }
    /// Scale groups per row.
    pub fn blocks_per_row(&self) -> usize {
        self.geo.nb
    }
    /// Sums per (row, group) that [`crate::Context::integer_sums`] returns:
    /// 1, or the bit count when the weights carry per-plane scales (also 2
    /// for ternary weights on the bit-serial Fast and Float kernels, which
    /// sum the weights of 1 and of −1 apart).
    pub fn planes_out(&self) -> usize {
        self.plane_out
    }
    /// The weight format.
    pub fn format(&self) -> Format {
        self.format
    }
    /// The numerical contract of the kernel.
    pub fn contract(&self) -> Contract {
        self.kernel.contract
    }
    /// The kernel these weights are packed for.
    pub fn kernel(&self) -> &'static KernelDesc {
        self.kernel
    }
    /// Bytes of packed weights (what a GEMV streams), fused group scales
    /// included.
    pub fn packed_bytes(&self) -> usize {
        self.data.len() + self.group_scales.as_ref().map_or(0, |g| g.bytes.len())
    }
    /// Which kernel and ISA run, the format, contract and layout, and why
    /// the kernel was chosen.
    pub fn describe(&self) -> String {
        format!(
            "{} {}×{} ({}{}), {} contract, kernel {} (family {}, isa {}, {:?}), {} packed bytes{}; {}",
            self.format,
            self.geo.m,
            self.geo.k,
            self.group_desc,
            if self.kernel.layout.ternary_as_signed_planes(self.format) {
                ", as two signed bit planes"
            } else if self.plane_out > 1 {
                ", per-plane scales"
            } else {
                ""
            },
            self.kernel.contract,
            self.kernel.name,
            self.kernel.family(),
            self.kernel.isa,
            self.kernel.layout,
            self.packed_bytes(),
            match self.group_scaling() {
                GroupScaling::Fused { f16, zero_point } => format!(
                    ", group scales fused in f32 (stored as {}{})",
                    if f16 { "f16" } else { "f32" },
                    if zero_point {
                        "; offsets folded into the integer sums as the zero point"
                    } else {
                        ""
                    }
                ),
                GroupScaling::Epilogue => String::new(),
            },
            self.reason
        )
    }
}

impl std::fmt::Debug for PackedWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}
