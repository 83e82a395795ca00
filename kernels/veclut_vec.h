/* The vector-LUT kernel (Layout::TernaryVecLutG4) written once with GCC
 * vector extensions, for the ISA objects without a hand-written one
 * (kernels/x86/avx2_veclut.c, kernels/arm/neon_veclut.c): a 64-byte table
 * row (32 int16 tokens) is VLV_PARTS native vectors of VLV_BYTES (the
 * including file defines VLV_BYTES: 32 for AVX2, 16 for NEON). A single
 * 64-byte vector type measured 1.7x slower than vpmaddubsw multiply-add on
 * AVX2: GCC moved it through the stack. Everything here is static, so
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

#define VLV_PARTS (64 / VLV_BYTES)
typedef int16_t vl_vec __attribute__((vector_size(VLV_BYTES), aligned(VLV_BYTES)));

/* Table row 27a + 9b + 3c + d of group j: (a-1)·x0 + (b-1)·x1 + (c-1)·x2
 * + (d-1)·x3 for the 32 tokens. */
LUTGEMM_VECLUT_BUILD81(vlv_build, vl_vec, int16_t, VLV_PARTS)

/* RB rows over one K-block (see lookups() in avx512_veclut.c). */
#define VLV_LOOKUPS(RB)                                                        \
    static inline void vlv_lookups(const uint8_t *ix, size_t groups, const int16_t *tables, \
                                   int16_t *acc16, int32_t *acc32, size_t stride32,       \
                                   int first, int last, int first_run)                      \
    {                                                                          \
        vl_vec acc[RB][VLV_PARTS];                                             \
        vl_vec *a16 = (vl_vec *)acc16;                                         \
        for (int r = 0; r < RB; r++)                                           \
            for (int h = 0; h < VLV_PARTS; h++)                                \
                acc[r][h] = first ? (vl_vec){0} : a16[r * VLV_PARTS + h];      \
        const char *t = (const char *)tables;                                  \
        for (size_t j = 0; j < groups; j++, ix += VLV_MR, t += VECLUT_PATTERNS * 64) { \
            for (int r = 0; r < RB; r++) {                                     \
                const vl_vec *row = (const vl_vec *)(t + (size_t)ix[r] * 64);  \
                for (int h = 0; h < VLV_PARTS; h++)                            \
                    acc[r][h] += row[h];                                       \
            }                                                                  \
        }                                                                      \
        if (!last) {                                                           \
            for (int r = 0; r < RB; r++)                                       \
                for (int h = 0; h < VLV_PARTS; h++)                            \
                    a16[r * VLV_PARTS + h] = acc[r][h];                        \
            return;                                                            \
        }                                                                      \
        for (int r = 0; r < RB; r++)                                           \
            for (int h = 0; h < VLV_PARTS; h++) {                              \
                int32_t *o = acc32 + r * stride32 + h * (VLV_BYTES / 2);       \
                for (int e = 0; e < VLV_BYTES / 2; e++)                        \
                    o[e] = (first_run ? 0 : o[e]) + acc[r][h][e];              \
            }                                                                  \
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
                        a->scratch_bytes >= lutgemm_veclut_scratch_bytes(rows, a->nb)); \
        int16_t *xT = (int16_t *)a->scratch;                                   \
        int16_t *tables = (int16_t *)(a->scratch + VECLUT_XT_BYTES);           \
        int16_t *acc16 = (int16_t *)(a->scratch + VECLUT_XT_BYTES + VECLUT_TABLE_BYTES); \
        int32_t *acc32 = (int32_t *)(acc16 + rows * VLV_NT);                   \
        const size_t gpb = a->bp / 4;                                          \
        for (size_t t0 = 0; t0 < a->n; t0 += VLV_NT) {                         \
            const size_t nt = a->n - t0 < VLV_NT ? a->n - t0 : VLV_NT;         \
            for (size_t b = 0; b < a->nb; b++) {                               \
                const size_t j0 = b * gpb, j1 = j0 + gpb;                      \
                for (size_t s0 = j0; s0 < j1; s0 += VECLUT_FLUSH) {            \
                    const size_t s1 = s0 + VECLUT_FLUSH < j1 ? s0 + VECLUT_FLUSH : j1; \
                    for (size_t k0 = s0; k0 < s1; k0 += VECLUT_KBLOCK) {       \
                        const size_t kn = s1 - k0 < VECLUT_KBLOCK ? s1 - k0 : VECLUT_KBLOCK; \
                        lutgemm_veclut_transpose_q(a, t0, nt, 4 * k0, 4 * kn, xT);              \
                        vlv_build(xT, kn, tables);                             \
                        for (size_t g = 0; g < a->row_groups; g++) {           \
                            const uint8_t *wg = a->w + g * a->w_stride + k0 * VLV_MR; \
                            for (size_t s = 0; s < VLV_MR; s += (RB)) {        \
                                const size_t r = g * VLV_MR + s;               \
                                vlv_lookups(wg + s, kn, tables, acc16 + r * VLV_NT, \
                                            acc32 + (r * a->nb + b) * VLV_NT,  \
                                            a->nb * VLV_NT, k0 == s0, k0 + kn == s1, \
                                            s0 == j0);                         \
                            }                                                  \
                        }                                                      \
                    }                                                          \
                }                                                              \
            }                                                                  \
            /* out's order is [token][row·nb + group]: one sequential     \
             * pass per token over every scale group's sums. */           \
            lutgemm_veclut_write_out(a, acc32, rows * a->nb, t0, nt);          \
        }                                                                      \
    }

#endif
