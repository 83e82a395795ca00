/* AVX-512 (F/BW/VL/DQ + VBMI + VNNI) kernels for ternary weights under the
 * exact contract: int8 activations, exact int32 sums per scale block (see
 * lutgemm_kernels.h for the call contract, src/pack.rs and src/lut.rs for
 * the layouts). Every bound is checked in Rust before these run.
 *
 * Kernels
 *   mad   Layout::Mad { mr: 8, kc: 256 }: one 64-byte load per row and 256
 *         weights, decoded by one shift and four masks into u8 codes + 1,
 *         4 vpdpbusd against the chunk's 4 × 64 activations (loaded once for
 *         all 8 rows); Σ q·(code+1) − Σ q. 16 accumulators (2 per row).
 *   lut4  Layout::Lut4 { mr: 64, kc: 4 }: per group of 4 weights, one
 *         vpermi2b on the 128 low bytes and one on the 128 high bytes of
 *         the group's 81-entry table, vpunpck{l,h}bw back to exact int16,
 *         int16 accumulation widened to int32 every 64 groups. 8 row groups
 *         share each table load.
 *   lut2  Layout::Lut2 { mr: 64, kc: 4 }: the same with vpshufb on 9-entry
 *         tables (vbroadcasti32x4), two groups per index byte.
 *   Table builders for lut4 and lut2 (vpmaddubsw with constant coefficient
 *   vectors, vpermb/vpermi2b to split low/high bytes) write exactly what
 *   lut::build_tables_lut{4,2} write.
 *
 * Measurements (this machine: 2-core KVM guest, AMD EPYC reported as family
 * 25 model 17, i.e. Zen 4 with 512-bit ops issued as two 256-bit halves;
 * shared with other jobs, so minimum of 300 runs, variants interleaved in
 * one process). m = k = 4096, n = 1, one thread, one kernel call over all
 * rows (GCC 12, the build.rs flags):
 *
 *   kernel                          kernel    table build
 *   mad  (vpdpbusd)                 86-89 us  -
 *   lut4 (vpermi2b, 81 entries)     80-82 us  3.5 us
 *   lut2 (vpshufb, 9 entries)      168-177 us 1.0 us
 *
 * (llama.cpp TQ2_0 ~223 us, bitnet.cpp I2_S ~169 us on this machine.)
 * With per-256 block scales (nb = 16, TQ2_0-like) the same calls take mad
 * 148, lut4 120, lut2 208 us: a reduction (mad) or widening (tables) per
 * block, and strided scalar stores of out[row * nb + b]. Through
 * Context::matmul_i8 (one call per thread share at n = 1, median of 200):
 * mad 97-108, lut4 93-94, lut2 180-195 us, of which 3.6 us is the lut4
 * table build.
 * vpermi2b vs vpshufb: microbenchmarks here give about one zmm vpdpbusd,
 * vpermi2b, vpermb, vpshufb or vpsrlw per cycle and two vpaddw/vpandd, so a
 * lookup costs the same whether it selects from 16 or 128 entries. Per 4
 * weights × 64 rows, lut4 needs 2 vpermi2b + 2 unpacks + 2 adds; lut2 needs
 * 4 vpshufb + 4 unpacks + 4 adds + 3 index ops: twice the shuffle-port work,
 * and it measures twice as slow. lut4 is the faster table kernel and beats
 * mad by ~5-10% at n = 1 (mad's floor is 4096·4096/64 vpdpbusd at ~1 per
 * cycle). A g = 3 (27-entry vpermb) kernel would need a layout pack.rs does
 * not have; it does 3 weights per lookup pair against lut4's 4, so it
 * cannot beat lut4 on this shuffle-bound core. lut2 is kept as the
 * vpshufb (AVX2-style) comparison point.
 * A 27-entry variant was also tried (commit "Lut3 family", reverted):
 * activations split exactly as q = 16h + l so g = 3 tables hold int8
 * entries, one vpermi2b over 4 groups' 32-byte tables looks up 16 rows × 4
 * groups, and vpdpbusd(acc, 1, Tl) + vpdpbusd(acc, 16, Th) accumulates
 * with no unpacking: 4 heavy ops per 192 weights. On this Zen 4 the
 * shuffles and VNNI ops do not overlap, and its 8/3 bits per weight cost
 * more bytes: 120 us vs mad 96 / lut4 109 us (4096 x 4096, n = 1), and
 * 2-3x slower on 14336 x 4096. It may pay on cores that issue vpermi2b and
 * vpdpbusd on separate ports.
 *
 * Tried and measured (same setup unless noted):
 *   - mad, one accumulator per row (3 shifts per 64-byte load instead of
 *     1 shift + fields 1 and 3 masked in place): 135 vs 99 us end to end.
 *   - mad, GCC folded each weight load into its 3 uses (vpandd mem, ...):
 *     pinning it in a register (REG) took 115 -> 98 us end to end.
 *   - mad inner loop in inline asm (no accumulator spills): 87 vs 86 us,
 *     no gain; kept the intrinsics.
 *   - lut4/lut2 loop order: row groups outermost re-read the token's tables
 *     (256 KB for lut4) from L2 once per row group: 248 us; runs of 64
 *     groups outermost (16 KB of tables stay in L1): 100 us end to end.
 *   - row groups per table load: 2 -> 112 us, 4 -> 81 us, 8 -> 80 us.
 *   - int16 run length 64 / 32 / 16 groups: 82 / 88 / 100 us (longer runs
 *     keep more tables in L1 per pass over the row groups).
 *   - lut4 accumulating bytes (low-byte sum mod 256 with its carry into a
 *     high-byte sum, one unpack per 64 groups instead of per group): 91 vs
 *     82 us; the compare-into-mask and masked subtract cost more than the
 *     unpacks they save.
 */

#include <immintrin.h>
#include <string.h>

#include "lutgemm_kernels.h"

/* The kernels below compute one token (the loops of the original design);
 * the ABI entry points at the end of the file run them over the call's
 * token tile (lutgemm_kernels.h). */
#define TOKEN_KERNEL(name)                                                     \
    static void name(const uint8_t *w, const int8_t *qpad, const int32_t *qsum, \
                     const uint8_t *tables, size_t row_groups, size_t nb,       \
                     size_t bp, int32_t *out)
#define TOKEN_TABLE_BUILDER(name)                                              \
    static void name(const int8_t *qpad, size_t kp, uint8_t *tables)

#define INLINE static inline __attribute__((always_inline))

/* Pins a loaded vector in a register. GCC otherwise folds the same load
 * into each of its uses (vpandd (mem), vpsrlw (mem), ...), tripling the zmm
 * loads of the mad loop; pinned, mad measured 15% faster. */
#define REG(v) __asm__("" : "+v"(v))

/* ------------------------------------------------------------------------ */
/* Multiply-add: Layout::Mad { mr: 8, kc: 256 }                             */
/* ------------------------------------------------------------------------ */

#define MAD_MR 8
#define MAD_KC 256

/* Sums each of 8 int32 vectors into one lane: {Σa0, ..., Σa7}. */
INLINE __m256i reduce8(__m512i a0, __m512i a1, __m512i a2, __m512i a3,
                       __m512i a4, __m512i a5, __m512i a6, __m512i a7)
{
    __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    __m512i s45 = _mm512_add_epi32(_mm512_unpacklo_epi32(a4, a5), _mm512_unpackhi_epi32(a4, a5));
    __m512i s67 = _mm512_add_epi32(_mm512_unpacklo_epi32(a6, a7), _mm512_unpackhi_epi32(a6, a7));
    /* Per 128-bit lane: rows 0..3 (s0123) and 4..7 (s4567), partial sums. */
    __m512i s0123 = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
    __m512i s4567 = _mm512_add_epi32(_mm512_unpacklo_epi64(s45, s67), _mm512_unpackhi_epi64(s45, s67));
    /* Sum the 4 lanes: t = {r0-3 (l0+l2), r0-3 (l1+l3), r4-7 (l0+l2), r4-7 (l1+l3)}. */
    __m512i t = _mm512_add_epi32(_mm512_shuffle_i64x2(s0123, s4567, _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_i64x2(s0123, s4567, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512i u = _mm512_add_epi32(t, _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_castsi512_si256(_mm512_shuffle_i64x2(u, u, _MM_SHUFFLE(2, 0, 2, 0)));
}

/* One row of one 256-weight chunk: 64 bytes, fields 0..3 against q0..q3.
 * Fields 0 and 2 (bits 0-1 of the byte and of byte >> 4) go to AX; fields
 * 1 and 3 are masked in place (4·code) and go to AY, which saves a shift
 * per field: AY is exactly 4× its sum, so AY >> 2 is exact at the end.
 * |AY| ≤ 4·2·127·bp/2 ≤ 6.7e7 for any bp ≤ MAX_K = 2^17 (src/format):
 * no int32 overflow. */
#define MAD_ROW(i, AX, AY)                                                      \
    do {                                                                        \
        __m512i v_ = _mm512_loadu_si512((const void *)(wc + 64 * (i)));         \
        REG(v_);                                                                \
        const __m512i t_ = _mm512_srli_epi16(v_, 4);                            \
        AX = _mm512_dpbusd_epi32(AX, _mm512_and_si512(v_, m03), q0);            \
        AY = _mm512_dpbusd_epi32(AY, _mm512_and_si512(v_, m0c), q1);            \
        AX = _mm512_dpbusd_epi32(AX, _mm512_and_si512(t_, m03), q2);            \
        AY = _mm512_dpbusd_epi32(AY, _mm512_and_si512(t_, m0c), q3);            \
    } while (0)

#define MAD_FOLD(AX, AY) _mm512_add_epi32(AX, _mm512_srai_epi32(AY, 2))

TOKEN_KERNEL(token_mad)
{
    (void)tables;
    const size_t kp = nb * bp;
    const size_t rg_bytes = MAD_MR * kp / 4;
    const size_t chunks = bp / MAD_KC;
    const __m512i m03 = _mm512_set1_epi8(0x03);
    const __m512i m0c = _mm512_set1_epi8(0x0c);

    for (size_t g = 0; g < row_groups; g++) {
        const uint8_t *wg = w + g * rg_bytes;
        for (size_t b = 0; b < nb; b++) {
            __m512i x0 = _mm512_setzero_si512(), y0 = x0, x1 = x0, y1 = x0, x2 = x0, y2 = x0,
                    x3 = x0, y3 = x0, x4 = x0, y4 = x0, x5 = x0, y5 = x0, x6 = x0, y6 = x0,
                    x7 = x0, y7 = x0;
            for (size_t c = 0; c < chunks; c++) {
                const size_t ch = b * chunks + c;
                const int8_t *x = qpad + ch * MAD_KC;
                const __m512i q0 = _mm512_load_si512((const void *)(x + 0));
                const __m512i q1 = _mm512_load_si512((const void *)(x + 64));
                const __m512i q2 = _mm512_load_si512((const void *)(x + 128));
                const __m512i q3 = _mm512_load_si512((const void *)(x + 192));
                const uint8_t *wc = wg + ch * (MAD_MR * MAD_KC / 4);
                MAD_ROW(0, x0, y0);
                MAD_ROW(1, x1, y1);
                MAD_ROW(2, x2, y2);
                MAD_ROW(3, x3, y3);
                MAD_ROW(4, x4, y4);
                MAD_ROW(5, x5, y5);
                MAD_ROW(6, x6, y6);
                MAD_ROW(7, x7, y7);
            }
            const __m256i s = _mm256_sub_epi32(
                reduce8(MAD_FOLD(x0, y0), MAD_FOLD(x1, y1), MAD_FOLD(x2, y2), MAD_FOLD(x3, y3),
                        MAD_FOLD(x4, y4), MAD_FOLD(x5, y5), MAD_FOLD(x6, y6), MAD_FOLD(x7, y7)),
                _mm256_set1_epi32(qsum[b]));
            int32_t *o = out + g * MAD_MR * nb + b;
            if (nb == 1) {
                _mm256_storeu_si256((__m256i *)o, s);
            } else {
                int32_t tmp[MAD_MR];
                _mm256_storeu_si256((__m256i *)tmp, s);
                for (int i = 0; i < MAD_MR; i++)
                    o[i * nb] = tmp[i];
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Shared by the table kernels (mr = 64)                                    */
/* ------------------------------------------------------------------------ */

#define LUT_MR 64
/* Row groups sharing each table load (measured: 2 -> 112, 4 -> 81,
 * 8 -> 80 us); 8 × 2 int16 accumulators + 4 table registers fit in 32 zmm.
 * The tunables are #ifndef so variants can be benchmarked side by side. */
#ifndef LUT_RB
#define LUT_RB 8
#endif

/* The int16 accumulators: lo16 holds rows 16l+0..7 of each 128-bit lane l,
 * hi16 rows 16l+8..15 (the order vpunpck{l,h}bw leaves them in). Widens
 * them to int32 in natural row order and stores (first) or adds them into
 * the row group's outputs out[row * nb]. */
INLINE void widen_out(__m512i lo16, __m512i hi16, int32_t *o, size_t nb, int first)
{
    const __m512i a = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(lo16));
    const __m512i b = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(hi16));
    const __m512i c = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(lo16, 1));
    const __m512i d = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(hi16, 1));
    /* a = rows {0-3, 4-7, 16-19, 20-23}, b = {8-11, 12-15, 24-27, 28-31},
     * c, d: the same + 32. */
    __m512i v[4];
    v[0] = _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0));
    v[1] = _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2));
    v[2] = _mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(1, 0, 1, 0));
    v[3] = _mm512_shuffle_i64x2(c, d, _MM_SHUFFLE(3, 2, 3, 2));
    if (nb == 1) {
        for (int q = 0; q < 4; q++) {
            __m512i x = v[q];
            if (!first)
                x = _mm512_add_epi32(x, _mm512_loadu_si512((const void *)(o + 16 * q)));
            _mm512_storeu_si512((void *)(o + 16 * q), x);
        }
    } else {
        int32_t tmp[LUT_MR] __attribute__((aligned(64)));
        for (int q = 0; q < 4; q++)
            _mm512_store_si512((void *)(tmp + 16 * q), v[q]);
        for (int i = 0; i < LUT_MR; i++)
            o[i * nb] = first ? tmp[i] : o[i * nb] + tmp[i];
    }
}

/* Both table kernels accumulate int16 for at most WIDEN steps (a step is
 * one g = 4 group for lut4, two g = 2 groups for lut2: 4 weights either
 * way), then widen to int32. Per step an int16 lane gains at most
 * 4·127 = 508 in magnitude (lut4: one entry |Σ_{i<4} c_i q_i| ≤ 508; lut2:
 * two entries of ≤ 254), so 64 steps reach at most 64·508 = 32512 ≤ 32767.
 * The worst case (all q = ±127 of one sign, all weights ±1) hits exactly
 * 32512 per run; the oracle tests it with k = 14336.
 *
 * Loop order, one per family on every ISA (the portable kernels, avx2.c,
 * neon.c follow the same):
 *   - lut_g4 (RUN_OUTER): per block, per run of WIDEN steps, over all row
 *     groups of the call. A run's 16 KB of tables stay in L1 while every
 *     row group streams its 64 × 64 B of indices past them; with the
 *     row-group loop outermost and one row group per table load, a token's
 *     tables (256 KB at k = 4096) came from L2 once per row group and lut4
 *     was 2× slower.
 *   - lut_g2 (ROW_GROUPS_OUTER): LUT_RB row groups at a time outermost,
 *     then block, then run. Its tables are 4 KB per run and 64 KB per token
 *     at k = 4096 and stream from L2 in order beside the weights, while
 *     the weights stay one sequential stream per row group. Measured (the
 *     same lut2_run body, one thread, n = 1, median of 200 calls):
 *     4096 × 4096 within 4% of run-outer, 14336 × 4096 0-17% faster
 *     (avx2.c measured the same order 5-30% faster on its own kernel, see
 *     its "Loop order"). */
#ifndef WIDEN
#define WIDEN 64
#endif

#define RUN_OUTER 0
#define ROW_GROUPS_OUTER 1

typedef void (*lut_run_fn)(const uint8_t *w, const uint8_t *tables, size_t rg_bytes, int R,
                           size_t s0, size_t s1, size_t nb, int32_t *out, int first);

/* Row groups [g0, g1) over the runs of at most WIDEN steps (one int16
 * accumulation span) of every block, LUT_RB row groups per table load,
 * then LUT_RB / 2, then one; `rg_outer` puts the row groups outside the
 * blocks and runs (ROW_GROUPS_OUTER), else inside (RUN_OUTER). `run` is a
 * constant at every call site, so it inlines. */
INLINE void lut_drive(lut_run_fn run, const int rg_outer, const uint8_t *w,
                      const uint8_t *tables, size_t row_groups, size_t nb, size_t bp,
                      int32_t *out)
{
    const size_t rg_bytes = LUT_MR * nb * bp / 4;
    const size_t steps = bp / 4;
    size_t g0 = 0;
    while (g0 < row_groups) {
        /* Row groups of this pass: a block of R (ROW_GROUPS_OUTER) or all. */
        const size_t left = row_groups - g0;
        const size_t g1 = rg_outer ? g0 + (left >= LUT_RB ? LUT_RB : left >= LUT_RB / 2 ? LUT_RB / 2 : 1)
                                   : row_groups;
        for (size_t b = 0; b < nb; b++) {
            for (size_t s0 = b * steps; s0 < (b + 1) * steps; s0 += WIDEN) {
                const size_t s1 = s0 + WIDEN < (b + 1) * steps ? s0 + WIDEN : (b + 1) * steps;
                const int first = s0 == b * steps;
                size_t g = g0;
                for (; g + LUT_RB <= g1; g += LUT_RB)
                    run(w + g * rg_bytes, tables, rg_bytes, LUT_RB, s0, s1, nb,
                        out + b + g * LUT_MR * nb, first);
                for (; g + LUT_RB / 2 <= g1; g += LUT_RB / 2)
                    run(w + g * rg_bytes, tables, rg_bytes, LUT_RB / 2, s0, s1, nb,
                        out + b + g * LUT_MR * nb, first);
                for (; g < g1; g++)
                    run(w + g * rg_bytes, tables, rg_bytes, 1, s0, s1, nb,
                        out + b + g * LUT_MR * nb, first);
            }
        }
        g0 = g1;
    }
}

/* The table kernels' entry for one token, in the family's loop order. */
#define LUT_KERNEL(name, run, order)                                            \
    TOKEN_KERNEL(name)                                                          \
    {                                                                           \
        (void)qpad;                                                             \
        (void)qsum;                                                             \
        lut_drive(run, order, w, tables, row_groups, nb, bp, out);              \
    }

/* ------------------------------------------------------------------------ */
/* Lut4: Layout::Lut4 { mr: 64, kc: 4 }, 81-entry tables, vpermi2b          */
/* ------------------------------------------------------------------------ */

/* R row groups (rg_bytes apart) over groups js..je of one run. */
INLINE void lut4_run(const uint8_t *w, const uint8_t *tables, size_t rg_bytes, const int R,
                     size_t js, size_t je, size_t nb, int32_t *out, int first)
{
    __m512i lo[LUT_RB], hi[LUT_RB];
    for (int r = 0; r < R; r++) {
        lo[r] = _mm512_setzero_si512();
        hi[r] = _mm512_setzero_si512();
    }
    for (size_t j = js; j < je; j++) {
        const uint8_t *t = tables + 256 * j;
        const __m512i tl0 = _mm512_load_si512((const void *)(t + 0));
        const __m512i tl1 = _mm512_load_si512((const void *)(t + 64));
        const __m512i th0 = _mm512_load_si512((const void *)(t + 128));
        const __m512i th1 = _mm512_load_si512((const void *)(t + 192));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m512i idx = _mm512_loadu_si512((const void *)(w + r * rg_bytes + 64 * j));
            REG(idx);
            const __m512i l = _mm512_permutex2var_epi8(tl0, idx, tl1);
            const __m512i h = _mm512_permutex2var_epi8(th0, idx, th1);
            lo[r] = _mm512_add_epi16(lo[r], _mm512_unpacklo_epi8(l, h));
            hi[r] = _mm512_add_epi16(hi[r], _mm512_unpackhi_epi8(l, h));
        }
    }
    for (int r = 0; r < R; r++)
        widen_out(lo[r], hi[r], out + (size_t)r * LUT_MR * nb, nb, first);
}

LUT_KERNEL(token_lut4, lut4_run, RUN_OUTER)

/* Constants of the lut4 builder, entries e = 0..95 (entries 81..127 are 0).
 * C01 holds (a-1, b-1), C23 (c-1, d-1) per int16 entry, e = 27a+9b+3c+d;
 * K[e] = 128·(a+b+c+d-4). With u = q ^ 0x80 = q + 128 as u8,
 * vpmaddubsw(u01, C01) + vpmaddubsw(u23, C23) - K = Σ (c_i - 1)·q_i, the
 * table entry (|pair sum| ≤ 2·255, no saturation). Entries ≥ 81 have zero
 * coefficients and K, so they come out 0 with no masking. */
static const int8_t LUT4_C01[192] __attribute__((aligned(64))) = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0,
    -1, 0, -1, 0, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1,
    -1, 1, -1, 1, -1, 1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1,
    0, -1, 0, -1, 0, -1, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1,
    0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, -1, 1, -1,
    1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, 0,
    1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static const int8_t LUT4_C23[192] __attribute__((aligned(64))) = {
    -1, -1, -1, 0, -1, 1, 0, -1, 0, 0, 0, 1, 1, -1, 1, 0,
    1, 1, -1, -1, -1, 0, -1, 1, 0, -1, 0, 0, 0, 1, 1, -1,
    1, 0, 1, 1, -1, -1, -1, 0, -1, 1, 0, -1, 0, 0, 0, 1,
    1, -1, 1, 0, 1, 1, -1, -1, -1, 0, -1, 1, 0, -1, 0, 0,
    0, 1, 1, -1, 1, 0, 1, 1, -1, -1, -1, 0, -1, 1, 0, -1,
    0, 0, 0, 1, 1, -1, 1, 0, 1, 1, -1, -1, -1, 0, -1, 1,
    0, -1, 0, 0, 0, 1, 1, -1, 1, 0, 1, 1, -1, -1, -1, 0,
    -1, 1, 0, -1, 0, 0, 0, 1, 1, -1, 1, 0, 1, 1, -1, -1,
    -1, 0, -1, 1, 0, -1, 0, 0, 0, 1, 1, -1, 1, 0, 1, 1,
    -1, -1, -1, 0, -1, 1, 0, -1, 0, 0, 0, 1, 1, -1, 1, 0,
    1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static const int16_t LUT4_K[96] __attribute__((aligned(64))) = {
    -512, -384, -256, -384, -256, -128, -256, -128, 0, -384, -256, -128, -256, -128, 0, -128,
    0, 128, -256, -128, 0, -128, 0, 128, 0, 128, 256, -384, -256, -128, -256, -128,
    0, -128, 0, 128, -256, -128, 0, -128, 0, 128, 0, 128, 256, -128, 0, 128,
    0, 128, 256, 128, 256, 384, -256, -128, 0, -128, 0, 128, 0, 128, 256, -128,
    0, 128, 0, 128, 256, 128, 256, 384, 0, 128, 256, 128, 256, 384, 256, 384,
    512, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};


TOKEN_TABLE_BUILDER(token_lut4_tables)
{
    const __m512i c01_0 = _mm512_load_si512((const void *)(LUT4_C01 + 0));
    const __m512i c01_1 = _mm512_load_si512((const void *)(LUT4_C01 + 64));
    const __m512i c01_2 = _mm512_load_si512((const void *)(LUT4_C01 + 128));
    const __m512i c23_0 = _mm512_load_si512((const void *)(LUT4_C23 + 0));
    const __m512i c23_1 = _mm512_load_si512((const void *)(LUT4_C23 + 64));
    const __m512i c23_2 = _mm512_load_si512((const void *)(LUT4_C23 + 128));
    const __m512i k_0 = _mm512_load_si512((const void *)(LUT4_K + 0));
    const __m512i k_1 = _mm512_load_si512((const void *)(LUT4_K + 32));
    const __m512i k_2 = _mm512_load_si512((const void *)(LUT4_K + 64));
    /* Byte i of even = 2i: the low bytes of two int16 vectors, in order. */
    const __m512i even = _mm512_set_epi8(
        126, 124, 122, 120, 118, 116, 114, 112, 110, 108, 106, 104, 102, 100, 98, 96,
        94, 92, 90, 88, 86, 84, 82, 80, 78, 76, 74, 72, 70, 68, 66, 64,
        62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32,
        30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi8(even, _mm512_set1_epi8(1));
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const __mmask64 low32 = 0x00000000ffffffffull;

    for (size_t j = 0; j < kp / 4; j++) {
        int16_t p01, p23;
        memcpy(&p01, qpad + 4 * j, 2);
        memcpy(&p23, qpad + 4 * j + 2, 2);
        const __m512i u01 = _mm512_xor_si512(_mm512_set1_epi16(p01), bias);
        const __m512i u23 = _mm512_xor_si512(_mm512_set1_epi16(p23), bias);
        const __m512i t0 = _mm512_sub_epi16(
            _mm512_add_epi16(_mm512_maddubs_epi16(u01, c01_0), _mm512_maddubs_epi16(u23, c23_0)), k_0);
        const __m512i t1 = _mm512_sub_epi16(
            _mm512_add_epi16(_mm512_maddubs_epi16(u01, c01_1), _mm512_maddubs_epi16(u23, c23_1)), k_1);
        const __m512i t2 = _mm512_sub_epi16(
            _mm512_add_epi16(_mm512_maddubs_epi16(u01, c01_2), _mm512_maddubs_epi16(u23, c23_2)), k_2);
        uint8_t *o = tables + 256 * j;
        _mm512_store_si512((void *)(o + 0), _mm512_permutex2var_epi8(t0, even, t1));
        _mm512_store_si512((void *)(o + 64), _mm512_maskz_permutexvar_epi8(low32, even, t2));
        _mm512_store_si512((void *)(o + 128), _mm512_permutex2var_epi8(t0, odd, t1));
        _mm512_store_si512((void *)(o + 192), _mm512_maskz_permutexvar_epi8(low32, odd, t2));
    }
}

/* ------------------------------------------------------------------------ */
/* Lut2: Layout::Lut2 { mr: 64, kc: 4 }, 9-entry tables, vpshufb            */
/* ------------------------------------------------------------------------ */

INLINE void lut2_run(const uint8_t *w, const uint8_t *tables, size_t rg_bytes, const int R,
                     size_t ps, size_t pe, size_t nb, int32_t *out, int first)
{
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    __m512i lo[LUT_RB], hi[LUT_RB];
    for (int r = 0; r < R; r++) {
        lo[r] = _mm512_setzero_si512();
        hi[r] = _mm512_setzero_si512();
    }
    for (size_t p = ps; p < pe; p++) {
        /* Groups 2p and 2p+1: 16 low bytes, 16 high bytes each. */
        const uint8_t *t = tables + 64 * p;
        const __m512i tl0 = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)(t + 0)));
        const __m512i th0 = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)(t + 16)));
        const __m512i tl1 = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)(t + 32)));
        const __m512i th1 = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)(t + 48)));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const __m512i idx = _mm512_loadu_si512((const void *)(w + r * rg_bytes + 64 * p));
            const __m512i i0 = _mm512_and_si512(idx, m0f);
            const __m512i i1 = _mm512_and_si512(_mm512_srli_epi16(idx, 4), m0f);
            const __m512i l0 = _mm512_shuffle_epi8(tl0, i0);
            const __m512i h0 = _mm512_shuffle_epi8(th0, i0);
            const __m512i l1 = _mm512_shuffle_epi8(tl1, i1);
            const __m512i h1 = _mm512_shuffle_epi8(th1, i1);
            lo[r] = _mm512_add_epi16(lo[r], _mm512_add_epi16(_mm512_unpacklo_epi8(l0, h0),
                                                             _mm512_unpacklo_epi8(l1, h1)));
            hi[r] = _mm512_add_epi16(hi[r], _mm512_add_epi16(_mm512_unpackhi_epi8(l0, h0),
                                                             _mm512_unpackhi_epi8(l1, h1)));
        }
    }
    for (int r = 0; r < R; r++)
        widen_out(lo[r], hi[r], out + (size_t)r * LUT_MR * nb, nb, first);
}

LUT_KERNEL(token_lut2, lut2_run, ROW_GROUPS_OUTER)

/* Lut2 tables, two groups (4 activations) per 64-byte store. Entry
 * e = 3a + b of a group (x0, x1) is (a-1)·x0 + (b-1)·x1, built like lut4's:
 * vpmaddubsw(x ^ 0x80, C) - K with K[e] = 128·(a+b-2); entries 9..15 have
 * zero C and K. One vpermb spreads (x0, x1) of group 0 over int16 lanes
 * 0..15 and of group 1 over 16..31; another gathers the low and high bytes
 * into the stored order lo(g0), hi(g0), lo(g1), hi(g1). */
TOKEN_TABLE_BUILDER(token_lut2_tables)
{
    int8_t cb[64] __attribute__((aligned(64)));
    int16_t kb[32] __attribute__((aligned(64)));
    uint8_t spread[64] __attribute__((aligned(64)));
    uint8_t gather[64] __attribute__((aligned(64)));
    for (int l = 0; l < 32; l++) {
        const int e = l % 16, grp = l / 16;
        const int a = e / 3, b = e % 3;
        cb[2 * l] = e < 9 ? (int8_t)(a - 1) : 0;
        cb[2 * l + 1] = e < 9 ? (int8_t)(b - 1) : 0;
        kb[l] = e < 9 ? (int16_t)(128 * (a + b - 2)) : 0;
        spread[2 * l] = (uint8_t)(2 * grp);
        spread[2 * l + 1] = (uint8_t)(2 * grp + 1);
    }
    for (int i = 0; i < 64; i++) {
        const int grp = i / 32, hi = (i / 16) % 2, e = i % 16;
        gather[i] = (uint8_t)(2 * (16 * grp + e) + hi);
    }
    const __m512i c = _mm512_load_si512((const void *)cb);
    const __m512i k = _mm512_load_si512((const void *)kb);
    const __m512i sp = _mm512_load_si512((const void *)spread);
    const __m512i ga = _mm512_load_si512((const void *)gather);
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (size_t p = 0; p < kp / 4; p++) {
        int32_t x;
        memcpy(&x, qpad + 4 * p, 4);
        const __m512i u = _mm512_permutexvar_epi8(sp, _mm512_xor_si512(_mm512_set1_epi32(x), bias));
        const __m512i t = _mm512_sub_epi16(_mm512_maddubs_epi16(u, c), k);
        _mm512_store_si512((void *)(tables + 64 * p), _mm512_permutexvar_epi8(ga, t));
    }
}

/* ------------------------------------------------------------------------ */
/* ABI entry points: the token tile of a call                                */
/* ------------------------------------------------------------------------ */

LUTGEMM_PER_TOKEN_KERNEL(lutgemm_avx512_ternary_mad, token_mad, 8, 256)

LUTGEMM_PER_TOKEN_KERNEL(lutgemm_avx512_ternary_lut_g2, token_lut2, 64, 4)

LUTGEMM_EXACT_TABLE_BUILDER(lutgemm_avx512_ternary_lut_g2_tables, token_lut2_tables)

LUTGEMM_PER_TOKEN_KERNEL(lutgemm_avx512_ternary_lut_g4, token_lut4, 64, 4)

LUTGEMM_EXACT_TABLE_BUILDER(lutgemm_avx512_ternary_lut_g4_tables, token_lut4_tables)

