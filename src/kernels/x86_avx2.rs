//! AVX2 kernels (`kernels/x86/avx2.c`): FFI declarations and descriptors.
//!
//! - `mad_avx2`: multiply-add (`vpmaddubsw`) over `Layout::Mad { mr: 8,
//!   kc: 128 }`, the layout the portable multiply-add kernel also reads.
//! - `lut2_avx2`: g = 2 table lookup (`vpshufb` on 9-entry int16 tables
//!   split in low/high bytes) over `Layout::Lut2 { mr: 32, kc: 4 }`, with an
//!   AVX2 table builder writing exactly `lut::build_tables_lut2`'s bytes.
//!
//! Both read the same layouts as the portable kernels (`lut2` uses kc = 4:
//! the kernel loops over single 4-weight steps, so any block length pads by
//! at most 3). The overflow bounds, design notes and measurements are in the
//! C file: on this machine (AMD EPYC, family 19h: Zen 4), 4096×4096, n = 1, one core, mad_avx2 ≈ 140 µs and
//! lut2_avx2 ≈ 172 µs (+1 µs table build), so selection should prefer the
//! multiply-add kernel on AVX2.

use super::{KernelDesc, KernelFamily};
use crate::isa::Isa;
use crate::pack::Layout;

c_kernels! {
    fn lutgemm_avx2_ternary_mad => run_mad;
    fn lutgemm_avx2_ternary_lut2 => run_lut2;
}

c_table_builders! {
    fn lutgemm_avx2_ternary_lut2_tables => tables_lut2;
}

pub(crate) const KERNELS: &[KernelDesc] = &[
    KernelDesc {
        name: "mad_avx2",
        family: KernelFamily::MultiplyAdd,
        isa: Isa::Avx2,
        layout: Layout::Mad { mr: 8, kc: 128 },
        run: run_mad,
        build_tables: None,
    },
    KernelDesc {
        name: "lut2_avx2",
        family: KernelFamily::Lut2,
        isa: Isa::Avx2,
        layout: Layout::Lut2 { mr: 32, kc: 4 },
        run: run_lut2,
        build_tables: Some(tables_lut2),
    },
];
