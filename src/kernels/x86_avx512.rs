//! AVX-512 kernels (`kernels/x86/avx512.c`: ternary;
//! `kernels/x86/avx512_int.c`: b-bit integers; F/BW/VL/DQ + VBMI + VNNI):
//! FFI declarations and descriptors. See the C files for each kernel's
//! design and the measurements behind its layout.

use super::KernelDesc;
use crate::contract::Contract;
use crate::format::Format;
use crate::isa::Isa;
use crate::layout::Layout;

c_functions! {
    kernels: lutgemm_avx512_int_mad, lutgemm_avx512_int_bitlut_g4, lutgemm_avx512_ternary_mad, lutgemm_avx512_ternary_lut_g2,
        lutgemm_avx512_ternary_lut_g4;
    tables: lutgemm_avx512_int_bitlut_g4_tables, lutgemm_avx512_ternary_lut_g2_tables, lutgemm_avx512_ternary_lut_g4_tables
}

pub(crate) const KERNELS: &[KernelDesc] = &[
    KernelDesc {
        name: "mad_avx512",
        formats: &[Format::Ternary],
        contract: Contract::Exact,
        isa: Isa::Avx512,
        // 8 rows share each activation load; kc = 256 is one 64-byte load
        // per row and chunk, decoded into 4 × 64 codes.
        layout: Layout::TernaryMad { mr: 8, kc: 256 },
        run: lutgemm_avx512_ternary_mad,
        build_tables: None,
    },
    KernelDesc {
        name: "lut_g2_avx512",
        formats: &[Format::Ternary],
        contract: Contract::Exact,
        isa: Isa::Avx512,
        layout: Layout::TernaryLutG2 { mr: 64, kc: 4 },
        run: lutgemm_avx512_ternary_lut_g2,
        build_tables: Some(lutgemm_avx512_ternary_lut_g2_tables),
    },
    KernelDesc {
        name: "lut_g4_avx512",
        formats: &[Format::Ternary],
        contract: Contract::Exact,
        isa: Isa::Avx512,
        layout: Layout::TernaryLutG4 { mr: 64, kc: 4 },
        run: lutgemm_avx512_ternary_lut_g4,
        build_tables: Some(lutgemm_avx512_ternary_lut_g4_tables),
    },
    KernelDesc {
        name: "mad_int_avx512",
        formats: &[Format::Int2, Format::Int4],
        contract: Contract::Exact,
        isa: Isa::Avx512,
        layout: Layout::IntMad { mr: 16 },
        run: lutgemm_avx512_int_mad,
        build_tables: None,
    },
    KernelDesc {
        name: "bitlut_g4_avx512",
        formats: &[Format::Int1, Format::Int2, Format::Int3, Format::Int4],
        contract: Contract::Exact,
        isa: Isa::Avx512,
        layout: Layout::IntBitLutG4 { mr: 64 },
        run: lutgemm_avx512_int_bitlut_g4,
        build_tables: Some(lutgemm_avx512_int_bitlut_g4_tables),
    },
];
