//! The machine's limits, measured once at the start of the run: read
//! bandwidth of an L2-, an L3- and a DRAM-sized buffer, the int8
//! multiply-add peak and the byte-shuffle peak of every ISA level this CPU
//! has, and the f32 FMA peak of the dense baseline; one thread and all
//! threads each. [`Limits::bound`] turns them into each row's roofline.
//!
//! The machine may be shared, so every figure is the best of [`REPS`] short
//! repetitions spread over the whole measurement (measure.rs; interference
//! only ever slows a run down). The whole block takes about a second.
//!
//! Buffers: L2 and L3 sizes come from `lutgemm::cache` (sysfs,
//! `/sys/devices/system/cpu/cpu0/cache/index*/`; elsewhere 1 MiB and
//! 32 MiB are assumed, and the header says so). Each thread sums its own
//! buffer: half of its share of L2, a quarter of its share of L3, where a
//! cache shared by `s` CPUs is split between `min(s, t)` of the `t`
//! threads; the DRAM buffer is 4 × L3 in all (at least 64 MiB, at most
//! 256 MiB), split between the threads. A quarter of L3 because an L3
//! shared with other cores or guests does not keep half of it for one
//! reader: this 2-core Zen 4 guest reports 32 MiB, and one thread reads
//! ~99 GB/s up to 8 MiB but 30–60 GB/s at 12–16 MiB.

use crate::measure::{self, REPS};
use crate::peaks::{self, PeakLoop};
use lutgemm::cache::CacheSizes;
use lutgemm::{Contract, Format, Isa, KernelDesc, KernelFamily};
use std::time::Instant;

/// A memory level whose read bandwidth is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    L2,
    L3,
    Dram,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::L2, Level::L3, Level::Dram];

    pub fn name(self) -> &'static str {
        match self {
            Level::L2 => "L2",
            Level::L3 => "L3",
            Level::Dram => "DRAM",
        }
    }
}

/// One cache level's size and how many CPUs share it.
#[derive(Debug, Clone, Copy)]
pub struct Cache {
    pub bytes: usize,
    pub shared_by: usize,
    /// Read from sysfs (else assumed).
    pub known: bool,
}

/// L2 and L3 of CPU 0.
#[derive(Debug, Clone, Copy)]
pub struct Caches {
    pub l2: Cache,
    pub l3: Cache,
}

/// L2 and L3 of CPU 0 as the library reads them ([`CacheSizes`]); an L3
/// whose sharing is not reported counts as shared by all `cpus`.
pub fn caches(cpus: usize) -> Caches {
    let c = CacheSizes::get();
    Caches {
        l2: Cache {
            bytes: c.l2,
            shared_by: c.l2_shared_by,
            known: c.reported,
        },
        l3: Cache {
            bytes: c.l3,
            shared_by: if c.l3_shared_by == 0 {
                cpus
            } else {
                c.l3_shared_by
            },
            known: c.reported,
        },
    }
}

/// A figure measured with one thread and with all threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerThreads {
    pub one: f64,
    pub all: f64,
}

impl PerThreads {
    /// The figure for a run on `threads` threads (1, or more: all).
    pub fn at(&self, threads: usize) -> f64 {
        if threads == 1 { self.one } else { self.all }
    }
}

/// One ISA level's compute peaks.
#[derive(Debug, Clone)]
pub struct IsaPeaks {
    pub isa: Isa,
    pub mad_insn: &'static str,
    /// int8 multiply-add peak, ops/s (2 per multiply-accumulate).
    pub mad: PerThreads,
    pub shuffle_insn: &'static str,
    /// Byte-shuffle peak, byte lookups/s.
    pub lookups: PerThreads,
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct Limits {
    /// "All threads".
    pub threads: usize,
    pub caches: Caches,
    /// Bytes each thread read, per level: one thread, all threads.
    pub buffers: [(usize, usize); 3],
    /// Read bandwidth per level, bytes/s.
    pub bandwidth: [PerThreads; 3],
    /// Every ISA level this CPU has, slowest first.
    pub peaks: Vec<IsaPeaks>,
    /// The dense f32 baseline's FMA peak, flop/s, and its instruction.
    pub fma: Option<(&'static str, PerThreads)>,
    pub seconds: f64,
}

/// What bounds a row's compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Work {
    /// Integer multiply-add kernels: the ISA's int8 multiply-add peak.
    MultiplyAdd,
    /// Table kernels: the byte-shuffle peak times the ops one byte lookup
    /// does (see [`table_ops_per_lookup`]).
    Table { ops_per_lookup: f64 },
    /// The dense f32 baseline: the f32 FMA peak.
    DenseF32,
    /// Vector-LUT kernels: one table row (a vector of one group sum for
    /// each token of a tile) added per lookup. Bound: one such vector
    /// add per cycle, measured as the multiply-add peak's instruction rate
    /// (one zmm `vpdpbusd` = 64 MACs per cycle) times the MACs a row add
    /// does over a `vpdpbusd`: `weights` × 32 int16 tokens / 64 (ternary:
    /// 4 weights, 2×; integers: half a byte of codes, 4 / 2 / 1 / 1
    /// weights for 1 / 2 / 3 / 4 bits).
    RowLookup { weights: usize },
}

/// Ops (2 per weight × activation product) per byte looked up by a table
/// kernel: a lookup covers `g` weights of one row and token, for one of
/// `planes` bit planes (1 for ternary tables), and an entry is
/// `entry_bytes` wide (Exact: int16 in two byte halves, Fast: int8,
/// Float: f32), so `2·g / (planes · entry_bytes)`. The kernel's adds and
/// unpacks come on top: this is an upper bound on the shuffle side.
pub fn table_ops_per_lookup(g: usize, planes: usize, entry_bytes: usize) -> f64 {
    2.0 * g as f64 / (planes * entry_bytes) as f64
}

/// What bounds the compute of kernel `kd` on `format` weights (`None`
/// for a family or contract this bench does not know).
pub fn work_of(kd: &KernelDesc, format: Format) -> Option<Work> {
    let entry_bytes = match kd.contract {
        Contract::Exact => 2,
        Contract::Fast => 1,
        Contract::Float => 4,
        _ => return None,
    };
    let (g, planes) = match kd.family() {
        KernelFamily::MultiplyAdd | KernelFamily::MultiplyAdd5 => return Some(Work::MultiplyAdd),
        KernelFamily::VecLutG4 => return Some(Work::RowLookup { weights: 4 }),
        KernelFamily::IntVecLut => {
            let field = if format.bits() == 3 {
                4
            } else {
                format.bits() as usize
            };
            return Some(Work::RowLookup { weights: 4 / field });
        }
        KernelFamily::LutG2 => (2, 1),
        KernelFamily::LutG4 => (4, 1),
        KernelFamily::BitLutG4 => (4, format.bits() as usize),
        _ => return None,
    };
    Some(Work::Table {
        ops_per_lookup: table_ops_per_lookup(g, planes, entry_bytes),
    })
}

/// A row's roofline: the limit that binds it and what it allows.
#[derive(Debug, Clone)]
pub struct Bound {
    /// `L2`, `L3`, `DRAM` (bandwidth of the level the packed weights stay
    /// in), or `mad`, `shuf`, `vlut`, `fma` (compute).
    pub limit: &'static str,
    /// Attainable ops/s: `min(compute peak, intensity × bandwidth)`.
    pub attainable: f64,
    /// The int8 multiply-add peak of the row's ISA, ops/s.
    pub mad_peak: Option<f64>,
}

impl Limits {
    /// Measures everything (about a second).
    pub fn measure() -> Limits {
        let t0 = Instant::now();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let caches = caches(threads);
        let share = |c: Cache, part: usize, t: usize| c.bytes / part / c.shared_by.min(t).max(1);
        let dram_total = (4 * caches.l3.bytes).clamp(64 << 20, 256 << 20);
        let buffers = [
            (share(caches.l2, 2, 1), share(caches.l2, 2, threads)),
            (share(caches.l3, 4, 1), share(caches.l3, 4, threads)),
            (dram_total, dram_total / threads),
        ];
        // Loops: (mad, shuffle) per ISA level, then the FMA loop.
        let isas: Vec<(Isa, PeakLoop, PeakLoop)> = Isa::ALL
            .into_iter()
            .filter_map(|isa| peaks::loops(isa).map(|(mad, shuffle)| (isa, mad, shuffle)))
            .collect();
        let insns: Vec<_> = isas
            .iter()
            .map(|(isa, m, s)| (*isa, m.insn, s.insn))
            .collect();
        let mut loops: Vec<PeakLoop> = isas.into_iter().flat_map(|(_, m, s)| [m, s]).collect();
        let fma = peaks::fma_loop();
        let fma_insn = fma.as_ref().map(|l| l.insn);
        loops.extend(fma);
        let plan = measure::Plan {
            threads,
            buffers,
            loops,
        };
        let got = measure::run(&plan);
        let peaks = insns
            .iter()
            .enumerate()
            .map(|(i, &(isa, mad_insn, shuffle_insn))| IsaPeaks {
                isa,
                mad_insn,
                mad: got.rates[2 * i],
                shuffle_insn,
                lookups: got.rates[2 * i + 1],
            })
            .collect();
        Limits {
            threads,
            caches,
            buffers,
            bandwidth: got.bandwidth,
            peaks,
            fma: fma_insn.map(|insn| (insn, got.rates[2 * insns.len()])),
            seconds: t0.elapsed().as_secs_f64(),
        }
    }

    /// The peaks of `isa`; the best level for the portable kernels
    /// (`Scalar`: how far they are from what this machine can do).
    pub fn peaks_for(&self, isa: Isa) -> Option<&IsaPeaks> {
        match isa {
            Isa::Scalar => self.peaks.last(),
            _ => self.peaks.iter().find(|p| p.isa == isa),
        }
    }

    /// The level whose bandwidth bounds a row: its packed weights (re-read
    /// by every timed call) stay in L2 when each thread's share fits in
    /// its L2, in L3 when they fit in half of L3 (the rest holds tables,
    /// activations and other tenants' lines), else come from DRAM.
    pub fn level_for(&self, weight_bytes: usize, threads: usize) -> Level {
        let t = threads.max(1);
        if weight_bytes.div_ceil(t) <= self.caches.l2.bytes {
            Level::L2
        } else if weight_bytes <= self.caches.l3.bytes / 2 {
            Level::L3
        } else {
            Level::Dram
        }
    }

    /// The roofline of a row doing `ops` operations and moving `bytes`
    /// (packed weights + f32 activations + f32 outputs) on `threads`
    /// threads (1, or more: the all-threads figures): the attainable rate
    /// is `min(compute peak, bytes/s × ops/bytes)`, and the limit named is
    /// the one that gives the minimum. `None` when this machine has no
    /// measured peak for the row's ISA (then only the bandwidth bound is
    /// known, and it is not reported alone).
    pub fn bound(
        &self,
        work: Work,
        isa: Isa,
        threads: usize,
        ops: f64,
        bytes: f64,
        weight_bytes: usize,
    ) -> Option<Bound> {
        // `--threads 0` means every core.
        let threads = if threads == 0 { self.threads } else { threads };
        let level = self.level_for(weight_bytes, threads);
        let memory = self.bandwidth[level as usize].at(threads) * ops / bytes;
        let peaks = self.peaks_for(isa);
        let mad_peak = peaks.map(|p| p.mad.at(threads));
        let (name, compute) = match work {
            Work::MultiplyAdd => ("mad", mad_peak?),
            Work::Table { ops_per_lookup } => ("shuf", peaks?.lookups.at(threads) * ops_per_lookup),
            Work::DenseF32 => ("fma", self.fma?.1.at(threads)),
            Work::RowLookup { weights } => ("vlut", weights as f64 / 2.0 * mad_peak?),
        };
        let (limit, attainable) = if memory < compute {
            (level.name(), memory)
        } else {
            (name, compute)
        };
        Some(Bound {
            limit,
            attainable,
            mad_peak,
        })
    }

    /// The header block.
    pub fn print(&self) {
        let mib = |b: usize| {
            if b >= 1 << 20 {
                format!("{} MiB", b >> 20)
            } else {
                format!("{} KiB", b >> 10)
            }
        };
        let cache = |c: Cache| {
            format!(
                "{}{}, shared by {} CPU(s)",
                mib(c.bytes),
                if c.known { "" } else { " (assumed)" },
                c.shared_by
            )
        };
        let all = format!("{} threads", self.threads);
        println!(
            "machine limits (best of {REPS} short runs each, {:.2} s): L2 {}; L3 {}",
            self.seconds,
            cache(self.caches.l2),
            cache(self.caches.l3)
        );
        println!(
            "  {:<44} {:>12} {:>12}",
            "read bandwidth, GB/s", "1 thread", all
        );
        for l in Level::ALL {
            let (one, all) = self.buffers[l as usize];
            let b = self.bandwidth[l as usize];
            println!(
                "    {:<42} {:>12.1} {:>12.1}",
                format!("{:<4} ({} / {} per thread)", l.name(), mib(one), mib(all)),
                b.one / 1e9,
                b.all / 1e9
            );
        }
        println!("  int8 multiply-add peak, GOP/s (2 per MAC)");
        for p in &self.peaks {
            println!(
                "    {:<42} {:>12.1} {:>12.1}",
                format!("{:<8}{}", p.isa.name(), p.mad_insn),
                p.mad.one / 1e9,
                p.mad.all / 1e9
            );
        }
        println!("  byte-shuffle peak, G byte lookups/s");
        for p in &self.peaks {
            println!(
                "    {:<42} {:>12.1} {:>12.1}",
                format!("{:<8}{}", p.isa.name(), p.shuffle_insn),
                p.lookups.one / 1e9,
                p.lookups.all / 1e9
            );
        }
        if let Some((insn, f)) = self.fma {
            println!(
                "  {:<44} {:>12.1} {:>12.1}",
                format!("f32 FMA peak (dense baseline), GFLOP/s: {insn}"),
                f.one / 1e9,
                f.all / 1e9
            );
        }
        if self.peaks.is_empty() {
            println!("  (no SIMD level detected: no compute peaks, rows show no limit)");
        }
    }
}
