//! The data cache sizes the plan blocks for, read once per process.
//!
//! ```
//! let c = lutgemm::cache::CacheSizes::get();
//! assert!(c.l2 >= c.l1d);
//! ```
//!
//! Linux reports them in sysfs (`/sys/devices/system/cpu/cpu0/cache/
//! index*/{level,type,size,shared_cpu_list}`); elsewhere, or when a value is missing or
//! unreadable, the defaults below (a Zen 4 core: 32 KiB L1d, 1 MiB L2,
//! 32 MiB L3) stand in. The sizes only steer tile sizes and the choice of
//! a streaming layout, never results: every tiling gives the same bits.

use std::sync::OnceLock;

/// Per-core L1 data and L2 sizes, and the last-level cache, in bytes, with
/// how many CPUs share the L2 and the L3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSizes {
    /// L1 data cache of one core.
    pub l1d: usize,
    /// L2 of one core.
    pub l2: usize,
    /// Last-level cache (shared).
    pub l3: usize,
    /// CPUs sharing the L2 (1 when not reported).
    pub l2_shared_by: usize,
    /// CPUs sharing the L3 (0 when not reported: callers assume all).
    pub l3_shared_by: usize,
    /// Whether the OS reported the L2 and the L3 sizes (else the defaults
    /// stand in for them).
    pub reported: bool,
}

impl CacheSizes {
    /// Used for any level the OS does not report.
    pub const DEFAULT: CacheSizes = CacheSizes {
        l1d: 32 << 10,
        l2: 1 << 20,
        l3: 32 << 20,
        l2_shared_by: 1,
        l3_shared_by: 0,
        reported: false,
    };

    /// This machine's sizes (queried on first use, then cached).
    pub fn get() -> CacheSizes {
        static SIZES: OnceLock<CacheSizes> = OnceLock::new();
        *SIZES.get_or_init(query)
    }
}

fn query() -> CacheSizes {
    let mut c = CacheSizes::DEFAULT;
    #[cfg(target_os = "linux")]
    {
        let (mut l2, mut l3) = (false, false);
        for i in 0..16 {
            let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
            let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
            else {
                continue;
            };
            let Some(bytes) = parse_size(size.trim()) else {
                continue;
            };
            let shared_by = read("shared_cpu_list").and_then(|l| count_cpus(l.trim()));
            match (level.trim(), kind.trim()) {
                ("1", "Data") => c.l1d = bytes,
                ("2", "Unified" | "Data") => {
                    (c.l2, l2) = (bytes, true);
                    c.l2_shared_by = shared_by.unwrap_or(1);
                }
                ("3", "Unified") => {
                    (c.l3, l3) = (bytes, true);
                    c.l3_shared_by = shared_by.unwrap_or(0);
                }
                _ => {}
            }
        }
        c.reported = l2 && l3;
    }
    c
}

/// Number of CPUs in a list such as `0-3,8,10-11`.
fn count_cpus(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.trim().parse::<usize>().ok()? + 1 - a.trim().parse::<usize>().ok()?,
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// sysfs sizes: "32K", "1024K", "32768K", "8M", or plain bytes. Values
/// out of a sane range (4 KiB .. 4 GiB) count as unreported.
fn parse_size(s: &str) -> Option<usize> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1usize << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let v = num.trim().parse::<usize>().ok()?.checked_mul(mult)?;
    ((4 << 10)..=(4 << 30)).contains(&v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_stay_sane() {
        assert_eq!(parse_size("32K"), Some(32 << 10));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("0K"), None);
        assert_eq!(parse_size("lots"), None);
        assert_eq!(count_cpus("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpus("1"), Some(1));
        assert_eq!(count_cpus(""), None);
        let c = CacheSizes::get();
        assert!(
            c.l1d >= 4 << 10 && c.l2 >= c.l1d && c.l3 >= 4 << 10,
            "{c:?}"
        );
    }
}
