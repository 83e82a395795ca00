//! AVX2 kernels (`kernels/x86/avx2.c`: ternary; `kernels/x86/avx2_int.c`:
//! b-bit integers): FFI declarations and descriptors. Design notes, bounds
//! and measurements are in the C files.
//!
//! The ternary kernels read the same layouts as the portable ones, so one
//! packed matrix serves both and the portable kernel checks these on the
//! very same bytes.

use super::KernelDesc;
use crate::contract::Contract;
use crate::format::Format;
use crate::isa::Isa;
use crate::layout::Layout;

c_functions! {
    kernels: lutgemm_avx2_int_mad, lutgemm_avx2_int_bitlut_g4, lutgemm_avx2_ternary_mad, lutgemm_avx2_ternary_lut_g2;
    tables: lutgemm_avx2_int_bitlut_g4_tables, lutgemm_avx2_ternary_lut_g2_tables
}

pub(crate) const KERNELS: &[KernelDesc] = &[
    KernelDesc {
        name: "mad_avx2",
        formats: &[Format::Ternary],
        contract: Contract::Exact,
        isa: Isa::Avx2,
        layout: Layout::TernaryMad { mr: 8, kc: 128 },
        run: lutgemm_avx2_ternary_mad,
        build_tables: None,
    },
    KernelDesc {
        name: "lut_g2_avx2",
        formats: &[Format::Ternary],
        contract: Contract::Exact,
        isa: Isa::Avx2,
        layout: Layout::TernaryLutG2 { mr: 32, kc: 4 },
        run: lutgemm_avx2_ternary_lut_g2,
        build_tables: Some(lutgemm_avx2_ternary_lut_g2_tables),
    },
    KernelDesc {
        name: "mad_int_avx2",
        formats: &[Format::Int2, Format::Int4],
        contract: Contract::Exact,
        isa: Isa::Avx2,
        layout: Layout::IntMad { mr: 16 },
        run: lutgemm_avx2_int_mad,
        build_tables: None,
    },
    KernelDesc {
        name: "bitlut_g4_avx2",
        formats: &[Format::Int1, Format::Int2, Format::Int3, Format::Int4],
        contract: Contract::Exact,
        isa: Isa::Avx2,
        layout: Layout::IntBitLutG4 { mr: 32 },
        run: lutgemm_avx2_int_bitlut_g4,
        build_tables: Some(lutgemm_avx2_int_bitlut_g4_tables),
    },
];
