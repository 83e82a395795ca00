/* AVX2 kernel for ternary weights at five per byte (Layout::TernaryMad5
 * { mr: 32 }), Exact contract (call contract: lutgemm_kernels.h; byte
 * encoding: src/layout/trit5.rs and trit5.h). Every extent is checked in
 * Rust before this runs.
 *
 * AVX2 has no 128-entry byte shuffle, so the bytes are decoded by
 * arithmetic: z = byte | 0x80 is y = ⌈256·v/243⌉ of the canonical group,
 * and vpmaddubsw(z, 3) in 16-bit lanes gives 3·z = 256·c0 + z1, the
 * first code in the high byte and the rest of the fraction in the low byte
 * (src/layout/trit5.rs). Even bytes (columns 4i, 4i + 2 of a 32-bit row
 * lane) and odd bytes are decoded in two word vectors A and B:
 *   A_0 = vpmaddubsw(z, [3, 0]), A_{i+1} = vpmaddubsw(A_i, [3, 0])
 * (the [3, 0] multiplier reads only the low byte, so no masking), and
 * vpmaddubsw(A_i, [0, x]) is c_i · x per word with the activation in the
 * high byte and 0 against the low one: one multiply per code, no
 * repacking. Per step a word's five products sum to P = Σ c_i x_i; the
 * sign bit is applied once per step and word, not per code:
 * Σ (2 − c_i) x_i = 2·Σ x_i − P, i.e. vpsignw(P, ±1) + (sign & 2·Σ x_i),
 * with 2·Σ x_i per byte position prepared once per step and token.
 * 34 ops per 160 weights (2.1× the 2-bit AVX2 kernel's 13 per 128), 20 of
 * them vpmaddubsw.
 *
 * Measured (Zen 4, one thread, end to end): 4096 × 4096 n = 1 604 us
 * against 141 us for mad_avx2 (0.23×), n = 8 4.4 vs 1.1 ms; 65536 × 4096
 * from DRAM n = 1 9.8-13.9 ms against 2.5-5.9 ms (0.25-0.42×): the
 * multiplies, not the bytes, set the time, so selection never takes this
 * kernel (src/select.rs); it serves PackOptions::family on AVX2-only
 * machines (20% less memory for the weights), and checks the arithmetic
 * decoder of src/layout/trit5.rs on every byte value. A
 * profile puts 24% of its time in the scalar per-step activation
 * preparation (mad5_prepare), amortized over only 32 rows.
 *
 * int16 bounds (|q| <= 127): |P| <= 5·2·127 = 1270 and so is |2·Σx − P|;
 * a word gains at most 2·1270 = 2540 per step (even and odd byte), so
 * MAD5_RUN = 8 steps reach at most 20320 < 32767 before vpmaddwd widens
 * them into int32 (row lane = the two words of its 4 bytes). int32:
 * |Σ| <= 2·127·bp < 2^26 for bp <= MAX_K + 19. vpmaddubsw never saturates
 * here: one nonzero product of at most 2·127 (or 255·3 for the chain).
 */

#include <immintrin.h>
#include <string.h>

#include "lutgemm_kernels.h"
#include "trit5.h"

#define INLINE static inline __attribute__((always_inline))
#define PRAGMA(x) _Pragma(#x)
#define UNROLL PRAGMA(GCC unroll 16)

#define MAD5_MR 32
#define MAD5_VECS 4 /* 32-byte vectors (8 rows each) per step */
#define MAD5_RUN 8  /* steps per int16 run */
#define MAD5_TOKENS 2

/* One step's activations for one token, as vpmaddubsw/vpsignw operands
 * broadcast to every row lane: xa[i] = bytes [0, x[4i], 0, x[4i+2]],
 * xb[i] = [0, x[4i+1], 0, x[4i+3]], x5a = int16 [2·Σ_i x[4i], 2·Σ_i
 * x[4i+2]], x5b = [2·Σ_i x[4i+1], 2·Σ_i x[4i+3]]. */
typedef struct {
    int32_t xa[5], xb[5];
    int32_t x5a, x5b;
} mad5_acts;

INLINE uint32_t hi_bytes(int8_t a, int8_t b)
{
    return (uint32_t)(uint8_t)a << 8 | (uint32_t)(uint8_t)b << 24;
}

INLINE uint32_t words(int s0, int s1)
{
    return (uint32_t)(uint16_t)(int16_t)s0 | (uint32_t)(uint16_t)(int16_t)s1 << 16;
}

static void mad5_prepare(const int8_t *x, mad5_acts *p)
{
    int s[4] = {0, 0, 0, 0};
    for (int i = 0; i < 5; i++) {
        const int8_t *xi = x + 4 * i;
        p->xa[i] = (int32_t)hi_bytes(xi[0], xi[2]);
        p->xb[i] = (int32_t)hi_bytes(xi[1], xi[3]);
        for (int j = 0; j < 4; j++)
            s[j] += xi[j];
    }
    p->x5a = (int32_t)words(2 * s[0], 2 * s[2]);
    p->x5b = (int32_t)words(2 * s[1], 2 * s[3]);
}

/* One vector of packed bytes (8 rows × 4 bytes) of one step, T tokens:
 * acc[t] += the step's signed int16 sums. */
INLINE void mad5_vector(__m256i v, const mad5_acts *const *act, const int T, __m256i *acc)
{
    const __m256i c30 = _mm256_set1_epi16(3);
    const __m256i c03 = _mm256_set1_epi16(3 << 8);
    const __m256i one = _mm256_set1_epi16(1);
    const __m256i z = _mm256_or_si256(v, _mm256_set1_epi8((char)0x80));
    __m256i A = _mm256_maddubs_epi16(z, c30);
    __m256i B = _mm256_maddubs_epi16(z, c03);
    __m256i pa[MAD5_TOKENS], pb[MAD5_TOKENS];
    UNROLL
    for (int t = 0; t < T; t++) {
        pa[t] = _mm256_maddubs_epi16(A, _mm256_set1_epi32(act[t]->xa[0]));
        pb[t] = _mm256_maddubs_epi16(B, _mm256_set1_epi32(act[t]->xb[0]));
    }
    UNROLL
    for (int i = 1; i < 5; i++) {
        A = _mm256_maddubs_epi16(A, c30);
        B = _mm256_maddubs_epi16(B, c30);
        UNROLL
        for (int t = 0; t < T; t++) {
            pa[t] = _mm256_add_epi16(pa[t], _mm256_maddubs_epi16(A, _mm256_set1_epi32(act[t]->xa[i])));
            pb[t] = _mm256_add_epi16(pb[t], _mm256_maddubs_epi16(B, _mm256_set1_epi32(act[t]->xb[i])));
        }
    }
    /* Sign of each byte, as 0/−1 words for the even and odd bytes. */
    const __m256i me = _mm256_srai_epi16(_mm256_slli_epi16(v, 8), 15);
    const __m256i mo = _mm256_srai_epi16(v, 15);
    const __m256i se = _mm256_or_si256(me, one), so = _mm256_or_si256(mo, one);
    UNROLL
    for (int t = 0; t < T; t++) {
        const __m256i fa = _mm256_add_epi16(
            _mm256_sign_epi16(pa[t], se), _mm256_and_si256(me, _mm256_set1_epi32(act[t]->x5a)));
        const __m256i fb = _mm256_add_epi16(
            _mm256_sign_epi16(pb[t], so), _mm256_and_si256(mo, _mm256_set1_epi32(act[t]->x5b)));
        acc[t] = _mm256_add_epi16(acc[t], _mm256_add_epi16(fa, fb));
    }
}

/* Row group g, tokens t0..t0+T-1. */
INLINE void mad5_group_tokens(const lutgemm_kernel_args *a, size_t g, size_t t0, const int T)
{
    const size_t spg = a->bp / TRIT5_STEP;
    const uint8_t *wg = a->w + g * a->w_stride;
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t b = 0; b < a->nb; b++) {
        __m256i sum[MAD5_VECS][MAD5_TOKENS];
        for (int r = 0; r < MAD5_VECS; r++)
            for (int t = 0; t < T; t++)
                sum[r][t] = _mm256_setzero_si256();
        for (size_t s0 = b * spg; s0 < (b + 1) * spg; s0 += MAD5_RUN) {
            const size_t ns = (b + 1) * spg - s0 < MAD5_RUN ? (b + 1) * spg - s0 : MAD5_RUN;
            mad5_acts acts[MAD5_TOKENS][MAD5_RUN];
            for (int t = 0; t < T; t++)
                for (size_t s = 0; s < ns; s++)
                    mad5_prepare(a->qpad + (t0 + t) * a->qpad_stride + TRIT5_STEP * (s0 + s),
                                 &acts[t][s]);
            for (int r = 0; r < MAD5_VECS; r++) {
                __m256i acc[MAD5_TOKENS];
                UNROLL
                for (int t = 0; t < T; t++)
                    acc[t] = _mm256_setzero_si256();
                for (size_t s = 0; s < ns; s++) {
                    const __m256i v = _mm256_loadu_si256(
                        (const __m256i *)(wg + (s0 + s) * (MAD5_VECS * 32) + 32 * r));
                    const mad5_acts *act[MAD5_TOKENS];
                    UNROLL
                    for (int t = 0; t < T; t++)
                        act[t] = &acts[t][s];
                    mad5_vector(v, act, T, acc);
                }
                UNROLL
                for (int t = 0; t < T; t++)
                    sum[r][t] = _mm256_add_epi32(sum[r][t], _mm256_madd_epi16(acc[t], ones));
            }
        }
        for (int t = 0; t < T; t++) {
            const __m256i qs = _mm256_set1_epi32(a->qsum[(t0 + t) * a->qsum_stride + b]);
            int32_t *o = (int32_t *)a->out + (t0 + t) * a->out_stride + g * MAD5_MR * a->nb + b;
            for (int r = 0; r < MAD5_VECS; r++) {
                const __m256i v = _mm256_sub_epi32(sum[r][t], qs);
                int32_t *orow = o + (size_t)(8 * r) * a->nb;
                if (a->nb == 1) {
                    _mm256_storeu_si256((__m256i *)orow, v);
                } else {
                    int32_t tmp[8];
                    _mm256_storeu_si256((__m256i *)tmp, v);
                    for (size_t i = 0; i < 8; i++)
                        orow[i * a->nb] = tmp[i];
                }
            }
        }
    }
}

LUTGEMM_KERNEL(lutgemm_avx2_ternary_mad5)
{
    LUTGEMM_REQUIRE(a->mr == MAD5_MR && a->kc == TRIT5_STEP && a->plane_out == 1);
    LUTGEMM_REQUIRE(a->bp % TRIT5_STEP == 0 && a->w_stride == a->mr * a->nb * a->bp / 5);
    for (size_t g = 0; g < a->row_groups; g++) {
        size_t t = 0;
        for (; t + 2 <= a->n; t += 2)
            mad5_group_tokens(a, g, t, 2);
        if (t < a->n)
            mad5_group_tokens(a, g, t, 1);
    }
}
