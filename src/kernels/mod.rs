//! Kernel descriptors, the registry of every kernel, and the safe wrappers
//! that check every extent before an unsafe kernel call.
//!
//! A kernel computes, for a range of row groups and a tile of tokens, the
//! per-scale-group sums `Σ x · code` (int32 for the Exact contract, f32 for
//! Fast and Float), one per (token, row, group[, bit plane]). Scales and
//! offsets are applied afterwards, once, in Rust (`src/epilogue.rs`), so
//! every Exact kernel gives bit-identical results; except that kernels of
//! a layout that fuses the group scaling (`Layout::fuses_group_scaling`,
//! the multiply-add integer kernels) apply them themselves when the packed
//! weights carry `layout::GroupScales`, writing one f32 per (token, row)
//! in the fixed order of `kernels/lutgemm_kernels.h` (every ISA gives the
//! portable kernel's bits). The C kernels live in `kernels/<arch>/`; the
//! per-ISA files here declare them and list their descriptors, one line of
//! [`all`] per ISA.

/// A descriptor in one line:
/// `kernel!("name", Isa, formats, Contract, layout, run, Some(tables) | None)`.
macro_rules! kernel {
    ($name:literal, $isa:ident, $formats:expr, $contract:ident, $layout:expr, $run:expr, $tables:expr) => {
        $crate::kernels::KernelDesc {
            name: $name,
            formats: $formats,
            contract: $crate::contract::Contract::$contract,
            isa: $crate::isa::Isa::$isa,
            layout: $layout,
            run: $run,
            build_tables: $tables,
        }
    };
}

#[macro_use]
pub(crate) mod abi;
#[cfg(lutgemm_dotprod)]
mod arm_dotprod;
#[cfg(lutgemm_i8mm)]
mod arm_i8mm;
#[cfg(lutgemm_neon)]
mod arm_neon;
pub(crate) mod portable;
#[cfg(lutgemm_avx2)]
mod x86_avx2;
#[cfg(lutgemm_avx512)]
mod x86_avx512;

use crate::contract::Contract;
use crate::format::Format;
use crate::isa::Isa;
use crate::layout::{Geometry, Layout};
use abi::{KernelArgs, KernelFn, TableArgs, TableFn};

/// Ternary weights only.
pub(crate) const TERNARY: &[Format] = &[Format::Ternary];
/// Every b-bit integer format.
pub(crate) const INT_ALL: &[Format] = &[Format::Int1, Format::Int2, Format::Int3, Format::Int4];
/// Every b-bit integer format and ternary weights (the bit-serial Fast and
/// Float kernels: ternary as two signed bit planes, `Layout::IntBitLutG4`).
pub(crate) const INT_AND_TERNARY: &[Format] = &[
    Format::Int1,
    Format::Int2,
    Format::Int3,
    Format::Int4,
    Format::Ternary,
];
/// The integer formats the multiply-add layout holds.
pub(crate) const INT_MAD: &[Format] = &[Format::Int2, Format::Int4];
/// 2-bit integers only (`Layout::MadFieldRows`).
pub(crate) const INT2: &[Format] = &[Format::Int2];
/// 1- and 2-bit integers: the Fast integer vector-LUT's formats
/// (`kernels/veclut_float.h`: wider codes' table rows lose too much to
/// int8).
pub(crate) const INT12: &[Format] = &[Format::Int1, Format::Int2];

/// The algorithm a kernel uses (DESIGN.md §4), named by algorithm and group
/// size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KernelFamily {
    /// Decode codes to int8 and multiply-add (`vpmaddubsw`, `vpdpbusd`):
    /// bitnet.cpp I2_S / llama.cpp TQ2_0 / Q4_0 style, the baseline every
    /// table kernel is measured against.
    MultiplyAdd,
    /// Ternary multiply-add on five weights per byte (1.6 bits, about
    /// llama.cpp TQ1_0's density): a 128-entry table look-up (or base-3
    /// arithmetic) decodes the bytes to codes for `vpdpbusd`/`sdot`. For
    /// GEMV whose weights stream from DRAM, where bytes are the limit.
    MultiplyAdd5,
    /// Ternary table lookup over groups of g = 2 weights (9-entry tables,
    /// `vpshufb`), bitnet.cpp TL1 style.
    LutG2,
    /// Ternary table lookup over groups of g = 4 weights (81-entry tables,
    /// AVX-512 VBMI `vpermi2b`).
    LutG4,
    /// Bit-serial table lookup for b-bit integers: g = 4 activations per
    /// 16-entry table, one bit plane at a time (T-MAC style).
    BitLutG4,
    /// Ternary vector-LUT (Vec-LUT's 1→N lookup) over groups of g = 4
    /// weights: per tile of 32 tokens, one table row of 32 int16 group sums
    /// per pattern; an index byte adds a whole row into its weight row's
    /// accumulators. For many tokens (prefill).
    VecLutG4,
    /// b-bit integer vector-LUT: the same 1→N lookup with each nibble of a
    /// byte of codes (8 / b columns; 2 for b = 3 and 4) indexing 16 table
    /// rows, group scaling fused.
    IntVecLut,
}

impl KernelFamily {
    /// Every family.
    pub const ALL: [KernelFamily; 7] = [
        KernelFamily::MultiplyAdd,
        KernelFamily::MultiplyAdd5,
        KernelFamily::LutG2,
        KernelFamily::LutG4,
        KernelFamily::BitLutG4,
        KernelFamily::VecLutG4,
        KernelFamily::IntVecLut,
    ];

    /// Short name used in descriptions and bench output.
    pub fn name(self) -> &'static str {
        match self {
            KernelFamily::MultiplyAdd => "mad",
            KernelFamily::MultiplyAdd5 => "mad5",
            KernelFamily::LutG2 => "lut_g2",
            KernelFamily::LutG4 => "lut_g4",
            KernelFamily::BitLutG4 => "bitlut_g4",
            KernelFamily::VecLutG4 => "veclut_g4",
            KernelFamily::IntVecLut => "veclut_int",
        }
    }

    /// Parses [`KernelFamily::name`].
    pub fn from_name(name: &str) -> Option<KernelFamily> {
        KernelFamily::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for KernelFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A kernel: what it computes (formats, contract), how (family, layout),
/// what it needs (ISA), and its entry points. Two descriptors are equal
/// when they name the same kernel (names are unique: a test checks it).
pub struct KernelDesc {
    /// Unique name, `<family>[_<format class>][_<contract>]_<isa>`.
    pub name: &'static str,
    /// Weight formats it reads.
    pub formats: &'static [Format],
    /// The numerical contract it meets.
    pub contract: Contract,
    /// Instruction set it needs.
    pub isa: Isa,
    /// Layout it reads (its family, padding and pack function come from it).
    pub layout: Layout,
    pub(crate) run: KernelFn,
    /// The ISA's own table builder (`None`: the layout's portable one).
    pub(crate) build_tables: Option<TableFn>,
}

impl PartialEq for KernelDesc {
    fn eq(&self, other: &KernelDesc) -> bool {
        self.name == other.name
    }
}

impl Eq for KernelDesc {}

impl KernelDesc {
    /// The algorithm.
    pub fn family(&self) -> KernelFamily {
        self.layout.family()
    }

    /// Whether this kernel reads weights of `format`.
    pub fn supports(&self, format: Format) -> bool {
        self.formats.contains(&format)
    }

    /// The table builder this kernel's tokens need, if any.
    pub(crate) fn table_builder(&self) -> Option<TableFn> {
        self.build_tables
            .or_else(|| self.layout.portable_table_builder(self.contract))
    }
}

impl std::fmt::Debug for KernelDesc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelDesc")
            .field("name", &self.name)
            .field("formats", &self.formats)
            .field("contract", &self.contract)
            .field("isa", &self.isa)
            .field("layout", &self.layout)
            .finish()
    }
}

/// Every kernel compiled into this build (available on this CPU or not):
/// one line per ISA.
pub fn all() -> impl Iterator<Item = &'static KernelDesc> {
    let lists: [&'static [KernelDesc]; 6] = [
        portable::KERNELS,
        #[cfg(lutgemm_avx2)]
        x86_avx2::KERNELS,
        #[cfg(not(lutgemm_avx2))]
        &[],
        #[cfg(lutgemm_avx512)]
        x86_avx512::KERNELS,
        #[cfg(not(lutgemm_avx512))]
        &[],
        #[cfg(lutgemm_neon)]
        arm_neon::KERNELS,
        #[cfg(not(lutgemm_neon))]
        &[],
        #[cfg(lutgemm_dotprod)]
        arm_dotprod::KERNELS,
        #[cfg(not(lutgemm_dotprod))]
        &[],
        #[cfg(lutgemm_i8mm)]
        arm_i8mm::KERNELS,
        #[cfg(not(lutgemm_i8mm))]
        &[],
    ];
    lists.into_iter().flatten()
}

/// Every kernel that can run on this CPU.
pub fn available() -> impl Iterator<Item = &'static KernelDesc> {
    all().filter(|k| k.isa.is_available())
}

/// The kernel of `family` for (`format`, `contract`, `isa`), if compiled in.
pub fn find(
    family: KernelFamily,
    format: Format,
    contract: Contract,
    isa: Isa,
) -> Option<&'static KernelDesc> {
    all().find(|k| {
        k.family() == family && k.supports(format) && k.contract == contract && k.isa == isa
    })
}

/// The output of a kernel call.
pub(crate) enum KernelOut<'a> {
    /// Exact contract: int32 sums.
    Int(&'a mut [i32]),
    /// Fast and Float: f32 partial sums.
    Float(&'a mut [f32]),
}

/// The group scales of a fused call (`kernels/lutgemm_kernels.h`): the
/// call's row groups' bytes of `layout::GroupScales`, `stride` apart.
pub(crate) struct FusedScales<'a> {
    pub bytes: &'a [u8],
    pub stride: usize,
    pub f16: bool,
    pub offsets: bool,
    pub zero_point: bool,
}

/// A kernel call over slices: `row_groups` row groups of `w` (consecutive,
/// `geo.row_group_bytes()` apart) × `n` tokens whose prepared activations
/// start at the given slices, `*_stride` elements apart. With `fused` the
/// kernel applies the group scales and writes one f32 per (token, row).
pub(crate) struct KernelCall<'a> {
    pub geo: &'a Geometry,
    pub w: &'a [u8],
    pub row_groups: usize,
    pub plane_out: usize,
    pub n: usize,
    pub qpad: &'a [i8],
    pub qpad_stride: usize,
    /// f32 padded activations (Float kernels that build their own tables),
    /// `xpad_stride` floats apart; empty for the others.
    pub xpad: &'a [f32],
    pub xpad_stride: usize,
    pub qsum: &'a [i32],
    pub qsum_stride: usize,
    pub tables: &'a [u8],
    pub tables_stride: usize,
    pub tscale: &'a [f32],
    pub tscale_stride: usize,
    pub out: KernelOut<'a>,
    pub out_stride: usize,
    pub fused: Option<FusedScales<'a>>,
    /// The call's own scratch (64-byte aligned), at least
    /// `layout.kernel_scratch_bytes(row_groups · mr, nb, fused, contract)` bytes; empty for
    /// layouts that need none.
    pub scratch: &'a mut [u8],
}

/// `stride · (n − 1) + len` elements: what `n` strided items of `len` need.
fn span_len(n: usize, stride: usize, len: usize) -> usize {
    assert!(
        len <= stride || n == 1,
        "stride {stride} shorter than an item ({len})"
    );
    stride * (n - 1) + len
}

/// Runs `kernel` on `call` after checking every extent it reads or writes.
/// Panics (a bug in the caller, never reachable from user input) when one
/// is short.
pub(crate) fn run_kernel(kernel: &KernelDesc, call: KernelCall) {
    let geo = call.geo;
    assert!(call.n >= 1 && call.row_groups >= 1);
    // The portable kernels read any mr and kc (so they can run on a SIMD
    // kernel's packed bytes); a SIMD kernel only its own (and traps
    // otherwise: LUTGEMM_REQUIRE).
    assert!(kernel.isa == Isa::Scalar || geo.mr == kernel.layout.mr());
    assert!(geo.mr <= 64);
    assert!(call.plane_out == 1 || call.plane_out == geo.bits);
    assert!(call.w.len() >= call.row_groups * geo.row_group_bytes());
    let layout = kernel.layout;
    if layout.kernel_reads_qpad(kernel.contract) {
        assert!(call.qpad.len() >= span_len(call.n, call.qpad_stride, geo.kp));
    }
    if layout.kernel_reads_xpad(kernel.contract) {
        assert!(call.xpad.len() >= span_len(call.n, call.xpad_stride, geo.kp));
    }
    let (mut fuse, mut gscale, mut gscale_stride) = (0, std::ptr::null(), 0);
    if let Some(f) = &call.fused {
        assert!(
            kernel
                .formats
                .iter()
                .any(|&f| layout.fuses_group_scaling(f))
                && kernel.contract == Contract::Exact
        );
        assert!(call.plane_out == 1);
        let elem = if f.f16 { 2 } else { 4 };
        assert_eq!(
            f.stride,
            geo.nb * geo.mr * elem * if f.offsets { 2 } else { 1 }
        );
        assert!(f.bytes.len() >= call.row_groups * f.stride);
        assert!(!(f.offsets && f.zero_point));
        fuse = abi::FUSE
            | if f.f16 { abi::FUSE_F16 } else { 0 }
            | if f.offsets { abi::FUSE_OFFSETS } else { 0 }
            | if f.zero_point {
                abi::FUSE_ZERO_POINT
            } else {
                0
            };
        (gscale, gscale_stride) = (f.bytes.as_ptr(), f.stride);
    }
    if layout.kernel_reads_block_sums() || fuse & (abi::FUSE_OFFSETS | abi::FUSE_ZERO_POINT) != 0 {
        assert!(call.qsum.len() >= span_len(call.n, call.qsum_stride, geo.nb));
    }
    let table_len = layout.table_bytes(kernel.contract, geo.kp);
    if table_len > 0 {
        assert!(call.tables.len() >= span_len(call.n, call.tables_stride, table_len));
    }
    if kernel.contract == Contract::Fast && table_len > 0 {
        assert!(call.tscale.len() >= span_len(call.n, call.tscale_stride, geo.kp / geo.span));
    }
    let scratch_len =
        layout.kernel_scratch_bytes(call.row_groups * geo.mr, geo.nb, fuse != 0, kernel.contract);
    if scratch_len > 0 {
        assert!(call.scratch.len() >= scratch_len);
        assert!(call.scratch.as_ptr() as usize % 64 == 0);
    }
    let per_row = if fuse != 0 {
        1
    } else {
        geo.nb * call.plane_out
    };
    let outs = call.row_groups * geo.mr * per_row;
    let out_len = span_len(call.n, call.out_stride, outs);
    let out: *mut u8 = match (call.out, kernel.contract, fuse != 0) {
        (KernelOut::Int(o), Contract::Exact, false) => {
            assert!(o.len() >= out_len);
            o.as_mut_ptr().cast()
        }
        (KernelOut::Float(o), Contract::Fast | Contract::Float, false)
        | (KernelOut::Float(o), Contract::Exact, true) => {
            assert!(o.len() >= out_len);
            o.as_mut_ptr().cast()
        }
        _ => panic!("{}: output type does not match the contract", kernel.name),
    };
    let args = KernelArgs {
        w: call.w.as_ptr(),
        w_stride: geo.row_group_bytes(),
        row_groups: call.row_groups,
        mr: geo.mr,
        kc: geo.kc,
        nb: geo.nb,
        bp: geo.bp,
        bits: geo.bits,
        plane_out: call.plane_out,
        span: geo.span,
        n: call.n,
        qpad: call.qpad.as_ptr(),
        qpad_stride: call.qpad_stride,
        qsum: call.qsum.as_ptr(),
        qsum_stride: call.qsum_stride,
        tables: call.tables.as_ptr(),
        tables_stride: call.tables_stride,
        tscale: call.tscale.as_ptr(),
        tscale_stride: call.tscale_stride,
        out,
        out_stride: call.out_stride,
        fuse,
        gscale,
        gscale_stride,
        scratch: call.scratch.as_mut_ptr(),
        scratch_bytes: call.scratch.len(),
        xpad: call.xpad.as_ptr(),
        xpad_stride: call.xpad_stride,
    };
    debug_assert!(kernel.isa.is_available());
    // SAFETY: every extent the kernel reads or writes was checked above
    // against the geometry it is given; the kernel's ISA is available
    // (checked when packing, or the portable kernel).
    unsafe { (kernel.run)(&args) };
}

/// Builds one token's tables with `builder` after checking the extents.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_table_builder(
    builder: TableFn,
    geo: &Geometry,
    qpad: &[i8],
    xpad: &[f32],
    tables: &mut [u8],
    tscale: &mut [f32],
    want_tables: usize,
    contract: Contract,
) {
    assert!(tables.len() >= want_tables);
    if contract.quantizes_activations() {
        assert!(qpad.len() >= geo.kp);
    } else {
        assert!(xpad.len() >= geo.kp);
    }
    if contract == Contract::Fast {
        assert!(tscale.len() >= geo.kp / geo.span);
    }
    let args = TableArgs {
        qpad: qpad.as_ptr(),
        xpad: xpad.as_ptr(),
        kp: geo.kp,
        span: geo.span,
        tables: tables.as_mut_ptr(),
        tscale: tscale.as_mut_ptr(),
    };
    // SAFETY: extents checked above; the builder's ISA is available.
    unsafe { builder(&args) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aligned::AlignedBuf;
    use crate::layout::Geometry;

    #[test]
    fn kernel_names_are_unique() {
        let mut names: Vec<&str> = all().map(|k| k.name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a kernel name is listed twice");
    }

    /// Every ISA's own table builder writes exactly the bytes (and scales)
    /// of the layout's portable builder: this pins the table sizes and
    /// formats the C kernels rely on to the Rust descriptors.
    #[test]
    fn simd_table_builders_match_the_portable_ones() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for k in available().filter(|k| k.build_tables.is_some()) {
            let format = k.formats[0];
            for kp in [8usize, 64, 200, 4096] {
                let bl = if k.contract == Contract::Exact {
                    kp
                } else {
                    kp.min(64)
                };
                let geo = Geometry::new(1, kp, bl, k.layout, format, k.contract);
                let kp = geo.kp;
                let q: Vec<i8> = (0..kp)
                    .map(|_| ((next() % 255) as i32 - 127) as i8)
                    .collect();
                let x: Vec<f32> = (0..kp)
                    .map(|_| (next() % 2001) as f32 / 100.0 - 10.0)
                    .collect();
                let len = k.layout.table_bytes(k.contract, kp);
                let spans = kp / geo.span;
                let portable = k.layout.portable_table_builder(k.contract).unwrap();
                // Tables live in the 64-byte-aligned workspace; the C
                // builders store whole aligned vectors.
                let (mut t0, mut t1) = (AlignedBuf::zeroed(len), AlignedBuf::zeroed(len));
                t1.bytes_mut().fill(1);
                let (mut s0, mut s1) = (vec![0f32; spans], vec![1f32; spans]);
                run_table_builder(
                    portable,
                    &geo,
                    &q,
                    &x,
                    t0.bytes_mut(),
                    &mut s0,
                    len,
                    k.contract,
                );
                run_table_builder(
                    k.build_tables.unwrap(),
                    &geo,
                    &q,
                    &x,
                    t1.bytes_mut(),
                    &mut s1,
                    len,
                    k.contract,
                );
                assert!(
                    t0.bytes() == t1.bytes(),
                    "{}: tables differ from the portable builder's (kp {kp})",
                    k.name
                );
                if k.contract == Contract::Fast {
                    assert!(
                        s0.iter().zip(&s1).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{}",
                        k.name
                    );
                }
            }
        }
    }
}
