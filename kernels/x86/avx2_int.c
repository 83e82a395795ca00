/* AVX2 kernels for 1-4-bit integer weights. Exact contract: int8
 * activations in [-127, 127] (every bound below relies on it), exact int32
 * plane sums per token, row and scale group; Fast and Float contracts (last
 * sections): f32 partial sums from int8 / f32 tables. Layouts and tables: the spec
 * of the "mad" (Layout A, IntMad) and "bitlut_g4" (Layout B, IntBitLutG4)
 * families; call contract: lutgemm_kernels.h. Every extent is checked in
 * Rust before these run; here only the innermost loops live.
 *
 *   lutgemm_avx2_int_mad               Layout A, mr 16, bits 4 (kc 8) / 2 (kc 16)
 *   lutgemm_avx2_int_bitlut_g4         Layout B, mr 32, kc 8, bits 1..4,
 *                                      plane_out 1 or bits
 *   lutgemm_avx2_int_bitlut_g4_tables  exact g = 4 tables for bitlut_g4
 *   lutgemm_avx2_int_bitlut_g4_fast    Layout B as above, Fast contract (int8
 *                                      tables, one f32 scale per span)
 *   lutgemm_avx2_int_bitlut_g4_float   Layout B as above, Float contract (f32
 *                                      tables)
 *   lutgemm_avx2_int_bitlut_g4_fast_tables  Fast tables (the portable bytes)
 *
 * (The int16 bounds below also hold with -128: the tightest, bitlut's,
 * then reaches -32768 exactly.)
 *
 * Measurements quoted below: this machine (2-core KVM guest, AMD EPYC
 * family 25 model 17 = Zen 4, ~3.6 GHz), GCC 12 with the build.rs flags,
 * one thread, median thread-CPU time of many calls, standalone harness;
 * "m = 256" runs (weights in L2) unless said otherwise. Microbenchmarks
 * here: 2 loads per cycle (vpbroadcastd/vbroadcasti128 from memory
 * included), vpmaddubsw/vpmaddwd 2 per cycle, vpshufb, vpunpck*, vpsrlw 2
 * per cycle sharing 3 pipes, vpaddw/vpand 4 per cycle.
 */
#include <immintrin.h>
#include <string.h>

#include "lutgemm_kernels.h"

#define LG_INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------------------------
 * Column writer shared by both kernels.
 *
 * A column is one output column (a scale group, or a group's plane) for
 * all rows of a row group, ld int32 at col + c · ld, as ld / 8 vectors of
 * 8 rows. Vector j holds rows 8j..8j+7 (ORDER_NATURAL) or, as the table
 * kernel's widening leaves them, rows 4j..4j+3 and 16+4j..16+4j+3
 * (ORDER_LUT; mapping rows at the store is free, permuting lanes is not).
 * Column j0 + c goes to out[row · ostride + j0 + c].
 * ---------------------------------------------------------------------- */

#define ORDER_NATURAL 0
#define ORDER_LUT 1

LG_INLINE size_t order_row(int order, int j, int i)
{
    return order == ORDER_NATURAL ? (size_t)(8 * j + i)
                                  : (size_t)(i < 4 ? 4 * j + i : 16 + 4 * j + (i - 4));
}

/* Transposes columns col[0..cnt) (cnt ≤ 8) of the 8 rows of vector j and
 * writes them to out + j0. */
LG_INLINE void cols_store8(int32_t *out, size_t ostride, size_t j0, const int32_t *col,
                           size_t ld, int cnt, int order, size_t j)
{
    __m256i v[8];
    for (int c = 0; c < 8; c++)
        v[c] = c < cnt ? _mm256_loadu_si256((const __m256i *)(col + (size_t)c * ld + 8 * j))
                       : _mm256_setzero_si256();
    const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]);
    const __m256i t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]);
    const __m256i t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(v[4], v[5]);
    const __m256i t5 = _mm256_unpackhi_epi32(v[4], v[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(v[6], v[7]);
    const __m256i t7 = _mm256_unpackhi_epi32(v[6], v[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2);
    const __m256i u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3);
    const __m256i u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6);
    const __m256i u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7);
    const __m256i u7 = _mm256_unpackhi_epi64(t5, t7);
    /* u_i: lane 0 = vector row i, columns 0..3 (u0..u3) or 4..7 (u4..u7);
     * lane 1 = vector row 4 + i. */
    __m256i row[8];
    row[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    row[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    row[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    row[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    row[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    row[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    row[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    row[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int i = 0; i < 8; i++) {
        int32_t *o = out + order_row(order, (int)j, i) * ostride + j0;
        if (cnt == 8)
            _mm256_storeu_si256((__m256i *)o, row[i]);
        else
            _mm256_maskstore_epi32((int *)o, mask, row[i]);
    }
}

/* Writes columns col[0..cnt) (cnt ≤ COLS) of ld rows to out + j0.
 *
 * Both kernels write out[t · out_stride + (r · nb + b) · plane_out + p]:
 * for a fixed row its nb · plane_out outputs are contiguous, so results are
 * gathered as columns and written through 8 × 8 transposes (24 shuffles +
 * 8 stores per 64 values). Against one scalar store per value: mad bits 4,
 * bp = 32, 13.1 vs 28.5 us (n = 1), 79 vs 145 us (n = 8); bitlut bits 4,
 * bp = 32, plane_out = 4: 41 vs 55 us.
 * Blocks of 16 columns = one 64-byte line per row, written 8 rows at a
 * time, so each line is written in one go: row strides are powers of two
 * in the common shapes (nb · plane_out · 4 = 2 KB for k = 4096, group 32,
 * 4 planes puts a row group's 32 lines in 2 L1 sets). 16 vs 8 columns:
 * 13.0 vs 14.1 us (mad bits 4, bp 32), 41 vs 44 us (plane_out = 4). */
#define COLS 16

LG_INLINE void cols_store(int32_t *out, size_t ostride, size_t j0, const int32_t *col,
                          size_t ld, int cnt, int order)
{
    if (cnt == 1 && ostride == 1) {
        for (size_t j = 0; j < ld / 8; j++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(col + 8 * j));
            if (order == ORDER_NATURAL) {
                _mm256_storeu_si256((__m256i *)(out + j0 + 8 * j), v);
            } else {
                _mm_storeu_si128((__m128i *)(out + j0 + order_row(order, (int)j, 0)),
                                 _mm256_castsi256_si128(v));
                _mm_storeu_si128((__m128i *)(out + j0 + order_row(order, (int)j, 4)),
                                 _mm256_extracti128_si256(v, 1));
            }
        }
        return;
    }
    for (size_t j = 0; j < ld / 8; j++)
        for (int c0 = 0; c0 < cnt; c0 += 8)
            cols_store8(out, ostride, j0 + (size_t)c0, col + (size_t)c0 * ld, ld,
                        cnt - c0 < 8 ? cnt - c0 : 8, order, j);
}

/* ------------------------------------------------------------------------
 * Multiply-add: Layout A (IntMad), mr = 16, kc = 8 (bits 4) / 16 (bits 2).
 *
 * A 64-byte step holds 16 rows (dword lane = row: rows 0..7 in bytes
 * 0..31, rows 8..15 in bytes 32..63) × kc columns, 4 columns per field of
 * bits bits. Field f decodes with one 16-bit shift and a byte mask (bits of
 * the next byte shifted in land above the mask), is multiplied with
 * vpmaddubsw against the token's 4 activations of that field broadcast as
 * a dword (weights unsigned, activations signed: no correction), and the
 * int16 pair sums of a span of steps are widened once with vpmaddwd(ones):
 * each 32-bit lane is then exactly one row's sum over the span.
 *
 * int16 bounds (|x| ≤ 127), per lane (= 2 columns of one row):
 *   bits 4: vpmaddubsw pair ≤ 2·15·127 = 3810; per step 2 fields: ≤ 7620;
 *           MAD4_SPAN = 4 steps ≤ 30480 < 32767 (5 steps: 38100, overflow).
 *   bits 2: pair ≤ 2·3·127 = 762; per step 4 fields: ≤ 3048;
 *           MAD2_SPAN = 10 steps ≤ 30480 < 32767 (11: 33528, overflow).
 *   bits 2, one token: fields 1 and 3 are decoded in place as 4·q
 *           (v & 0x0c, (v >> 4) & 0x0c: 1 shift + 4 masks per 32 bytes
 *           instead of 3 + 4) into their own accumulator B; per step
 *           A ≤ 2·762 = 1524, B ≤ 2·(2·12·127) = 6096; MAD2AB_SPAN = 5
 *           steps: B ≤ 30480 (6: 36576, overflow), A ≤ 7620. B is a
 *           multiple of 4, so A + (B >> 2) is exact, ≤ 15240.
 *   vpmaddwd(ones) then adds two such lanes into int32 exactly.
 * int32: |sum| ≤ 127·15·bp < 2^31 for bp < 1.1e6.
 *
 * Tokens: MAD_TILE = 4 tokens share each weight load and decode (per step
 * 6 decode ops + 8 per token for bits 4, 14 + 16 per token for bits 2).
 * 4 accumulator pairs + decoded weights fit the 16 registers. n = 8,
 * T = 2 / 3 / 4: 59.9 / 56.7 / 56.6 us (bits 4), 56.4 / 53.5 / 52.1 us
 * (bits 2). Loop order: row group, block of COLS scale groups, token tile
 * (the block's weights stay in L1 across tiles: 3-6% over tiles outside).
 * ---------------------------------------------------------------------- */

#define MAD_MR 16
#define MAD_STEP 64
#define MAD4_SPAN 4
#define MAD2_SPAN 10
#define MAD2AB_SPAN 5
#define MAD_TMAX 4
#define MAD_TILE 4

LG_INLINE __m256i bcast32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Keeps a value in a register at this point. On accumulators: without it
 * GCC's reassociation turns a step's serial adds into trees of products
 * whose temporaries spill (bits 4, n = 8 in tiles of 2: 75 -> 60 us with
 * it). On loaded
 * weights: otherwise GCC folds the load into each use (vpand (mem),
 * vpsrlw (mem)), and load slots are scarce. */
#define PIN(v) __asm__("" : "+x"(v))

/* `ns` steps from w, tokens x[0..T) (each at the steps' first column):
 * int16 pair sums per token and half into acc[t][h].
 *
 * Each broadcast serves both halves of the step (re-broadcasting per half
 * made loads the bottleneck): per step 2 weight loads + 2T (bits 4) or 4T
 * (bits 2) broadcasts. */
LG_INLINE void mad_span(const uint8_t *w, const int8_t *const *x, size_t ns, int T, int bits,
                        __m256i acc[MAD_TMAX][2])
{
    const __m256i m0f = _mm256_set1_epi8(0x0f);
    const __m256i m03 = _mm256_set1_epi8(0x03);
    for (int t = 0; t < T; t++)
        acc[t][0] = acc[t][1] = _mm256_setzero_si256();
    __m256i accb[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (size_t s = 0; s < ns; s++) {
        const uint8_t *ws = w + s * MAD_STEP;
        __m256i v0 = _mm256_loadu_si256((const __m256i *)ws);
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(ws + 32));
        PIN(v0);
        PIN(v1);
        if (bits == 4) {
            const __m256i lo0 = _mm256_and_si256(v0, m0f);
            const __m256i hi0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m0f);
            const __m256i lo1 = _mm256_and_si256(v1, m0f);
            const __m256i hi1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m0f);
            for (int t = 0; t < T; t++) {
                const __m256i x0 = bcast32(x[t] + 8 * s), x1 = bcast32(x[t] + 8 * s + 4);
                acc[t][0] = _mm256_add_epi16(acc[t][0], _mm256_maddubs_epi16(lo0, x0));
                acc[t][0] = _mm256_add_epi16(acc[t][0], _mm256_maddubs_epi16(hi0, x1));
                acc[t][1] = _mm256_add_epi16(acc[t][1], _mm256_maddubs_epi16(lo1, x0));
                acc[t][1] = _mm256_add_epi16(acc[t][1], _mm256_maddubs_epi16(hi1, x1));
                PIN(acc[t][0]);
                PIN(acc[t][1]);
            }
        } else if (T == 1) {
            const __m256i m0c = _mm256_set1_epi8(0x0c);
            const __m256i u0 = _mm256_srli_epi16(v0, 4), u1 = _mm256_srli_epi16(v1, 4);
            const int8_t *xs = x[0] + 16 * s;
            const __m256i x0 = bcast32(xs), x1 = bcast32(xs + 4);
            const __m256i x2 = bcast32(xs + 8), x3 = bcast32(xs + 12);
            acc[0][0] = _mm256_add_epi16(acc[0][0], _mm256_maddubs_epi16(_mm256_and_si256(v0, m03), x0));
            acc[0][0] = _mm256_add_epi16(acc[0][0], _mm256_maddubs_epi16(_mm256_and_si256(u0, m03), x2));
            accb[0] = _mm256_add_epi16(accb[0], _mm256_maddubs_epi16(_mm256_and_si256(v0, m0c), x1));
            accb[0] = _mm256_add_epi16(accb[0], _mm256_maddubs_epi16(_mm256_and_si256(u0, m0c), x3));
            acc[0][1] = _mm256_add_epi16(acc[0][1], _mm256_maddubs_epi16(_mm256_and_si256(v1, m03), x0));
            acc[0][1] = _mm256_add_epi16(acc[0][1], _mm256_maddubs_epi16(_mm256_and_si256(u1, m03), x2));
            accb[1] = _mm256_add_epi16(accb[1], _mm256_maddubs_epi16(_mm256_and_si256(v1, m0c), x1));
            accb[1] = _mm256_add_epi16(accb[1], _mm256_maddubs_epi16(_mm256_and_si256(u1, m0c), x3));
            PIN(acc[0][0]);
            PIN(acc[0][1]);
            PIN(accb[0]);
            PIN(accb[1]);
        } else {
            for (int f = 0; f < 4; f++) {
                const __m256i d0 = _mm256_and_si256(f ? _mm256_srli_epi16(v0, 2 * f) : v0, m03);
                const __m256i d1 = _mm256_and_si256(f ? _mm256_srli_epi16(v1, 2 * f) : v1, m03);
                for (int t = 0; t < T; t++) {
                    const __m256i xf = bcast32(x[t] + 16 * s + 4 * f);
                    acc[t][0] = _mm256_add_epi16(acc[t][0], _mm256_maddubs_epi16(d0, xf));
                    acc[t][1] = _mm256_add_epi16(acc[t][1], _mm256_maddubs_epi16(d1, xf));
                    PIN(acc[t][0]);
                    PIN(acc[t][1]);
                }
            }
        }
    }
    if (bits == 2 && T == 1) {
        acc[0][0] = _mm256_add_epi16(acc[0][0], _mm256_srai_epi16(accb[0], 2));
        acc[0][1] = _mm256_add_epi16(acc[0][1], _mm256_srai_epi16(accb[1], 2));
    }
}

/* Stores (or adds, if add) the int32 row sums of acc[t] to col[t] + off. */
LG_INLINE void mad_flush(__m256i acc[MAD_TMAX][2], int T, int32_t col[MAD_TMAX][COLS * MAD_MR],
                         size_t off, int add)
{
    for (int t = 0; t < T; t++)
        for (int h = 0; h < 2; h++) {
            __m256i *c = (__m256i *)(col[t] + off + 8 * h);
            __m256i v = _mm256_madd_epi16(acc[t][h], _mm256_set1_epi16(1));
            if (add)
                v = _mm256_add_epi32(v, _mm256_loadu_si256(c));
            _mm256_storeu_si256(c, v);
        }
}

/* Fused group scaling (lutgemm_kernels.h) of one row group (rows row0..
 * row0+15) × T tokens × the block's groups [b0, b0 + cnt), whose int32
 * sums are col[t][c · 16 + row]: per group in order, acc = fma(s, f32(sum),
 * acc) then, with offsets, acc = fma(o, f32(qsum), acc), the portable
 * kernel's operations lane by lane. acc lives in the float outputs
 * between blocks (stored and reloaded exactly): the first block starts it
 * at +0. The scales of group b: 16 scales then 16 offsets at
 * gscale + g · gscale_stride + b · (group bytes), f16 or f32.
 * Measured (kernel alone, thread CPU time, m = k = 4096, n = 1, f16 scales
 * and offsets): 4 bits g 32 228 us (unfused 205, plus an f64 epilogue that
 * cost as much again: end to end 228 vs 365 us), 2 bits g 64 171 us
 * (unfused 156; end to end 172 vs 227). Scaling from the column buffer
 * costs ~10% over the transposed int32 stores, less than any epilogue. */
LG_INLINE __m256 mad_scales8(const uint8_t *p, int h)
{
    return h ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p))
             : _mm256_loadu_ps((const float *)p);
}

LG_INLINE void mad_fuse_block(const lutgemm_kernel_args *a, size_t row0, size_t tok, size_t b0,
                              int cnt, int T, int32_t col[MAD_TMAX][COLS * MAD_MR])
{
    const int h = (a->fuse & LUTGEMM_FUSE_F16) != 0, off = (a->fuse & LUTGEMM_FUSE_OFFSETS) != 0;
    /* The zero point z = 2^(bits-1) folded into the sums (0: none). */
    const int32_t z = (a->fuse & LUTGEMM_FUSE_ZERO_POINT) ? (int32_t)1 << (a->bits - 1) : 0;
    const size_t esz = h ? 2 : 4, pg = MAD_MR * esz * (off ? 2 : 1);
    const uint8_t *gs = (const uint8_t *)a->gscale + row0 / MAD_MR * a->gscale_stride;
    for (int t = 0; t < T; t++) {
        float *o = (float *)a->out + (tok + (size_t)t) * a->out_stride + row0;
        const int32_t *qs = a->qsum + (tok + (size_t)t) * a->qsum_stride;
        __m256 acc0 = b0 ? _mm256_loadu_ps(o) : _mm256_setzero_ps();
        __m256 acc1 = b0 ? _mm256_loadu_ps(o + 8) : _mm256_setzero_ps();
        for (int c = 0; c < cnt; c++) {
            const size_t b = b0 + (size_t)c;
            const uint8_t *p = gs + b * pg;
            const int32_t *v = col[t] + c * MAD_MR;
            const __m256i zq = _mm256_set1_epi32(z ? z * qs[b] : 0);
            acc0 = _mm256_fmadd_ps(
                mad_scales8(p, h),
                _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)v), zq)),
                acc0);
            acc1 = _mm256_fmadd_ps(
                mad_scales8(p + 8 * esz, h),
                _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(v + 8)), zq)),
                acc1);
            if (off) {
                const __m256 q = _mm256_set1_ps((float)qs[b]);
                acc0 = _mm256_fmadd_ps(mad_scales8(p + MAD_MR * esz, h), q, acc0);
                acc1 = _mm256_fmadd_ps(mad_scales8(p + (MAD_MR + 8) * esz, h), q, acc1);
            }
        }
        _mm256_storeu_ps(o, acc0);
        _mm256_storeu_ps(o + 8, acc1);
    }
}

/* One row group × T tokens × groups [b0, b0 + cnt), cnt ≤ COLS. */
LG_INLINE void mad_block(const lutgemm_kernel_args *a, const uint8_t *wg, size_t row0, size_t tok,
                         size_t b0, int cnt, int T, int bits)
{
    const size_t nb = a->nb, bp = a->bp, kc = bits == 4 ? 8 : 16;
    const size_t gsteps = bp / kc;
    const size_t span = bits == 4 ? MAD4_SPAN : T == 1 ? MAD2AB_SPAN : MAD2_SPAN;
    int32_t col[MAD_TMAX][COLS * MAD_MR];
    const int8_t *x[MAD_TMAX];
    for (int t = 0; t < T; t++)
        x[t] = a->qpad + (tok + (size_t)t) * a->qpad_stride + b0 * bp;
    const uint8_t *wb = wg + b0 * gsteps * MAD_STEP;
    /* Constant trip counts unroll. One 4-step span per group (bits 4 group
     * 32, bits 2 group 64) gets its own loop: n = 1, 14.8 -> 11.7 us
     * (bits 4) and 12.2 -> 9.3 us (bits 2) against the general loop with a
     * variable trip count (a test of gsteps inside one loop: 12.2 us). In
     * longer groups 4-step and (n = 1, bits 2) 5-step spans are unrolled:
     * bits 2 whole rows 9.6 -> 8.8 us; unrolling the 10-step spans of
     * n > 1 was slower (50.9 -> 54.0 us). */
    if (gsteps == 4) {
        for (int c = 0; c < cnt; c++) {
            __m256i acc[MAD_TMAX][2];
            mad_span(wb, x, 4, T, bits, acc);
            mad_flush(acc, T, col, (size_t)c * MAD_MR, 0);
            wb += 4 * MAD_STEP;
            for (int t = 0; t < T; t++)
                x[t] += bp;
        }
    } else {
        for (int c = 0; c < cnt; c++) {
            for (size_t s = 0; s < gsteps; s += span) {
                const size_t ns = gsteps - s < span ? gsteps - s : span;
                const int8_t *xs[MAD_TMAX];
                for (int t = 0; t < T; t++)
                    xs[t] = x[t] + s * kc;
                __m256i acc[MAD_TMAX][2];
                if (ns == 4)
                    mad_span(wb + s * MAD_STEP, xs, 4, T, bits, acc);
                else if (bits == 2 && T == 1 && ns == MAD2AB_SPAN)
                    mad_span(wb + s * MAD_STEP, xs, MAD2AB_SPAN, T, bits, acc);
                else
                    mad_span(wb + s * MAD_STEP, xs, ns, T, bits, acc);
                mad_flush(acc, T, col, (size_t)c * MAD_MR, s > 0);
            }
            wb += gsteps * MAD_STEP;
            for (int t = 0; t < T; t++)
                x[t] += bp;
        }
    }
    if (a->fuse)
        mad_fuse_block(a, row0, tok, b0, cnt, T, col);
    else
        for (int t = 0; t < T; t++)
            cols_store((int32_t *)a->out + (tok + (size_t)t) * a->out_stride + row0 * nb, nb,
                       b0, col[t], MAD_MR, cnt, ORDER_NATURAL);
}

/* Row group, then a block of COLS scale groups (its weights stay in L1
 * while every token tile passes over them), then tiles of MAD_TILE
 * tokens. */
LG_INLINE void mad_all(const lutgemm_kernel_args *a, int bits)
{
    const size_t nb = a->nb;
    for (size_t g = 0; g < a->row_groups; g++) {
        const uint8_t *wg = a->w + g * a->w_stride;
        const size_t row0 = g * MAD_MR;
        for (size_t b0 = 0; b0 < nb; b0 += COLS) {
            const int cnt = nb - b0 < COLS ? (int)(nb - b0) : COLS;
            size_t t = 0;
            for (; t + MAD_TILE <= a->n; t += MAD_TILE)
                mad_block(a, wg, row0, t, b0, cnt, MAD_TILE, bits);
            switch (a->n - t) {
            case 3: mad_block(a, wg, row0, t, b0, cnt, 3, bits); break;
            case 2: mad_block(a, wg, row0, t, b0, cnt, 2, bits); break;
            case 1: mad_block(a, wg, row0, t, b0, cnt, 1, bits); break;
            default: break;
            }
        }
    }
}

LUTGEMM_KERNEL(lutgemm_avx2_int_mad)
{
    LUTGEMM_REQUIRE(a->mr == MAD_MR && a->kc == (a->bits == 4 ? 8u : 16u) && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bits == 4 || a->bits == 2);
    LUTGEMM_REQUIRE(LUTGEMM_FUSE_VALID(a->fuse));
    if (a->bits == 4)
        mad_all(a, 4);
    else
        mad_all(a, 2);
}

/* ------------------------------------------------------------------------
 * Bit-serial table lookup: Layout B (IntBitLutG4), mr = 32, kc = 8.
 *
 * Per step (8 columns) and plane: 32 index bytes, one per row, low nibble
 * → group 2s, high nibble → group 2s + 1. A group's table is 16 low bytes
 * and 16 high bytes of int16 entries; vpshufb looks up both halves (tables
 * broadcast to both 128-bit lanes) and vpunpck{l,h}bw glues them back into
 * exact int16. Unpacks work within lanes: the "low" accumulator holds rows
 * [0..8 | 16..24], the "high" one rows [8..16 | 24..32].
 *
 * int16 bound, per plane accumulator (planes are never combined in int16):
 * each step adds one entry of each of the two groups per lane,
 * |T| ≤ 4·127 = 508, so |gain| ≤ 1016 per step; LUT_SPAN = 32 steps give
 * ≤ 32512 < 32767 (33 steps: 33528, overflow). Spans restart at every scale
 * group.
 * Widening: planes p and p + 1 run together (4 int16 accumulators, the
 * step's 4 tables and the decode temporaries fit the 16 registers, and
 * each table broadcast serves both planes). At the end of a span
 * vpunpck{l,h}wd interleaves the two planes' int16 sums per row and
 * vpmaddwd by (2^p, 2^(p+1)) (plane_out = 1), or by (1, 0) and (0, 1)
 * (plane_out = bits), widens them to int32 (|2^p a + 2^(p+1) b| ≤
 * 12·32512, exact). Rows come out in ORDER_LUT.
 * int32: |P_i| ≤ 127·bp, |Σ 2^i P_i| ≤ 15·127·bp < 2^31 for bp < 1.1e6.
 *
 * Cost: 15 vector ops per plane and step (3 decode, 4 vpshufb, 4 unpacks,
 * 4 adds; 9 on the shuffle/shift pipes): ~4.2 cycles per plane-step with
 * weights in L1, ~4.6 in L2. Summing low bytes as words + odd bytes by
 * vpmaddubsw + high bytes by vpaddb (no unpacks) measured 3.9 vs 4.0 cycles
 * for the same op mix in isolation: not worth its fix-up.
 * Loop order: row group, token, scale group, span, plane pair, step. Each
 * token has its own tables, so n > 1 could only share the 3-op decode; a
 * block of groups outside the token loop (weights kept in L1 across
 * tokens, as in mad) measured 2% slower at n = 8.
 * ---------------------------------------------------------------------- */

#define LUT_MR 32
#define LUT_KC 8
#define LUT_SPAN 32

LG_INLINE __m256i bcast128(const uint8_t *p)
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
}

/* Adds one plane's step (index bytes at w) to (accl, acch). */
LG_INLINE void lut_step(const uint8_t *w, __m256i tl0, __m256i th0, __m256i tl1, __m256i th1,
                        __m256i *accl, __m256i *acch)
{
    const __m256i m0f = _mm256_set1_epi8(0x0f);
    __m256i idx = _mm256_loadu_si256((const __m256i *)w);
    PIN(idx);
    const __m256i i0 = _mm256_and_si256(idx, m0f);
    const __m256i i1 = _mm256_and_si256(_mm256_srli_epi16(idx, 4), m0f);
    const __m256i l0 = _mm256_shuffle_epi8(tl0, i0);
    const __m256i h0 = _mm256_shuffle_epi8(th0, i0);
    const __m256i l1 = _mm256_shuffle_epi8(tl1, i1);
    const __m256i h1 = _mm256_shuffle_epi8(th1, i1);
    *accl = _mm256_add_epi16(*accl, _mm256_unpacklo_epi8(l0, h0));
    *acch = _mm256_add_epi16(*acch, _mm256_unpackhi_epi8(l0, h0));
    *accl = _mm256_add_epi16(*accl, _mm256_unpacklo_epi8(l1, h1));
    *acch = _mm256_add_epi16(*acch, _mm256_unpackhi_epi8(l1, h1));
    PIN(*accl);
    PIN(*acch);
}

/* Planes p (index bytes at w) and, if two, p + 1 (at w + 32) over ns
 * steps (wstep bytes apart; tables at tab, 64 bytes per step). Returns the
 * int16 sums: acc[0], acc[1] low / high of plane p, acc[2], acc[3] of p + 1
 * (zero if !two). */
LG_INLINE void lut_pair(const uint8_t *w, size_t wstep, const uint8_t *tab, size_t ns, int two,
                        __m256i acc[4])
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t s = 0; s < ns; s++) {
        const uint8_t *t = tab + 64 * s;
        const __m256i tl0 = bcast128(t), th0 = bcast128(t + 16);
        const __m256i tl1 = bcast128(t + 32), th1 = bcast128(t + 48);
        lut_step(w + s * wstep, tl0, th0, tl1, th1, &a0, &a1);
        if (two)
            lut_step(w + s * wstep + LUT_MR, tl0, th0, tl1, th1, &a2, &a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Widens a plane pair's int16 sums with vpmaddwd by (c0, c1) per row into
 * 4 int32 vectors in ORDER_LUT; stores them to col, or adds if `add`. */
LG_INLINE void lut_widen(const __m256i acc[4], __m256i coef, int32_t *col, int add)
{
    const __m256i u[4] = {
        _mm256_unpacklo_epi16(acc[0], acc[2]), /* rows 0..3   | 16..19 */
        _mm256_unpackhi_epi16(acc[0], acc[2]), /* rows 4..7   | 20..23 */
        _mm256_unpacklo_epi16(acc[1], acc[3]), /* rows 8..11  | 24..27 */
        _mm256_unpackhi_epi16(acc[1], acc[3]), /* rows 12..15 | 28..31 */
    };
    for (int j = 0; j < 4; j++) {
        __m256i v = _mm256_madd_epi16(u[j], coef);
        __m256i *c = (__m256i *)(col + 8 * j);
        if (add)
            v = _mm256_add_epi32(v, _mm256_loadu_si256(c));
        _mm256_storeu_si256(c, v);
    }
}

/* One token × one row group; bits and po (1 or bits) are constants in
 * each instantiation so the plane loops unroll and the widening
 * coefficients are immediates. */
LG_INLINE void lut_token(const lutgemm_kernel_args *a, const uint8_t *wg, size_t row0, size_t tok,
                         const size_t bits, const size_t po)
{
    const size_t nb = a->nb;
    const size_t gsteps = a->bp / LUT_KC;
    const size_t wstep = bits * LUT_MR;
    const uint8_t *tabs = a->tables + tok * a->tables_stride;
    int32_t *out = (int32_t *)a->out + tok * a->out_stride + row0 * nb * po;
    /* whole groups per block of ≤ COLS columns: 16, 8, 5 (15 columns), 4 */
    const size_t gblock = COLS / po;
    int32_t col[COLS * LUT_MR];
    for (size_t b0 = 0; b0 < nb; b0 += gblock) {
        const size_t cnt = nb - b0 < gblock ? nb - b0 : gblock;
        for (size_t c = 0; c < cnt; c++) {
            const size_t b = b0 + c;
            int32_t *cc = col + c * po * LUT_MR;
            for (size_t s = 0; s < gsteps; s += LUT_SPAN) {
                const size_t ns = gsteps - s < LUT_SPAN ? gsteps - s : LUT_SPAN;
                const size_t sg = b * gsteps + s;
                for (size_t p = 0; p < bits; p += 2) {
                    const int two = p + 1 < bits;
                    __m256i acc[4];
                    lut_pair(wg + sg * wstep + p * LUT_MR, wstep, tabs + 64 * sg, ns, two, acc);
                    if (po == 1) {
                        const __m256i coef = _mm256_set1_epi32((int)((2u << p) << 16 | (1u << p)));
                        lut_widen(acc, coef, cc, s > 0 || p > 0);
                    } else {
                        lut_widen(acc, _mm256_set1_epi32(1), cc + p * LUT_MR, s > 0);
                        if (two)
                            lut_widen(acc, _mm256_set1_epi32(1 << 16), cc + (p + 1) * LUT_MR, s > 0);
                    }
                }
            }
        }
        cols_store(out, nb * po, b0 * po, col, LUT_MR, (int)(cnt * po), ORDER_LUT);
    }
}

LG_INLINE void lut_all(const lutgemm_kernel_args *a, const size_t bits, const size_t po)
{
    for (size_t g = 0; g < a->row_groups; g++)
        for (size_t t = 0; t < a->n; t++)
            lut_token(a, a->w + g * a->w_stride, g * LUT_MR, t, bits, po);
}

LUTGEMM_KERNEL(lutgemm_avx2_int_bitlut_g4)
{
    LUTGEMM_REQUIRE(a->mr == LUT_MR && a->kc == LUT_KC);
    LUTGEMM_REQUIRE(a->bits >= 1 && a->bits <= 4 && (a->plane_out == 1 || a->plane_out == a->bits));
    const int per_plane = a->plane_out != 1;
    switch (a->bits) {
    case 1: lut_all(a, 1, 1); break;
    case 2: per_plane ? lut_all(a, 2, 2) : lut_all(a, 2, 1); break;
    case 3: per_plane ? lut_all(a, 3, 3) : lut_all(a, 3, 1); break;
    default: per_plane ? lut_all(a, 4, 4) : lut_all(a, 4, 1); break;
    }
}

/* ------------------------------------------------------------------------
 * Exact g = 4 tables: group j (activations x0..x3 = qpad[4j..4j+3]) gets
 * T[e] = Σ_{bit c of e} x_c as 16 low bytes then 16 high bytes.
 *
 * vpmaddubsw of per-entry coefficient pairs (bit 0, bit 1 of e) against
 * (x0, x1) broadcast to every 16-bit lane, plus (bit 2, bit 3) against
 * (x2, x3), gives the 16 int16 entries (|pair| ≤ 254, no saturation); a
 * byte shuffle puts each lane's low bytes before its high bytes and a qword
 * permute orders them low 0..15, high 0..15.
 * ---------------------------------------------------------------------- */

LUTGEMM_TABLE_BUILDER(lutgemm_avx2_int_bitlut_g4_tables)
{
    const __m256i c01 = _mm256_setr_epi8(0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1,
                                         0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1);
    const __m256i c23 = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0,
                                         0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                           0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const int8_t *q = a->qpad;
    uint8_t *out = a->tables;
    const size_t groups = a->kp / 4;
    for (size_t j = 0; j < groups; j++) {
        int16_t p01, p23;
        memcpy(&p01, q + 4 * j, 2);
        memcpy(&p23, q + 4 * j + 2, 2);
        const __m256i v = _mm256_add_epi16(_mm256_maddubs_epi16(c01, _mm256_set1_epi16(p01)),
                                           _mm256_maddubs_epi16(c23, _mm256_set1_epi16(p23)));
        const __m256i s = _mm256_shuffle_epi8(v, split);
        _mm256_storeu_si256((__m256i *)(out + 32 * j), _mm256_permute4x64_epi64(s, 0xd8));
    }
}

/* ------------------------------------------------------------------------
 * Fast and Float contracts of bitlut_g4: Layout B, mr = 32, kc = 8, the
 * same weights as the exact kernel; only the tables and the output (f32)
 * change. Reference: the portable table_kernel (src/kernels/portable) and
 * the builders of src/lut/bit_g4.rs.
 *
 * Spans: a->span activations (≤ 64, a multiple of 8 dividing bp) share one
 * table scale (Fast) / one f32 partial sum (Float); a group's spans are
 * folded into its output in increasing order: out = first ? v : out + v.
 * Loop order as in the exact kernel: row group, token, block of groups,
 * group, span, planes, steps; outputs gathered as columns and written by
 * cols_store (f32 bits, natural row order).
 *
 * Both give the portable kernels' bits (Float: unless an entry times 2^p
 * overflows f32, see float_span; a harness models
 * table_kernel in C and compares bits: tails, nb > 1, bp 8..1024, spans
 * shorter than bp, n 1..8 with strides, plane_out 1 and bits, bits 1..4,
 * raw extreme tables (int8 ±127 / −128, scales 0, 1e-40, 1e30; f32
 * entries 0..1e30 with denormals)).
 *
 * Measured (m = k = 4096, one thread, median µs; exact = the kernel above
 * on the same weights, in the same run):
 *
 *   bits  group  n   exact   fast          float
 *   4     32     1    442     332 (1.33×)   1198 (0.37×)
 *   2     64     1    195     168 (1.16×)    569 (0.34×)
 *   4     row    1    343     260 (1.32×)   1150 (0.30×)
 *   2     row    1    166     147 (1.13×)    553 (0.30×)
 *   3 / 1 row    1    261 / 90  206 / 84     847 / 286
 *   4     32     8   5729    4453 (1.29×)  11052
 *   2     64     8   2223    1948 (1.14×)   5375
 *   4     row    8   2922    2201 (1.33×)   9307
 *   2     row    8   1403    1215 (1.15×)   4606
 *
 * Fast: ~3.5 cycles per plane and step with weights in L1 (bits 4) against
 * the exact kernel's ~4.6; with fewer planes the per-step table loads and
 * the per-span fold (int16 → f32, ×scale, +) weigh more, and the 4096-row
 * shapes at 1-2 bits read weights at ~30 GB/s. Decoding the high nibble
 * with vpmulhuw instead of the shift (off the shuffle pipes) measured the
 * same. Float: ~15.7 cycles per plane and step: per 8 rows 4 vpermps and
 * 1 vpmovsxbd share the two shuffle pipes (a microbenchmark of the
 * op mix alone gives the same), so f32 tables cost ~3.3× the exact
 * kernel. Tried: adding low + high before one fma (-2%), 4 rows per dword
 * from one 32-byte load instead of vpmovsxbd (more shifts: +10%).
 * ---------------------------------------------------------------------- */

#define FF_MAX_NS 8 /* steps per span: span ≤ 64 */

/* Fast: ns steps of one span, int8 tables at tab (32 bytes per step: 16
 * entries of group 2s, then of 2s + 1), plane p's index bytes at
 * w + s·wstep + 32p. po == 1: acc[0], acc[1] = Σ_p 2^p P_p; po == bits:
 * acc[2p], acc[2p + 1] = P_p. acc[even] holds rows [0..8 | 16..24],
 * acc[odd] rows [8..16 | 24..32] (vpunpck works within 128-bit lanes).
 *
 * Per plane and step: vpshufb of the low nibbles in group 2s's table and
 * of the high nibbles in group 2s + 1's gives each row's two int8 entries
 * (l0, l1); vpunpck{l,h}bw(l0, l1) puts a row's two entries side by side,
 * and vpmaddubsw by (2^p, 2^p) (unsigned) adds them as 2^p·(l0 + l1) in an
 * int16 lane: 11 vector ops (3 decode, 2 vpshufb, 2 unpacks, 2 vpmaddubsw,
 * 2 adds) against the exact kernel's 15, and the planes share one
 * accumulator pair.
 *
 * int16 bound (|T8| ≤ 127; it even holds for -128): vpmaddubsw pair
 * ≤ 2^p·2·128 ≤ 2048, no saturation. po == 1: per step and lane
 * Σ_p 2^p·2·127 ≤ 15·254 = 3810, a span of ≤ 8 steps ≤ 30480 < 32767
 * (with -128 entries: 30720). po == bits: per plane ≤ 8·254 = 2032.
 * The int16 sum is the portable kernel's exact integer S, so
 * (float)S · scale and the span fold are the same f32 operations in the
 * same order: bit-identical results. */
LG_INLINE void fast_span(const uint8_t *w, size_t wstep, const uint8_t *tab, size_t ns,
                         const size_t p0, const size_t p1, const size_t po, __m256i acc[8])
{
    const __m256i m0f = _mm256_set1_epi8(0x0f);
    /* local accumulators (kept in registers): l[0..1] plane p0 or the
     * combined sum, l[2..3] plane p0 + 1 */
    __m256i l[4];
    for (int i = 0; i < 4; i++)
        l[i] = _mm256_setzero_si256();
    for (size_t s = 0; s < ns; s++) {
        const __m256i t0 = bcast128(tab + 32 * s), t1 = bcast128(tab + 32 * s + 16);
        for (size_t p = p0; p < p1; p++) {
            __m256i idx = _mm256_loadu_si256((const __m256i *)(w + s * wstep + LUT_MR * p));
            PIN(idx);
            const __m256i i0 = _mm256_and_si256(idx, m0f);
            const __m256i i1 = _mm256_and_si256(_mm256_srli_epi16(idx, 4), m0f);
            const __m256i l0 = _mm256_shuffle_epi8(t0, i0);
            const __m256i l1 = _mm256_shuffle_epi8(t1, i1);
            const __m256i c = _mm256_set1_epi8((char)(po == 1 ? 1 << p : 1));
            const size_t k = po == 1 ? 0 : 2 * (p - p0);
            l[k] = _mm256_add_epi16(l[k], _mm256_maddubs_epi16(c, _mm256_unpacklo_epi8(l0, l1)));
            l[k + 1] = _mm256_add_epi16(l[k + 1], _mm256_maddubs_epi16(c, _mm256_unpackhi_epi8(l0, l1)));
            PIN(l[k]);
            PIN(l[k + 1]);
        }
    }
    if (po == 1) {
        acc[0] = l[0];
        acc[1] = l[1];
    } else {
        for (size_t p = p0; p < p1; p++) {
            acc[2 * p] = l[2 * (p - p0)];
            acc[2 * p + 1] = l[2 * (p - p0) + 1];
        }
    }
}

/* Folds a span's int16 sums (lo, hi as fast_span leaves them) into the
 * f32 column col (32 rows, natural order): v = (float)S · scale, then
 * col = first ? v : col + v. */
LG_INLINE void fast_fold(__m256i lo, __m256i hi, __m256 scale, float *col, int first)
{
    const __m256i v[4] = {
        _mm256_cvtepi16_epi32(_mm256_castsi256_si128(lo)),      /* rows 0..7   */
        _mm256_cvtepi16_epi32(_mm256_castsi256_si128(hi)),      /* rows 8..15  */
        _mm256_cvtepi16_epi32(_mm256_extracti128_si256(lo, 1)), /* rows 16..23 */
        _mm256_cvtepi16_epi32(_mm256_extracti128_si256(hi, 1)), /* rows 24..31 */
    };
    for (int j = 0; j < 4; j++) {
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(v[j]), scale);
        if (!first)
            f = _mm256_add_ps(_mm256_loadu_ps(col + 8 * j), f);
        _mm256_storeu_ps(col + 8 * j, f);
    }
}

/* Float: ns steps of one span, f32 tables at tab (32 floats per step: 16
 * entries of group 2s, then of 2s + 1), octets o0..o0 + O - 1 of the row
 * group (octet o = rows 8o..8o + 7); po == 1: acc[o] = Σ 2^p T, po ==
 * bits: acc[O·p + o] = Σ T of plane p. Added into col (32 floats per
 * output column, natural row order): col = first ? acc : col + acc.
 *
 * An octet's 8 index bytes are sign-extended to dwords (vpmovsxbd): the
 * low nibble's entry is vpermps of entries 0..7 or of 8..15 at bits 0..2,
 * chosen by vblendvps on bit 3 (moved to the sign by a shift); the high
 * nibble's index is the dword >> 4, and its bit 3 (byte bit 7) already is
 * the sign. Per plane, step and octet: 1 vpmovsxbd, 2 shifts, 4 vpermps,
 * 2 vblendvps, 2 adds: ~11 ops per 8 rows (4 vpermps on the two shuffle
 * pipes: ≥ 2 cycles).
 *
 * Order: each row adds, per step, per plane, its low then high entry times
 * 2^p: the portable kernel's order. v·2^p is exact, so fma(v, 2^p, acc)
 * rounds like acc + v·2^p and the result equals the portable kernel's bit
 * for bit unless an entry times 2^p overflows f32 (|T| > 4e37). The order
 * does not depend on the call's row groups or tokens. */
LG_INLINE void float_span(const uint8_t *w, size_t wstep, const uint8_t *tab, size_t ns,
                          const size_t bits, const size_t po, const int o0, const int O,
                          float *col, int first)
{
    const size_t P = po == 1 ? 1 : bits;
    __m256 acc[8];
    for (size_t i = 0; i < (size_t)O * P; i++)
        acc[i] = _mm256_setzero_ps();
    for (size_t s = 0; s < ns; s++) {
        const float *t = (const float *)(const void *)(tab + 128 * s);
        const __m256 a0 = _mm256_loadu_ps(t), a1 = _mm256_loadu_ps(t + 8);
        const __m256 b0 = _mm256_loadu_ps(t + 16), b1 = _mm256_loadu_ps(t + 24);
        for (size_t p = 0; p < bits; p++) {
            const __m256 c = _mm256_set1_ps((float)(1u << p));
            for (int o = 0; o < O; o++) {
                const uint8_t *ip = w + s * wstep + LUT_MR * p + 8 * (size_t)(o0 + o);
                const __m256i y = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)ip));
                const __m256i yh = _mm256_srli_epi32(y, 4);
                const __m256 lo = _mm256_blendv_ps(_mm256_permutevar8x32_ps(a0, y),
                                                   _mm256_permutevar8x32_ps(a1, y),
                                                   _mm256_castsi256_ps(_mm256_slli_epi32(y, 28)));
                const __m256 hi = _mm256_blendv_ps(_mm256_permutevar8x32_ps(b0, yh),
                                                   _mm256_permutevar8x32_ps(b1, yh),
                                                   _mm256_castsi256_ps(y));
                const size_t k = po == 1 ? (size_t)o : (size_t)O * p + (size_t)o;
                if (po == 1 && p > 0) {
                    acc[k] = _mm256_fmadd_ps(lo, c, acc[k]);
                    acc[k] = _mm256_fmadd_ps(hi, c, acc[k]);
                } else {
                    acc[k] = _mm256_add_ps(acc[k], lo);
                    acc[k] = _mm256_add_ps(acc[k], hi);
                }
            }
        }
    }
    for (size_t p = 0; p < P; p++)
        for (int o = 0; o < O; o++) {
            float *cc = col + 32 * p + 8 * (size_t)(o0 + o);
            __m256 v = acc[(size_t)O * p + (size_t)o];
            if (!first)
                v = _mm256_add_ps(_mm256_loadu_ps(cc), v);
            _mm256_storeu_ps(cc, v);
        }
}

/* One span of either contract into the group's columns col (po columns
 * of 32 floats). */
LG_INLINE void ff_span(int fast, const uint8_t *w, size_t wstep,
                       const uint8_t *tab, size_t ns, const size_t bits, const size_t po,
                       float scale, float *col, int first)
{
    if (fast) {
        __m256i acc[8];
        if (po == 1) {
            fast_span(w, wstep, tab, ns, 0, bits, po, acc);
        } else {
            /* 2·bits accumulators would spill: two passes of ≤ 2 planes */
            fast_span(w, wstep, tab, ns, 0, bits < 2 ? bits : 2, po, acc);
            if (bits > 2)
                fast_span(w, wstep, tab, ns, 2, bits, po, acc);
        }
        const __m256 sc = _mm256_set1_ps(scale);
        for (size_t p = 0; p < po; p++)
            fast_fold(acc[2 * p], acc[2 * p + 1], sc, col + 32 * p, first);
    } else {
        /* octets per pass: ≤ 8 accumulators */
        const int O = po == 1 ? 4 : bits <= 2 ? 4 : 2;
        for (int o0 = 0; o0 < 4; o0 += O)
            float_span(w, wstep, tab, ns, bits, po, o0, O, col, first);
    }
}

/* One token × one row group (cf. lut_token). */
LG_INLINE void ff_token(const lutgemm_kernel_args *a, int fast, const uint8_t *wg, size_t row0,
                        size_t tok, const size_t bits, const size_t po)
{
    const size_t nb = a->nb, span = a->span;
    const size_t gsteps = a->bp / LUT_KC, ns = span / LUT_KC;
    const size_t wstep = bits * LUT_MR;
    const size_t tstep = fast ? 32 : 128; /* table bytes per step */
    const uint8_t *tabs = a->tables + tok * a->tables_stride;
    const float *tsc = fast ? a->tscale + tok * a->tscale_stride : NULL;
    int32_t *out = (int32_t *)a->out + tok * a->out_stride + row0 * nb * po;
    const size_t gblock = COLS / po;
    /* f32 bits; only vector loads and stores (may_alias) touch them */
    int32_t col[COLS * LUT_MR];
    for (size_t b0 = 0; b0 < nb; b0 += gblock) {
        const size_t cnt = nb - b0 < gblock ? nb - b0 : gblock;
        /* span index (b0 · gsteps) / ns, counted rather than divided */
        size_t si = b0 * (gsteps / ns);
        for (size_t c = 0; c < cnt; c++) {
            float *cc = (float *)(void *)(col + c * po * LUT_MR);
            for (size_t s = 0; s < gsteps; s += ns, si++) {
                const size_t sg = (b0 + c) * gsteps + s;
                const float sc = fast ? tsc[si] : 1.0f;
                const uint8_t *ws = wg + sg * wstep, *ts = tabs + tstep * sg;
                /* constant trip counts unroll */
                if (ns == 8)
                    ff_span(fast, ws, wstep, ts, 8, bits, po, sc, cc, s == 0);
                else if (ns == 4)
                    ff_span(fast, ws, wstep, ts, 4, bits, po, sc, cc, s == 0);
                else
                    ff_span(fast, ws, wstep, ts, ns, bits, po, sc, cc, s == 0);
            }
        }
        cols_store(out, nb * po, b0 * po, col, LUT_MR, (int)(cnt * po), ORDER_NATURAL);
    }
}

LG_INLINE void ff_all(const lutgemm_kernel_args *a, int fast, const size_t bits, const size_t po)
{
    for (size_t g = 0; g < a->row_groups; g++)
        for (size_t t = 0; t < a->n; t++)
            ff_token(a, fast, a->w + g * a->w_stride, g * LUT_MR, t, bits, po);
}

LG_INLINE void ff_kernel(const lutgemm_kernel_args *a, int fast)
{
    LUTGEMM_REQUIRE(a->mr == LUT_MR && a->kc == LUT_KC);
    LUTGEMM_REQUIRE(a->bits >= 1 && a->bits <= 4 && (a->plane_out == 1 || a->plane_out == a->bits));
    LUTGEMM_REQUIRE(a->span >= LUT_KC && a->span <= LUT_KC * FF_MAX_NS && a->span % LUT_KC == 0 &&
                    a->bp % a->span == 0);
    const int per_plane = a->plane_out != 1;
    switch (a->bits) {
    case 1: ff_all(a, fast, 1, 1); break;
    case 2: per_plane ? ff_all(a, fast, 2, 2) : ff_all(a, fast, 2, 1); break;
    case 3: per_plane ? ff_all(a, fast, 3, 3) : ff_all(a, fast, 3, 1); break;
    default: per_plane ? ff_all(a, fast, 4, 4) : ff_all(a, fast, 4, 1); break;
    }
}

LUTGEMM_KERNEL(lutgemm_avx2_int_bitlut_g4_fast) { ff_kernel(a, 1); }

LUTGEMM_KERNEL(lutgemm_avx2_int_bitlut_g4_float) { ff_kernel(a, 0); }

/* ------------------------------------------------------------------------
 * Fast tables for bitlut_g4: exactly the portable builder's bytes and
 * scales (src/lut/bit_g4.rs `entries`, src/lut/mod.rs `requantize_spans`,
 * src/activation.rs `round_to_i8`).
 *
 * Entries, two groups per vector (group j in the low 128-bit lane, j + 1
 * in the high one), with the portable f32 operations: with v = (t0..t3) =
 * (+0, x0, x1, x0 + x1) (t3 from (x0, x1) + (−0, x1) lane-wise: x + (−0)
 * is x for every x), t4..t7 = v + x2 (t4 = +0 + x2 as in Rust),
 * s = t7 + x3, t15..t12 = s − (t0..t3), t11..t8 = s − (t4..t7). Then per
 * span: amax = max |t| (vmaxps(|t|, acc) skips a NaN like f32::max), inv =
 * 127.0f / amax (scalar), and every entry t·inv rounded half away from
 * zero exactly as round_to_i8 does it: truncate, subtract, compare the
 * fraction with ±0.5, clamp at −127 (|t·inv| < 127.5 otherwise). Two
 * vpackssdw and a vpacksswb put the 32 entries of two groups in order.
 * k = 4096, span 64: 13.8 µs per token for the portable builder (rustc
 * -O3, x86-64 baseline target, as cargo builds it), 3.9 µs here, against
 * 150-330 µs for a 4096-row Fast GEMV at n = 1 (4-9% saved per token).
 * Not written for Float: the portable f32 builder takes 2.5 µs per token
 * against ≥ 290 µs for a 4096-row Float GEMV (< 1%).
 * ---------------------------------------------------------------------- */

/* Entries of groups j, j + 1 (8 activations at x): e[0] = t0..t3,
 * e[1] = t4..t7, e[2] = t8..t11, e[3] = t12..t15, per 128-bit lane. */
LG_INLINE void g4_entries2(const float *x, __m256 e[4])
{
    const __m256 v = _mm256_loadu_ps(x);
    const __m256 negz = _mm256_set1_ps(-0.0f);
    /* (+0, x0, x1, x0) + (−0, −0, −0, x1) */
    const __m256 a = _mm256_blend_ps(_mm256_permute_ps(v, _MM_SHUFFLE(0, 1, 0, 0)),
                                     _mm256_setzero_ps(), 0x11);
    const __m256 b = _mm256_blend_ps(negz, _mm256_permute_ps(v, _MM_SHUFFLE(1, 1, 1, 1)), 0x88);
    const __m256 t03 = _mm256_add_ps(a, b);
    const __m256 t47 = _mm256_add_ps(t03, _mm256_permute_ps(v, _MM_SHUFFLE(2, 2, 2, 2)));
    const __m256 s = _mm256_add_ps(_mm256_permute_ps(t47, _MM_SHUFFLE(3, 3, 3, 3)),
                                   _mm256_permute_ps(v, _MM_SHUFFLE(3, 3, 3, 3)));
    e[0] = t03;
    e[1] = t47;
    e[2] = _mm256_sub_ps(s, _mm256_permute_ps(t47, _MM_SHUFFLE(0, 1, 2, 3)));
    e[3] = _mm256_sub_ps(s, _mm256_permute_ps(t03, _MM_SHUFFLE(0, 1, 2, 3)));
}

/* round_to_i8(p) for 8 lanes, as int32 ≥ −127. */
LG_INLINE __m256i g4_round_i8(__m256 p)
{
    const __m256i t = _mm256_cvttps_epi32(p);
    const __m256 frac = _mm256_sub_ps(p, _mm256_cvtepi32_ps(t));
    const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ));
    const __m256i dn = _mm256_castps_si256(_mm256_cmp_ps(frac, _mm256_set1_ps(-0.5f), _CMP_LE_OQ));
    const __m256i r = _mm256_add_epi32(_mm256_sub_epi32(t, up), dn);
    /* the upper clamp is the packs' saturation (r > 127 -> 127) */
    return _mm256_max_epi32(r, _mm256_set1_epi32(-127));
}

LUTGEMM_TABLE_BUILDER(lutgemm_avx2_int_bitlut_g4_fast_tables)
{
    const size_t span = a->span, pairs = span / 8; /* span: multiple of 8, ≤ 64 */
    LUTGEMM_REQUIRE(span >= 8 && span <= 64 && span % 8 == 0 && a->kp % span == 0);
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 buf[FF_MAX_NS * 4];
    for (size_t sp = 0; sp < a->kp / span; sp++) {
        const float *x = a->xpad + sp * span;
        uint8_t *out = a->tables + sp * span * 4; /* 16 bytes per 4 activations */
        __m256 m = _mm256_setzero_ps();
        for (size_t i = 0; i < pairs; i++) {
            g4_entries2(x + 8 * i, buf + 4 * i);
            for (int q = 0; q < 4; q++)
                m = _mm256_max_ps(_mm256_and_ps(buf[4 * i + q], absm), m);
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        const float amax = _mm_cvtss_f32(h);
        const float inv = 127.0f / amax;
        if (!__builtin_isfinite(inv)) {
            memset(out, 0, span * 4);
            a->tscale[sp] = 0.0f;
            continue;
        }
        const __m256 iv = _mm256_set1_ps(inv);
        for (size_t i = 0; i < pairs; i++) {
            __m256i q[4];
            for (int k = 0; k < 4; k++)
                q[k] = g4_round_i8(_mm256_mul_ps(buf[4 * i + k], iv));
            /* lane: group j (low) / j + 1 (high), entries 0..15 in order */
            const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                                 _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(out + 32 * i), b);
        }
        a->tscale[sp] = amax / 127.0f;
    }
}
