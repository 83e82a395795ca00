//! AVX-512 kernels (`kernels/x86/avx512.c`, F/BW/VL/DQ + VBMI + VNNI):
//! FFI declarations and descriptors. See the C file for each kernel's design
//! and the measurements behind its layout.

use super::{KernelDesc, KernelFamily};
use crate::isa::Isa;
use crate::pack::Layout;

c_kernels! {
    fn lutgemm_avx512_ternary_mad => run_mad;
    fn lutgemm_avx512_ternary_lut2 => run_lut2;
    fn lutgemm_avx512_ternary_lut4 => run_lut4;
}

c_table_builders! {
    fn lutgemm_avx512_ternary_lut2_tables => tables_lut2;
    fn lutgemm_avx512_ternary_lut4_tables => tables_lut4;
}

pub(crate) const KERNELS: &[KernelDesc] = &[
    KernelDesc {
        name: "mad_avx512",
        family: KernelFamily::MultiplyAdd,
        isa: Isa::Avx512,
        // 8 rows share each activation load; kc = 256 is one 64-byte load
        // per row and chunk, decoded into 4 × 64 codes.
        layout: Layout::Mad { mr: 8, kc: 256 },
        run: run_mad,
        build_tables: None,
    },
    KernelDesc {
        name: "lut2_avx512",
        family: KernelFamily::Lut2,
        isa: Isa::Avx512,
        layout: Layout::Lut2 { mr: 64, kc: 4 },
        run: run_lut2,
        build_tables: Some(tables_lut2),
    },
    KernelDesc {
        name: "lut4_avx512",
        family: KernelFamily::Lut4,
        isa: Isa::Avx512,
        layout: Layout::Lut4 { mr: 64, kc: 4 },
        run: run_lut4,
        build_tables: Some(tables_lut4),
    },
];
