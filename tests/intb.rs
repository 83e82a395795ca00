//! 1–4-bit integer weights: every Exact kernel × ISA × bits × group size
//! against the oracle (exact integer sums, the portable kernel on the same
//! bytes, floats), tails, worst-case overflow, plane scales, threads.

mod common;

use common::*;
use lutgemm::{
    Context, Contract, Error, Format, IntMatrix, IntQuantizer, KernelFamily, PackOptions,
    PackedWeights, ScaleGranularity, reference,
};
use proptest::prelude::*;

fn groups(k: usize) -> Vec<ScaleGranularity> {
    let mut g = vec![ScaleGranularity::PerTensor, ScaleGranularity::PerRow];
    for b in [16, 32, 64, 128, 256] {
        if k % b == 0 {
            g.push(ScaleGranularity::PerBlock(b));
        }
    }
    g
}

#[test]
fn every_bits_and_group_size_with_tails() {
    let mut rng = Rng(0x51ed);
    for bits in 1..=4 {
        for &(m, k) in &[(1, 16), (17, 64), (33, 96), (65, 256), (130, 512), (3, 40)] {
            for g in groups(k) {
                let n = 1 + rng.below(3) as usize;
                let w = random_int(m, k, bits, g, false, &mut rng);
                let q = random_q(n, k, &mut rng);
                let d: Vec<f32> = (0..n).map(|_| rng.f32().abs() + 0.01).collect();
                check_all_kernels(&w, &q, &d, n);
            }
        }
    }
}

#[test]
fn odd_group_lengths_are_padded() {
    let mut rng = Rng(99);
    for bits in [2, 3, 4] {
        for (k, bl) in [(300, 100), (96, 3), (520, 130), (4100, 1025), (24, 24)] {
            let w = random_int(40, k, bits, ScaleGranularity::PerBlock(bl), false, &mut rng);
            let q = random_q(3, k, &mut rng);
            check_all_kernels(&w, &q, &[0.5, 1.0, 2.0], 3);
        }
    }
}

#[test]
fn plane_scales() {
    let mut rng = Rng(5);
    for bits in 1..=4 {
        for g in [ScaleGranularity::PerRow, ScaleGranularity::PerBlock(32)] {
            let w = random_int(70, 256, bits, g, true, &mut rng);
            let q = random_q(2, 256, &mut rng);
            check_all_kernels(&w, &q, &[0.3, 1.0], 2);
            // Selection picks a kernel that can apply plane scales.
            let p = PackedWeights::pack(&w, &PackOptions::default()).unwrap();
            assert_eq!(
                p.kernel().family(),
                KernelFamily::BitLutG4,
                "{}",
                p.describe()
            );
            assert_eq!(p.planes_out(), bits as usize);
        }
    }
    // A multiply-add kernel cannot: forcing one is a clear error.
    let w = random_int(8, 64, 4, ScaleGranularity::PerRow, true, &mut rng);
    let e = PackedWeights::pack(
        &w,
        &PackOptions {
            family: Some(KernelFamily::MultiplyAdd),
            ..PackOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::Unavailable(_)), "{e}");
}

/// `m × k` weights all at the top code `2^b − 1`, unit scales, no offsets:
/// with all-±127 activations, the largest sums an integer path sees.
fn top_codes(m: usize, k: usize, bits: u32, g: ScaleGranularity) -> IntMatrix {
    let count = g.scale_count(m, k).unwrap();
    let top = (1u8 << bits) - 1;
    IntMatrix::new(
        m,
        k,
        bits,
        g,
        vec![top; m * k],
        vec![1.0; count],
        vec![0.0; count],
    )
    .unwrap()
}

#[test]
fn worst_case_overflow_inputs() {
    // All activations ±127 of one sign, all codes at 2^b − 1: the largest
    // sums any integer path sees, over the longest real rows.
    let ks: &[usize] = if small_shapes() {
        &[4352]
    } else {
        &[14336, 4352]
    };
    for bits in 1..=4u32 {
        for &k in ks {
            for qv in [127i8, -127] {
                for g in [ScaleGranularity::PerRow, ScaleGranularity::PerBlock(256)] {
                    let top = (1u8 << bits) - 1;
                    let w = top_codes(70, k, bits, g);
                    let q = vec![qv; k];
                    let want = reference::integer_sums(&w, &q, 1);
                    let bl = g.block_len(k) as i32;
                    assert!(want.iter().all(|&s| s == qv as i32 * top as i32 * bl));
                    for kernel in kernels_for(w.format(), Contract::Exact) {
                        check_kernel(&w, kernel, &q, &[1.0], 1, &want);
                    }
                }
            }
        }
    }
}

#[test]
fn longest_rows_at_the_worst_case() {
    // One scale group of k = MAX_K columns, all codes 2^b − 1 against ±127:
    // the multiply-add kernels' int32 bounds at their limit (the 2-bit
    // field-rows kernel splits such a group into spans of 65536 columns).
    let k = lutgemm::format::MAX_K;
    for bits in [2u32, 4] {
        for qv in [127i8, -127] {
            let top = (1u8 << bits) - 1;
            let w = top_codes(64, k, bits, ScaleGranularity::PerRow);
            let q = vec![qv; k];
            let want = reference::integer_sums(&w, &q, 1);
            assert!(want.iter().all(|&s| s == qv as i32 * top as i32 * k as i32));
            for kernel in kernels_for(w.format(), Contract::Exact)
                .into_iter()
                .filter(|k| k.family() == KernelFamily::MultiplyAdd)
            {
                check_kernel(&w, kernel, &q, &[1.0], 1, &want);
            }
        }
    }
}

#[test]
fn many_tokens_and_thread_invariance() {
    let mut rng = Rng(21);
    let (m, k) = (300, 512);
    for bits in [2, 4] {
        let w = random_int(m, k, bits, ScaleGranularity::PerBlock(32), false, &mut rng);
        for n in [9, 33] {
            let q = random_q(n, k, &mut rng);
            let d: Vec<f32> = (0..n).map(|i| 0.01 * (i + 1) as f32).collect();
            check_all_kernels(&w, &q, &d, n);
        }
        let x: Vec<f32> = (0..17 * k).map(|_| rng.gauss()).collect();
        for contract in Contract::ALL {
            for kernel in kernels_for(w.format(), contract) {
                assert_thread_invariant(&pack_for(&w, kernel), &x, 17);
            }
        }
    }
}

#[test]
fn quantized_float_weights_end_to_end() {
    let mut rng = Rng(8);
    let (m, k, n) = (96, 256, 3);
    let wf: Vec<f32> = (0..m * k).map(|_| rng.gauss()).collect();
    let x: Vec<f32> = (0..n * k).map(|_| rng.gauss()).collect();
    let (q, d) = reference::quantize_activations(&x, n, k);
    for bits in 1..=4 {
        for quant in [IntQuantizer::Asymmetric, IntQuantizer::Symmetric] {
            let w = IntMatrix::quantize_f32(&wf, m, k, bits, ScaleGranularity::PerBlock(32), quant)
                .unwrap();
            let p = PackedWeights::pack(&w, &PackOptions::default()).unwrap();
            let mut y = vec![0f32; n * m];
            Context::with_threads(1)
                .unwrap()
                .matmul(&p, &x, n, &mut y)
                .unwrap();
            check_result(&p, &w, &q, &d, n, &y);
        }
    }
}

#[test]
fn real_model_shapes() {
    let shapes: &[(usize, usize)] = if small_shapes() {
        &[(640, 2560), (1024, 4096)]
    } else {
        &[
            (2560, 2560),
            (640, 2560),
            (4096, 4096),
            (2560, 6912),
            (1024, 4096),
        ]
    };
    let mut rng = Rng(31);
    for (i, &(m, k)) in shapes.iter().enumerate() {
        let (bits, g) = [
            (4, ScaleGranularity::PerBlock(32)),
            (2, ScaleGranularity::PerBlock(64)),
            (4, ScaleGranularity::PerBlock(128)),
            (3, ScaleGranularity::PerRow),
            (1, ScaleGranularity::PerBlock(256)),
        ][i % 5];
        let w = random_int(m, k, bits, g, false, &mut rng);
        let q = random_q(1, k, &mut rng);
        check_all_kernels(&w, &q, &[0.02], 1);
    }
}

#[test]
fn every_isa_has_integer_kernels() {
    for isa in lutgemm::Isa::available() {
        for bits in 1..=4 {
            let f = Format::int(bits).unwrap();
            assert!(
                kernels_for(f, Contract::Exact)
                    .iter()
                    .any(|k| isa.with_included().contains(&k.isa))
                    || isa == lutgemm::Isa::Scalar,
                "no exact {f} kernel on {isa}"
            );
        }
    }
}

proptest! {
    #![proptest_config(proptest_config(32))]

    #[test]
    fn random_int_matrices_match_oracle(
        bits in 1u32..=4,
        m in 1usize..140,
        k8 in 1usize..90,
        gi in 0usize..4,
        n in 1usize..4,
        planes in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let k = 8 * k8;
        let g = [
            ScaleGranularity::PerRow,
            ScaleGranularity::PerBlock(8),
            ScaleGranularity::PerBlock(k / k8.max(1) * (k8 % 3 + 1)).min_valid(k),
            ScaleGranularity::PerTensor,
        ][gi];
        let mut rng = Rng(seed | 1);
        let w = random_int(m, k, bits, g, planes, &mut rng);
        let x: Vec<f32> = (0..n * k).map(|_| rng.f32() * 10.0).collect();
        let (q, d) = reference::quantize_activations(&x, n, k);
        check_all_kernels(&w, &q, &d, n);
    }
}

/// A valid granularity: the block if it divides k, else per row.
trait MinValid {
    fn min_valid(self, k: usize) -> ScaleGranularity;
}
impl MinValid for ScaleGranularity {
    fn min_valid(self, k: usize) -> ScaleGranularity {
        if self.validate(k).is_ok() {
            self
        } else {
            ScaleGranularity::PerRow
        }
    }
}
