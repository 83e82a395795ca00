//! The last-level cache size, read once from Linux sysfs: selection uses it
//! to tell weights that a GEMV streams from DRAM (bytes are the limit) from
//! weights that stay in cache (instructions are).

use std::path::Path;
use std::sync::OnceLock;

/// Assumed when sysfs does not say (not Linux, or hidden): 32 MiB, the L3
/// of one Zen 4 CCD and about the middle of current desktop and server
/// parts (8–96 MiB per core complex).
pub(crate) const DEFAULT_LLC_BYTES: usize = 32 << 20;

/// Bytes of the last-level data cache of CPU 0 (the highest cache level
/// sysfs lists that holds data), or [`DEFAULT_LLC_BYTES`]. Read on first
/// use, then cached.
pub(crate) fn last_level_cache_bytes() -> usize {
    static LLC: OnceLock<usize> = OnceLock::new();
    *LLC.get_or_init(|| {
        read_sysfs(Path::new("/sys/devices/system/cpu/cpu0/cache")).unwrap_or(DEFAULT_LLC_BYTES)
    })
}

/// The size of the highest-level data or unified cache under `dir`
/// (`index*/{level,type,size}` as Linux writes them).
fn read_sysfs(dir: &Path) -> Option<usize> {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("index"))
        .filter_map(|e| {
            let p = e.path();
            let level: u32 = read(&p.join("level"))?.trim().parse().ok()?;
            if read(&p.join("type"))?.trim() == "Instruction" {
                return None;
            }
            Some((level, parse_size(read(&p.join("size"))?.trim())?))
        })
        .max()
        .map(|(_, bytes)| bytes)
        .filter(|&bytes| bytes > 0)
}

/// `"32768K"`, `"1M"`, `"512"` → bytes.
fn parse_size(s: &str) -> Option<usize> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return None,
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("12Q"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn the_highest_data_cache_level_wins() {
        let dir = std::env::temp_dir().join(format!("lutgemm-cache-{}", std::process::id()));
        let entries = [
            ("index0", "1", "Data", "32K"),
            ("index1", "1", "Instruction", "32K"),
            ("index2", "2", "Unified", "1024K"),
            ("index3", "3", "Unified", "98304K"),
            ("index4", "4", "Instruction", "1G"),
        ];
        for (name, level, kind, size) in entries {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("level"), format!("{level}\n")).unwrap();
            std::fs::write(d.join("type"), format!("{kind}\n")).unwrap();
            std::fs::write(d.join("size"), format!("{size}\n")).unwrap();
        }
        assert_eq!(read_sysfs(&dir), Some(96 << 20));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read_sysfs(&dir), None);
        assert!(last_level_cache_bytes() > 0);
    }
}
