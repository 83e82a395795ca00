/* AVX-512 (F/BW/VL/DQ + VBMI + VNNI) kernels for 1-4-bit integer weights.
 * Under the exact contract: int8 activations in [-127, 127], exact int32
 * sums isum[t, r, b] = Σ_{c in group b} qx[t, c] · q[r, c] per token, row
 * and scale group (spec: INT_KERNELS.md; call contract: lutgemm_kernels.h).
 * Scales and offsets are applied in Rust, except by int_mad in its fused
 * mode. Every extent is checked in Rust.
 *
 * Kernels
 *   int_mad          Layout A (IntMad, mr 16, kc 8 for 4 bits, 16 for 2
 *                    bits): one 64-byte load = 16 rows × 8 (or 16) columns,
 *                    decoded by masks (and one shift for 2 bits) into u8
 *                    operands of vpdpbusd, activations broadcast as dwords.
 *                    Up to 4 tokens share each weight load and decode.
 *                    Fused mode (a->fuse): applies each group's f16/f32
 *                    scale and offset itself, one float per row out (see
 *                    "Fused group scaling").
 *   int_mad_fr       Layout A' (MadFieldRows, mr 64, kc 4, 2 bits): one
 *                    64-byte load = 64 rows × 4 columns, a byte's four
 *                    fields four rows; 3 masks per load, no shift (see
 *                    "Layout A'"). Fused mode as int_mad.
 *   ternary_mad_fr   the same for ternary codes w + 1, less each group's
 *                    activation sum (int32 sums out, never fused).
 *   int_bitlut_g4    Layout B (IntBitLutG4, mr 64, kc 8, bits 1..4): per
 *                    step, bit plane and 64 rows, 4 vpermw on int16 tables
 *                    (no unpacking), int16 accumulation widened every <= 32
 *                    steps. 2 tokens share each weight load and its shifts.
 *   int_bitlut_g4_tables   the exact tables of Layout B (vpdpbusd + vpermt2b).
 *   int_bitlut_g4_fast     Layout B, Fast contract (int8 tables, f32 span
 *                    scales): vpermb lookups of 4 entries per row and
 *                    dword, weighted and summed by vpdpbusd (see "Layout B
 *                    under the Fast and Float contracts" below).
 *   int_bitlut_g4_float    Layout B, Float contract (f32 tables): vpermps
 *                    + vfmadd, bit-identical to the portable kernel.
 *   int_bitlut_g4_fast_tables   the Fast tables, byte for byte the
 *                    portable builder's (Float uses the portable builder:
 *                    its entries are summed directly, not by mirror
 *                    symmetry, and it is < 1% of a Float GEMV).
 *
 * Outputs out[t·out_stride + (r·nb + b)·plane_out + p] are written once
 * (never accumulated across calls). With nb > 1 or plane_out > 1 a row's
 * outputs are strided: they are collected per 16 (or fewer) columns and
 * written by a 16 × 16 transpose and masked row stores (store_cols16).
 *
 * Measurements (this machine: 2-core KVM guest, AMD EPYC family 25 model
 * 17 = Zen 4, 512-bit ops as two 256-bit halves, i.e. at most 2 zmm ALU
 * ops per cycle; GCC 12, the build.rs flags; one thread, kernel only,
 * median of 200 calls, m = k = 4096, one call over all rows):
 *
 *                          mad            bitlut_g4 (tables +0.6 us/token)
 *   n = 1, 4 bits nb 1     100-105 us     228-232 us
 *   n = 1, 2 bits nb 1      84-86 us      118-120 us
 *   n = 1, 4 bits g 32     156-170 us     315-340 us   (nb 128, bp 32)
 *   n = 1, 2 bits g 64     110-113 us     157-160 us   (nb 64, bp 64;
 *                          Layout A' int_mad_fr: 93 us end to end)
 *   n = 8, 4 bits nb 1     610-630 us     1590-1690 us
 *   n = 8, 2 bits nb 1     577-585 us     825-840 us
 *   n = 8, 4 bits g 32     2.2-3.5 ms     4.3-5.6 ms   (16 MB of int32 out)
 *   n = 8, 4 bits g 32, 512 rows per call: 118 us (mad), 285 us (bitlut),
 *                          i.e. ×8 = 0.95 / 2.3 ms for 4096 rows.
 * With short scale groups the outputs (m · nb int32 per token, 2 MB at
 * nb = 128) dominate once they leave L2: call with row tiles whose
 * outputs stay in cache.
 */

#include <immintrin.h>
#include <string.h>

#include "lutgemm_kernels.h"

#define INLINE static inline __attribute__((always_inline))

/* Pins a loaded vector in a register: GCC otherwise folds the same load
 * into each of its uses (vpandd mem, vpsrlw mem, vpermw mem), multiplying
 * the loads (avx512.c measured 15% on its mad kernel). */
#define REG(v) __asm__("" : "+v"(v))

/* acc += vpdpbusd(u, s), with the accumulator tied to the destination:
 * GCC 12 otherwise copies every accumulator into a scratch register and
 * back around each vpdpbusd of a loop (2 moves per vpdpbusd in the
 * field-rows kernel below). */
INLINE __m512i dpbusd_acc(__m512i acc, __m512i u, __m512i s)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
}

#define PRAGMA(x) _Pragma(#x)
#define UNROLL PRAGMA(GCC unroll 16)

INLINE __m512i bcast32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* In place: r[c] element i  ->  r[i] element c (16 × 16 int32). */
INLINE void transpose16(__m512i *r)
{
    __m512i a[16], b[16];
    for (int i = 0; i < 16; i += 2) {
        a[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        a[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int q = 0; q < 16; q += 4) {
        b[q + 0] = _mm512_unpacklo_epi64(a[q + 0], a[q + 2]);
        b[q + 1] = _mm512_unpackhi_epi64(a[q + 0], a[q + 2]);
        b[q + 2] = _mm512_unpacklo_epi64(a[q + 1], a[q + 3]);
        b[q + 3] = _mm512_unpackhi_epi64(a[q + 1], a[q + 3]);
    }
    /* b[4q + j], 128-bit lane l = elements 4l + j of rows 4q..4q+3. */
    for (int j = 0; j < 4; j++) {
        const __m512i u = _mm512_shuffle_i32x4(b[j], b[4 + j], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512i v = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512i x = _mm512_shuffle_i32x4(b[j], b[4 + j], _MM_SHUFFLE(3, 2, 3, 2));
        const __m512i y = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], _MM_SHUFFLE(3, 2, 3, 2));
        r[j] = _mm512_shuffle_i32x4(u, v, _MM_SHUFFLE(2, 0, 2, 0));
        r[4 + j] = _mm512_shuffle_i32x4(u, v, _MM_SHUFFLE(3, 1, 3, 1));
        r[8 + j] = _mm512_shuffle_i32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0));
        r[12 + j] = _mm512_shuffle_i32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

/* The row held by lane i of the bitlut kernel's sum chunk k (see the note
 * before bl_order). */
INLINE size_t bl_row(int k, int i)
{
    return (size_t)(16 * (i / 4) + 2 * (i % 4) + 8 * (k & 1) + (k >> 1));
}

/* Writes 16 rows × C (<= 16) output columns given as column vectors (lane
 * = row): the C values of the row in lane i go to o + row(i)·rs
 * (consecutive), stored or (add) added to what is there. row(i) = i, or for
 * the bitlut kernel's even/odd chunk k (k >= 0) the row that lane holds
 * (bl_row). One transpose (64 shuffles) + 16 masked stores instead of
 * 16·C strided scalar stores: mad at 4 bits, nb = 128, bp = 32 took 170 us
 * (n = 1, 4096 rows) and 119 us (n = 8, 512 rows) this way against 282 and
 * 210 us storing through a scalar loop. With add, all 16 loads go before
 * the stores: a masked load behind a masked store to the same 64 bytes
 * (rs < 16) would wait for it (bitlut, 4 bits, plane_out 4, nb 1: 469 ->
 * 289 us, with bl_row replacing a reorder per flush). */
INLINE void store_cols16(const __m512i *col, int C, int32_t *o, size_t rs, int add, int k)
{
    __m512i v[16];
    UNROLL
    for (int c = 0; c < 16; c++)
        v[c] = c < C ? col[c] : _mm512_setzero_si512();
    transpose16(v);
    const __mmask16 m = (__mmask16)((1u << C) - 1);
    if (add) {
        UNROLL
        for (int i = 0; i < 16; i++)
            v[i] = _mm512_add_epi32(
                v[i], _mm512_maskz_loadu_epi32(m, o + (k < 0 ? (size_t)i : bl_row(k, i)) * rs));
    }
    UNROLL
    for (int i = 0; i < 16; i++)
        _mm512_mask_storeu_epi32(o + (k < 0 ? (size_t)i : bl_row(k, i)) * rs, m, v[i]);
}

/* ------------------------------------------------------------------------ */
/* Layout A: IntMad, mr = 16, vpdpbusd                                      */
/* ------------------------------------------------------------------------ */

/* Per 64-byte step and row group the low fields go to accumulator X and
 * the high fields, masked in place and not shifted, to Y:
 *   4 bits: X += (v & 0x0f)·x[8s..8s+3], Y += (v & 0xf0)·x[8s+4..8s+7],
 *           Y = 16 · (true sum), row sum = X + (Y >> 4);
 *   2 bits: u = v >> 4 (16-bit shift; the bits dragged in from the next
 *           byte land in bits 4..7, cleared by both masks),
 *           X += (v & 3)·x0 + (u & 3)·x2, Y += (v & 0x0c)·x1 + (u & 0x0c)·x3,
 *           Y = 4 · (true sum), row sum = X + (Y >> 2).
 * Y is an exact multiple of 16 (4), so the arithmetic shift is exact. This
 * saves the shift per load for 4 bits and 2 of 3 shifts for 2 bits, and
 * gives each (row group, token) two independent vpdpbusd chains.
 * int32 bounds, per scale group of bp <= MAX_K = 131072 padded columns,
 * |qx| <= 127, half the columns in X and half in Y:
 *   4 bits: |Y| <= 65536·(16·15)·127 = 1 997 537 280 < 2^31 - 1 = 2 147 483 647,
 *           |X| <= 65536·15·127 = 1.25e8, |X + (Y >> 4)| <= 2.5e8;
 *   2 bits: |Y| <= 65536·(4·3)·127 = 9.99e7, |X| <= 2.5e7.
 * (vpdpbusd itself does not saturate: 4 products of |u8·s8| <= 240·127 per
 * lane and step.)
 *
 * Tiling: T tokens × R row groups per pass over a scale group's steps;
 * each weight load and decode feeds T · (2 or 4) vpdpbusd, each activation
 * broadcast R of them. Measured (m = k = 4096, nb = 1): one token R = 4
 * (8 accumulators) 100 / 83 us (4 / 2 bits) vs R = 8 105 / 85, R = 2
 * 100 / 89, R = 1 144 / 143; 8 tokens as 2 × (T = 4, R = 1) 590 / 580 us
 * vs (T = 4, R = 2) 705 / 655 (GCC spills 16 accumulators) and T = 8,
 * R = 1 590 / 580. At ~580 us per 8 tokens, 1 vpdpbusd per cycle, the
 * kernel is at the VNNI throughput; one token at 4 bits (8 MB of weights
 * from L3) is at ~80 GB/s, and at 2 bits at the VNNI throughput again.
 * Software prefetch did not help. */

#define MAD_MR 16
#define MAD_STEP 64
/* Scale groups per transposed output block (stage: R·T·16 vectors). */
#define MAD_GB 16

/* Row sums of one scale group, steps [s0, s1), for R row groups (w, ws
 * apart) × T tokens (activations x[t]): sum[r·T + t] = the 16 rows' int32
 * sums of row group r, token t (lane = row). */
INLINE void mad_group(const uint8_t *w, size_t ws, const int8_t *const *x, size_t s0, size_t s1,
                      const int R, const int T, const int B4, __m512i *sum)
{
    /* 4 bits with several tokens: the high nibbles shifted down once per
     * load (shared by the tokens) rather than masked in place, each
     * token's Y then needing no shift per group. Measured faster at every
     * group length (n = 8, 256 rows: fused groups of 16 / 32 / 128 57.9 /
     * 46.9 / 39.0 us vs 59.6 / 48.0 / 40.2; unfused whole rows 36.7 vs
     * 38.3). */
    const int SH = B4 && T > 1;
    const __m512i mlo = _mm512_set1_epi8(B4 ? 0x0f : 0x03);
    const __m512i mhi = _mm512_set1_epi8(B4 ? (char)0xf0 : 0x0c);
    __m512i X[4], Y[4];
    UNROLL
    for (int i = 0; i < R * T; i++)
        X[i] = Y[i] = _mm512_setzero_si512();
    for (size_t s = s0; s < s1; s++) {
        UNROLL
        for (int r = 0; r < R; r++) {
            __m512i v = _mm512_loadu_si512((const void *)(w + r * ws + MAD_STEP * s));
            REG(v);
            if (B4) {
                const __m512i lo = _mm512_and_si512(v, mlo);
                const __m512i hi = SH ? _mm512_and_si512(_mm512_srli_epi16(v, 4), mlo)
                                      : _mm512_and_si512(v, mhi);
                UNROLL
                for (int t = 0; t < T; t++) {
                    const int8_t *xs = x[t] + 8 * s;
                    X[r * T + t] = dpbusd_acc(X[r * T + t], lo, bcast32(xs));
                    Y[r * T + t] = dpbusd_acc(Y[r * T + t], hi, bcast32(xs + 4));
                }
            } else {
                const __m512i u = _mm512_srli_epi16(v, 4);
                const __m512i f0 = _mm512_and_si512(v, mlo);
                const __m512i f1 = _mm512_and_si512(v, mhi);
                const __m512i f2 = _mm512_and_si512(u, mlo);
                const __m512i f3 = _mm512_and_si512(u, mhi);
                UNROLL
                for (int t = 0; t < T; t++) {
                    const int8_t *xs = x[t] + 16 * s;
                    X[r * T + t] = dpbusd_acc(X[r * T + t], f0, bcast32(xs));
                    Y[r * T + t] = dpbusd_acc(Y[r * T + t], f1, bcast32(xs + 4));
                    X[r * T + t] = dpbusd_acc(X[r * T + t], f2, bcast32(xs + 8));
                    Y[r * T + t] = dpbusd_acc(Y[r * T + t], f3, bcast32(xs + 12));
                }
            }
        }
    }
    UNROLL
    for (int i = 0; i < R * T; i++)
        sum[i] = _mm512_add_epi32(X[i], SH ? Y[i] : _mm512_srai_epi32(Y[i], B4 ? 4 : 2));
}

/* One scale group's V vectors of 16 row sums (lane = row), vector i for
 * the rows whose outputs start at base[i] (nb apart): stored at once when
 * nb == 1, else kept as column bb of a block for sums_flush. */
INLINE void sums_put(const __m512i *sum, const int V, int32_t *const *base, size_t nb, int bb,
                     __m512i stage[][MAD_GB])
{
    UNROLL
    for (int i = 0; i < V; i++) {
        if (nb == 1)
            _mm512_storeu_si512((void *)base[i], sum[i]);
        else
            stage[i][bb] = sum[i];
    }
}

/* Writes a block's G staged groups from b0 (nb > 1): one transpose and
 * masked stores per vector (store_cols16). */
INLINE void sums_flush(__m512i stage[][MAD_GB], const int V, int32_t *const *base, size_t nb,
                       size_t b0, int G)
{
    if (nb == 1)
        return;
    UNROLL
    for (int i = 0; i < V; i++)
        store_cols16(stage[i], G, base[i] + b0, nb, 0, -1);
}

/* tile_any's mode for ternary codes on Layout A' (never fused). */
#define FR_TERNARY 16

/* One tile of either layout (tile_any, after Layout A'). */
INLINE void tile_any(const lutgemm_kernel_args *a, size_t g, size_t t0, const int R,
                     const int T, const int FR, const int B4, const int F);

/* Fused group scaling (lutgemm_kernels.h): per scale group b, in order,
 * acc = fma(s_b, f32(sum_b), acc) then, with offsets (OFF),
 * acc = fma(o_b, f32(qsum[t, b]), acc), for 16 rows at once; the scales
 * of row group r at gs + r·gss, per group 16 scales then 16 offsets, f16
 * (H) or f32. Exactly the portable kernel's operations, lane by lane
 * (vcvtdq2ps and vcvtph2ps round as Rust's `as f32` and f16::to_f32,
 * vfmadd is f32::mul_add). Tiles and tokens as the unfused kernel; each
 * (row group, token) keeps its 16 floats in a register over all groups.
 * A block's qsum are converted 16 at a time and broadcast from memory by
 * the FMAs (n = 8, 256 rows, 4 bits g 32: 46.8 us with this and
 * mad_group's shifted high nibbles, 48.0 with this alone, 48.5 with a
 * conversion per group and token and no shift).
 *
 * Measured (kernel alone, thread CPU time, median of 300 calls, m = k =
 * 4096, n = 1, one call; f16 / f32 storage, with offsets unless said):
 *   4 bits g 32: fused f16 140 us, f32 166, f16 without offsets 120, f32
 *     without 133; unfused 165-290 (2 MB of int32 sums out); nb = 1 105.
 *     Memory-bound: 10.5 MB of codes and f16 scales at ~75 GB/s, against
 *     ~80 GB/s for the codes alone; hence f16 storage.
 *   2 bits g 64: fused f16 109 us, f32 101, without offsets 101 / 97;
 *     unfused 113; nb = 1 85. Bound by the pipes that are not vpdpbusd's
 *     (one zmm op per cycle: see Layout A'): per step and row group 1
 *     shift + 4 masks, per group and row group the combine (2), vcvtdq2ps
 *     and for f16 2 vcvtph2ps. 2-bit weights on this ISA take Layout A'
 *     (MadFieldRows), 93 us here.
 *   Tried and dropped: R = 2 / 8 row groups per pass (4 bits 145 / 176 vs
 *     140 us); prefetching the scales (no change); scales interleaved after
 *     each group's codes (a probe of the 4-bit loop: 130 vs 134 us, not
 *     worth a layout change on every ISA); 2 bits with the four fields
 *     masked in place into four accumulators (no shift: 139-150 us,
 *     spills); GFNI affine decode of fields 2, 3 (121 us); activations as
 *     embedded-broadcast operands (no change). */
INLINE __m512 mad_scales16(const uint8_t *p, const int H)
{
    return H ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p))
             : _mm512_loadu_ps((const float *)p);
}

/* A fused block's per-token group sums of the activations, groups b0 ..
 * b0 + G - 1 (G <= 16): as floats for the offsets' FMAs (OFF), or times
 * the zero point 2^ZSH for its integer subtraction (ZP). */
INLINE void fused_block_qsums(const int32_t *const *qs, const int T, size_t b0, size_t G,
                              const int OFF, const int ZP, const int ZSH, float qf[][16],
                              int32_t zq[][16])
{
    if (!OFF && !ZP)
        return;
    const __mmask16 m = (__mmask16)((1u << G) - 1);
    UNROLL
    for (int t = 0; t < T; t++) {
        const __m512i q = _mm512_maskz_loadu_epi32(m, qs[t] + b0);
        if (OFF)
            _mm512_store_ps(qf[t], _mm512_cvtepi32_ps(q));
        else
            _mm512_store_si512((void *)zq[t], _mm512_slli_epi32(q, ZSH));
    }
}

/* All row groups for tokens t0..t0+T-1: R = RB at a time, then one.
 * 2·R·T <= 8 accumulators. */
INLINE void mad_rows(const lutgemm_kernel_args *a, size_t t0, const int T, const int B4,
                     const int F)
{
    const int RB = T == 1 ? 4 : T == 2 ? 2 : 1;
    size_t g = 0;
    for (; g + RB <= a->row_groups; g += RB)
        tile_any(a, g, t0, RB, T, 0, B4, F);
    for (; g < a->row_groups; g++)
        tile_any(a, g, t0, 1, T, 0, B4, F);
}

INLINE void mad_tokens(const lutgemm_kernel_args *a, const int B4, const int F)
{
    size_t t = 0;
    for (; t + 4 <= a->n; t += 4)
        mad_rows(a, t, 4, B4, F);
    switch (a->n - t) {
    case 3:
        mad_rows(a, t, 3, B4, F);
        break;
    case 2:
        mad_rows(a, t, 2, B4, F);
        break;
    case 1:
        mad_rows(a, t, 1, B4, F);
        break;
    default:
        break;
    }
}

/* One instance per (bits, fuse mode): register allocation of each is its
 * own. */
#define MAD_ENTRY(B4, F)                                                       \
    static __attribute__((noinline)) void mad_all_##B4##_##F(const lutgemm_kernel_args *a) \
    {                                                                          \
        mad_tokens(a, B4, F);                                                  \
    }
MAD_ENTRY(1, 0)
MAD_ENTRY(1, 1)
MAD_ENTRY(1, 3)
MAD_ENTRY(1, 5)
MAD_ENTRY(1, 7)
MAD_ENTRY(1, 9)
MAD_ENTRY(1, 11)
MAD_ENTRY(0, 0)
MAD_ENTRY(0, 1)
MAD_ENTRY(0, 3)
MAD_ENTRY(0, 5)
MAD_ENTRY(0, 7)
MAD_ENTRY(0, 9)
MAD_ENTRY(0, 11)

LUTGEMM_KERNEL(lutgemm_avx512_int_mad)
{
    LUTGEMM_REQUIRE(a->bits == 4 || a->bits == 2);
    LUTGEMM_REQUIRE(a->mr == MAD_MR && a->kc == (a->bits == 4 ? 8 : 16) && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bp % a->kc == 0);
    LUTGEMM_REQUIRE(LUTGEMM_FUSE_VALID(a->fuse));
    const int b4 = a->bits == 4;
    switch (a->fuse) {
    case 0: b4 ? mad_all_1_0(a) : mad_all_0_0(a); break;
    case 1: b4 ? mad_all_1_1(a) : mad_all_0_1(a); break;
    case 3: b4 ? mad_all_1_3(a) : mad_all_0_3(a); break;
    case 5: b4 ? mad_all_1_5(a) : mad_all_0_5(a); break;
    case 7: b4 ? mad_all_1_7(a) : mad_all_0_7(a); break;
    case 9: b4 ? mad_all_1_9(a) : mad_all_0_9(a); break;
    default: b4 ? mad_all_1_11(a) : mad_all_0_11(a); break;
    }
}

/* ------------------------------------------------------------------------ */
/* Layout A': MadFieldRows, mr = 64, kc = 4, 2 bits, vpdpbusd            */
/* ------------------------------------------------------------------------ */

/* A byte holds 4 rows' codes of one column (field f: rows 16f + lane), so
 * a 64-byte step is 64 rows × 4 columns and one broadcast of 4 activations
 * feeds every field. Each field is a vpdpbusd operand as loaded or masked
 * in place:
 *   P0 += v·x,  P1 += (v & 0xfc)·x,  P2 += (v & 0xf0)·x,  P3 += (v & 0xc0)·x
 * (u8 operands up to 255; vpdpbusd wraps mod 2^32 and never saturates), and
 * at the end of a span the rows' sums are
 *   S0 = P0 - P1,  S1 = (P1 - P2) >> 2,  S2 = (P2 - P3) >> 4,  S3 = P3 >> 6,
 * exact: P_i - P_{i+1} = 4^i · S_i mod 2^32 and |4^i · S_i| <= 64 · 3 · 127
 * · 65536 < 2^31 for every field once P3 = 64 · S3 stays below 2^31, i.e.
 * spans of at most FR_SPAN steps (65536 columns: 192 · 127 · 65536 =
 * 1.6e9); longer scale groups (whole rows of k > 65536) add span sums.
 * Three masks per load and no adds between fields, against Layout A's
 * shift, four masks and one add per group.
 *
 * Why this wins on Zen 4: a measured probe (docs/probes/pipes.c: 8
 * independent vpdpbusd zmm per iteration, 8.0 cycles) takes 12 cycles
 * with 4 FMAs added, but stays at 8.0-8.3 with 8 vpandd, 4 vcvtdq2ps or 4
 * vpsrlw added: vpdpbusd and FMA share two pipes, masks, shifts and
 * conversions use the other two (at one zmm per cycle). Layout A at 2 bits, groups of 64, n = 1 needs per 16
 * rows and group 16 vpdpbusd + 2 FMA on the first pair but 20 decode ops +
 * 2 combine + 1 conversion + 2 vcvtph2ps on the second: ~25 cycles for 16
 * vpdpbusd, the 107-112 us measured. Here per 64 rows and group: 64
 * vpdpbusd + 8 FMA against 48 masks + 6 combine + 4 conversions + 8
 * vcvtph2ps: bound by the first pair at 72 cycles per 64 vpdpbusd.
 * Standalone probe (m = k = 4096, groups of 64, f16 scales with offsets,
 * n = 1, median of 300 calls): Layout A 107 us, this layout with four
 * masks (v & 3, v & 0x0c, v & 0x30, v & 0xc0) 97.5 us, with three (above)
 * 90 us; R = 1 / 2 / 4 row groups per pass 100 / 97.5 / 123 us (spills).
 *
 * Tiling: R row groups × T tokens per pass, R·T <= 2 (4·R·T int32
 * accumulators, and fused 4·R·T float ones), or unfused R = 1, T = 4. */

#define FR_MR 64
#define FR_STEP 64
#define FR_SPAN 16384

/* Row sums of R row groups (w, ws apart) × T tokens over steps [s0, s1),
 * s1 - s0 <= FR_SPAN: S[4·(r·T + t) + f] = rows 16f..16f+15 of row group
 * r, token t (lane = row). */
INLINE void fr_span(const uint8_t *w, size_t ws, const int8_t *const *x, size_t s0, size_t s1,
                    const int R, const int T, __m512i *S)
{
    const __m512i m1 = _mm512_set1_epi8((char)0xfc);
    const __m512i m2 = _mm512_set1_epi8((char)0xf0);
    const __m512i m3 = _mm512_set1_epi8((char)0xc0);
    __m512i P0[4], P1[4], P2[4], P3[4];
    UNROLL
    for (int i = 0; i < R * T; i++)
        P0[i] = P1[i] = P2[i] = P3[i] = _mm512_setzero_si512();
    const uint8_t *wp = w + FR_STEP * s0;
    const uint8_t *const we = w + FR_STEP * s1;
    const int8_t *x0 = x[0] + 4 * s0;
    const ptrdiff_t xd = T > 1 ? x[1] - x[0] : 0;
    for (; wp != we; wp += FR_STEP, x0 += 4) {
        UNROLL
        for (int r = 0; r < R; r++) {
            const __m512i v = _mm512_loadu_si512((const void *)(wp + r * ws));
            const __m512i a1 = _mm512_and_si512(v, m1);
            const __m512i a2 = _mm512_and_si512(v, m2);
            const __m512i a3 = _mm512_and_si512(v, m3);
            UNROLL
            for (int t = 0; t < T; t++) {
                const __m512i xb = bcast32(x0 + t * xd);
                const int i = r * T + t;
                P0[i] = dpbusd_acc(P0[i], v, xb);
                P1[i] = dpbusd_acc(P1[i], a1, xb);
                P2[i] = dpbusd_acc(P2[i], a2, xb);
                P3[i] = dpbusd_acc(P3[i], a3, xb);
            }
        }
    }
    UNROLL
    for (int i = 0; i < R * T; i++) {
        S[4 * i + 0] = _mm512_sub_epi32(P0[i], P1[i]);
        S[4 * i + 1] = _mm512_srai_epi32(_mm512_sub_epi32(P1[i], P2[i]), 2);
        S[4 * i + 2] = _mm512_srai_epi32(_mm512_sub_epi32(P2[i], P3[i]), 4);
        S[4 * i + 3] = _mm512_srai_epi32(P3[i], 6);
    }
}

/* fr_span over a whole scale group [s0, s1), span by span. */
INLINE void fr_group(const uint8_t *w, size_t ws, const int8_t *const *x, size_t s0, size_t s1,
                     const int R, const int T, __m512i *S)
{
    fr_span(w, ws, x, s0, s1 - s0 <= FR_SPAN ? s1 : s0 + FR_SPAN, R, T, S);
    for (size_t s = s0 + FR_SPAN; s < s1; s += FR_SPAN) {
        __m512i U[16];
        fr_span(w, ws, x, s, s1 - s <= FR_SPAN ? s1 : s + FR_SPAN, R, T, U);
        UNROLL
        for (int i = 0; i < 4 * R * T; i++)
            S[i] = _mm512_add_epi32(S[i], U[i]);
    }
}

/* Row sums of one scale group's steps [s0, s1) in either layout (FR:
 * fr_group, 4 vectors per row group and token; else mad_group, one). */
INLINE void layout_group(const uint8_t *w, size_t ws, const int8_t *const *x, size_t s0,
                         size_t s1, const int R, const int T, const int FR, const int B4,
                         __m512i *S)
{
    if (FR)
        fr_group(w, ws, x, s0, s1, R, T, S);
    else
        mad_group(w, ws, x, s0, s1, R, T, B4, S);
}

/* One tile, int32 group sums out, either layout: FR (Layout A', vector
 * i = 4·(r·T + t) + f is rows 16f.. of row group r for token t; ternary
 * codes, TERN: w + 1, less the group's activation sum) or Layout A (vector
 * r·T + t, 16 rows; R·T <= 4, mad_rows). */
INLINE void sums_tile(const lutgemm_kernel_args *a, size_t g, size_t t0, const int R,
                      const int T, const int FR, const int B4, const int TERN)
{
    const int F = FR ? 4 : 1;
    const size_t MR = FR ? FR_MR : MAD_MR;
    const size_t kc = FR ? 4 : B4 ? 8 : 16;
    const size_t spg = a->bp / kc;
    const size_t nb = a->nb;
    const size_t ws = a->w_stride;
    const uint8_t *w = a->w + g * ws;
    const int8_t *x[4];
    int32_t *base[16];
    UNROLL
    for (int t = 0; t < T; t++)
        x[t] = a->qpad + (t0 + t) * a->qpad_stride;
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++)
            UNROLL
            for (int f = 0; f < F; f++)
                base[F * (r * T + t) + f] = (int32_t *)a->out + (t0 + t) * a->out_stride +
                                            ((g + r) * MR + 16 * f) * nb;
    for (size_t b0 = 0; b0 < nb; b0 += MAD_GB) {
        const int G = nb - b0 < MAD_GB ? (int)(nb - b0) : MAD_GB;
        __m512i stage[16][MAD_GB];
        for (int bb = 0; bb < G; bb++) {
            const size_t b = b0 + bb;
            __m512i S[16];
            layout_group(w, ws, x, b * spg, (b + 1) * spg, R, T, FR, B4, S);
            if (TERN) {
                UNROLL
                for (int r = 0; r < R; r++)
                    UNROLL
                    for (int t = 0; t < T; t++) {
                        const __m512i qs =
                            _mm512_set1_epi32(a->qsum[(t0 + t) * a->qsum_stride + b]);
                        UNROLL
                        for (int f = 0; f < F; f++)
                            S[F * (r * T + t) + f] = _mm512_sub_epi32(S[F * (r * T + t) + f], qs);
                    }
            }
            sums_put(S, F * R * T, base, nb, bb, stage);
        }
        sums_flush(stage, F * R * T, base, nb, b0, G);
    }
}

/* One tile with fused group scaling, either layout: FR (Layout A', 64 rows
 * a row group as 4 vectors of 16, fr_group) or Layout A (16 rows, one
 * vector, mad_group). Vector i = F·(r·T + t) + f holds rows 16f.. of row
 * group r for token t (F = 4 or 1); the scales of a row group and group
 * are its rows' in order, so rows 16f.. start at 16·f elements, and their
 * offsets MR elements later ("Fused group scaling" above has the order
 * and the measurements). */
INLINE void fused_tile(const lutgemm_kernel_args *a, size_t g, size_t t0, const int R,
                       const int T, const int FR, const int B4, const int H, const int OFF,
                       const int ZP)
{
    const int F = FR ? 4 : 1;
    const size_t MR = FR ? FR_MR : MAD_MR;
    const size_t kc = FR ? 4 : B4 ? 8 : 16;
    const size_t spg = a->bp / kc;
    const size_t nb = a->nb;
    const size_t ws = a->w_stride;
    const size_t gss = a->gscale_stride;
    const size_t esz = H ? 2 : 4;
    const size_t pg = MR * esz * (OFF ? 2 : 1);
    const uint8_t *w = a->w + g * ws;
    const uint8_t *gs = (const uint8_t *)a->gscale + g * gss;
    const int8_t *x[4];
    const int32_t *qs[4];
    __m512 acc[8];
    UNROLL
    for (int t = 0; t < T; t++) {
        x[t] = a->qpad + (t0 + t) * a->qpad_stride;
        qs[t] = a->qsum + (t0 + t) * a->qsum_stride;
    }
    UNROLL
    for (int i = 0; i < F * R * T; i++)
        acc[i] = _mm512_setzero_ps();
    for (size_t b0 = 0; b0 < nb; b0 += 16) {
        const size_t G = nb - b0 < 16 ? nb - b0 : 16;
        float qf[4][16] __attribute__((aligned(64)));
        int32_t zq[4][16] __attribute__((aligned(64)));
        fused_block_qsums(qs, T, b0, G, OFF, ZP, B4 ? 3 : 1, qf, zq);
        for (size_t bb = 0; bb < G; bb++) {
            const size_t b = b0 + bb;
            __m512i S[8];
            layout_group(w, ws, x, b * spg, (b + 1) * spg, R, T, FR, B4, S);
            UNROLL
            for (int r = 0; r < R; r++) {
                const uint8_t *p = gs + r * gss + b * pg;
                UNROLL
                for (int f = 0; f < F; f++) {
                    const __m512 sc = mad_scales16(p + 16 * f * esz, H);
                    UNROLL
                    for (int t = 0; t < T; t++) {
                        const int i = F * (r * T + t) + f;
                        /* isum - z·qsum, z = 2^(bits-1) (ZP). */
                        const __m512i v =
                            ZP ? _mm512_sub_epi32(S[i], _mm512_set1_epi32(zq[t][bb])) : S[i];
                        acc[i] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(v), acc[i]);
                    }
                    if (OFF) {
                        const __m512 of = mad_scales16(p + (MR + 16 * f) * esz, H);
                        UNROLL
                        for (int t = 0; t < T; t++) {
                            const int i = F * (r * T + t) + f;
                            acc[i] = _mm512_fmadd_ps(of, _mm512_set1_ps(qf[t][bb]), acc[i]);
                        }
                    }
                }
            }
        }
    }
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
        for (int t = 0; t < T; t++)
            UNROLL
            for (int f = 0; f < F; f++)
                _mm512_storeu_ps((float *)a->out + (t0 + t) * a->out_stride + (g + r) * MR +
                                     16 * f,
                                 acc[F * (r * T + t) + f]);
}

/* One tile of either layout (FR: Layout A', else A) in mode F, a constant
 * at every call: int32 sums (0; FR_TERNARY: ternary codes), or the fused
 * group scaling of the lutgemm_kernels.h flags in F. */
INLINE void tile_any(const lutgemm_kernel_args *a, size_t g, size_t t0, const int R,
                     const int T, const int FR, const int B4, const int F)
{
    if (F == 0 || F == FR_TERNARY)
        sums_tile(a, g, t0, R, T, FR, B4, F == FR_TERNARY);
    else
        fused_tile(a, g, t0, R, T, FR, B4, (F & LUTGEMM_FUSE_F16) != 0,
                   (F & LUTGEMM_FUSE_OFFSETS) != 0, (F & LUTGEMM_FUSE_ZERO_POINT) != 0);
}

/* One token: 2 row groups per pass, then one; token pairs: one row group
 * per pass; int32 sums out (no float accumulators), 4 tokens per pass
 * first (16 int32 accumulators). */
INLINE void fr_tokens(const lutgemm_kernel_args *a, const int F)
{
    size_t t = 0;
    if (F == 0 || F == FR_TERNARY)
        for (; t + 4 <= a->n; t += 4)
            for (size_t g = 0; g < a->row_groups; g++)
                tile_any(a, g, t, 1, 4, 1, 0, F);
    for (; t + 2 <= a->n; t += 2)
        for (size_t g = 0; g < a->row_groups; g++)
            tile_any(a, g, t, 1, 2, 1, 0, F);
    if (t < a->n) {
        size_t g = 0;
        for (; g + 2 <= a->row_groups; g += 2)
            tile_any(a, g, t, 2, 1, 1, 0, F);
        for (; g < a->row_groups; g++)
            tile_any(a, g, t, 1, 1, 1, 0, F);
    }
}

#define FR_ENTRY(F)                                                            \
    static __attribute__((noinline)) void fr_all_##F(const lutgemm_kernel_args *a) \
    {                                                                          \
        fr_tokens(a, F);                                                       \
    }
FR_ENTRY(0)
FR_ENTRY(16)
FR_ENTRY(1)
FR_ENTRY(3)
FR_ENTRY(5)
FR_ENTRY(7)
FR_ENTRY(9)
FR_ENTRY(11)

LUTGEMM_KERNEL(lutgemm_avx512_int_mad_fr)
{
    LUTGEMM_REQUIRE(a->bits == 2 && a->mr == FR_MR && a->kc == 4 && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bp % a->kc == 0);
    LUTGEMM_REQUIRE(LUTGEMM_FUSE_VALID(a->fuse));
    switch (a->fuse) {
    case 0: fr_all_0(a); break;
    case 1: fr_all_1(a); break;
    case 3: fr_all_3(a); break;
    case 5: fr_all_5(a); break;
    case 7: fr_all_7(a); break;
    case 9: fr_all_9(a); break;
    default: fr_all_11(a); break;
    }
}

/* Ternary weights on the same layout (codes w + 1, bits 2): the int32
 * group sums less each group's activation sum; scales stay in Rust. */
LUTGEMM_KERNEL(lutgemm_avx512_ternary_mad_fr)
{
    LUTGEMM_REQUIRE(a->bits == 2 && a->mr == FR_MR && a->kc == 4 && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bp % a->kc == 0 && a->fuse == 0);
    fr_all_16(a);
}

/* ------------------------------------------------------------------------ */
/* Layout B: IntBitLutG4, mr = 64, kc = 8, bits 1..4, vpermw                */
/* ------------------------------------------------------------------------ */

/* Per step the 64 table bytes (group 2s: 16 low bytes, 16 high bytes; then
 * group 2s+1) are turned by one vpermb each into W0, W1: the 16 int16
 * entries of group 2s (2s+1) twice, words e and 16 + e = T[e]. A weight
 * vector x (64 rows, byte r = lo | hi << 4) read as 32 words: word j holds
 * row 2j in bits 0..7, row 2j+1 in bits 8..15. vpermw uses bits 0..4 of
 * each index word; bit 4 selects between two equal copies, so no masking:
 *   vpermw(x,       W0) = T_{2s}  [lo nibble of row 2j]
 *   vpermw(x >> 8,  W0) = T_{2s}  [lo nibble of row 2j+1]
 *   vpermw(x >> 4,  W1) = T_{2s+1}[hi nibble of row 2j]
 *   vpermw(x >> 12, W1) = T_{2s+1}[hi nibble of row 2j+1]
 * 4 lookups + 3 shifts per 64 rows and 8 weights of a plane, against 4
 * vpshufb + 4 vpunpck{l,h}bw + 1 shift + 2 masks for vpshufb on the byte
 * tables (all of these issue at ~1 zmm per cycle on this Zen 4). Even rows
 * accumulate in E, odd rows in O.
 *
 * int16 flush cadence: per plane accumulator and step, |gain| <=
 * |T_{2s}[.]| + |T_{2s+1}[.]| <= 2·4·127 = 1016, so BL_SPAN = 32 steps reach
 * at most 32·1016 = 32512 <= 32767 (hit exactly by qx = ±127 of one sign,
 * q = 2^bits − 1; the harness runs it at k = 14336). Planes are never
 * combined in int16 (4 bits would allow 2 steps); they are combined when
 * widening: vpmaddwd on (P0, P1) word pairs with (1, 2) and (P2, P3) with
 * (4, 8): |2^p·P_p + 2^q·P_q| <= 12·32512 < 2^31 per span. int32 totals:
 * |Σ_p 2^p P_p| <= 15·127·bp <= 2.5e8 for bp <= 131072.
 *
 * Cost: a (step, plane, 64 rows) unit is 11 zmm ALU ops (4 vpermw, 3
 * shifts, 4 adds); at 2 per cycle that is 5.5 cycles, measured ~6.2 (GCC
 * still spills a few accumulators). Tried and measured:
 *   - vpshufb on the byte tables + unpack: 6.1 vs 4.3 TSC ticks per unit
 *     in an L1 loop;
 *   - vpmulhuw / vpmaddubsw in place of the shifts: no gain (every zmm op
 *     takes the same two 256-bit pipe slots);
 *   - W0, W1 built once per run into a stack buffer instead of 2 vpermb
 *     per step and pass: 4% faster (fewer live registers);
 *   - BL_RUN 32 / 64 / 128 / 256 steps: 4 bits nb 128 385 / 320 / 322 /
 *     327 us, 2 bits nb 64 231 / 180 / 153 / 151 us (runs of whole blocks
 *     of 16 groups need >= 128 steps at bp = 64);
 *   - 2 tokens per pass (shifts and weight loads shared): n = 8, 4 bits
 *     1860 -> 1600 us, 2 bits 950 -> 815 us;
 *   - 4, 6 or 8 (row group, plane) pairs per pass: within noise. */

#define BL_MR 64
#define BL_SPAN 32
/* Steps of tables (64 B each) kept in L1 while every row group of the
 * call streams past them; see avx512.c's LUT_KERNEL note. */
#ifndef BL_RUN
#define BL_RUN 128
#endif
#ifndef BL_TMAX
#define BL_TMAX 2
#endif

/* Byte i of W0 (before +32 for W1): entry e = (i/2) mod 16, low byte
 * (i even) at e, high byte at 16 + e. */
static const uint8_t BL_WIDX[64] __attribute__((aligned(64))) = {
    0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
    8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31,
    0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
    8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31,
};

/* Row sums leave the int16 accumulators as 4 chunks of 16 dwords
 * (k = 0..3: even rows from words 0..3 / 4..7 of each 128-bit lane, then
 * odd rows the same): lane 4l + i of chunk k holds row bl_row(k, 4l + i).
 * The stage keeps them in this order; bl_order or the transposing store
 * (store_cols16) put them in place, which saves a reordering per flush. */

/* Chunks 0..3 -> v[i] = rows 16i..16i+15. */
INLINE void bl_order(const __m512i *c, __m512i *v)
{
    /* Lane l of r0..r3: rows 16l+0..3, 4..7, 8..11, 12..15. */
    const __m512i r0 = _mm512_unpacklo_epi32(c[0], c[2]);
    const __m512i r1 = _mm512_unpackhi_epi32(c[0], c[2]);
    const __m512i r2 = _mm512_unpacklo_epi32(c[1], c[3]);
    const __m512i r3 = _mm512_unpackhi_epi32(c[1], c[3]);
    const __m512i t0 = _mm512_shuffle_i32x4(r0, r1, _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i t1 = _mm512_shuffle_i32x4(r2, r3, _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i t2 = _mm512_shuffle_i32x4(r0, r1, _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i t3 = _mm512_shuffle_i32x4(r2, r3, _MM_SHUFFLE(3, 2, 3, 2));
    v[0] = _mm512_shuffle_i32x4(t0, t1, _MM_SHUFFLE(2, 0, 2, 0));
    v[1] = _mm512_shuffle_i32x4(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
    v[2] = _mm512_shuffle_i32x4(t2, t3, _MM_SHUFFLE(2, 0, 2, 0));
    v[3] = _mm512_shuffle_i32x4(t2, t3, _MM_SHUFFLE(3, 1, 3, 1));
}

INLINE void bl_put(int32_t *col, const __m512i *v, int add)
{
    UNROLL
    for (int k = 0; k < 4; k++) {
        __m512i x = v[k];
        if (add)
            x = _mm512_add_epi32(x, _mm512_load_si512((const void *)(col + 16 * k)));
        _mm512_store_si512((void *)(col + 16 * k), x);
    }
}

/* Widens one real row group's span accumulators (E[p], O[p], p < BITS)
 * into its stage columns col (64 int32 each, chunk order): one column
 * Σ 2^p P_p (combined) or BITS columns P_p. */
INLINE void bl_flush(const __m512i *E, const __m512i *O, const int BITS, int combined,
                     int32_t *col, int add)
{
    const __m512i z = _mm512_setzero_si512();
    __m512i v[4];
    if (combined) {
        v[0] = v[1] = v[2] = v[3] = z;
        UNROLL
        for (int p = 0; p < BITS; p += 2) {
            /* Word pairs (P_p, P_{p+1}) times (2^p, 2^{p+1}). */
            const __m512i c = _mm512_set1_epi32((int)((2u << (p + 16)) | (1u << p)));
            const __m512i e1 = p + 1 < BITS ? E[p + 1] : z;
            const __m512i o1 = p + 1 < BITS ? O[p + 1] : z;
            v[0] = _mm512_add_epi32(v[0], _mm512_madd_epi16(_mm512_unpacklo_epi16(E[p], e1), c));
            v[1] = _mm512_add_epi32(v[1], _mm512_madd_epi16(_mm512_unpackhi_epi16(E[p], e1), c));
            v[2] = _mm512_add_epi32(v[2], _mm512_madd_epi16(_mm512_unpacklo_epi16(O[p], o1), c));
            v[3] = _mm512_add_epi32(v[3], _mm512_madd_epi16(_mm512_unpackhi_epi16(O[p], o1), c));
        }
        bl_put(col, v, add);
    } else {
        UNROLL
        for (int p = 0; p < BITS; p++) {
            /* x << 16 then arithmetic >> 16: sign extension in dword lanes. */
            v[0] = _mm512_srai_epi32(_mm512_unpacklo_epi16(z, E[p]), 16);
            v[1] = _mm512_srai_epi32(_mm512_unpackhi_epi16(z, E[p]), 16);
            v[2] = _mm512_srai_epi32(_mm512_unpacklo_epi16(z, O[p]), 16);
            v[3] = _mm512_srai_epi32(_mm512_unpackhi_epi16(z, O[p]), 16);
            bl_put(col + BL_MR * p, v, add);
        }
    }
}

/* T tokens × R row groups (w, ws apart) over steps [s0, s1): int16 spans
 * of <= BL_SPAN steps that never cross a scale group, each flushed into
 * stage column (b − bfirst)·po (+ p) of its row group (stage + (t·R + r)·
 * cmax·64). A span continuing a group inside this run adds to its column;
 * the first span of the run or of a group stores. wt: the run's tables as
 * W0, W1 per step (128 B), token t's at wt + t·BL_RUN·128. */
INLINE void bl_pass(const uint8_t *w, size_t ws, const uint8_t *wt, const int T, const int R,
                    const int BITS, size_t s0, size_t s1, size_t spg, size_t bfirst,
                    int combined, int32_t *stage, int cmax)
{
    const size_t po = combined ? 1 : (size_t)BITS;
    size_t s = s0;
    while (s < s1) {
        const size_t b = s / spg;
        size_t se = s + BL_SPAN;
        if (se > (b + 1) * spg)
            se = (b + 1) * spg;
        if (se > s1)
            se = s1;
        const int add = s != s0 && s != b * spg;
        __m512i E[8], O[8];
        UNROLL
        for (int i = 0; i < T * R * BITS; i++)
            E[i] = O[i] = _mm512_setzero_si512();
        for (; s < se; s++) {
            __m512i W0[2], W1[2];
            UNROLL
            for (int t = 0; t < T; t++) {
                const uint8_t *wts = wt + (size_t)t * BL_RUN * 128 + 128 * (s - s0);
                W0[t] = _mm512_load_si512((const void *)wts);
                W1[t] = _mm512_load_si512((const void *)(wts + 64));
                REG(W0[t]);
                REG(W1[t]);
            }
            UNROLL
            for (int r = 0; r < R; r++)
                UNROLL
                for (int p = 0; p < BITS; p++) {
                    __m512i x = _mm512_loadu_si512(
                        (const void *)(w + r * ws + 64 * (s * (size_t)BITS + (size_t)p)));
                    REG(x);
                    const __m512i x4 = _mm512_srli_epi16(x, 4);
                    const __m512i x8 = _mm512_srli_epi16(x, 8);
                    const __m512i x12 = _mm512_srli_epi16(x, 12);
                    UNROLL
                    for (int t = 0; t < T; t++) {
                        const int i = (t * R + r) * BITS + p;
                        const __m512i a0 = _mm512_permutexvar_epi16(x, W0[t]);
                        const __m512i a1 = _mm512_permutexvar_epi16(x4, W1[t]);
                        const __m512i b0 = _mm512_permutexvar_epi16(x8, W0[t]);
                        const __m512i b1 = _mm512_permutexvar_epi16(x12, W1[t]);
                        E[i] = _mm512_add_epi16(E[i], _mm512_add_epi16(a0, a1));
                        O[i] = _mm512_add_epi16(O[i], _mm512_add_epi16(b0, b1));
                    }
                }
        }
        UNROLL
        for (int i = 0; i < T * R; i++)
            bl_flush(E + i * BITS, O + i * BITS, BITS, combined,
                     stage + ((size_t)i * cmax + (b - bfirst) * po) * BL_MR, add);
    }
}

/* Stage columns (C of them, 64 rows each, chunk order) of one row group
 * -> out rows o + i·rs, i < 64, C consecutive values each; stored, or
 * added (add: a scale group split over several runs). */
INLINE void bl_write(const int32_t *col, int C, int32_t *o, size_t rs, int add)
{
    if (rs == 1) {
        __m512i c[4], v[4];
        UNROLL
        for (int k = 0; k < 4; k++)
            c[k] = _mm512_load_si512((const void *)(col + 16 * k));
        bl_order(c, v);
        UNROLL
        for (int i = 0; i < 4; i++) {
            if (add)
                v[i] = _mm512_add_epi32(v[i], _mm512_loadu_si512((const void *)(o + 16 * i)));
            _mm512_storeu_si512((void *)(o + 16 * i), v[i]);
        }
        return;
    }
    for (int k = 0; k < 4; k++) {
        __m512i v[16];
        for (int c = 0; c < C; c++)
            v[c] = _mm512_load_si512((const void *)(col + BL_MR * c + 16 * k));
        store_cols16(v, C, o, rs, add, k);
    }
}

/* Row groups g..g+R-1 for tokens t0..t0+T-1 over one run: lookups, then
 * the stage columns (C per token and row group) to the outputs. */
INLINE void bl_rows(const lutgemm_kernel_args *a, size_t t0, size_t g, const int T, const int R,
                    const int BITS, size_t s0, size_t s1, size_t b0, int C, int add,
                    int32_t *stage, int cmax, const uint8_t *wt)
{
    const int combined = a->plane_out == 1;
    const size_t po = combined ? 1 : (size_t)BITS;
    const size_t rs = a->nb * po;
    bl_pass(a->w + g * a->w_stride, a->w_stride, wt, T, R, BITS, s0, s1, a->bp / 8, b0,
            combined, stage, cmax);
    for (int t = 0; t < T; t++)
        for (int r = 0; r < R; r++)
            bl_write(stage + (size_t)(t * R + r) * cmax * BL_MR, C,
                     (int32_t *)a->out + (t0 + t) * a->out_stride + (g + r) * BL_MR * rs + b0 * po,
                     rs, add);
}

/* Row groups per pass: T·R·BITS <= 8 (token, row group, plane) triples =
 * 16 int16 accumulators, plus W0, W1 per token and temporaries, in 32 zmm
 * registers. */
#define BL_RB(T, BITS) ((BITS) == 1 ? 8 / (T) : (BITS) == 2 ? 4 / (T) : 2 / (T))

/* Tokens t0..t0+T-1, all row groups. */
INLINE void bl_tokens(const lutgemm_kernel_args *a, size_t t0, const int T, const int BITS,
                      int32_t *stage, uint8_t *wt)
{
    const int RB = BL_RB(T, BITS);
    /* Stage columns per (token, row group): <= 16 (one transpose), and the
     * stage (T · RB · cmax · 256 B) <= 16 KB so it shares L1 with the run's
     * tables. */
    const int cmax = T * RB == 8 ? 8 : 16;
    const size_t po = a->plane_out == 1 ? 1 : (size_t)BITS;
    const size_t nb = a->nb, spg = a->bp / 8;
    /* Scale groups per run: all of a run's groups fit the stage columns and
     * BL_RUN steps; a group longer than BL_RUN is split over runs (GB = 1). */
    size_t GB = 1;
    if (spg <= BL_RUN) {
        GB = (size_t)cmax / po;
        if (GB > BL_RUN / spg)
            GB = BL_RUN / spg;
        if (GB > nb)
            GB = nb;
    }
    const __m512i wi0 = _mm512_load_si512((const void *)BL_WIDX);
    const __m512i wi1 = _mm512_add_epi8(wi0, _mm512_set1_epi8(32));
    for (size_t b0 = 0; b0 < nb; b0 += GB) {
        const size_t G = nb - b0 < GB ? nb - b0 : GB;
        const int C = (int)(G * po);
        for (size_t s0 = b0 * spg; s0 < (b0 + G) * spg; s0 += BL_RUN) {
            const size_t s1 = s0 + BL_RUN < (b0 + G) * spg ? s0 + BL_RUN : (b0 + G) * spg;
            const int add = s0 != b0 * spg;
            /* The run's tables as W0, W1 once for all row groups: 4% faster
             * than two vpermb per step and pass (fewer live registers). */
            for (int t = 0; t < T; t++) {
                const uint8_t *tab = a->tables + (t0 + t) * a->tables_stride;
                uint8_t *wtt = wt + (size_t)t * BL_RUN * 128;
                for (size_t s = s0; s < s1; s++) {
                    const __m512i tv = _mm512_loadu_si512((const void *)(tab + 64 * s));
                    _mm512_store_si512((void *)(wtt + 128 * (s - s0)),
                                       _mm512_permutexvar_epi8(wi0, tv));
                    _mm512_store_si512((void *)(wtt + 128 * (s - s0) + 64),
                                       _mm512_permutexvar_epi8(wi1, tv));
                }
            }
            size_t g = 0;
            for (; g + (size_t)RB <= a->row_groups; g += (size_t)RB)
                bl_rows(a, t0, g, T, RB, BITS, s0, s1, b0, C, add, stage, cmax, wt);
            for (; g < a->row_groups; g++)
                bl_rows(a, t0, g, T, 1, BITS, s0, s1, b0, C, add, stage, cmax, wt);
        }
    }
}

INLINE void bl_kernel(const lutgemm_kernel_args *a, const int BITS)
{
    int32_t stage[8 * 8 * BL_MR] __attribute__((aligned(64)));
    uint8_t wt[BL_TMAX * BL_RUN * 128] __attribute__((aligned(64)));
    size_t t = 0;
    if (BL_TMAX == 2)
        for (; t + 2 <= a->n; t += 2)
            bl_tokens(a, t, 2, BITS, stage, wt);
    for (; t < a->n; t++)
        bl_tokens(a, t, 1, BITS, stage, wt);
}

LUTGEMM_KERNEL(lutgemm_avx512_int_bitlut_g4)
{
    LUTGEMM_REQUIRE(a->mr == BL_MR && a->kc == 8 && a->bits >= 1 && a->bits <= 4);
    LUTGEMM_REQUIRE(a->plane_out == 1 || a->plane_out == a->bits);
    LUTGEMM_REQUIRE(a->bp % 8 == 0 && a->bp > 0);
    switch (a->bits) {
    case 1:
        bl_kernel(a, 1);
        break;
    case 2:
        bl_kernel(a, 2);
        break;
    case 3:
        bl_kernel(a, 3);
        break;
    default:
        bl_kernel(a, 4);
        break;
    }
}

/* Exact tables: for group j, dword e of vpdpbusd(0, coef, bcast(q[4j..4j+3]))
 * is Σ_c bit_c(e)·q[4j+c] = T[e] (|T| <= 508), and one vpermt2b gathers byte
 * 0 (low) and byte 1 (high) of the 16 entries of groups 2s and 2s+1 into
 * the step's 64 bytes: lo(2s), hi(2s), lo(2s+1), hi(2s+1). */
LUTGEMM_TABLE_BUILDER(lutgemm_avx512_int_bitlut_g4_tables)
{
    uint8_t coef[64] __attribute__((aligned(64)));
    uint8_t gat[64] __attribute__((aligned(64)));
    for (int i = 0; i < 64; i++) {
        coef[i] = (uint8_t)(((i / 4) >> (i % 4)) & 1);
        gat[i] = (uint8_t)(64 * (i / 32) + 4 * (i % 16) + (i / 16) % 2);
    }
    const __m512i cf = _mm512_load_si512((const void *)coef);
    const __m512i ga = _mm512_load_si512((const void *)gat);
    const __m512i z = _mm512_setzero_si512();
    for (size_t s = 0; s < a->kp / 8; s++) {
        const __m512i d0 = _mm512_dpbusd_epi32(z, cf, bcast32(a->qpad + 8 * s));
        const __m512i d1 = _mm512_dpbusd_epi32(z, cf, bcast32(a->qpad + 8 * s + 4));
        _mm512_storeu_si512((void *)(a->tables + 64 * s), _mm512_permutex2var_epi8(d0, ga, d1));
    }
}

/* ------------------------------------------------------------------------ */
/* Layout B under the Fast and Float contracts (mr 64, kc 8, bits 1..4)     */
/* ------------------------------------------------------------------------ */

/* Both kernels follow the portable kernel (src/kernels/portable/mod.rs,
 * table_kernel + bitlut_g4; spec FAST_FLOAT.md) span by span: per token,
 * row and scale group, the spans of a->span activations in order, each
 * summed from zero and folded into the output as
 *   out = first span of the group ? v : out + v      (f32, no fma)
 * with v = (float)S · tscale[span] (Fast, S the exact integer span sum) or
 * v = the f32 span sum (Float). Both are bit-identical to the portable
 * kernel (Float: for table entries below 2^124 in magnitude, see below),
 * so every output's f32 operations and their order are fixed, whatever
 * n, row_groups and the tiling below.
 *
 * Fast (int8 tables, 16 bytes per group of 4 activations): int8 lookups
 * by vpermb, 4 per 32-bit lane = one row, summed with their weights 2^p
 * into the row's int32 accumulator by one vpdpbusd (u8 coefficients,
 * s8 entries). Two ways to fill a row's 4 bytes:
 *   P4 (plane_out 1, 4 bits): the 4 planes of one step. 8 unpacks turn
 *     the step's plane vectors x0..x3 (byte r = row r) into D[k], lane
 *     4l + i = bytes x0..x3 of row 16l + 4k + i; vpermb reads only bits
 *     0..5 of an index byte, so D[k] itself indexes the lo nibbles and
 *     D[k] >> 4 (dword shift) the hi nibbles, in tables holding the 16
 *     entries 4 times (vbroadcasti32x4): coefficients (1, 2, 4, 8).
 *     Per step and 64 rows: 12 shared ops, 16 per token.
 *   S2 (1-3 bits or plane_out = bits): two steps u, u+1 of one plane.
 *     vpunpck{l,h}bw interleave their plane vectors, vpmultishiftqb
 *     picks per row lo(u), hi(u), lo(u+1), hi(u+1) into the low nibbles
 *     of the 4 bytes, vpternlogd sets bits 4..5 to the byte's table
 *     (groups 2u..2u+3 = the 64 table bytes at tables + 32u, straight
 *     from memory): coefficients 2^p (or 1 per plane output). Per 2 steps,
 *     plane and 64 rows: 10 shared ops, 8 per token. A span of an odd
 *     number of steps pairs its last step with zero tables (a 32-byte
 *     load; its upper half reads as zero entries).
 * Measured in an L1 loop, TSC ticks per (step, plane, 64 rows) and token
 * for 1 / 2 / 4 tokens: P4 2.8 / 2.3 / 2.2, S2 3.8 / 3.0 / 2.7, and the
 * Exact kernel's int16 vpermw loop 4.3 / 3.7. 3 bits as P4 with a zero
 * plane: 177 us against 160 for S2 (n = 1, m = k = 4096, nb = 1). int32
 * needs no flush cadence: |S| <= 15 · 254 · span / 8 (30480 for span 64).
 *
 * Float (f32 tables, 64 bytes per group): vpermps looks up 16 rows per
 * instruction from a whole 16-entry table in one zmm; the weight vector
 * read as dwords holds rows 4i..4i+3 in lane i, so x >> (8c + 4h) has the
 * nibble h (lo, hi) of row 4i + c in bits 0..3 (vpermps reads only
 * those): 7 shifts (shared by the tokens), 8 vpermps and 8 vfmadd per
 * (step, plane, 64 rows). acc = fma(T, 2^p, acc) is exactly the portable
 * acc + T·2^p when T·2^p does not overflow, in the portable order step ->
 * plane -> (lo, hi). fma measured faster than vaddps (9.4 vs 13 ticks per
 * unit in an L1 loop: vaddps competes with vpermps for pipes on Zen 4).
 * Lane i of accumulator c holds row 4i + c.
 *
 * Spans are folded into f32 stage columns (64 floats per token, row group
 * and output column, accumulator order); like the Exact kernel, runs of
 * scale groups keep their tables in L1 while every row group streams
 * past them, and the stage goes to the strided outputs by one reorder
 * (nb = plane_out = 1) or 16 × 16 transposes. A scale group longer than a
 * run continues in the next run from the outputs, read back into the
 * stage (same f32 operations in the same order).
 *
 * Measurements (same machine as above, shared with other jobs; min of 30
 * calls interleaved with the Exact kernel on the same weights, one call
 * over all rows, m = k = 4096, plane_out 1, us):
 *                          exact    fast    float
 *   n = 1, 4 bits g 32       321     242      524   (nb 128, bp = span = 32)
 *   n = 1, 2 bits g 64       158     126      256   (nb 64, bp = span = 64)
 *   n = 1, 4 bits nb 1       229     171      468   (span 64)
 *   n = 1, 2 bits nb 1       117     105      240
 *   n = 8, 4 bits g 32      5800    3700     5750   (16 MB of f32 outputs)
 *   n = 8, 2 bits g 64      1780    1250     2330
 *   n = 8, 4 bits nb 1      1710    1150     3350
 *   n = 8, 2 bits nb 1       838     594     1715
 * plane_out = bits runs one token per pass at 3-4 bits (16 accumulators)
 * and folds every plane: 4 bits, nb 1: Fast 225 / 1920 us at n = 1 / 8
 * (Exact 256 / 2040, Float 487 / 4080).
 * Table builders (below), per token at k = 4096: Fast 3.1 us, Float
 * 1.0 us; the portable Rust builders (compiled by rustc -O): 14 and 2.5. */

#define FF_MR 64
/* Output columns (scale groups × planes) per stage (one transpose). */
#define FF_CMAX 16
/* Steps per run: the tables of a run (Fast 32 B per step and token, Float
 * 128 B) are read by every row group of the call. A scale group longer
 * than a run is continued from the outputs (ff_read), which cost 4% at
 * nb = 1, k = 4096 with 128-step runs (n = 1, 4 bits: 178 / 174 / 171 us
 * for 128 / 256 / 512; whole-row runs no better than 512). */
#ifndef FA_RUN
#define FA_RUN 512
#endif
#ifndef FL_RUN
#define FL_RUN 256
#endif

/* Accumulator layouts. */
enum { FF_S2, FF_P4, FF_FL };

INLINE int ff_map(const int FL, const int BITS, const int PO)
{
    return FL ? FF_FL : PO == 1 && BITS == 4 ? FF_P4 : FF_S2;
}

/* The row held by lane j of accumulator k. */
INLINE size_t ff_row(const int MAP, int k, int j)
{
    if (MAP == FF_FL)
        return (size_t)(4 * j + k);
    if (MAP == FF_P4)
        return (size_t)(16 * (j / 4) + 4 * k + j % 4);
    return (size_t)(16 * (j / 4) + 8 * (k >> 1) + 2 * (k & 1) + 4 * ((j % 4) >> 1) + (j & 1));
}

/* In place: 128-bit lane m of v[q] <-> lane q of v[m]. */
INLINE void lanes4x4(__m512i *v)
{
    const __m512i t0 = _mm512_shuffle_i32x4(v[0], v[1], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i t1 = _mm512_shuffle_i32x4(v[2], v[3], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i t2 = _mm512_shuffle_i32x4(v[0], v[1], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i t3 = _mm512_shuffle_i32x4(v[2], v[3], _MM_SHUFFLE(3, 2, 3, 2));
    v[0] = _mm512_shuffle_i32x4(t0, t1, _MM_SHUFFLE(2, 0, 2, 0));
    v[1] = _mm512_shuffle_i32x4(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
    v[2] = _mm512_shuffle_i32x4(t2, t3, _MM_SHUFFLE(2, 0, 2, 0));
    v[3] = _mm512_shuffle_i32x4(t2, t3, _MM_SHUFFLE(3, 1, 3, 1));
}

/* Accumulator order -> rows (v[q] = rows 16q..16q+15), or back (inverse).
 * P4: lane l of v[k] holds rows 16l + 4k..4k+3: lanes4x4.
 * S2: lane l of v[0..3] holds rows 16l + {0,1,4,5}, {2,3,6,7},
 *   {8,9,12,13}, {10,11,14,15}: 64-bit unpacks of (v0, v1) and (v2, v3)
 *   (their own inverses) make it P4's order.
 * FL: lane i of v[c] holds row 4i + c: a 4 × 4 dword transpose in each
 *   128-bit lane (an involution) makes it P4's order. */
INLINE void ff_order(const int MAP, __m512i *v, int inverse)
{
    if (inverse)
        lanes4x4(v);
    if (MAP == FF_S2) {
        const __m512i u0 = _mm512_unpacklo_epi64(v[0], v[1]);
        const __m512i u1 = _mm512_unpackhi_epi64(v[0], v[1]);
        const __m512i u2 = _mm512_unpacklo_epi64(v[2], v[3]);
        const __m512i u3 = _mm512_unpackhi_epi64(v[2], v[3]);
        v[0] = u0, v[1] = u1, v[2] = u2, v[3] = u3;
    } else if (MAP == FF_FL) {
        const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]);
        const __m512i t1 = _mm512_unpackhi_epi32(v[0], v[1]);
        const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]);
        const __m512i t3 = _mm512_unpackhi_epi32(v[2], v[3]);
        v[0] = _mm512_unpacklo_epi64(t0, t2);
        v[1] = _mm512_unpackhi_epi64(t0, t2);
        v[2] = _mm512_unpacklo_epi64(t1, t3);
        v[3] = _mm512_unpackhi_epi64(t1, t3);
    }
    if (!inverse)
        lanes4x4(v);
}

/* Stage columns (C of them, 64 floats each in accumulator order) of one
 * token and row group -> out rows o + row·rs, C consecutive values each. */
INLINE void ff_write(const int MAP, const float *st, int C, float *o, size_t rs)
{
    if (rs == 1) {
        /* nb = plane_out = 1: C = 1, 64 consecutive rows. */
        __m512i v[4];
        for (int k = 0; k < 4; k++)
            v[k] = _mm512_load_si512((const void *)(st + 16 * k));
        ff_order(MAP, v, 0);
        for (int q = 0; q < 4; q++)
            _mm512_storeu_si512((void *)(o + 16 * q), v[q]);
        return;
    }
    const __mmask16 m = (__mmask16)((1u << C) - 1);
    for (int k = 0; k < 4; k++) {
        __m512i v[16];
        UNROLL
        for (int c = 0; c < 16; c++)
            v[c] = c < C ? _mm512_load_si512((const void *)(st + 64 * c + 16 * k))
                         : _mm512_setzero_si512();
        transpose16(v);
        UNROLL
        for (int i = 0; i < 16; i++)
            _mm512_mask_storeu_epi32((void *)(o + ff_row(MAP, k, i) * rs), m, v[i]);
    }
}

/* The inverse of ff_write, for a scale group continued from the previous
 * run (C = plane_out columns). */
INLINE void ff_read(const int MAP, float *st, int C, const float *o, size_t rs)
{
    if (rs == 1) {
        __m512i v[4];
        for (int q = 0; q < 4; q++)
            v[q] = _mm512_loadu_si512((const void *)(o + 16 * q));
        ff_order(MAP, v, 1);
        for (int k = 0; k < 4; k++)
            _mm512_store_si512((void *)(st + 16 * k), v[k]);
        return;
    }
    for (int c = 0; c < C; c++)
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 16; j++)
                st[64 * c + 16 * k + j] = o[ff_row(MAP, k, j) * rs + (size_t)c];
}

/* Folds a finished span's values v (4 vectors) into its stage column:
 * store (first span of the scale group) or column + v. */
INLINE void ff_fold(float *col, const __m512 *v, int first)
{
    UNROLL
    for (int k = 0; k < 4; k++) {
        __m512 x = v[k];
        if (!first)
            x = _mm512_add_ps(_mm512_load_ps(col + 16 * k), x);
        _mm512_store_ps(col + 16 * k, x);
    }
}

/* Fast P4: step u of one row group (w) for T tokens into acc[4t + k].
 * The index vectors (8) first, then per token its two tables: 16
 * accumulators + 8 + 2 registers for 4 tokens (tables of all tokens
 * first would not fit 32 registers). */
INLINE void fa_step_p4(const uint8_t *w, const uint8_t *const *tab, size_t u, const int T,
                       const int BITS, __m512i *acc)
{
    const __m512i c4 = _mm512_set1_epi32(0x08040201);
    const uint8_t *wu = w + 64 * (size_t)BITS * u;
    const __m512i x0 = _mm512_loadu_si512((const void *)wu);
    const __m512i x1 = _mm512_loadu_si512((const void *)(wu + 64));
    const __m512i x2 = _mm512_loadu_si512((const void *)(wu + 128));
    const __m512i x3 = _mm512_loadu_si512((const void *)(wu + 192));
    const __m512i l01 = _mm512_unpacklo_epi8(x0, x1);
    const __m512i l23 = _mm512_unpacklo_epi8(x2, x3);
    const __m512i h01 = _mm512_unpackhi_epi8(x0, x1);
    const __m512i h23 = _mm512_unpackhi_epi8(x2, x3);
    __m512i D[4], H[4];
    D[0] = _mm512_unpacklo_epi16(l01, l23);
    D[1] = _mm512_unpackhi_epi16(l01, l23);
    D[2] = _mm512_unpacklo_epi16(h01, h23);
    D[3] = _mm512_unpackhi_epi16(h01, h23);
    UNROLL
    for (int k = 0; k < 4; k++)
        H[k] = _mm512_srli_epi32(D[k], 4);
    UNROLL
    for (int t = 0; t < T; t++) {
        __m512i tl = _mm512_broadcast_i32x4(
            _mm_loadu_si128((const __m128i *)(const void *)(tab[t] + 32 * u)));
        __m512i th = _mm512_broadcast_i32x4(
            _mm_loadu_si128((const __m128i *)(const void *)(tab[t] + 32 * u + 16)));
        REG(tl);
        REG(th);
        UNROLL
        for (int k = 0; k < 4; k++) {
            acc[4 * t + k] =
                _mm512_dpbusd_epi32(acc[4 * t + k], c4, _mm512_permutexvar_epi8(D[k], tl));
            acc[4 * t + k] =
                _mm512_dpbusd_epi32(acc[4 * t + k], c4, _mm512_permutexvar_epi8(H[k], th));
        }
    }
}

/* Fast S2: steps u, u+1 (PAIR; else u with zero tables for u+1) of one
 * row group (w) for T tokens into acc[(t·PO + p)·4 + k] (p = 0 if PO = 1). */
INLINE void fa_step_s2(const uint8_t *w, const uint8_t *const *tab, size_t u, const int T,
                       const int BITS, const int PO, const int PAIR, __m512i *acc)
{
    const __m512i ms0 = _mm512_set1_epi64(0x1c1814100c080400ll);
    const __m512i ms1 = _mm512_set1_epi64(0x3c3834302c282420ll);
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    const __m512i sel = _mm512_set1_epi32(0x30201000);
    __m512i tb[4];
    UNROLL
    for (int t = 0; t < T; t++) {
        tb[t] = PAIR ? _mm512_loadu_si512((const void *)(tab[t] + 32 * u))
                     : _mm512_zextsi256_si512(
                           _mm256_loadu_si256((const __m256i *)(const void *)(tab[t] + 32 * u)));
        REG(tb[t]);
    }
    const uint8_t *wa = w + 64 * (size_t)BITS * u;
    const uint8_t *wb = PAIR ? wa + 64 * BITS : wa;
    UNROLL
    for (int p = 0; p < BITS; p++) {
        const __m512i xa = _mm512_loadu_si512((const void *)(wa + 64 * p));
        const __m512i xb = _mm512_loadu_si512((const void *)(wb + 64 * p));
        const __m512i p0 = _mm512_unpacklo_epi8(xa, xb);
        const __m512i p1 = _mm512_unpackhi_epi8(xa, xb);
        __m512i I[4];
        I[0] = _mm512_multishift_epi64_epi8(ms0, p0);
        I[1] = _mm512_multishift_epi64_epi8(ms1, p0);
        I[2] = _mm512_multishift_epi64_epi8(ms0, p1);
        I[3] = _mm512_multishift_epi64_epi8(ms1, p1);
        UNROLL
        for (int k = 0; k < 4; k++) /* (I & 0x0f) | table */
            I[k] = _mm512_ternarylogic_epi32(I[k], m0f, sel, 0xEA);
        const __m512i coef = _mm512_set1_epi8((char)(PO == 1 ? 1 << p : 1));
        UNROLL
        for (int t = 0; t < T; t++)
            UNROLL
            for (int k = 0; k < 4; k++) {
                const int i = (t * PO + (PO == 1 ? 0 : p)) * 4 + k;
                acc[i] = _mm512_dpbusd_epi32(acc[i], coef, _mm512_permutexvar_epi8(I[k], tb[t]));
            }
    }
}

/* Fast: T tokens × one row group (w) over the spans of steps [s0, s1);
 * spans fold into stage columns (b − bfirst)·PO (+ p), token t's at
 * stage + t·FF_CMAX·64. */
INLINE void fa_pass(const lutgemm_kernel_args *a, const uint8_t *w, size_t t0, const int T,
                    const int BITS, const int PO, size_t s0, size_t s1, size_t bfirst,
                    float *stage)
{
    const int MAP = ff_map(0, BITS, PO);
    const size_t sps = a->span / 8, spg = a->bp / 8;
    const uint8_t *tab[4];
    const float *tsc[4];
    UNROLL
    for (int t = 0; t < T; t++) {
        tab[t] = a->tables + (t0 + t) * a->tables_stride;
        tsc[t] = a->tscale + (t0 + t) * a->tscale_stride;
    }
    /* b: the span's scale group, ge: its end; si: the span's index. */
    size_t b = s0 / spg, ge = (b + 1) * spg, si = s0 / sps;
    for (size_t s = s0; s < s1; s += sps, si++) {
        if (s == ge)
            b++, ge += spg;
        __m512i acc[16];
        UNROLL
        for (int i = 0; i < 4 * T * PO; i++)
            acc[i] = _mm512_setzero_si512();
        const size_t se = s + sps;
        if (MAP == FF_P4) {
            for (size_t u = s; u < se; u++) {
                fa_step_p4(w, tab, u, T, BITS, acc);
                UNROLL
                for (int i = 0; i < 4 * T; i++)
                    REG(acc[i]);
            }
        } else {
            size_t u = s;
            for (; u + 2 <= se; u += 2) {
                fa_step_s2(w, tab, u, T, BITS, PO, 1, acc);
                UNROLL
                for (int i = 0; i < 4 * T * PO; i++)
                    REG(acc[i]);
            }
            if (u < se)
                fa_step_s2(w, tab, u, T, BITS, PO, 0, acc);
        }
        const int first = s == ge - spg;
        const size_t col = (b - bfirst) * (size_t)PO;
        UNROLL
        for (int t = 0; t < T; t++) {
            const __m512 sc = _mm512_set1_ps(tsc[t][si]);
            UNROLL
            for (int pp = 0; pp < PO; pp++) {
                __m512 v[4];
                UNROLL
                for (int k = 0; k < 4; k++)
                    v[k] = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[(t * PO + pp) * 4 + k]), sc);
                ff_fold(stage + ((size_t)t * FF_CMAX + col + (size_t)pp) * FF_MR, v, first);
            }
        }
    }
}

/* Float: T tokens × R row groups (w, ws apart) over the spans of [s0, s1);
 * (token t, row group r)'s stage at stage + (t·R + r)·FF_CMAX·64. */
INLINE void fl_pass(const lutgemm_kernel_args *a, const uint8_t *w, size_t ws, size_t t0,
                    const int T, const int R, const int BITS, const int PO, size_t s0, size_t s1,
                    size_t bfirst, float *stage)
{
    const size_t sps = a->span / 8, spg = a->bp / 8;
    const float *tab[4];
    UNROLL
    for (int t = 0; t < T; t++)
        tab[t] = (const float *)(const void *)(a->tables + (t0 + t) * a->tables_stride);
    size_t b = s0 / spg, ge = (b + 1) * spg;
    for (size_t s = s0; s < s1; s += sps) {
        if (s == ge)
            b++, ge += spg;
        __m512 acc[16];
        UNROLL
        for (int i = 0; i < 4 * T * R * PO; i++)
            acc[i] = _mm512_setzero_ps();
        for (size_t u = s; u < s + sps; u++) {
            __m512 g0[4], g1[4];
            UNROLL
            for (int t = 0; t < T; t++) {
                g0[t] = _mm512_loadu_ps(tab[t] + 32 * u);
                g1[t] = _mm512_loadu_ps(tab[t] + 32 * u + 16);
                REG(g0[t]);
                REG(g1[t]);
            }
            UNROLL
            for (int p = 0; p < BITS; p++) {
                /* T·2^p is exact: the fma rounds once, like acc + T·2^p. */
                const __m512 cp = _mm512_set1_ps(PO == 1 ? (float)(1 << p) : 1.0f);
                UNROLL
                for (int r = 0; r < R; r++) {
                    __m512i x = _mm512_loadu_si512(
                        (const void *)(w + (size_t)r * ws + 64 * (u * (size_t)BITS + (size_t)p)));
                    REG(x);
                    UNROLL
                    for (int c = 0; c < 4; c++)
                        UNROLL
                        for (int h = 0; h < 2; h++) {
                            const int sh = 8 * c + 4 * h;
                            const __m512i idx = sh ? _mm512_srli_epi32(x, (unsigned)sh) : x;
                            UNROLL
                            for (int t = 0; t < T; t++) {
                                const int i = ((t * R + r) * PO + (PO == 1 ? 0 : p)) * 4 + c;
                                acc[i] = _mm512_fmadd_ps(
                                    _mm512_permutexvar_ps(idx, h ? g1[t] : g0[t]), cp, acc[i]);
                            }
                        }
                }
            }
            UNROLL
            for (int i = 0; i < 4 * T * R * PO; i++)
                REG(acc[i]);
        }
        const int first = s == ge - spg;
        const size_t col = (b - bfirst) * (size_t)PO;
        UNROLL
        for (int i = 0; i < T * R; i++)
            UNROLL
            for (int pp = 0; pp < PO; pp++)
                ff_fold(stage + ((size_t)i * FF_CMAX + col + (size_t)pp) * FF_MR,
                        acc + (i * PO + pp) * 4, first);
    }
}

/* Tokens t0..t0+T-1, row groups g..g+R-1, steps [s0, s1) of the scale
 * groups from b0 (C stage columns each); cont: the run continues a scale
 * group of the previous run. */
INLINE void ff_rows(const lutgemm_kernel_args *a, size_t t0, size_t g, const int T, const int R,
                    const int BITS, const int PO, const int FL, size_t s0, size_t s1, size_t b0,
                    int C, int cont, float *stage)
{
    const int MAP = ff_map(FL, BITS, PO);
    const size_t rs = a->nb * (size_t)PO;
    float *o[4][4];
    UNROLL
    for (int t = 0; t < T; t++)
        UNROLL
        for (int r = 0; r < R; r++) {
            o[t][r] = (float *)a->out + (t0 + t) * a->out_stride + (g + r) * FF_MR * rs +
                      b0 * (size_t)PO;
            if (cont)
                ff_read(MAP, stage + (size_t)(t * R + r) * FF_CMAX * FF_MR, C, o[t][r], rs);
        }
    if (FL)
        fl_pass(a, a->w + g * a->w_stride, a->w_stride, t0, T, R, BITS, PO, s0, s1, b0, stage);
    else
        fa_pass(a, a->w + g * a->w_stride, t0, T, BITS, PO, s0, s1, b0, stage);
    UNROLL
    for (int t = 0; t < T; t++)
        UNROLL
        for (int r = 0; r < R; r++)
            ff_write(MAP, stage + (size_t)(t * R + r) * FF_CMAX * FF_MR, C, o[t][r], rs);
}

/* Tokens t0..t0+T-1, all row groups (R at a time, then one). */
INLINE void ff_tokens(const lutgemm_kernel_args *a, size_t t0, const int T, const int R,
                      const int BITS, const int PO, const int FL, float *stage)
{
    const size_t nb = a->nb, spg = a->bp / 8, sps = a->span / 8;
    /* Runs: whole spans, at most FA_RUN / FL_RUN steps unless one span is
     * longer. */
    size_t run = FL ? FL_RUN : FA_RUN;
    run -= run % sps;
    if (run == 0)
        run = sps;
    /* Scale groups per run: all of them fit the stage columns and the run;
     * a group longer than the run is split over runs (GB = 1). */
    size_t GB = 1;
    if (spg <= run) {
        GB = (size_t)FF_CMAX / (size_t)PO;
        if (GB > run / spg)
            GB = run / spg;
        if (GB > nb)
            GB = nb;
    }
    for (size_t b0 = 0; b0 < nb; b0 += GB) {
        const size_t G = nb - b0 < GB ? nb - b0 : GB;
        const int C = (int)G * PO;
        for (size_t s0 = b0 * spg; s0 < (b0 + G) * spg; s0 += run) {
            const size_t s1 = s0 + run < (b0 + G) * spg ? s0 + run : (b0 + G) * spg;
            const int cont = s0 != b0 * spg;
            size_t g = 0;
            if (R > 1)
                for (; g + (size_t)R <= a->row_groups; g += (size_t)R)
                    ff_rows(a, t0, g, T, R, BITS, PO, FL, s0, s1, b0, C, cont, stage);
            for (; g < a->row_groups; g++)
                ff_rows(a, t0, g, T, 1, BITS, PO, FL, s0, s1, b0, C, cont, stage);
        }
    }
}

/* All tokens: tiles of T tokens × R row groups with T·R·PO <= 4 (16
 * accumulators). 4-token tiles measured 3-8% faster than 2-token ones at
 * n = 8 (nb = 1, 2 and 4 bits, all three layouts). Float keeps 2 row
 * groups per pass under 4 tokens (8 independent fma chains; 1 row group:
 * 4 chains of 2·BITS dependent fma per step, 3% slower). */
INLINE void ff_kernel(const lutgemm_kernel_args *a, const int BITS, const int PO, const int FL)
{
    float stage[4 * FF_CMAX * FF_MR] __attribute__((aligned(64)));
    const int R = FL ? 2 : 1;
    size_t t = 0;
    if (PO == 1) {
        for (; t + 4 <= a->n; t += 4)
            ff_tokens(a, t, 4, 1, BITS, PO, FL, stage);
        for (; t + 2 <= a->n; t += 2)
            ff_tokens(a, t, 2, R, BITS, PO, FL, stage);
        for (; t < a->n; t++)
            ff_tokens(a, t, 1, R, BITS, PO, FL, stage);
    } else if (PO == 2) {
        for (; t + 2 <= a->n; t += 2)
            ff_tokens(a, t, 2, 1, BITS, PO, FL, stage);
        for (; t < a->n; t++)
            ff_tokens(a, t, 1, R, BITS, PO, FL, stage);
    } else {
        for (; t < a->n; t++)
            ff_tokens(a, t, 1, 1, BITS, PO, FL, stage);
    }
}

INLINE void ff_dispatch(const lutgemm_kernel_args *a, const int FL)
{
    LUTGEMM_REQUIRE(a->mr == FF_MR && a->kc == 8 && a->bits >= 1 && a->bits <= 4);
    LUTGEMM_REQUIRE(a->plane_out == 1 || a->plane_out == a->bits);
    LUTGEMM_REQUIRE(a->bp % 8 == 0 && a->bp > 0);
    LUTGEMM_REQUIRE(a->span % 8 == 0 && a->span > 0 && a->bp % a->span == 0);
    const int po = a->plane_out != 1;
    switch (a->bits) {
    case 1:
        ff_kernel(a, 1, 1, FL);
        break;
    case 2:
        if (po)
            ff_kernel(a, 2, 2, FL);
        else
            ff_kernel(a, 2, 1, FL);
        break;
    case 3:
        if (po)
            ff_kernel(a, 3, 3, FL);
        else
            ff_kernel(a, 3, 1, FL);
        break;
    default:
        if (po)
            ff_kernel(a, 4, 4, FL);
        else
            ff_kernel(a, 4, 1, FL);
        break;
    }
}

LUTGEMM_KERNEL(lutgemm_avx512_int_bitlut_g4_fast)
{
    ff_dispatch(a, 0);
}

LUTGEMM_KERNEL(lutgemm_avx512_int_bitlut_g4_float)
{
    ff_dispatch(a, 1);
}

/* Fast and Float tables of Layout B, byte for byte the portable builders'
 * (src/lut/bit_g4.rs `entries`, src/lut/mod.rs `requantize_spans`; for
 * finite activations, which round_to_i8 requires too): the same f32
 * operations per entry,
 *   T0 = +0, T1 = x0, T2 = x1, T3 = x0 + x1, T[4 + i] = T[i] + x2 (so
 *   T4 = +0 + x2), S = T7 + x3, T[15 − e] = S − T[e] (e < 8),
 * for 4 groups at a time: X = 16 activations (128-bit lane g = group g),
 * z[k] lane g = entries 4k..4k+3 of group g (in-lane vpermilps only). */
INLINE void bg4_entries4(__m512 X, __m512 *z)
{
    /* [+0, x0, x1, x0] and [., ., ., x1] per lane. */
    const __m512 p = _mm512_maskz_permute_ps(0xeeee, X, _MM_SHUFFLE(0, 1, 0, 0));
    const __m512 q = _mm512_permute_ps(X, _MM_SHUFFLE(1, 0, 0, 0));
    z[0] = _mm512_mask_add_ps(p, 0x8888, p, q);
    z[1] = _mm512_add_ps(z[0], _mm512_permute_ps(X, _MM_SHUFFLE(2, 2, 2, 2)));
    const __m512 s = _mm512_add_ps(_mm512_permute_ps(z[1], _MM_SHUFFLE(3, 3, 3, 3)),
                                   _mm512_permute_ps(X, _MM_SHUFFLE(3, 3, 3, 3)));
    /* Entries 8 + i = S − T[7 − i], 12 + i = S − T[3 − i]. */
    z[2] = _mm512_sub_ps(s, _mm512_permute_ps(z[1], _MM_SHUFFLE(0, 1, 2, 3)));
    z[3] = _mm512_sub_ps(s, _mm512_permute_ps(z[0], _MM_SHUFFLE(0, 1, 2, 3)));
}

/* round_to_i8 (src/activation.rs) for |v| < 2^23: t = trunc(v), f = v − t
 * (exact), t + (f >= 0.5) − (f <= −0.5) = t + trunc(2f) (2f exact, in
 * (−2, 2)). */
INLINE __m512i round_i32(__m512 v)
{
    const __m512i t = _mm512_cvttps_epi32(v);
    const __m512 f = _mm512_sub_ps(v, _mm512_cvtepi32_ps(t));
    return _mm512_add_epi32(t, _mm512_cvttps_epi32(_mm512_add_ps(f, f)));
}

/* One span of G = 4·(NC − 1) + NL groups (NC chunks of 4 groups, the last
 * with NL): the f32 entries, amax = max |entry| (NaN ignored like
 * f32::max: vmaxps returns its second operand, the running max, when the
 * first is NaN), inv = 127 / amax; inv not finite: zero entries and scale
 * 0; else round(entry · inv) and scale amax / 127. |entry · inv| <=
 * 127·(1 + 2^-23) rounds into [−127, 127]: no clamp is needed for finite
 * activations (the saturating packs and a max with −127 keep any value in
 * range anyway). */
INLINE void bg4_fast_span(const float *x, int8_t *q, float *scale, const int NC, const int NL)
{
    __m512 z[4][4];
    __m512 m = _mm512_setzero_ps();
    UNROLL
    for (int c = 0; c < NC; c++) {
        const int ng = c < NC - 1 ? 4 : NL;
        /* Missing groups read as zeros: zero entries, no effect on amax. */
        bg4_entries4(ng == 4 ? _mm512_loadu_ps(x + 16 * c)
                             : _mm512_maskz_loadu_ps((__mmask16)((1u << (4 * ng)) - 1), x + 16 * c),
                     z[c]);
        UNROLL
        for (int k = 0; k < 4; k++)
            m = _mm512_max_ps(_mm512_abs_ps(z[c][k]), m);
    }
    const float amax = _mm512_reduce_max_ps(m);
    const float inv = 127.0f / amax;
    if (!__builtin_isfinite(inv)) {
        memset(q, 0, (size_t)(4 * (NC - 1) + NL) * 16);
        *scale = 0.0f;
        return;
    }
    const __m512 vi = _mm512_set1_ps(inv);
    UNROLL
    for (int c = 0; c < NC; c++) {
        const int ng = c < NC - 1 ? 4 : NL;
        __m512i r[4];
        UNROLL
        for (int k = 0; k < 4; k++)
            r[k] = round_i32(_mm512_mul_ps(z[c][k], vi));
        /* Lane g: int32 entries 4k..4k+3 of r[k] -> bytes 4k..4k+3. */
        __m512i b8 = _mm512_packs_epi16(_mm512_packs_epi32(r[0], r[1]),
                                        _mm512_packs_epi32(r[2], r[3]));
        b8 = _mm512_max_epi8(b8, _mm512_set1_epi8(-127));
        if (ng == 4)
            _mm512_storeu_si512((void *)(q + 64 * c), b8);
        else
            _mm512_mask_storeu_epi8(q + 64 * c, (__mmask64)(~0ull >> (64 - 16 * ng)), b8);
    }
    *scale = amax / 127.0f;
}

LUTGEMM_TABLE_BUILDER(lutgemm_avx512_int_bitlut_g4_fast_tables)
{
    LUTGEMM_REQUIRE(a->span % 4 == 0 && a->span > 0 && a->span <= 64 && a->kp % a->span == 0);
    const size_t G = a->span / 4, spans = a->kp / a->span;
    int8_t *q = (int8_t *)a->tables;
#define BG4_SPANS(NC, NL)                                                                          \
    for (size_t sp = 0; sp < spans; sp++)                                                          \
        bg4_fast_span(a->xpad + sp * a->span, q + sp * G * 16, a->tscale + sp, NC, NL);            \
    break
    switch (G) {
    case 16: BG4_SPANS(4, 4);
    case 15: BG4_SPANS(4, 3);
    case 14: BG4_SPANS(4, 2);
    case 13: BG4_SPANS(4, 1);
    case 12: BG4_SPANS(3, 4);
    case 11: BG4_SPANS(3, 3);
    case 10: BG4_SPANS(3, 2);
    case 9: BG4_SPANS(3, 1);
    case 8: BG4_SPANS(2, 4);
    case 7: BG4_SPANS(2, 3);
    case 6: BG4_SPANS(2, 2);
    case 5: BG4_SPANS(2, 1);
    case 4: BG4_SPANS(1, 4);
    case 3: BG4_SPANS(1, 3);
    case 2: BG4_SPANS(1, 2);
    default: BG4_SPANS(1, 1);
    }
#undef BG4_SPANS
}
