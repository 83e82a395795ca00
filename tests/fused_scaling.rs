//! Fused group scaling (Exact contract, multiply-add integer kernels:
//! `src/epilogue.rs` states the policy and the bound): every SIMD kernel
//! gives the portable kernel's bits, the result is within the documented
//! bound of the exact value, weights outside the magnitude range keep the
//! f64 epilogue, integer sums are unchanged, threads do not matter.

mod common;

use common::Rng;
use common::*;
use lutgemm::{
    Context, Contract, Format, GroupScaling, IntMatrix, IntQuantizer, KernelDesc, KernelFamily,
    PackOptions, PackedWeights, ScaleGranularity, reference,
};
use proptest::prelude::*;

/// Every kernel usable here that fuses the group scaling of b-bit
/// integers: the multiply-add kernels and the integer vector-LUT.
fn mad_kernels(format: Format) -> Vec<&'static KernelDesc> {
    kernels_for(format, Contract::Exact)
        .into_iter()
        .filter(|k| {
            matches!(
                k.family(),
                KernelFamily::MultiplyAdd | KernelFamily::IntVecLut
            )
        })
        .collect()
}

fn groups(k: usize) -> Vec<ScaleGranularity> {
    let mut g = vec![ScaleGranularity::PerTensor, ScaleGranularity::PerRow];
    for b in [16, 32, 64, 128, 256] {
        if k % b == 0 {
            g.push(ScaleGranularity::PerBlock(b));
        }
    }
    g
}

/// Weights with f16 or f32 scale storage, with or without offsets.
fn weights(
    m: usize,
    k: usize,
    bits: u32,
    g: ScaleGranularity,
    f16: bool,
    offsets: bool,
    rng: &mut Rng,
) -> IntMatrix {
    if f16 {
        return random_int_f16(m, k, bits, g, offsets, rng);
    }
    let w = random_int(m, k, bits, g, false, rng);
    let offs = if offsets {
        w.offsets().to_vec()
    } else {
        vec![0.0; w.offsets().len()]
    };
    IntMatrix::new(m, k, bits, g, w.codes().to_vec(), w.scales().to_vec(), offs).unwrap()
}

/// Whether `w`'s offsets are all `−z · s` (`z = 2^(b−1)`), some nonzero:
/// symmetric weights, whose zero point the kernels fold into the sums
/// (from 2 bits: a 1-bit code's zero point of 1 keeps its offsets).
fn has_zero_point(w: &IntMatrix) -> bool {
    let z = (1u32 << (w.bits() - 1)) as f32;
    w.bits() >= 2
        && w.offsets().iter().any(|&o| o != 0.0)
        && w.scales()
            .iter()
            .zip(w.offsets())
            .all(|(&s, &o)| o == -z * s)
}

/// check_kernel (integer sums, the portable kernel's integer sums and float
/// bits on the same packed bytes, the fused bound) for every mad kernel,
/// after checking the weights took the fused path with the expected
/// storage (and zero point, for symmetric weights).
fn check_fused_kernels(w: &IntMatrix, f16: bool, q: &[i8], d: &[f32], n: usize) {
    let want = reference::integer_sums(w, q, n);
    let ks = mad_kernels(w.format());
    assert!(!ks.is_empty());
    for kernel in ks {
        let p = pack_for(w, kernel);
        assert_eq!(
            p.group_scaling(),
            GroupScaling::Fused {
                f16,
                zero_point: has_zero_point(w)
            },
            "{}",
            p.describe()
        );
        check_packed(w, &p, q, d, n, &want);
    }
}

#[test]
fn symmetric_weights_fold_the_zero_point() {
    // IntQuantizer::Symmetric: every offset is −z·s, so the kernels compute
    // s · f32(isum − z·qsum) with no offsets stored; the same bits as the
    // portable kernel, within the bound, for every storage, group and tail.
    let mut rng = Rng(0x5e_77);
    for bits in [2, 3, 4] {
        for &(m, k) in &[(1, 256), (70, 512), (33, 96), (16, 4096)] {
            let wf: Vec<f32> = (0..m * k).map(|_| rng.gauss()).collect();
            for g in groups(k) {
                for f16 in [true, false] {
                    let quantizer = if f16 {
                        IntQuantizer::Symmetric.with_f16_scales()
                    } else {
                        IntQuantizer::Symmetric.into()
                    };
                    let w = IntMatrix::quantize_f32(&wf, m, k, bits, g, quantizer).unwrap();
                    assert!(has_zero_point(&w));
                    let n = 1 + rng.below(9) as usize;
                    let q = random_q(n, k, &mut rng);
                    let d: Vec<f32> = (0..n).map(|_| rng.f32() + 0.01).collect();
                    check_fused_kernels(&w, f16, &q, &d, n);
                }
            }
        }
    }
}

#[test]
fn every_group_size_storage_and_tail_matches_the_portable_kernel() {
    let mut rng = Rng(0xf0_5ed);
    for bits in [1, 2, 3, 4] {
        for &(m, k) in &[(1, 256), (17, 512), (50, 768), (33, 96), (16, 4096)] {
            for g in groups(k) {
                for (f16, offsets) in [(true, true), (true, false), (false, true), (false, false)] {
                    let n = 1 + rng.below(9) as usize;
                    let w = weights(m, k, bits, g, f16, offsets, &mut rng);
                    let q = random_q(n, k, &mut rng);
                    let d: Vec<f32> = (0..n).map(|_| rng.f32() + 0.01).collect();
                    check_fused_kernels(&w, f16, &q, &d, n);
                }
            }
        }
    }
}

#[test]
fn many_row_groups_and_token_tiles() {
    // More row groups than one tile of any kernel, token counts around the
    // tiles (4, 8) and the plan's batches.
    let mut rng = Rng(77);
    for bits in [1, 2, 3, 4] {
        let w = weights(
            300,
            512,
            bits,
            ScaleGranularity::PerBlock(32),
            true,
            true,
            &mut rng,
        );
        for n in [5, 8, 13] {
            let q = random_q(n, 512, &mut rng);
            let d: Vec<f32> = (0..n).map(|i| 0.01 * (i + 1) as f32).collect();
            check_fused_kernels(&w, true, &q, &d, n);
        }
    }
}

#[test]
fn worst_case_sums_and_cancellation_stay_within_the_bound() {
    // All activations ±127, all codes at the top, long rows: the largest
    // sums; scales at both ends of the fused range, and offsets cancelling
    // the scaled sums (the relative error is then all cancellation).
    let k = if small_shapes() { 4352 } else { 14336 };
    for bits in [1u32, 2, 3, 4] {
        let top = (1u8 << bits) - 1;
        for g in [ScaleGranularity::PerRow, ScaleGranularity::PerBlock(64)] {
            let m = 40;
            let count = g.scale_count(m, k).unwrap();
            for (s, o) in [
                (2f32.powi(60), -(top as f32) * 2f32.powi(60)),
                (2f32.powi(-64), 0.0),
                (1.0, -(top as f32) + 2f32.powi(-10)),
            ] {
                let w = IntMatrix::new(
                    m,
                    k,
                    bits,
                    g,
                    vec![top; m * k],
                    vec![s; count],
                    vec![o; count],
                )
                .unwrap();
                // Stored as f16 when both are exact in it (1-bit codes:
                // 1 and −1 + 2^−10).
                let f16 = [s, o].iter().all(|&v| half::f16::from_f32(v).to_f32() == v);
                for qv in [127i8, -127] {
                    let q = vec![qv; k];
                    check_fused_kernels(&w, f16, &q, &[1.0], 1);
                    check_fused_kernels(&w, f16, &q, &[3e-30], 1);
                }
            }
        }
    }
}

#[test]
fn outside_the_range_keeps_the_f64_epilogue() {
    // The epilogue's own examples (src/epilogue.rs): a scale of 1e38 with a
    // small token factor gives 4e35, not inf; huge opposite-sign group
    // scales that cancel give 0, not NaN. Packed for the multiply-add
    // kernels, such weights take the unfused path and give the f64 result.
    let codes = vec![1u8; 4 * 32];
    for kernel in mad_kernels(Format::Int2) {
        let w = IntMatrix::new(
            4,
            32,
            2,
            ScaleGranularity::PerRow,
            codes.clone(),
            vec![1e38; 4],
            vec![0.0; 4],
        )
        .unwrap();
        let p = pack_for(&w, kernel);
        assert_eq!(p.group_scaling(), GroupScaling::Epilogue);
        let mut y = vec![0f32; 4];
        let mut ctx = Context::with_threads(1).unwrap();
        ctx.matmul_i8(&p, &[127; 32], &[1e-3 / 127.0], 1, &mut y)
            .unwrap();
        for v in y {
            assert!((v / 3.2e36 - 1.0).abs() < 1e-6, "{}: {v}", kernel.name);
        }
        let w = IntMatrix::new(
            1,
            64,
            2,
            ScaleGranularity::PerBlock(32),
            vec![1u8; 64],
            vec![3e38, -3e38],
            vec![0.0; 2],
        )
        .unwrap();
        let p = pack_for(&w, kernel);
        assert_eq!(p.group_scaling(), GroupScaling::Epilogue);
        let mut y = [1f32];
        ctx.matmul_i8(&p, &[127; 64], &[1.0], 1, &mut y).unwrap();
        assert_eq!(y[0], 0.0, "{}", kernel.name);
        // One group out of range (too small: a subnormal-prone 1e-30)
        // among ordinary ones sends the whole matrix to the epilogue, whose
        // result is the f64 value rounded once.
        let mut rng = Rng(3);
        let mut w = random_int(20, 256, 2, ScaleGranularity::PerBlock(32), false, &mut rng);
        let mut scales = w.scales().to_vec();
        scales[37] = 1e-30;
        w = IntMatrix::new(
            20,
            256,
            2,
            ScaleGranularity::PerBlock(32),
            w.codes().to_vec(),
            scales,
            w.offsets().to_vec(),
        )
        .unwrap();
        let p = pack_for(&w, kernel);
        assert_eq!(p.group_scaling(), GroupScaling::Epilogue);
        let q = random_q(2, 256, &mut rng);
        check_packed(
            &w,
            &p,
            &q,
            &[0.5, 2.0],
            2,
            &reference::integer_sums(&w, &q, 2),
        );
    }
}

#[test]
fn fused_results_are_close_to_the_f64_epilogue_and_thread_invariant() {
    // Same weights through the fused multiply-add kernel and through the
    // f64 epilogue of the bit-serial kernel: both within their bounds of
    // the exact value; the fused one identical on 1, 2, 3 threads and the
    // global pool.
    let mut rng = Rng(11);
    let (m, k, n) = (500, 1024, 17);
    for bits in [1, 2, 3, 4] {
        let w = weights(
            m,
            k,
            bits,
            ScaleGranularity::PerBlock(32),
            true,
            true,
            &mut rng,
        );
        let x: Vec<f32> = (0..n * k).map(|_| rng.gauss()).collect();
        let (q, d) = reference::quantize_activations(&x, n, k);
        for kernel in mad_kernels(w.format()) {
            let p = pack_for(&w, kernel);
            assert_eq!(
                p.group_scaling(),
                GroupScaling::Fused {
                    f16: true,
                    zero_point: false
                }
            );
            assert!(p.describe().contains("fused"), "{}", p.describe());
            assert_thread_invariant(&p, &x, n);
            let mut y = vec![0f32; n * m];
            Context::with_threads(1)
                .unwrap()
                .matmul(&p, &x, n, &mut y)
                .unwrap();
            check_fused(&w, &q, &d, n, &y, kernel.name);
            // Typical rows: the error relative to the exact value, in
            // ulps of f32 (the f64 epilogue's is ≤ 0.5).
            let want = reference::matmul_exact(&w, &q, &d, n);
            let mut ulps: Vec<f64> = y
                .iter()
                .zip(&want)
                .map(|(&a, &b)| (a as f64 - b).abs() / (b.abs() * f32::EPSILON as f64))
                .collect();
            ulps.sort_by(f64::total_cmp);
            let (median, p99) = (ulps[ulps.len() / 2], ulps[ulps.len() * 99 / 100]);
            eprintln!(
                "{} bits {bits}: median {median:.2} ulp, p99 {p99:.1} ulp",
                kernel.name
            );
            assert!(median < 4.0, "{}: median error {median} ulp", kernel.name);
        }
    }
}

#[test]
fn f16_quantizer_option_packs_f16_scales() {
    let mut rng = Rng(12);
    let (m, k) = (64, 512);
    let wf: Vec<f32> = (0..m * k).map(|_| rng.gauss()).collect();
    for bits in [2, 4] {
        for q in [IntQuantizer::Asymmetric, IntQuantizer::Symmetric] {
            let g = ScaleGranularity::PerBlock(32);
            let w16 = IntMatrix::quantize_f32(&wf, m, k, bits, g, q.with_f16_scales()).unwrap();
            let w32 = IntMatrix::quantize_f32(&wf, m, k, bits, g, q).unwrap();
            let opts = PackOptions {
                family: Some(KernelFamily::MultiplyAdd),
                ..PackOptions::default()
            };
            let (p16, p32) = (
                PackedWeights::pack(&w16, &opts).unwrap(),
                PackedWeights::pack(&w32, &opts).unwrap(),
            );
            let zero_point = q == IntQuantizer::Symmetric;
            assert_eq!(
                p16.group_scaling(),
                GroupScaling::Fused {
                    f16: true,
                    zero_point
                }
            );
            assert_eq!(
                p32.group_scaling(),
                GroupScaling::Fused {
                    f16: false,
                    zero_point
                }
            );
            // f16 storage streams fewer bytes.
            assert!(p16.packed_bytes() < p32.packed_bytes());
        }
    }
}

#[test]
fn integer_sums_never_fuse() {
    // integer_sums on fused weights returns the exact group sums (the
    // unfused kernel mode), for every mad kernel and the portable one.
    let mut rng = Rng(13);
    for bits in [1, 2, 3, 4] {
        let w = weights(
            70,
            512,
            bits,
            ScaleGranularity::PerBlock(64),
            true,
            true,
            &mut rng,
        );
        let q = random_q(3, 512, &mut rng);
        let want = reference::integer_sums(&w, &q, 3);
        for kernel in mad_kernels(w.format()) {
            let p = pack_for(&w, kernel);
            assert!(matches!(p.group_scaling(), GroupScaling::Fused { .. }));
            let mut got = vec![0i32; want.len()];
            let mut ctx = Context::with_threads(2).unwrap();
            ctx.integer_sums(&p, &q, 3, &mut got).unwrap();
            assert_eq!(got, want, "{}", kernel.name);
        }
    }
}

proptest! {
    #![proptest_config(proptest_config(32))]

    #[test]
    fn random_fused_matrices_match_portable_and_bound(
        four in any::<bool>(),
        m in 1usize..100,
        k16 in 1usize..40,
        gi in 0usize..4,
        n in 1usize..10,
        f16 in any::<bool>(),
        offsets in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let k = 16 * k16;
        let g = [
            ScaleGranularity::PerRow,
            ScaleGranularity::PerBlock(16),
            ScaleGranularity::PerTensor,
            if k % 48 == 0 { ScaleGranularity::PerBlock(48) } else { ScaleGranularity::PerBlock(k) },
        ][gi];
        let mut rng = Rng(seed | 1);
        let w = weights(m, k, if four { 4 } else { 2 }, g, f16, offsets, &mut rng);
        let x: Vec<f32> = (0..n * k).map(|_| rng.f32() * 10.0).collect();
        let (q, d) = reference::quantize_activations(&x, n, k);
        check_fused_kernels(&w, f16, &q, &d, n);
    }
}
