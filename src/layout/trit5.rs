//! Five ternary weights in one byte (1.6 bits per weight), the byte
//! encoding of [`super::Layout::TernaryMad5`].
//!
//! A group of five weights `w_0..w_4 ∈ {−1, 0, 1}` has codes
//! `c_i = w_i + 1 ∈ {0, 1, 2}` and the base-3 value
//! `v = Σ c_i · 3^(4−i) ∈ [0, 243)` (`c_0` most significant). Negating
//! every weight maps `v` to `242 − v`, so of the pair `{v, 242 − v}` the
//! *canonical* value `v' ≥ 121` is stored with a sign bit:
//!
//! ```text
//! byte = s << 7 | (y − 128),   y = ⌈256 · v' / 243⌉ ∈ [128, 256),
//! s = 1 when the group is the negation of the canonical one (v < 121).
//! ```
//!
//! Decoding any byte (every one of the 256 decodes, so a kernel never
//! meets an invalid byte): `y = (byte & 127) + 128`, the digits of
//! `⌊243 · y / 256⌋` in base 3, each replaced by `2 − c` when bit 7 is set.
//! Two decoders follow from this choice:
//! - a 128-entry table indexed by the low 7 bits (AVX-512 `vpermi2b`, NEON
//!   `tbl`/`tbx` over 8 registers), then `c → 2 − c` for bytes with bit 7
//!   set: one table look-up gives four weights' codes whatever the sign;
//! - arithmetic (ggml TQ1_0's idea, written here from its definition):
//!   with `z_0 = y`, digit `c_i = ⌊3 · z_i / 256⌋` and
//!   `z_{i+1} = 3 · z_i mod 256`, because `y / 256` is `v' / 243` rounded
//!   up by less than `1 / 243`, so multiplying by 3 shifts out one base-3
//!   digit at a time (AVX2 `vpmaddubsw` with 3, no table).

/// Columns per step of [`super::Layout::TernaryMad5`]: one 32-bit lane (4
/// bytes) of a row × 5 weights per byte.
pub(crate) const STEP: usize = 20;

/// Codes `c_0..c_4` (weights + 1) of the five weights held by `byte`.
pub(crate) const fn decode(byte: u8) -> [u8; 5] {
    let y = (byte & 127) as u32 + 128;
    let mut v = 243 * y / 256;
    let mut c = [0u8; 5];
    let mut i = 5;
    while i > 0 {
        i -= 1;
        c[i] = (v % 3) as u8;
        v /= 3;
    }
    if byte & 128 != 0 {
        let mut i = 0;
        while i < 5 {
            c[i] = 2 - c[i];
            i += 1;
        }
    }
    c
}

/// The byte holding codes `c_0..c_4` (each `weight + 1 ∈ {0, 1, 2}`).
pub(crate) fn encode(c: [u8; 5]) -> u8 {
    debug_assert!(c.iter().all(|&c| c <= 2));
    let v = c.iter().fold(0u32, |v, &c| 3 * v + c as u32);
    let (canonical, sign) = if v >= 121 { (v, 0) } else { (242 - v, 128) };
    let y = (256 * canonical).div_ceil(243);
    sign | (y - 128) as u8
}

/// [`decode`] of every byte.
pub(crate) const DECODE: [[u8; 5]; 256] = {
    let mut t = [[0u8; 5]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = decode(b as u8);
        b += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte encoding's whole contract, checked exhaustively.
    #[test]
    fn every_group_of_five_round_trips_and_the_sign_negates() {
        let mut seen = std::collections::HashSet::new();
        for v in 0..243u32 {
            let c: [u8; 5] = std::array::from_fn(|i| (v / 3u32.pow(4 - i as u32) % 3) as u8);
            let b = encode(c);
            assert_eq!(decode(b), c, "v = {v}, byte {b:#04x}");
            assert!(seen.insert(b), "two groups share byte {b:#04x}");
            // Bit 7 flips every weight of the low 7 bits' group.
            assert_eq!(decode(b ^ 128).map(|c| 2 - c), c);
        }
        // The table-free decoder: digits shifted out of y by multiplying
        // by 3 (the way the AVX2 and arithmetic kernels decode), for every
        // byte, including the ones encode never writes.
        for b in 0..=255u8 {
            let mut z = (b & 127) as u32 + 128;
            let mut c = [0u8; 5];
            for ci in &mut c {
                *ci = (3 * z / 256) as u8;
                z = 3 * z % 256;
            }
            if b & 128 != 0 {
                c = c.map(|c| 2 - c);
            }
            assert_eq!(c, DECODE[b as usize], "byte {b:#04x}");
        }
    }

    /// The C kernels' 128-entry tables (`kernels/trit5.h`) are this
    /// module's decode of the bytes with bit 7 clear.
    #[test]
    fn the_c_tables_are_the_decode_of_the_low_seven_bits() {
        let h = include_str!("../../kernels/trit5.h");
        let table = |name: &str| -> Vec<u8> {
            let body = &h[h.find(&format!("{name}[128]")).expect(name)..];
            let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
            body.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| u8::from_str_radix(t.trim_start_matches("0x"), 16).unwrap())
                .collect()
        };
        let (fields, last) = (table("TRIT5_FIELDS"), table("TRIT5_LAST"));
        assert_eq!((fields.len(), last.len()), (128, 128));
        for l in 0..128 {
            let c = DECODE[l];
            assert_eq!(
                fields[l],
                c[0] | c[1] << 2 | c[2] << 4 | c[3] << 6,
                "L = {l}"
            );
            assert_eq!(last[l], c[4], "L = {l}");
        }
    }
}
