/* AVX-512 (F/BW + VBMI) vector-LUT kernel for ternary weights under the
 * exact contract (Layout::TernaryVecLutG4 { mr: 64 }; the scratch layout
 * and the flush bound are in lutgemm_kernels.h, the algorithm in
 * src/kernels/portable/veclut.rs).
 *
 * Per tile of 32 tokens, per scale group, per K-block of 8 groups of 4
 * columns:
 *   1. transpose: two masked vpgatherdd per group fetch the group's 4
 *      int8 columns of 16 tokens each; vpermi2b + vpmovsxbw turn them into
 *      one int16 vector of 32 tokens per column (xT);
 *   2. build: per group, 9 + 9 half sums and 81 vpaddw + stores: one
 *      64-byte table row (32 int16) per pattern;
 *   3. lookups: per block of 16 rows, 16 zmm accumulators; per group two
 *      64-bit loads of the 16 rows' index bytes, then per row a shift and
 *      a mask to 64·index and vpaddw zmm, [table + 64·index]: one zmm load
 *      and one add for 4 columns × 32 tokens = 128 MACs (a vpdpbusd zmm
 *      does 64);
 *   4. flush: int16 partial sums go to acc16 (scratch) between K-blocks
 *      and are widened into acc32 every VECLUT_FLUSH = 64 groups (the
 *      proven int16 bound, lutgemm_kernels.h) and at every scale group's
 *      end; at the end of the token tile every scale group's acc32 is
 *      transposed into out.
 *
 * Result (Context::matmul_i8 end to end, epilogue included, one thread,
 * n = 256, whole-row scales, thread CPU time, minimum of 15, kernels
 * interleaved; 2-core KVM guest, Zen 4,
 * shared; 455 GOP/s = one vpdpbusd zmm per cycle = 2·m·n·k at the int8
 * multiply-add peak):
 *
 *   m × k          veclut_g4_avx512       mad_avx512     lut_g4_avx512
 *   4096 × 4096    16.6 ms 516 GOP/s 1.13x  23.1 ms 371     23.3 ms 369
 *   2560 × 6912    17.3 ms 524 GOP/s 1.15x  23.6 ms 384     29.5 ms 308
 *   6912 × 2560    17.3 ms 522 GOP/s 1.15x  24.9 ms 364     23.6 ms 384
 *   3200 × 8640    26.6 ms 533 GOP/s 1.17x  37.3 ms 379     38.0 ms 373
 *   8640 × 3200    27.3 ms 518 GOP/s 1.14x  39.9 ms 355     41.0 ms 345
 *
 * (n = 64: 527-538 GOP/s on the first three shapes. The AVX2 build of
 * kernels/veclut_vec.h: 335-346 GOP/s vs mad_avx2 228-237.) The quick
 * bench's wall-clock medians agree when the machine is quiet (507 / 504 /
 * 506 GOP/s on the first three shapes at n = 256 in one run). A tile costs
 * the same for 1 to 32 tokens: n = 8 runs at ~130 GOP/s (selection takes
 * the kernel only for whole tiles, src/select.rs). With scale groups of
 * 256 (16 int32 sums per row and token leave the kernel, and the epilogue
 * reads them) the call slows down for every kernel: 4096 × 4096, n = 256:
 * veclut 29.0 ms, lut_g4 39.3, mad 46.1.
 *
 * How the loop nest was chosen (standalone harness of this loop nest
 * unless noted, 4096 × 4096, n = 256, one thread, thread CPU time):
 *   - synthetic lookups with tables in L1: 1.28 cycles per zmm lookup
 *     (index movzx + shift + vpaddw mem); ymm lookups 0.8 cycles for half
 *     the MACs; two zmm per index (64 tokens) 1.12 cycles per zmm.
 *   - tables of 40 / 81 / 162 / 324 KiB: 1.37 / 1.41 / 1.74 / 1.95 cycles
 *     per lookup (synthetic); in this kernel K-blocks of 4 / 8 / 16 groups
 *     (21 / 41 / 81 KiB) 18.9 / 17.1 / 18.0 ms end to end.
 *   - weights in the LutG4 order with mr = 64 (contiguous index bytes per
 *     row group and K-block, streamed) instead of mr = 16 row groups
 *     (256 B per 16 KiB page-crossing stride): 33 -> 20 ms (harness).
 *   - rows per register block 16 / 24 / 28: 16 best (fewer spills).
 *   - index bytes by one movzx load each instead of two 64-bit loads and
 *     shifts: 23.5 vs 22.1 ms end to end (two loads per lookup).
 *   - scalar transpose instead of gathers: +3 ms of 20 per 4096 rows.
 *     Build and transpose together now cost 0.8 ms of 16.5 (5%; end to
 *     end, measured by building only the first K-block's tables), with
 *     one call over 4096 rows per token tile (2048-row calls: +1.2 ms).
 *     The scalar output loop took 11% before write_out's in-register
 *     transpose.
 *   - prefetching the index bytes two row groups ahead instead of one,
 *     K-blocks of 6 groups: no gain / 6% slower (partial K-blocks).
 */

#include <immintrin.h>

#include "lutgemm_kernels.h"

#define VL_MR 64 /* rows per row group (layout) */
#define VL_RB 16 /* rows per register block */
#define NT VECLUT_TOKENS
#define KB VECLUT_KBLOCK
#define ROW_BYTES (NT * 2) /* one table row: 32 int16 */

#define INLINE static inline __attribute__((always_inline))

/* xT[c][t] = q[t0 + t][col + c] for c < 4·groups, t < 32 (0 for t >= nt). */
INLINE void transpose(const lutgemm_kernel_args *a, size_t t0, size_t nt, size_t col,
                      size_t groups, int16_t *xT)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i vindex = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)a->qpad_stride));
    const __mmask16 m0 = nt >= 16 ? 0xffff : (__mmask16)((1u << nt) - 1);
    const __mmask16 m1 = nt <= 16 ? 0 : nt >= 32 ? 0xffff : (__mmask16)((1u << (nt - 16)) - 1);
    const int8_t *q0 = a->qpad + t0 * a->qpad_stride + col;
    const int8_t *q1 = q0 + (nt > 16 ? 16 * a->qpad_stride : 0);
    /* Byte c + 4i of A (i < 16), then of B: column c of 32 tokens. */
    __m512i sel[4];
    for (int c = 0; c < 4; c++) {
        int8_t idx[64];
        for (int i = 0; i < 64; i++)
            idx[i] = (int8_t)(i < 16 ? c + 4 * i : i < 32 ? 64 + c + 4 * (i - 16) : 0);
        sel[c] = _mm512_loadu_si512(idx);
    }
    for (size_t j = 0; j < groups; j++) {
        const __m512i A = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m0, vindex,
                                                      q0 + 4 * j, 1);
        const __m512i B = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m1, vindex,
                                                      q1 + 4 * j, 1);
        for (int c = 0; c < 4; c++) {
            const __m512i col8 = _mm512_permutex2var_epi8(A, sel[c], B);
            _mm512_store_si512((void *)(xT + (4 * j + c) * NT),
                               _mm512_cvtepi8_epi16(_mm512_castsi512_si256(col8)));
        }
    }
}

/* Tables of `groups` groups from xT: row 27a + 9b + 3c + d of group j holds
 * (a-1)·x0 + (b-1)·x1 + (c-1)·x2 + (d-1)·x3 for the 32 tokens. */
INLINE void build(const int16_t *xT, size_t groups, int16_t *tables)
{
    const __m512i z = _mm512_setzero_si512();
    for (size_t j = 0; j < groups; j++) {
        const __m512i x0 = _mm512_load_si512((const void *)(xT + (4 * j + 0) * NT));
        const __m512i x1 = _mm512_load_si512((const void *)(xT + (4 * j + 1) * NT));
        const __m512i x2 = _mm512_load_si512((const void *)(xT + (4 * j + 2) * NT));
        const __m512i x3 = _mm512_load_si512((const void *)(xT + (4 * j + 3) * NT));
        const __m512i a[3] = {_mm512_sub_epi16(z, x0), z, x0};
        const __m512i b[3] = {_mm512_sub_epi16(z, x1), z, x1};
        const __m512i c[3] = {_mm512_sub_epi16(z, x2), z, x2};
        const __m512i d[3] = {_mm512_sub_epi16(z, x3), z, x3};
        __m512i P[9], Q[9];
        for (int u = 0; u < 3; u++)
            for (int v = 0; v < 3; v++) {
                P[3 * u + v] = _mm512_add_epi16(a[u], b[v]);
                Q[3 * u + v] = _mm512_add_epi16(c[u], d[v]);
            }
        int16_t *t = tables + j * VECLUT_PATTERNS * NT;
        for (int p = 0; p < 9; p++)
            for (int r = 0; r < 9; r++)
                _mm512_store_si512((void *)(t + (9 * p + r) * NT), _mm512_add_epi16(P[p], Q[r]));
    }
}

/* One register block of 16 rows over one K-block of `groups` groups.
 * ix: the block's first index byte of the K-block's first group (the next
 * group's are VL_MR bytes on). first: start from zero, else from acc16.
 * last: widen into acc32 (rows stride32 int32 apart; add unless
 * first_run, the scale group's first flush run), else store acc16. */
INLINE void lookups(const uint8_t *ix, size_t groups, const int16_t *tables, int16_t *acc16,
                    int32_t *acc32, size_t stride32, int first, int last, int first_run)
{
    __m512i acc[VL_RB];
    for (int r = 0; r < VL_RB; r++)
        acc[r] = first ? _mm512_setzero_si512() : _mm512_load_si512((const void *)(acc16 + r * NT));
    const char *t = (const char *)tables;
    for (size_t j = 0; j < groups; j++, ix += VL_MR, t += VECLUT_PATTERNS * ROW_BYTES) {
        uint64_t v0, v1;
        __builtin_memcpy(&v0, ix, 8);
        __builtin_memcpy(&v1, ix + 8, 8);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            acc[r] = _mm512_add_epi16(acc[r], _mm512_load_si512((const void *)(t + (((v0 >> (8 * r)) & 255) << 6))));
            acc[r + 8] = _mm512_add_epi16(acc[r + 8], _mm512_load_si512((const void *)(t + (((v1 >> (8 * r)) & 255) << 6))));
        }
    }
    if (!last) {
        for (int r = 0; r < VL_RB; r++)
            _mm512_store_si512((void *)(acc16 + r * NT), acc[r]);
        return;
    }
    for (int r = 0; r < VL_RB; r++) {
        __m512i lo = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(acc[r]));
        __m512i hi = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(acc[r], 1));
        int32_t *o = acc32 + r * stride32;
        if (!first_run) {
            lo = _mm512_add_epi32(lo, _mm512_load_si512((const void *)o));
            hi = _mm512_add_epi32(hi, _mm512_load_si512((const void *)(o + 16)));
        }
        _mm512_store_si512((void *)o, lo);
        _mm512_store_si512((void *)(o + 16), hi);
    }
}

/* Writes acc32 ([row·nb + group][32 tokens], `sums` = rows·nb of them)
 * to out for tokens t0..t0+nt: out[(t0 + t)·out_stride + row·nb + group].
 * A token's sums are contiguous in out: 16 × 16 blocks are transposed in
 * registers and stored whole. (A scalar loop took 11% of the kernel at
 * nb = 1; writing each scale group's sums as it ended, nb strided stores
 * per token through a 4 MiB output, took 55% at nb = 16.) */
static void write_out(const lutgemm_kernel_args *a, const int32_t *acc32, size_t sums, size_t t0,
                      size_t nt)
{
    int32_t *out = (int32_t *)a->out;
    for (size_t r = 0; r < sums; r += 16)
        for (size_t h = 0; h < NT && h < nt; h += 16) {
            __m512i x[16], y[16];
            /* Rows 4-7 and 8-11 swapped on input: the four stages below
             * leave 128-bit lanes in the order 0, 2, 1, 3. */
            for (int i = 0; i < 16; i++) {
                const int row = (i & 3) | ((i & 4) << 1) | ((i & 8) >> 1);
                x[i] = _mm512_load_si512((const void *)(acc32 + (r + (size_t)row) * NT + h));
            }
            for (int i = 0; i < 16; i += 2) {
                y[i] = _mm512_unpacklo_epi32(x[i], x[i + 1]);
                y[i + 1] = _mm512_unpackhi_epi32(x[i], x[i + 1]);
            }
            for (int i = 0; i < 16; i += 4) {
                x[i] = _mm512_unpacklo_epi64(y[i], y[i + 2]);
                x[i + 1] = _mm512_unpackhi_epi64(y[i], y[i + 2]);
                x[i + 2] = _mm512_unpacklo_epi64(y[i + 1], y[i + 3]);
                x[i + 3] = _mm512_unpackhi_epi64(y[i + 1], y[i + 3]);
            }
            for (int i = 0; i < 8; i++) {
                y[i] = _mm512_shuffle_i32x4(x[i], x[i + 8], 0x88);
                y[i + 8] = _mm512_shuffle_i32x4(x[i], x[i + 8], 0xdd);
            }
            for (int i = 0; i < 4; i++) {
                x[i] = _mm512_shuffle_i32x4(y[i], y[i + 4], 0x88);
                x[i + 8] = _mm512_shuffle_i32x4(y[i], y[i + 4], 0xdd);
                x[i + 4] = _mm512_shuffle_i32x4(y[i + 8], y[i + 12], 0x88);
                x[i + 12] = _mm512_shuffle_i32x4(y[i + 8], y[i + 12], 0xdd);
            }
            /* x[i] now holds token h + i for rows r..r+15. */
            for (int i = 0; i < 16; i++) {
                const size_t t = h + (size_t)i;
                if (t < nt)
                    _mm512_storeu_si512((void *)(out + (t0 + t) * a->out_stride + r), x[i]);
            }
        }
}

LUTGEMM_KERNEL(lutgemm_avx512_ternary_veclut_g4)
{
    const size_t rows = a->row_groups * VL_MR;
    LUTGEMM_REQUIRE(a->mr == VL_MR && a->kc == 4 && a->plane_out == 1 && a->bp % 4 == 0 &&
                    a->w_stride == VL_MR * a->nb * a->bp / 4 &&
                    a->scratch_bytes >= lutgemm_veclut_scratch_bytes(rows, a->nb) &&
                    a->qpad_stride < ((size_t)1 << 26));
    int16_t *xT = (int16_t *)a->scratch;
    int16_t *tables = (int16_t *)(a->scratch + VECLUT_XT_BYTES);
    int16_t *acc16 = (int16_t *)(a->scratch + VECLUT_XT_BYTES + VECLUT_TABLE_BYTES);
    int32_t *acc32 = (int32_t *)(acc16 + rows * NT);
    const size_t gpb = a->bp / 4; /* groups per scale group */

    for (size_t t0 = 0; t0 < a->n; t0 += NT) {
        const size_t nt = a->n - t0 < NT ? a->n - t0 : NT;
        for (size_t b = 0; b < a->nb; b++) {
            const size_t j0 = b * gpb, j1 = j0 + gpb;
            for (size_t s0 = j0; s0 < j1; s0 += VECLUT_FLUSH) {
                const size_t s1 = s0 + VECLUT_FLUSH < j1 ? s0 + VECLUT_FLUSH : j1;
                for (size_t k0 = s0; k0 < s1; k0 += KB) {
                    const size_t kn = s1 - k0 < KB ? s1 - k0 : KB;
                    transpose(a, t0, nt, 4 * k0, kn, xT);
                    build(xT, kn, tables);
                    const int first = k0 == s0, last = k0 + kn == s1, first_run = s0 == j0;
                    for (size_t g = 0; g < a->row_groups; g++) {
                        const uint8_t *wg = a->w + g * a->w_stride + k0 * VL_MR;
                        if (g + 1 < a->row_groups) {
                            const char *p = (const char *)(wg + a->w_stride);
                            for (size_t l = 0; l < kn; l++)
                                _mm_prefetch(p + 64 * l, _MM_HINT_T0);
                        }
                        for (size_t s = 0; s < VL_MR; s += VL_RB) {
                            const size_t r = g * VL_MR + s;
                            lookups(wg + s, kn, tables, acc16 + r * NT,
                                    acc32 + (r * a->nb + b) * NT, a->nb * NT, first, last,
                                    first_run);
                        }
                    }
                }
            }
        }
        write_out(a, acc32, rows * a->nb, t0, nt);
    }
}

/* The integer vector-LUT (Layout::IntVecLut): kernels/veclut_int.h with a
 * table row in one zmm and register blocks of 16 rows, this file's gather
 * transpose and in-register output transpose. */
#define VLV_BYTES 64
#define IVL_TRANSPOSE transpose_int
#define IVL_WRITE_OUT write_out
#define IVL_F16_TO_F32(h) _cvtsh_ss(h)
#include "../veclut_int.h"

/* xT for `cols` (a multiple of 4) columns: the gathers take 32-bit
 * offsets, so a token stride of 2^26 bytes or more takes the scalar copy. */
INLINE void transpose_int(const lutgemm_kernel_args *a, size_t t0, size_t nt, size_t col,
                          size_t cols, int16_t *xT)
{
    if (a->qpad_stride < ((size_t)1 << 26))
        transpose(a, t0, nt, col, cols / 4, xT);
    else
        lutgemm_veclut_transpose_q(a, t0, nt, col, cols, xT);
}

LUTGEMM_VECLUT_INT_KERNEL(lutgemm_avx512_int_veclut, 16)

/* The Float vector-LUT (kernels/veclut_float.h): a table row of 32 f32
 * tokens in two zmm, register blocks of 8 rows (16 accumulators), this
 * file's output transpose. */
#define VLF_WRITE_OUT write_out
#define VLQ_WIDEN(p) ((vlq_i16)_mm512_cvtepi8_epi16(_mm256_load_si256((const __m256i *)(const void *)(p))))
#include "../veclut_float.h"

LUTGEMM_VECLUT_F32_KERNEL(lutgemm_avx512_ternary_veclut_g4_float, 8, 0, 0)

/* The Fast vector-LUT (kernels/veclut_float.h, Fast section): a row of 32 int8 tokens
 * sign-extended into one zmm, register blocks of 16 rows. */
LUTGEMM_VECLUT_F32_KERNEL(lutgemm_avx512_ternary_veclut_g4_fast, 16, 1, 0)

/* The Float and Fast vector-LUT for 1-4-bit integers (kernels/veclut_float.h,
 * Layout::IntVecLut): the ternary kernels' register blocks, two nibble rows
 * a byte. */
LUTGEMM_VECLUT_F32_KERNEL(lutgemm_avx512_int_veclut_float, 8, 0, 1)
LUTGEMM_VECLUT_F32_KERNEL(lutgemm_avx512_int_veclut_fast, 16, 1, 1)
