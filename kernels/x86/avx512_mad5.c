/* AVX-512 (BW + VBMI + VNNI) kernel for ternary weights at five per byte
 * (Layout::TernaryMad5 { mr: 32 }), Exact contract: int8 activations,
 * exact int32 sums per scale group (call contract: lutgemm_kernels.h;
 * byte encoding: src/layout/trit5.rs and trit5.h). Every extent is
 * checked in Rust before this runs.
 *
 * A step is 32 rows × 20 columns = 2 vectors of 64 bytes (16 rows × 4
 * bytes each), contiguous, so a row group is one sequential stream (the
 * AVX2 and portable kernels read the same bytes). Per vector:
 *   f = vpermi2b(TRIT5_FIELDS, v)   codes c0..c3 as 2-bit fields
 *   e = vpermi2b(TRIT5_LAST, v)     code c4
 *   bytes with bit 7 set (vpmovb2m): f = 0xAA − f, e = 2 − e (negation)
 *   X += (f & 0x03)·x0 + e·x4      Y += (f & 0x0c)·x1   (4× its sum)
 *   Z += (f & 0x30)·x2  (16×)      W += (f & 0xc0)·x3   (64×)
 * with xi the 4 activations of digit i broadcast to every 32-bit lane
 * (one lane = one row: no horizontal reduction). Row sum =
 * X + (Y >> 2) + (Z >> 4) + (W >> 6) − Σq (codes are weight + 1; each
 * accumulator is an exact multiple of its scale). Fields masked in place
 * need no shift: 2 shuffles + 5 vpdpbusd + 7 one-cycle ops per 320
 * weights, against 4 vpdpbusd + 5 ops for 256 weights of 2 bits: about
 * 1.6× the 2-bit compute per weight, for 20% fewer bytes.
 *
 * int32 bounds, per scale group of bp <= MAX_K + 19 padded columns
 * (6554 steps), |q| <= 127: per step and lane W gains at most
 * 4·128·127 = 65024 (|W| <= 4.3e8), Z 16 256, Y 8128, X 2032, all far
 * from 2^31; |row sum| <= 3·127·bp < 2^31. vpdpbusd itself never
 * saturates (its u8 operands are at most 128).
 *
 * Tokens: one token runs the decode above (4 accumulators per vector);
 * T = 2..4 tokens share each load and decode in one pass over the step,
 * with plain codes (3 shifts) and one accumulator per vector and token,
 * the activations as broadcast memory operands.
 *
 * Measurements (this machine: 2-core KVM guest, AMD EPYC Zen 4, 512-bit
 * ops as two 256-bit halves, ~3.6 GHz; one thread; shared with other
 * jobs whose load moved the single-thread DRAM read bandwidth between 15
 * and 29 GB/s during these runs).
 *
 * DRAM-streamed GEMV, what the layout is for: 65536 × 4096, one scale per
 * tensor, n = 1, end to end through Context::matmul.
 *   mad5_avx512  2390-2590 us in every run (20.7-22.5 GB/s of packed
 *                bytes): compute-bound, as from cache (145.5 us for
 *                4096 × 4096 = 115 G weights/s = 23 GB/s of its bytes);
 *   mad_avx512   2330-3470 us (19-29 GB/s: it follows the bandwidth left
 *                by other jobs, at 95-96% of a read loop's when quiet).
 *   Ratio: 0.96-1.38×; median 1.09× over 5 quick-bench runs, 1.18× over 5
 *   runs of examples/ab (kernels alternating call by call, caches evicted
 *   between rounds). With 2 threads (both memory-bound at 35 GB/s): 1.25×.
 * So the layout pays where bandwidth per core is scarce (all cores
 * decoding, or a busy memory system) and not where one core alone sees
 * more than ~23 GB/s. n = 2-8 from DRAM: 0.97-1.35× (compute-bound, one
 * vpdpbusd per 64 token-weights either way). From cache (4096 × 4096):
 * n = 1 0.61×, n = 4-8 1.03-1.04×; groups of 256 (TQ1_0/TQ2_0 blocks)
 * 0.92× at n = 1 and 1.15-1.35× at n = 2-8, where mad_avx512 reduces each
 * block horizontally.
 *
 * Decode variants (prototype loops, 1024 × 4100 weights in L2, n = 1; this
 * decode 116-118 G weights/s against 200-205 for the 2-bit row-interleaved
 * vpdpbusd loop):
 *   - 3 vpermb look-ups of a 5-bit code per 3 weights (1.67 bits) after a
 *     vpermb spread and vpmultishiftqb: 100 Gw/s (4 shuffles per 192
 *     weights; shuffles and vpdpbusd share ports here);
 *   - TQ1_0-style base-3 bytes decoded by vpmaddubsw(·, 3) chains (one
 *     digit per multiply, even and odd bytes apart): 58 Gw/s;
 *   - without the two sign fixes (wrong, to cost them): 132 Gw/s; without
 *     the 5th-code look-up: 132; the masked subtract vs a blend or a
 *     compare-into-mask: the same;
 *   - accumulators and tables pinned against GCC's register moves (81
 *     instead of 90 instructions per step) or a third accumulator to
 *     shorten the vpdpbusd chains: the same time (the moves are renamed
 *     away; the vector ops per 320 weights are the limit); the fields
 *     masked in place into 4 scaled accumulators instead of a shift and
 *     2: 1% faster; 32 rows per step instead of 64: 1-2% faster;
 *   - software prefetch 1-4 KB ahead: no change from DRAM;
 *   - 4 row groups of 16 rows as 4 streams 16 KB apart instead of one
 *     contiguous stream: 12.6 vs 19.9 GB/s from DRAM (the hardware
 *     prefetchers follow one stream per row group best); for T > 1,
 *     passes over alternate cache lines of a row group (2 vectors at a
 *     time): 0.65-0.75× the 2-bit kernel from DRAM against 0.9-1.1× in
 *     one pass;
 *   - a table-lookup kernel on the same bytes (one vpermi2b pair per 64
 *     rows × 5 weights on 128-entry int16 tables of activation sums, sign
 *     by masked negation): 160 Gw/s in L2, but it needs a byte-per-row
 *     layout and 210 KB of tables per token at k = 4096, which contended
 *     with the weight stream in L2 (14 GB/s from DRAM in the prototype).
 */

#include <immintrin.h>
#include <string.h>

#include "lutgemm_kernels.h"
#include "trit5.h"

#define INLINE static inline __attribute__((always_inline))
#define PRAGMA(x) _Pragma(#x)
#define UNROLL PRAGMA(GCC unroll 16)

/* Pins a loaded vector in a register (GCC otherwise folds the load into
 * each use; see avx512.c). */
#define REG(v) __asm__("" : "+v"(v))

#define MAD5_MR 32
#define MAD5_VECS 2 /* 64-byte vectors per step */

INLINE __m512i bcast32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

typedef struct {
    __m512i fa, fb, la, lb; /* the two tables, 128 bytes each */
    __m512i neg_fields, two, m03, m0c, m30, mc0;
} mad5_consts;

INLINE mad5_consts mad5_init(void)
{
    mad5_consts c;
    c.fa = _mm512_load_si512((const void *)TRIT5_FIELDS);
    c.fb = _mm512_load_si512((const void *)(TRIT5_FIELDS + 64));
    c.la = _mm512_load_si512((const void *)TRIT5_LAST);
    c.lb = _mm512_load_si512((const void *)(TRIT5_LAST + 64));
    c.neg_fields = _mm512_set1_epi8((char)0xAA);
    c.two = _mm512_set1_epi8(2);
    c.m03 = _mm512_set1_epi8(0x03);
    c.m0c = _mm512_set1_epi8(0x0c);
    c.m30 = _mm512_set1_epi8(0x30);
    c.mc0 = _mm512_set1_epi8((char)0xc0);
    return c;
}

/* The 5 vpdpbusd operands of one vector of packed bytes, the fields
 * masked in place: c0, 4·c1, 16·c2, 64·c3, c4. */
INLINE void mad5_decode(const mad5_consts *c, __m512i v, __m512i o[5])
{
    const __mmask64 neg = _mm512_movepi8_mask(v);
    __m512i f = _mm512_permutex2var_epi8(c->fa, v, c->fb);
    __m512i e = _mm512_permutex2var_epi8(c->la, v, c->lb);
    f = _mm512_mask_sub_epi8(f, neg, c->neg_fields, f);
    e = _mm512_mask_sub_epi8(e, neg, c->two, e);
    o[0] = _mm512_and_si512(f, c->m03);
    o[1] = _mm512_and_si512(f, c->m0c);
    o[2] = _mm512_and_si512(f, c->m30);
    o[3] = _mm512_and_si512(f, c->mc0);
    o[4] = e;
}

/* The 5 operands as plain codes c0..c4, for one accumulator per row
 * vector and token (n > 1). */
INLINE void mad5_decode_plain(const mad5_consts *c, __m512i v, __m512i o[5])
{
    const __mmask64 neg = _mm512_movepi8_mask(v);
    __m512i f = _mm512_permutex2var_epi8(c->fa, v, c->fb);
    __m512i e = _mm512_permutex2var_epi8(c->la, v, c->lb);
    f = _mm512_mask_sub_epi8(f, neg, c->neg_fields, f);
    o[0] = _mm512_and_si512(f, c->m03);
    o[1] = _mm512_and_si512(_mm512_srli_epi16(f, 2), c->m03);
    o[2] = _mm512_and_si512(_mm512_srli_epi16(f, 4), c->m03);
    o[3] = _mm512_and_si512(_mm512_srli_epi16(f, 6), c->m03);
    o[4] = _mm512_mask_sub_epi8(e, neg, c->two, e);
}

/* Writes one vector's 16 row sums of scale group b for one token: rows
 * r0..r0+15 of the call. */
INLINE void mad5_store(const lutgemm_kernel_args *a, size_t t, size_t r0, size_t b, __m512i s)
{
    int32_t *o = (int32_t *)a->out + t * a->out_stride + r0 * a->nb + b;
    if (a->nb == 1) {
        _mm512_storeu_si512((void *)o, s);
    } else {
        int32_t tmp[16];
        _mm512_storeu_si512((void *)tmp, s);
        for (int i = 0; i < 16; i++)
            o[(size_t)i * a->nb] = tmp[i];
    }
}

/* Row group g, token t: per vector, X (c0, c4), Y (4·c1), Z (16·c2) and
 * W (64·c3). */
INLINE void mad5_tile(const lutgemm_kernel_args *a, const mad5_consts *c, size_t g, size_t t)
{
    const size_t spg = a->bp / TRIT5_STEP;
    const uint8_t *w = a->w + g * a->w_stride;
    const int8_t *x = a->qpad + t * a->qpad_stride;
    for (size_t b = 0; b < a->nb; b++) {
        __m512i X[MAD5_VECS], Y[MAD5_VECS], Z[MAD5_VECS], W[MAD5_VECS];
        UNROLL
        for (int r = 0; r < MAD5_VECS; r++)
            X[r] = Y[r] = Z[r] = W[r] = _mm512_setzero_si512();
        for (size_t s = b * spg; s < (b + 1) * spg; s++) {
            const uint8_t *ws = w + s * (MAD5_VECS * 64);
            const int8_t *xs = x + TRIT5_STEP * s;
            __m512i xb[5];
            UNROLL
            for (int i = 0; i < 5; i++)
                xb[i] = bcast32(xs + 4 * i);
            UNROLL
            for (int r = 0; r < MAD5_VECS; r++) {
                __m512i v = _mm512_loadu_si512((const void *)(ws + 64 * r));
                REG(v);
                __m512i o[5];
                mad5_decode(c, v, o);
                X[r] = _mm512_dpbusd_epi32(X[r], o[0], xb[0]);
                Y[r] = _mm512_dpbusd_epi32(Y[r], o[1], xb[1]);
                Z[r] = _mm512_dpbusd_epi32(Z[r], o[2], xb[2]);
                W[r] = _mm512_dpbusd_epi32(W[r], o[3], xb[3]);
                X[r] = _mm512_dpbusd_epi32(X[r], o[4], xb[4]);
            }
        }
        const __m512i qs = _mm512_set1_epi32(a->qsum[t * a->qsum_stride + b]);
        UNROLL
        for (int r = 0; r < MAD5_VECS; r++) {
            const __m512i sum = _mm512_add_epi32(
                _mm512_add_epi32(X[r], _mm512_srai_epi32(Y[r], 2)),
                _mm512_add_epi32(_mm512_srai_epi32(Z[r], 4), _mm512_srai_epi32(W[r], 6)));
            mad5_store(a, t, g * MAD5_MR + 16 * (size_t)r, b, _mm512_sub_epi32(sum, qs));
        }
    }
}

/* acc += vpdpbusd(o, the 4 bytes at p broadcast), the broadcast a memory
 * operand: as separate vpbroadcastd registers (GCC does not fold them) the
 * 5·T activations of a step spilled the accumulators at T = 4 (41 stack
 * accesses per step). */
#define DPBUSD_BCAST(acc, o, p)                                                \
    __asm__("vpdpbusd %2%{1to16%}, %1, %0"                                     \
            : "+v"(acc)                                                        \
            : "v"(o), "m"(*(const int32_t *)(const void *)(p)))

/* Row group g, tokens t0..t0+T-1 (T >= 2): every vector of a step in one
 * pass (a step's cache lines are read together: passes over alternate
 * lines of a DRAM-streamed row group ran at 0.65-0.75x the 2-bit kernel at
 * n = 2-8), plain codes (3 shifts) so that one accumulator per vector and
 * token suffices: 2·T <= 8. */
INLINE void mad5_tile_tokens(const lutgemm_kernel_args *a, const mad5_consts *c, size_t g,
                             size_t t0, const int T)
{
    const size_t spg = a->bp / TRIT5_STEP;
    const uint8_t *w = a->w + g * a->w_stride;
    for (size_t b = 0; b < a->nb; b++) {
        __m512i acc[MAD5_VECS][4];
        UNROLL
        for (int r = 0; r < MAD5_VECS; r++)
            UNROLL
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm512_setzero_si512();
        for (size_t s = b * spg; s < (b + 1) * spg; s++) {
            const uint8_t *ws = w + s * (MAD5_VECS * 64);
            const int8_t *xs[4];
            UNROLL
            for (int t = 0; t < T; t++)
                xs[t] = a->qpad + (t0 + t) * a->qpad_stride + TRIT5_STEP * s;
            UNROLL
            for (int r = 0; r < MAD5_VECS; r++) {
                __m512i v = _mm512_loadu_si512((const void *)(ws + 64 * r));
                REG(v);
                __m512i o[5];
                mad5_decode_plain(c, v, o);
                UNROLL
                for (int t = 0; t < T; t++)
                    UNROLL
                    for (int i = 0; i < 5; i++)
                        DPBUSD_BCAST(acc[r][t], o[i], xs[t] + 4 * i);
            }
        }
        UNROLL
        for (int r = 0; r < MAD5_VECS; r++)
            UNROLL
            for (int t = 0; t < T; t++) {
                const int32_t qs = a->qsum[(t0 + t) * a->qsum_stride + b];
                mad5_store(a, t0 + t, g * MAD5_MR + 16 * (size_t)r, b,
                           _mm512_sub_epi32(acc[r][t], _mm512_set1_epi32(qs)));
            }
    }
}

/* All row groups for tokens t0..t0+T-1. */
INLINE void mad5_rows(const lutgemm_kernel_args *a, const mad5_consts *c, size_t t0, const int T)
{
    for (size_t g = 0; g < a->row_groups; g++) {
        if (T == 1)
            mad5_tile(a, c, g, t0);
        else
            mad5_tile_tokens(a, c, g, t0, T);
    }
}

LUTGEMM_KERNEL(lutgemm_avx512_ternary_mad5)
{
    LUTGEMM_REQUIRE(a->mr == MAD5_MR && a->kc == TRIT5_STEP && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bp % TRIT5_STEP == 0 && a->w_stride == a->mr * a->nb * a->bp / 5);
    const mad5_consts c = mad5_init();
    size_t t = 0;
    for (; t + 4 <= a->n; t += 4)
        mad5_rows(a, &c, t, 4);
    switch (a->n - t) {
    case 3:
        mad5_rows(a, &c, t, 3);
        break;
    case 2:
        mad5_rows(a, &c, t, 2);
        break;
    case 1:
        mad5_rows(a, &c, t, 1);
        break;
    default:
        break;
    }
}
