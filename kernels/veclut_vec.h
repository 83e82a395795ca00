/* The vector-LUT kernel (Layout::TernaryVecLutG4) written once with GCC
 * vector extensions, for the ISA objects without a hand-written one
 * (kernels/x86/avx2_veclut.c, kernels/arm/neon_veclut.c): a 64-byte table
 * row (32 int16 tokens) is one `vl_row` value, which the compiler keeps in
 * two ymm (AVX2) or four q registers (NEON). Everything here is static, so
 * each object gets its own copy built with its own flags.
 *
 * Algorithm, scratch layout and the int16 bound: lutgemm_kernels.h and
 * kernels/x86/avx512_veclut.c (the same loop nest); the oracle is
 * src/kernels/portable/veclut.rs.
 */
#ifndef LUTGEMM_VECLUT_VEC_H
#define LUTGEMM_VECLUT_VEC_H

#include <string.h>

#include "lutgemm_kernels.h"

#define VLV_MR 64 /* rows per row group (layout) */
#define VLV_NT VECLUT_TOKENS

typedef int16_t vl_row __attribute__((vector_size(64), aligned(64)));

/* xT[c][t] = q[t0 + t][col + c] for c < 4·groups (0 for t >= nt). */
static inline void vlv_transpose(const lutgemm_kernel_args *a, size_t t0, size_t nt, size_t col,
                                 size_t groups, int16_t *xT)
{
    const size_t cols = 4 * groups;
    memset(xT, 0, cols * VLV_NT * sizeof(int16_t));
    for (size_t t = 0; t < nt; t++) {
        const int8_t *q = a->qpad + (t0 + t) * a->qpad_stride + col;
        for (size_t c = 0; c < cols; c++)
            xT[c * VLV_NT + t] = q[c];
    }
}

/* Table row 27a + 9b + 3c + d of group j: (a-1)·x0 + (b-1)·x1 + (c-1)·x2
 * + (d-1)·x3 for the 32 tokens. */
static inline void vlv_build(const int16_t *xT, size_t groups, int16_t *tables)
{
    for (size_t j = 0; j < groups; j++) {
        const vl_row *x = (const vl_row *)(xT + 4 * j * VLV_NT);
        const vl_row z = {0};
        const vl_row a[3] = {z - x[0], z, x[0]}, b[3] = {z - x[1], z, x[1]};
        const vl_row c[3] = {z - x[2], z, x[2]}, d[3] = {z - x[3], z, x[3]};
        vl_row P[9], Q[9];
        for (int u = 0; u < 3; u++)
            for (int v = 0; v < 3; v++) {
                P[3 * u + v] = a[u] + b[v];
                Q[3 * u + v] = c[u] + d[v];
            }
        vl_row *t = (vl_row *)(tables + j * VECLUT_PATTERNS * VLV_NT);
        for (int p = 0; p < 9; p++)
            for (int r = 0; r < 9; r++)
                t[9 * p + r] = P[p] + Q[r];
    }
}

/* RB rows over one K-block (see lookups() in avx512_veclut.c). */
#define VLV_LOOKUPS(RB)                                                        \
    static inline void vlv_lookups(const uint8_t *ix, size_t groups, const int16_t *tables, \
                                   int16_t *acc16, int32_t *acc32, int first, int last,    \
                                   int first_run)                                           \
    {                                                                          \
        vl_row acc[RB];                                                        \
        for (int r = 0; r < RB; r++)                                           \
            acc[r] = first ? (vl_row){0} : ((const vl_row *)acc16)[r];         \
        const char *t = (const char *)tables;                                  \
        for (size_t j = 0; j < groups; j++, ix += VLV_MR, t += VECLUT_PATTERNS * 64) { \
            for (int r = 0; r < RB; r++)                                       \
                acc[r] += *(const vl_row *)(t + (size_t)ix[r] * 64);           \
        }                                                                      \
        if (!last) {                                                           \
            for (int r = 0; r < RB; r++)                                       \
                ((vl_row *)acc16)[r] = acc[r];                                 \
            return;                                                            \
        }                                                                      \
        for (int r = 0; r < RB; r++) {                                         \
            int32_t *o = acc32 + r * VLV_NT;                                   \
            for (int t2 = 0; t2 < VLV_NT; t2++)                                \
                o[t2] = (first_run ? 0 : o[t2]) + acc[r][t2];                  \
        }                                                                      \
    }

/* The ABI entry point `name`, with register blocks of RB rows (RB divides
 * 64). */
#define LUTGEMM_VECLUT_VEC_KERNEL(name, RB)                                    \
    VLV_LOOKUPS(RB)                                                            \
    LUTGEMM_KERNEL(name)                                                       \
    {                                                                          \
        const size_t rows = a->row_groups * VLV_MR;                            \
        LUTGEMM_REQUIRE(a->mr == VLV_MR && a->kc == 4 && a->plane_out == 1 &&  \
                        a->bp % 4 == 0 && a->w_stride == VLV_MR * a->nb * a->bp / 4 && \
                        a->scratch_bytes >= lutgemm_veclut_scratch_bytes(rows)); \
        int16_t *xT = (int16_t *)a->scratch;                                   \
        int16_t *tables = (int16_t *)(a->scratch + VECLUT_XT_BYTES);           \
        int16_t *acc16 = (int16_t *)(a->scratch + VECLUT_XT_BYTES + VECLUT_TABLE_BYTES); \
        int32_t *acc32 = (int32_t *)(acc16 + rows * VLV_NT);                   \
        int32_t *out = (int32_t *)a->out;                                      \
        const size_t gpb = a->bp / 4;                                          \
        for (size_t t0 = 0; t0 < a->n; t0 += VLV_NT) {                         \
            const size_t nt = a->n - t0 < VLV_NT ? a->n - t0 : VLV_NT;         \
            for (size_t b = 0; b < a->nb; b++) {                               \
                const size_t j0 = b * gpb, j1 = j0 + gpb;                      \
                for (size_t s0 = j0; s0 < j1; s0 += VECLUT_FLUSH) {            \
                    const size_t s1 = s0 + VECLUT_FLUSH < j1 ? s0 + VECLUT_FLUSH : j1; \
                    for (size_t k0 = s0; k0 < s1; k0 += VECLUT_KBLOCK) {       \
                        const size_t kn = s1 - k0 < VECLUT_KBLOCK ? s1 - k0 : VECLUT_KBLOCK; \
                        vlv_transpose(a, t0, nt, 4 * k0, kn, xT);              \
                        vlv_build(xT, kn, tables);                             \
                        for (size_t g = 0; g < a->row_groups; g++) {           \
                            const uint8_t *wg = a->w + g * a->w_stride + k0 * VLV_MR; \
                            for (size_t s = 0; s < VLV_MR; s += (RB)) {        \
                                const size_t r = g * VLV_MR + s;               \
                                vlv_lookups(wg + s, kn, tables, acc16 + r * VLV_NT, \
                                            acc32 + r * VLV_NT, k0 == s0, k0 + kn == s1, \
                                            s0 == j0);                         \
                            }                                                  \
                        }                                                      \
                    }                                                          \
                }                                                              \
                for (size_t t = 0; t < nt; t++) {                              \
                    int32_t *o = out + (t0 + t) * a->out_stride + b;           \
                    for (size_t r = 0; r < rows; r++)                          \
                        o[r * a->nb] = acc32[r * VLV_NT + t];                  \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }

#endif
