/* AVX-512 (F/BW/VL/DQ + VBMI + VNNI) kernels for 1-4-bit integer weights
 * under the exact contract: int8 activations in [-127, 127], exact int32
 * sums isum[t, r, b] = Σ_{c in group b} qx[t, c] · q[r, c] per token, row
 * and scale group (spec: INT_KERNELS.md; call contract: lutgemm_kernels.h).
 * Scales and offsets are applied in Rust. Every extent is checked in Rust.
 *
 * Kernels
 *   int_mad          Layout A (IntMad, mr 16, kc 8 for 4 bits, 16 for 2
 *                    bits): one 64-byte load = 16 rows × 8 (or 16) columns,
 *                    decoded by masks (and one shift for 2 bits) into u8
 *                    operands of vpdpbusd, activations broadcast as dwords.
 *                    Up to 4 tokens share each weight load and decode.
 *   int_bitlut_g4    Layout B (IntBitLutG4, mr 64, kc 8, bits 1..4): per
 *                    step, bit plane and 64 rows, 4 vpermw on int16 tables
 *                    (no unpacking), int16 accumulation widened every <= 32
 *                    steps. 2 tokens share each weight load and its shifts.
 *   int_bitlut_g4_tables   the exact tables of Layout B (vpdpbusd + vpermt2b).
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
 *   n = 1, 2 bits g 64     110-113 us     157-160 us   (nb 64, bp 64)
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

INLINE void mad_tile(const lutgemm_kernel_args *a, size_t g, size_t t0, const int R,
                     const int T, const int B4)
{
    const size_t kc = B4 ? 8 : 16;
    const size_t spg = a->bp / kc;
    const size_t nb = a->nb;
    const size_t ws = a->w_stride;
    const __m512i mlo = _mm512_set1_epi8(B4 ? 0x0f : 0x03);
    const __m512i mhi = _mm512_set1_epi8(B4 ? (char)0xf0 : 0x0c);
    const uint8_t *w = a->w + g * ws;
    const int8_t *x[4];
    int32_t *o[4];
    /* R·T <= 4 (mad_rows). */
    UNROLL
    for (int t = 0; t < T; t++) {
        x[t] = a->qpad + (t0 + t) * a->qpad_stride;
        o[t] = (int32_t *)a->out + (t0 + t) * a->out_stride + g * MAD_MR * nb;
    }
    for (size_t b0 = 0; b0 < nb; b0 += MAD_GB) {
        const int G = nb - b0 < MAD_GB ? (int)(nb - b0) : MAD_GB;
        __m512i stage[4][MAD_GB];
        for (int bb = 0; bb < G; bb++) {
            const size_t b = b0 + bb;
            __m512i X[4], Y[4];
            UNROLL
            for (int i = 0; i < R * T; i++)
                X[i] = Y[i] = _mm512_setzero_si512();
            for (size_t s = b * spg; s < (b + 1) * spg; s++) {
                UNROLL
                for (int r = 0; r < R; r++) {
                    __m512i v = _mm512_loadu_si512((const void *)(w + r * ws + MAD_STEP * s));
                    REG(v);
                    if (B4) {
                        const __m512i lo = _mm512_and_si512(v, mlo);
                        const __m512i hi = _mm512_and_si512(v, mhi);
                        UNROLL
                        for (int t = 0; t < T; t++) {
                            const int8_t *xs = x[t] + 8 * s;
                            X[r * T + t] = _mm512_dpbusd_epi32(X[r * T + t], lo, bcast32(xs));
                            Y[r * T + t] = _mm512_dpbusd_epi32(Y[r * T + t], hi, bcast32(xs + 4));
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
                            X[r * T + t] = _mm512_dpbusd_epi32(X[r * T + t], f0, bcast32(xs));
                            Y[r * T + t] = _mm512_dpbusd_epi32(Y[r * T + t], f1, bcast32(xs + 4));
                            X[r * T + t] = _mm512_dpbusd_epi32(X[r * T + t], f2, bcast32(xs + 8));
                            Y[r * T + t] = _mm512_dpbusd_epi32(Y[r * T + t], f3, bcast32(xs + 12));
                        }
                    }
                }
            }
            UNROLL
            for (int r = 0; r < R; r++)
                UNROLL
                for (int t = 0; t < T; t++) {
                    const int i = r * T + t;
                    const __m512i sum = _mm512_add_epi32(X[i], _mm512_srai_epi32(Y[i], B4 ? 4 : 2));
                    if (nb == 1)
                        _mm512_storeu_si512((void *)(o[t] + r * MAD_MR), sum);
                    else
                        stage[i][bb] = sum;
                }
        }
        if (nb > 1) {
            UNROLL
            for (int r = 0; r < R; r++)
                UNROLL
                for (int t = 0; t < T; t++)
                    store_cols16(stage[r * T + t], G, o[t] + r * MAD_MR * nb + b0, nb, 0, -1);
        }
    }
}

/* All row groups for tokens t0..t0+T-1: R = RB at a time, then one.
 * 2·R·T <= 8 accumulators. */
INLINE void mad_rows(const lutgemm_kernel_args *a, size_t t0, const int T, const int B4)
{
    const int RB = T == 1 ? 4 : T == 2 ? 2 : 1;
    size_t g = 0;
    for (; g + RB <= a->row_groups; g += RB)
        mad_tile(a, g, t0, RB, T, B4);
    for (; g < a->row_groups; g++)
        mad_tile(a, g, t0, 1, T, B4);
}

INLINE void mad_tokens(const lutgemm_kernel_args *a, const int B4)
{
    size_t t = 0;
    for (; t + 4 <= a->n; t += 4)
        mad_rows(a, t, 4, B4);
    switch (a->n - t) {
    case 3:
        mad_rows(a, t, 3, B4);
        break;
    case 2:
        mad_rows(a, t, 2, B4);
        break;
    case 1:
        mad_rows(a, t, 1, B4);
        break;
    default:
        break;
    }
}

LUTGEMM_KERNEL(lutgemm_avx512_int_mad)
{
    LUTGEMM_REQUIRE(a->bits == 4 || a->bits == 2);
    LUTGEMM_REQUIRE(a->mr == MAD_MR && a->kc == (a->bits == 4 ? 8 : 16) && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bp % a->kc == 0);
    if (a->bits == 4)
        mad_tokens(a, 1);
    else
        mad_tokens(a, 0);
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
