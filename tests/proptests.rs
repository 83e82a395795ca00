//! Random shapes, values and scale granularities, every kernel against the
//! oracle.

mod common;

use common::*;
use lutgemm::{ScaleGranularity, reference};
use proptest::prelude::*;

fn granularity(k: usize) -> impl Strategy<Value = ScaleGranularity> {
    let divisors: Vec<usize> = (1..=k).filter(|b| k % b == 0).collect();
    prop_oneof![
        Just(ScaleGranularity::PerTensor),
        Just(ScaleGranularity::PerRow),
        proptest::sample::select(divisors).prop_map(ScaleGranularity::PerBlock),
    ]
}

proptest! {
    #![proptest_config(proptest_config(48))]

    #[test]
    fn random_matrices_match_oracle(
        (m, k, g) in (1usize..150, 1usize..700).prop_flat_map(|(m, k)| (Just(m), Just(k), granularity(k))),
        n in 1usize..5,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let w = random_ternary(m, k, g, &mut rng);
        let x: Vec<f32> = (0..n * k).map(|_| rng.f32() * 10.0).collect();
        let (q, d) = reference::quantize_activations(&x, n, k);
        check_all_kernels(&w, &q, &d, n);
    }

    #[test]
    fn random_int8_extremes(
        m in 1usize..80,
        k in 1usize..1200,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let w = random_ternary(m, k, ScaleGranularity::PerRow, &mut rng);
        let q: Vec<i8> = (0..k).map(|_| if rng.below(2) == 0 { 127 } else { -127 }).collect();
        check_all_kernels(&w, &q, &[1.0], 1);
    }
}
