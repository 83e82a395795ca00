//! How [`crate::limits::Limits::measure`] measures: one pool of threads
//! runs a fixed list of jobs (every buffer read and every peak loop, on one
//! thread and on all), [`REPS`] rounds of the whole list, each job started
//! on all its threads together behind a barrier. Interleaving the rounds
//! spreads each figure's repetitions over the whole second, so a burst of
//! other work on a shared machine cannot spoil all of them; the best
//! repetition counts.
//!
//! Each thread allocates and writes its own buffers before the first round
//! (its pages are its own and resident; a zeroed allocation would read the
//! shared zero page) and sums them with plain loads and 64-bit adds in
//! [`STREAMS`] interleaved streams, compiled for AVX2 where the CPU has it
//! (NEON on aarch64).

use crate::limits::PerThreads;
use crate::peaks::PeakLoop;
use std::sync::Barrier;
use std::time::Instant;

/// Rounds; the best repetition of each figure counts.
pub const REPS: usize = 7;
/// Target duration of one run of a peak loop, seconds.
const PEAK_SECONDS: f64 = 0.002;
/// Bytes each thread reads per run of a cache-level buffer (about a
/// millisecond at cache speeds; a DRAM-sized buffer is read once).
const PASS_BYTES: usize = 128 << 20;

/// What to measure.
pub struct Plan {
    /// "All threads".
    pub threads: usize,
    /// Per level (L2, L3, DRAM): bytes per thread with one thread and with
    /// all threads.
    pub buffers: [(usize, usize); 3],
    pub loops: Vec<PeakLoop>,
}

/// Read bandwidth per level (bytes/s) and each loop's rate (units/s).
pub struct Measured {
    pub bandwidth: [PerThreads; 3],
    pub rates: Vec<PerThreads>,
}

#[derive(Clone, Copy)]
enum Job {
    /// Sum a level's buffer on that many threads.
    Read(usize, usize),
    /// Run a peak loop on that many threads.
    Peak(usize, usize),
}

impl Job {
    fn threads(self) -> usize {
        match self {
            Job::Read(_, t) | Job::Peak(_, t) => t,
        }
    }
}

/// Measures `plan` (about a second for a typical machine).
pub fn run(plan: &Plan) -> Measured {
    let all = plan.threads.max(1);
    let mut jobs = Vec::new();
    for level in 0..3 {
        jobs.push(Job::Read(level, 1));
        jobs.push(Job::Read(level, all));
    }
    for i in 0..plan.loops.len() {
        jobs.push(Job::Peak(i, 1));
        jobs.push(Job::Peak(i, all));
    }
    let iters: Vec<u64> = plan.loops.iter().map(calibrate).collect();
    let barrier = Barrier::new(all);
    let (jobs, iters, barrier) = (&jobs, &iters, &barrier);
    // Per thread, per (round, job): (units, seconds) if it took part.
    let runs: Vec<Vec<Option<(f64, f64)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..all)
            .map(|id| {
                s.spawn(move || {
                    let words = |b: usize| (b / 8).max(STREAMS * CHUNK);
                    let alone: Vec<AlignedWords> = if id == 0 {
                        plan.buffers
                            .iter()
                            .map(|b| AlignedWords::filled(words(b.0)))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let shared: Vec<AlignedWords> = plan
                        .buffers
                        .iter()
                        .map(|b| AlignedWords::filled(words(b.1)))
                        .collect();
                    let mut out = Vec::with_capacity(REPS * jobs.len());
                    for _ in 0..REPS {
                        for &job in jobs {
                            barrier.wait();
                            if id >= job.threads() {
                                out.push(None);
                                continue;
                            }
                            let t = Instant::now();
                            let units = match job {
                                Job::Read(level, t) => {
                                    let buf = if t == 1 {
                                        &alone[level]
                                    } else {
                                        &shared[level]
                                    };
                                    read(buf.as_slice())
                                }
                                Job::Peak(i, _) => {
                                    plan.loops[i].run(iters[i]);
                                    iters[i] as f64 * plan.loops[i].units_per_iter
                                }
                            };
                            out.push(Some((units, t.elapsed().as_secs_f64())));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("limits thread"))
            .collect()
    });
    let best = |j: usize| {
        (0..REPS)
            .map(|r| {
                let at = r * jobs.len() + j;
                let (mut units, mut slowest) = (0.0, 1e-9f64);
                for (u, t) in runs.iter().filter_map(|v| v[at]) {
                    units += u;
                    slowest = slowest.max(t);
                }
                units / slowest
            })
            .fold(0.0, f64::max)
    };
    // Jobs come in (one thread, all threads) pairs, levels first.
    let pair = |p: usize| PerThreads {
        one: best(2 * p),
        all: best(2 * p + 1),
    };
    Measured {
        bandwidth: [pair(0), pair(1), pair(2)],
        rates: (0..plan.loops.len()).map(|i| pair(3 + i)).collect(),
    }
}

/// Iterations of `l` for about [`PEAK_SECONDS`].
fn calibrate(l: &PeakLoop) -> u64 {
    let probe = 1 << 12;
    l.run(probe);
    let t = Instant::now();
    l.run(probe);
    let per_iter = t.elapsed().as_secs_f64().max(1e-9) / probe as f64;
    ((PEAK_SECONDS / per_iter) as u64).clamp(probe, 1 << 30)
}

/// Sums `buf` enough times to read about [`PASS_BYTES`] (at least once);
/// returns the bytes read.
fn read(buf: &[u64]) -> f64 {
    let per_pass = streamed_words(buf.len()) * 8;
    let passes = (PASS_BYTES / per_pass).max(1);
    let mut s = 0u64;
    for _ in 0..passes {
        s = s.wrapping_add(sum_streams(std::hint::black_box(buf)));
    }
    std::hint::black_box(s);
    (passes * per_pass) as f64
}

/// `len` u64 words starting on a 64-byte boundary.
struct AlignedWords {
    raw: Vec<u64>,
    start: usize,
    len: usize,
}

impl AlignedWords {
    /// Written with nonzero values by the calling thread.
    fn filled(len: usize) -> AlignedWords {
        let mut raw = Vec::with_capacity(len + 8);
        raw.extend((0..len as u64 + 8).map(|i| i | 1));
        let start = raw.as_ptr().align_offset(64).min(8);
        AlignedWords { raw, start, len }
    }

    fn as_slice(&self) -> &[u64] {
        &self.raw[self.start..self.start + self.len]
    }
}

/// Concurrent read streams: one sequential stream leaves DRAM bandwidth
/// unused (measured here, 128 MiB: 26 GB/s with 1 stream, 30–32 with 2–4,
/// 29 with 8), and the kernels read several rows' bytes at once.
const STREAMS: usize = 4;
/// Words each stream reads before the next one takes over (4 KiB).
const CHUNK: usize = 512;

/// Words of a `len`-word buffer that [`sum_streams`] reads.
fn streamed_words(len: usize) -> usize {
    (len / STREAMS / CHUNK).max(1) * CHUNK * STREAMS
}

/// The wrapping sum of [`streamed_words`] words of `buf` (at least
/// `STREAMS · CHUNK` long), read as [`STREAMS`] interleaved sequential
/// streams over its quarters, a 4 KiB chunk at a time.
#[inline(always)]
fn sum_streams_body(buf: &[u64]) -> u64 {
    let part = buf.len() / STREAMS / CHUNK * CHUNK;
    let mut acc = [0u64; 16];
    for off in (0..part).step_by(CHUNK) {
        for s in 0..STREAMS {
            let at = s * part + off;
            add_lanes(&mut acc, &buf[at..at + CHUNK]);
        }
    }
    acc.iter().fold(0, |a, &b| a.wrapping_add(b))
}

/// Adds `buf` into 16 independent lanes (vectorized by the compiler).
#[inline(always)]
fn add_lanes(acc: &mut [u64; 16], buf: &[u64]) {
    for c in buf.chunks_exact(16) {
        for (a, &w) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(w);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_streams_avx2(buf: &[u64]) -> u64 {
    sum_streams_body(buf)
}

fn sum_streams(buf: &[u64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        return unsafe { sum_streams_avx2(buf) };
    }
    // aarch64: NEON is part of the target's baseline.
    sum_streams_body(buf)
}
