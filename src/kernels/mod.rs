//! Kernel descriptors: what each kernel computes, which layout it reads,
//! which ISA it needs, and the function that runs it.
//!
//! A kernel computes, for one token and a run of consecutive row groups, the
//! exact int32 sums `out[row · nb + b] = Σ_{c ∈ block b} q[c] · code[row, c]`
//! (rows counted from the first row group passed, padding rows included).
//! Float scaling is done once, in Rust (`gemm.rs`), so every kernel and ISA
//! gives bit-identical results. The C kernels live in `kernels/<arch>/`; the
//! per-ISA files here declare them and list their descriptors.

use crate::isa::Isa;
use crate::pack::Layout;

/// The algorithm a kernel uses (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelFamily {
    /// Decode 2-bit codes to int8 and multiply-add (`vpmaddubsw`,
    /// `vpdpbusd`): the bitnet.cpp I2_S / llama.cpp TQ2_0 approach, the
    /// baseline every table kernel is measured against.
    MultiplyAdd,
    /// Table lookup over groups of 2 ternary weights (9-entry tables,
    /// `vpshufb`), bitnet.cpp TL1 style.
    Lut2,
    /// Table lookup over groups of 4 ternary weights (81-entry tables,
    /// AVX-512 VBMI `vpermi2b`).
    Lut4,
}

impl KernelFamily {
    /// Every family.
    pub const ALL: [KernelFamily; 3] = [
        KernelFamily::MultiplyAdd,
        KernelFamily::Lut2,
        KernelFamily::Lut4,
    ];

    /// Short name used in descriptions and bench output.
    pub fn name(self) -> &'static str {
        match self {
            KernelFamily::MultiplyAdd => "mad",
            KernelFamily::Lut2 => "lut2",
            KernelFamily::Lut4 => "lut4",
        }
    }

    /// Parses [`KernelFamily::name`].
    pub fn from_name(name: &str) -> Option<KernelFamily> {
        KernelFamily::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// Arguments of one kernel call. Built by `gemm.rs`, which checks every
/// bound before creating the pointers.
pub(crate) struct KernelArgs {
    /// The layout `w` is packed in.
    pub layout: Layout,
    /// First byte of the first row group to compute.
    pub w: *const u8,
    /// Padded int8 activations of the token, `kp` bytes.
    pub qpad: *const i8,
    /// Per-block sums of `qpad` (`nb` values).
    pub qsum: *const i32,
    /// The token's tables (table families), else null.
    pub tables: *const u8,
    /// Row groups to compute.
    pub row_groups: usize,
    /// Scale blocks per row.
    pub nb: usize,
    /// Padded block length along k (a multiple of the layout's `kc`).
    pub bp: usize,
    /// `row_groups · mr · nb` int32 outputs.
    pub out: *mut i32,
}

/// Builds a token's tables: padded activations (`kp`) → the family's
/// tables. Safety: the builder's ISA is available.
pub(crate) type TableBuilder = unsafe fn(&[i8], &mut [u8]);

/// A kernel: family, ISA, the layout it reads, and its entry points.
pub struct KernelDesc {
    /// Unique name, `<family>_<isa>`.
    pub name: &'static str,
    /// Algorithm.
    pub family: KernelFamily,
    /// Instruction set it needs.
    pub isa: Isa,
    /// Layout it reads (the pack function is chosen from it).
    pub layout: Layout,
    /// Runs the kernel. Safety: every pointer in `args` is valid for the
    /// sizes it implies, and `args.layout == self.layout`.
    pub(crate) run: unsafe fn(&KernelArgs),
    /// Builds this token's tables (`None`: the portable builder in `lut.rs`).
    pub(crate) build_tables: Option<TableBuilder>,
}

impl std::fmt::Debug for KernelDesc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelDesc")
            .field("name", &self.name)
            .field("family", &self.family)
            .field("isa", &self.isa)
            .field("layout", &self.layout)
            .finish()
    }
}

/// Every kernel compiled into this build (available on this CPU or not).
pub fn all() -> impl Iterator<Item = &'static KernelDesc> {
    #[cfg(lutgemm_avx2)]
    let avx2 = x86_avx2::KERNELS;
    #[cfg(not(lutgemm_avx2))]
    let avx2: &[KernelDesc] = &[];
    #[cfg(lutgemm_avx512)]
    let avx512 = x86_avx512::KERNELS;
    #[cfg(not(lutgemm_avx512))]
    let avx512: &[KernelDesc] = &[];
    crate::portable::KERNELS.iter().chain(avx2).chain(avx512)
}

/// Every kernel that can run on this CPU.
pub fn available() -> impl Iterator<Item = &'static KernelDesc> {
    all().filter(|k| k.isa.is_available())
}

/// The kernel of `family` for `isa`, if compiled in.
pub fn find(family: KernelFamily, isa: Isa) -> Option<&'static KernelDesc> {
    all().find(|k| k.family == family && k.isa == isa)
}

/// The one C signature every kernel in `kernels/` has (see
/// `kernels/lutgemm_kernels.h`).
#[allow(dead_code)]
pub(crate) type CKernel = unsafe extern "C" fn(
    w: *const u8,
    qpad: *const i8,
    qsum: *const i32,
    tables: *const u8,
    row_groups: usize,
    nb: usize,
    bp: usize,
    out: *mut i32,
);

/// The C signature of a table builder: `kp` padded activations → tables.
#[allow(dead_code)]
pub(crate) type CTableBuilder = unsafe extern "C" fn(qpad: *const i8, kp: usize, tables: *mut u8);

/// Declares C kernels and wraps each in a Rust `unsafe fn(&KernelArgs)`.
///
/// `c_kernels! { fn lutgemm_avx2_ternary_mad => run_mad; ... }`
#[allow(unused_macros)]
macro_rules! c_kernels {
    ($(fn $c:ident => $rust:ident;)*) => {
        unsafe extern "C" {
            $(fn $c(
                w: *const u8,
                qpad: *const i8,
                qsum: *const i32,
                tables: *const u8,
                row_groups: usize,
                nb: usize,
                bp: usize,
                out: *mut i32,
            );)*
        }
        $(
            /// Safety: as [`KernelDesc::run`](crate::kernels::KernelDesc).
            unsafe fn $rust(a: &$crate::kernels::KernelArgs) {
                // SAFETY: forwarded contract; the C kernel reads and writes
                // exactly the extents `KernelArgs` documents.
                unsafe { $c(a.w, a.qpad, a.qsum, a.tables, a.row_groups, a.nb, a.bp, a.out) }
            }
        )*
    };
}

/// Declares C table builders and wraps each in a Rust
/// `unsafe fn(&[i8], &mut [u8])`.
///
/// `c_table_builders! { fn lutgemm_avx2_ternary_lut2_tables => tables_lut2; }`
#[allow(unused_macros)]
macro_rules! c_table_builders {
    ($(fn $c:ident => $rust:ident;)*) => {
        unsafe extern "C" {
            $(fn $c(qpad: *const i8, kp: usize, tables: *mut u8);)*
        }
        $(
            /// Safety: the builder's ISA is available; `tables` has the
            /// family's table length for `qpad.len()` activations.
            unsafe fn $rust(qpad: &[i8], tables: &mut [u8]) {
                // SAFETY: forwarded contract.
                unsafe { $c(qpad.as_ptr(), qpad.len(), tables.as_mut_ptr()) }
            }
        )*
    };
}

// After the macros, which these modules use.
#[cfg(lutgemm_avx2)]
mod x86_avx2;
#[cfg(lutgemm_avx512)]
mod x86_avx512;
