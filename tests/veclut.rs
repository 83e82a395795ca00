//! The vector-LUT kernels (families `veclut_g4` and, for b-bit integers,
//! `veclut_int`) where they differ from the per-token kernels: token tiles of 32 (tails 1..35), rows past the
//! 64-row groups, scale groups that end inside a K-block or a flush run,
//! several row tiles and threads, and the int16 accumulators at their
//! worst case (the integer kernels' at theirs: tests/intb.rs
//! worst_case_overflow_inputs; their fused scaling: tests/fused_scaling.rs).
//! The registry-driven tests (oracle.rs, proptests.rs) run
//! these kernels on their inputs too.

mod common;

use common::*;
use lutgemm::{
    Context, Contract, Dequantize, Format, Isa, KernelDesc, KernelFamily, ScaleGranularity,
    TernaryMatrix, kernels, reference,
};

/// Every vector-LUT kernel usable here (the portable one at least).
fn veclut_kernels() -> Vec<&'static KernelDesc> {
    let ks: Vec<_> = kernels_here()
        .into_iter()
        .filter(|k| k.family() == KernelFamily::VecLutG4)
        .collect();
    assert!(ks.iter().any(|k| k.isa == Isa::Scalar));
    ks
}

#[test]
fn every_isa_here_has_a_vector_lut_kernel() {
    for isa in Isa::available() {
        assert!(
            kernels::available()
                .any(|k| k.family() == KernelFamily::VecLutG4
                    && isa.with_included().contains(&k.isa)),
            "no vector-LUT kernel for {isa}"
        );
    }
}

#[test]
fn token_tile_tails_and_row_tails() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    // m = 70: a second row group of 6 real rows; k = 300 in groups of 30
    // (padded to 32: 8 groups of 4, a K-block cut short) and per row
    // (75 groups: one K-block of 16 and a tail, one flush run).
    for g in [ScaleGranularity::PerBlock(30), ScaleGranularity::PerRow] {
        let w = random_ternary(70, 300, g, &mut rng);
        for n in 1..=35 {
            let q = random_q(n, 300, &mut rng);
            let d: Vec<f32> = (0..n).map(|i| 0.01 * (i + 1) as f32).collect();
            let want = reference::integer_sums(&w, &q, n);
            for kernel in veclut_kernels() {
                check_kernel(&w, kernel, &q, &d, n, &want);
            }
        }
    }
}

#[test]
fn long_rows_cross_many_flush_runs() {
    // k = 1028: 257 groups = 4 runs of 64 groups and one group, per tensor
    // and in blocks of 257 (a run cut by every block end).
    let mut rng = Rng(99);
    for g in [ScaleGranularity::PerTensor, ScaleGranularity::PerBlock(257)] {
        let w = random_ternary(130, 1028, g, &mut rng);
        let n = 33;
        let q = random_q(n, 1028, &mut rng);
        let want = reference::integer_sums(&w, &q, n);
        for kernel in veclut_kernels() {
            check_kernel(&w, kernel, &q, &vec![1.0; n], n, &want);
        }
    }
}

#[test]
fn int16_accumulators_at_the_worst_case() {
    // Every activation ±127 with one sign and every weight ±1: each table
    // entry a kernel adds is ±4·127 = ±508, and a run of 64 groups reaches
    // ±32512 in int16 before it is widened (lutgemm_kernels.h). k = 14336
    // crosses 56 such runs; n = 35 fills a token tile and starts a second.
    // Blocks of 7168 end runs at a scale group boundary as well.
    let (m, k, n) = (70, 14336, 35);
    let cases = [(127i8, 1i8), (-127, 1), (127, -1), (-127, -1)];
    for (i, (qv, code)) in cases.into_iter().enumerate() {
        let (g, bl) = if i % 2 == 0 {
            (ScaleGranularity::PerTensor, k)
        } else {
            (ScaleGranularity::PerBlock(7168), 7168)
        };
        let scales = vec![1.0; g.scale_count(m, k).unwrap()];
        let w = TernaryMatrix::new(m, k, vec![code; m * k], scales, g).unwrap();
        let q = vec![qv; n * k];
        let want = reference::integer_sums(&w, &q, n);
        assert!(
            want.iter()
                .all(|&s| s == qv as i32 * code as i32 * bl as i32)
        );
        for kernel in veclut_kernels() {
            check_kernel(&w, kernel, &q, &vec![1.0; n], n, &want);
        }
    }
}

#[test]
fn threads_and_row_tiles_do_not_change_results() {
    // 1000 rows = 16 row groups: several row tiles on 2 and 3 threads; 70
    // tokens = three token tiles.
    let mut rng = Rng(31);
    let (m, k, n) = (1000, 512, 70);
    let w = random_ternary(m, k, ScaleGranularity::PerBlock(128), &mut rng);
    let x: Vec<f32> = (0..n * k).map(|_| rng.f32()).collect();
    for kernel in veclut_kernels() {
        let p = pack_for(&w, kernel);
        assert_thread_invariant(&p, &x, n);
        // And the float result is the exact contract's.
        let (q, d) = reference::quantize_activations(&x, n, k);
        let mut y = vec![0f32; n * m];
        Context::with_threads(2)
            .unwrap()
            .matmul(&p, &x, n, &mut y)
            .unwrap();
        check_float(&w, &q, &d, n, &y, kernel.name);
    }
}

/// Every Exact integer vector-LUT kernel usable here (the portable one at
/// least).
fn int_veclut_kernels() -> Vec<&'static KernelDesc> {
    let ks: Vec<_> = kernels::available()
        .filter(|k| k.family() == KernelFamily::IntVecLut && k.contract == Contract::Exact)
        .collect();
    assert!(ks.iter().any(|k| k.isa == Isa::Scalar));
    for isa in Isa::available() {
        assert!(
            ks.iter().any(|k| isa.with_included().contains(&k.isa)),
            "no integer vector-LUT kernel for {isa}"
        );
    }
    ks
}

#[test]
fn integer_token_tails_row_tails_and_groups_inside_flush_runs() {
    // m = 70: a second row group of 6 real rows. k = 360: groups of 24
    // (3 index bytes of 8 codes, a K-block and a flush run cut by every
    // group end), of 40, and per row (45 steps of 8 columns: several flush
    // runs of every width and a short last K-block). Every storage of the
    // fused scales (f16, f32; offsets or a zero point) and the int32 sums
    // (check_kernel compares both to the oracle and the portable kernel).
    let mut rng = Rng(0x1e7_0001);
    let (m, k) = (70, 360);
    for bits in 1..=4u32 {
        for g in [
            ScaleGranularity::PerBlock(24),
            ScaleGranularity::PerBlock(40),
            ScaleGranularity::PerRow,
        ] {
            let w = random_int(m, k, bits, g, false, &mut rng);
            for n in [1, 2, 31, 32, 33, 65] {
                let q = random_q(n, k, &mut rng);
                let d: Vec<f32> = (0..n).map(|i| 0.01 * (i + 1) as f32).collect();
                let want = reference::integer_sums(&w, &q, n);
                for kernel in int_veclut_kernels() {
                    check_kernel(&w, kernel, &q, &d, n, &want);
                }
            }
        }
    }
}

#[test]
fn integer_threads_and_row_tiles_do_not_change_results() {
    let mut rng = Rng(37);
    let (m, k, n) = (1000, 512, 70);
    for bits in [1, 3] {
        let w = random_int(m, k, bits, ScaleGranularity::PerBlock(64), false, &mut rng);
        let x: Vec<f32> = (0..n * k).map(|_| rng.f32()).collect();
        for kernel in int_veclut_kernels() {
            let p = pack_for(&w, kernel);
            assert_thread_invariant(&p, &x, n);
        }
    }
}

/// Every `contract` vector-LUT kernel for `format` usable here; the
/// portable one first. None for 3- and 4-bit codes under Fast (their table
/// rows re-quantized to int8 miss the contract's NMSE bound: those formats
/// keep the bit-serial tables).
fn f32_veclut_kernels(format: Format, contract: Contract) -> Vec<&'static KernelDesc> {
    let family = if format == Format::Ternary {
        KernelFamily::VecLutG4
    } else {
        KernelFamily::IntVecLut
    };
    let mut ks: Vec<_> = kernels_for(format, contract)
        .into_iter()
        .filter(|k| k.family() == family)
        .collect();
    if contract == Contract::Fast && matches!(format, Format::Int3 | Format::Int4) {
        assert!(ks.is_empty());
        return ks;
    }
    ks.sort_by_key(|k| k.isa != Isa::Scalar);
    assert_eq!(ks[0].isa, Isa::Scalar);
    ks
}

/// `y` through every Float and Fast vector-LUT kernel on 1 thread: the
/// portable kernel's bits from each; Float within its bound of the f64
/// oracle, Fast within the Gaussian NMSE bound of tests/contracts.rs.
fn check_f32_kernels<W: Dequantize + ?Sized>(w: &W, x: &[f32], n: usize) {
    let want = reference::matmul_f64(w, x, n);
    let mag = reference::abs_products(w, x, n);
    for contract in [Contract::Float, Contract::Fast] {
        let mut first: Option<Vec<f32>> = None;
        for kernel in f32_veclut_kernels(w.format(), contract) {
            let y = matmul_one_thread(&pack_for(w, kernel), x, n);
            if contract == Contract::Float {
                assert_float_bound(&y, &want, &mag, kernel.name);
            } else {
                let e = nmse(&y, &want);
                assert!(e <= 3e-4, "{}: NMSE {e}", kernel.name);
            }
            match &first {
                None => first = Some(y),
                Some(y0) => {
                    let i = y0
                        .iter()
                        .zip(&y)
                        .position(|(a, b)| a.to_bits() != b.to_bits());
                    assert!(
                        i.is_none(),
                        "{} differs from the portable kernel at {i:?}",
                        kernel.name
                    );
                }
            }
        }
    }
}

/// n × k activations for the Float and Fast kernels: signed zeros, a few
/// large values and one all-zero span (a Fast scale of 0) besides
/// Gaussians.
fn span_activations(n: usize, k: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n * k)
        .map(|i| match (i % k, i % 13) {
            (0..64, _) if i / k == 1 => 0.0,
            (_, 0) => -0.0,
            (_, 5) => 1e4 * rng.f32(),
            _ => rng.gauss(),
        })
        .collect()
}

#[test]
fn float_and_fast_token_tails_spans_and_row_tails() {
    let mut rng = Rng(0xf1_0a7);
    // Groups of 30 (padded to 32: one span a group, a K-block cut short);
    // whole rows of 1028 (padded to 1088: 17 spans of 64); groups of 192
    // (3 spans each). m = 70: a second row group of 6 rows.
    for (k, g) in [
        (300, ScaleGranularity::PerBlock(30)),
        (1028, ScaleGranularity::PerTensor),
        (576, ScaleGranularity::PerBlock(192)),
    ] {
        let w = random_ternary(70, k, g, &mut rng);
        for n in [1, 2, 17, 31, 32, 33, 35, 64] {
            check_f32_kernels(&w, &span_activations(n, k, &mut rng), n);
        }
    }
}

#[test]
fn float_and_fast_threads_and_row_tiles_do_not_change_results() {
    let mut rng = Rng(41);
    let (m, k, n) = (1000, 512, 70);
    let w = random_ternary(m, k, ScaleGranularity::PerBlock(128), &mut rng);
    let x: Vec<f32> = (0..n * k).map(|_| rng.gauss()).collect();
    for contract in [Contract::Float, Contract::Fast] {
        for kernel in f32_veclut_kernels(Format::Ternary, contract) {
            assert_thread_invariant(&pack_for(&w, kernel), &x, n);
        }
    }
}

#[test]
fn integer_float_and_fast_token_tails_spans_and_row_tails() {
    let mut rng = Rng(0xf1_0a8);
    // Groups of 24 (one short span a group: 3, 6 or 12 index bytes),
    // whole rows of 1000 (padded to 1024: 16 spans of 64, 32 bytes each
    // for 4-bit codes, the most a span holds) and groups of 128 (2 spans).
    // m = 70: a second row group of 6 rows.
    for bits in 1..=4u32 {
        for (k, g) in [
            (360, ScaleGranularity::PerBlock(24)),
            (1000, ScaleGranularity::PerRow),
            (384, ScaleGranularity::PerBlock(128)),
        ] {
            let w = random_int(70, k, bits, g, false, &mut rng);
            for n in [1, 2, 31, 32, 33, 64] {
                check_f32_kernels(&w, &span_activations(n, k, &mut rng), n);
            }
        }
    }
}

#[test]
fn integer_float_and_fast_threads_and_row_tiles_do_not_change_results() {
    let mut rng = Rng(43);
    let (m, k, n) = (1000, 512, 70);
    for bits in [2, 3] {
        let w = random_int(m, k, bits, ScaleGranularity::PerBlock(64), false, &mut rng);
        let x: Vec<f32> = (0..n * k).map(|_| rng.gauss()).collect();
        for contract in [Contract::Float, Contract::Fast] {
            for kernel in f32_veclut_kernels(w.format(), contract) {
                assert_thread_invariant(&pack_for(&w, kernel), &x, n);
            }
        }
    }
}
