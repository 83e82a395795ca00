//! A/B timing on a shared machine: kernels alternate call by call (the
//! quick bench times each row for its whole budget, one after the other,
//! so load from other jobs lands on whichever row runs then), with a
//! single-thread read pass over 256 MiB between rounds that both measures
//! the DRAM read bandwidth and evicts the weights from the caches, so a
//! matrix of any size is streamed from DRAM as in a model whose layers
//! evict each other.
//!
//! ```text
//! cargo run --release --example ab -- 65536x4096 1 12 avx512 mad,mad5,lut_g4
//!                                     shape      n rounds isa families
//! ```
//!
//! Prints per kernel the median time, GB/s of packed bytes, and the median
//! over rounds of the speed relative to the first family (the same round's
//! calls ran under the same load). Ternary weights with one scale per
//! tensor, Exact contract, one thread, end to end through
//! `Context::matmul`; every kernel's output is checked bit for bit against
//! the first one's (Exact kernels agree exactly).

#[path = "../benches/common/mod.rs"]
mod common;

use lutgemm::{Context, Contract, Format, Isa, KernelFamily, kernels};
use std::time::Instant;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: ab SHAPE(mxk) N ROUNDS ISA FAMILY[,FAMILY...]");
        std::process::exit(2);
    }
    let (m, k) = args[0]
        .split_once('x')
        .and_then(|(m, k)| Some((m.parse::<usize>().ok()?, k.parse::<usize>().ok()?)))
        .expect("shape m x k");
    let n: usize = args[1].parse().expect("n");
    let rounds: usize = args[2].parse().expect("rounds");
    let isa = Isa::from_name(&args[3]).expect("isa");
    let w = common::ternary(m, k);
    let packs: Vec<_> = args[4]
        .split(',')
        .map(|f| {
            let family = KernelFamily::from_name(f).expect("family");
            let kd = kernels::find(family, Format::Ternary, Contract::Exact, isa)
                .unwrap_or_else(|| panic!("no {family} kernel on {isa}"));
            common::pack_for(&w, kd).expect("pack")
        })
        .collect();
    let x = common::values(n * k, 7);
    let mut ctx = Context::with_threads(1).expect("context");
    let mut y0 = vec![0f32; n * m];
    ctx.matmul(&packs[0], &x, n, &mut y0).expect("matmul");
    let mut y = vec![0f32; n * m];
    for p in &packs[1..] {
        ctx.matmul(p, &x, n, &mut y).expect("matmul");
        assert!(
            y.iter().zip(&y0).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{} differs from {}",
            p.kernel().name,
            packs[0].kernel().name
        );
    }
    let evict: Vec<u64> = vec![1; 256 << 17];
    let mut times = vec![Vec::new(); packs.len()];
    let (mut read, mut sink) = (Vec::new(), 0u64);
    for r in 0..rounds {
        let t = Instant::now();
        let mut s = [0u64; 8];
        for c in evict.chunks_exact(8) {
            for (s, &v) in s.iter_mut().zip(c) {
                *s = s.wrapping_add(v);
            }
        }
        sink = sink.wrapping_add(s.iter().sum::<u64>());
        read.push((evict.len() * 8) as f64 / t.elapsed().as_secs_f64() / 1e9);
        // Rotate the order so no kernel always runs right after the read.
        for j in 0..packs.len() {
            let i = (j + r) % packs.len();
            let t = Instant::now();
            ctx.matmul(&packs[i], &x, n, &mut y).expect("matmul");
            times[i].push(t.elapsed().as_secs_f64());
        }
    }
    std::hint::black_box(sink);
    println!(
        "{m}x{k}, n = {n}, {rounds} rounds, one thread; read bandwidth median {:.2} GB/s",
        median(&read)
    );
    for (p, t) in packs.iter().zip(&times) {
        let ratio: Vec<f64> = times[0].iter().zip(t).map(|(b, t)| b / t).collect();
        let med = median(t);
        println!(
            "{:<16} median {:9.1} us  {:6.2} GB/s packed  {:.3}x {}",
            p.kernel().name,
            med * 1e6,
            p.packed_bytes() as f64 / med / 1e9,
            median(&ratio),
            packs[0].kernel().name
        );
    }
}
