/* The integer vector-LUT kernel (Layout::IntVecLut { mr: 64 }, b-bit
 * codes, b = 1..4) written once with GCC vector extensions for every ISA
 * object: a 64-byte table row (32 int16 tokens) is IVL_PARTS native
 * vectors of VLV_BYTES (the including file defines VLV_BYTES: 64 for
 * AVX-512, 32 for AVX2, 16 for NEON). Everything here is static, so each
 * object gets its own copy built with its own flags. An including file may
 * define IVL_TRANSPOSE(a, t0, nt, col, cols, xT) and IVL_WRITE_OUT(a, acc,
 * sums, t0, nt) with faster versions of lutgemm_veclut_transpose_q and
 * lutgemm_veclut_write_out, and must define IVL_F16_TO_F32(bits), its
 * ISA's one-instruction conversion of an f16 group scale.
 *
 * Per tile of 32 tokens, per scale group, per flush run of IVL_FLUSH(b)
 * index groups, per K-block of IVL_KBLOCK index groups (one byte a row,
 * 8/f columns, f = b or 4 for b = 3):
 *   1. transpose the K-block's activations to [column][token] int16;
 *   2. build, per index group, two 16-row half tables over its low and
 *      high nibble's columns (one add a row: row i is row i minus one
 *      unit of its lowest nonzero field, plus that field's column);
 *   3. per block of RB rows, add the rows each index byte's two nibbles
 *      select into the row's 32 int16 accumulators: 4/f columns × 32
 *      tokens an add (one 256-row table per byte, 16 KiB a group, was
 *      read from L2 and measured 2.2x slower);
 *   4. at the end of a flush run widen to int32; at the end of a scale
 *      group either keep the int32 sums for out (unfused) or apply the
 *      group's scale (and offset or zero point) in the LUTGEMM_FUSE order
 *      to the row's 32 float accumulators.
 * Scratch layout and the int16 bound: lutgemm_kernels.h. The oracle is
 * src/kernels/portable/mad.rs (int_veclut), which decodes the bytes.
 */
#ifndef LUTGEMM_VECLUT_INT_H
#define LUTGEMM_VECLUT_INT_H

#include <string.h>

#include "lutgemm_kernels.h"

#define IVL_MR 64 /* rows per row group (layout) */
#define IVL_NT VECLUT_TOKENS
#define IVL_PARTS (64 / VLV_BYTES)
#define IVL_ELEMS (VLV_BYTES / 2) /* int16 tokens a vector */

typedef int16_t ivl_vec __attribute__((vector_size(VLV_BYTES), aligned(VLV_BYTES)));

#ifndef IVL_TRANSPOSE
#define IVL_TRANSPOSE lutgemm_veclut_transpose_q
#endif
#ifndef IVL_WRITE_OUT
#define IVL_WRITE_OUT lutgemm_veclut_write_out
#endif

/* Half table h[16] over the columns x[c·IVL_PARTS] (a column of xT is
 * IVL_PARTS vectors) with fields of f bits: h[i] = Σ_c field_c(i) · x_c. */
static inline void ivl_half(const ivl_vec *x, int f, ivl_vec *h)
{
    const int mask = (1 << f) - 1;
    h[0] = (ivl_vec){0};
    for (int i = 1; i < 16; i++) {
        int c = 0;
        while (((i >> (f * c)) & mask) == 0)
            c++;
        h[i] = h[i - (1 << (f * c))] + x[c * IVL_PARTS];
    }
}

/* Tables of `groups` index groups from xT (8/f columns each): per group
 * the 16 rows of its low nibble's columns, then the 16 of its high
 * nibble's. */
static inline void ivl_build(const int16_t *xT, size_t groups, int f, int16_t *tables)
{
    const int cols = 8 / f;
    for (size_t j = 0; j < groups; j++) {
        for (int p = 0; p < IVL_PARTS; p++) {
            /* Column c's part p: x[c · IVL_PARTS]. */
            const ivl_vec *x = (const ivl_vec *)(xT + (size_t)cols * j * IVL_NT) + p;
            ivl_vec lo[16], hi[16];
            ivl_half(x, f, lo);
            ivl_half(x + cols / 2 * IVL_PARTS, f, hi);
            ivl_vec *t = (ivl_vec *)(tables + j * 32 * IVL_NT) + p;
            for (int u = 0; u < 16; u++) {
                t[u * IVL_PARTS] = lo[u];
                t[(16 + u) * IVL_PARTS] = hi[u];
            }
        }
    }
}

/* What the end of a scale group does to a block's rows (fused calls). */
typedef struct ivl_fuse {
    const uint8_t *scales; /* the block's first row's scale; offsets 64 elements on */
    int f16, offsets;
    int32_t z;             /* zero point (0: none) */
    const int32_t *qsT;    /* the scale group's activation sums, 32 tokens */
} ivl_fuse;

#ifndef IVL_F16_TO_F32
#error "define IVL_F16_TO_F32(bits): f16 bits to float (F16C, fcvt)"
#endif

static inline float ivl_scale(const ivl_fuse *fz, size_t i)
{
    if (fz->f16) {
        uint16_t h;
        memcpy(&h, fz->scales + 2 * i, 2);
        return IVL_F16_TO_F32(h);
    }
    float s;
    memcpy(&s, fz->scales + 4 * i, 4);
    return s;
}

/* One scale group's end for row r of the block: isum (32 int32) into
 * accf (zeroed at the tile's start) in the LUTGEMM_FUSE order. One
 * branch-free loop per mode, so the compiler vectorizes each. */
static inline void ivl_fuse_row(const ivl_fuse *fz, size_t r, const int32_t *restrict isum,
                                float *restrict accf)
{
    const float s = ivl_scale(fz, r);
    const int32_t *restrict q = fz->qsT;
    if (fz->z) {
        const int32_t z = fz->z;
        for (int e = 0; e < IVL_NT; e++)
            accf[e] = __builtin_fmaf(s, (float)(isum[e] - z * q[e]), accf[e]);
    } else if (fz->offsets) {
        const float o = ivl_scale(fz, IVL_MR + r);
        for (int e = 0; e < IVL_NT; e++)
            accf[e] = __builtin_fmaf(o, (float)q[e], __builtin_fmaf(s, (float)isum[e], accf[e]));
    } else {
        for (int e = 0; e < IVL_NT; e++)
            accf[e] = __builtin_fmaf(s, (float)isum[e], accf[e]);
    }
}

/* RB rows over one K-block of `groups` index groups. ix: the block's first
 * index byte of the K-block's first group (the next group's are IVL_MR
 * bytes on). first: start from zero, else from acc16. last: the flush
 * run's end: widen into acc32 (rows stride32 int32 apart; add unless
 * first_run). fz (fused calls only) and group_end: the scale group ends
 * here, so the row's sum goes into accf (rows IVL_NT floats apart). */
#define IVL_LOOKUPS(RB)                                                        \
    static inline void ivl_lookups(const uint8_t *ix, size_t groups, const int16_t *tables, \
                                   int16_t *acc16, int32_t *acc32, size_t stride32,       \
                                   float *accf, const ivl_fuse *fz, int first, int last,   \
                                   int first_run, int group_end)                          \
    {                                                                          \
        ivl_vec acc[RB][IVL_PARTS];                                            \
        ivl_vec *a16 = (ivl_vec *)acc16;                                       \
        for (int r = 0; r < RB; r++)                                           \
            for (int h = 0; h < IVL_PARTS; h++)                                \
                acc[r][h] = first ? (ivl_vec){0} : a16[r * IVL_PARTS + h];     \
        const char *t = (const char *)tables;                                  \
        for (size_t j = 0; j < groups; j++, ix += IVL_MR, t += 32 * 64) {      \
            for (int r = 0; r < RB; r++) {                                     \
                const ivl_vec *lo = (const ivl_vec *)(t + (size_t)(ix[r] & 15) * 64); \
                const ivl_vec *hi = (const ivl_vec *)(t + 1024 + (size_t)(ix[r] >> 4) * 64); \
                for (int h = 0; h < IVL_PARTS; h++)                            \
                    acc[r][h] += lo[h] + hi[h];                                \
            }                                                                  \
        }                                                                      \
        if (!last) {                                                           \
            for (int r = 0; r < RB; r++)                                       \
                for (int h = 0; h < IVL_PARTS; h++)                            \
                    a16[r * IVL_PARTS + h] = acc[r][h];                        \
            return;                                                            \
        }                                                                      \
        for (int r = 0; r < RB; r++) {                                         \
            int32_t *o = acc32 + r * stride32;                                 \
            int16_t a16r[IVL_NT] __attribute__((aligned(64)));                 \
            int32_t isum[IVL_NT] __attribute__((aligned(64)));                 \
            memcpy(a16r, acc[r], sizeof a16r);                                 \
            for (int i = 0; i < IVL_NT; i++)                                   \
                isum[i] = a16r[i];                                             \
            if (!first_run)                                                    \
                for (int i = 0; i < IVL_NT; i++)                               \
                    isum[i] += o[i];                                           \
            if (fz && group_end)                                               \
                ivl_fuse_row(fz, (size_t)r, isum, accf + r * IVL_NT);          \
            else                                                               \
                memcpy(o, isum, sizeof isum);                                  \
        }                                                                      \
    }

/* The ABI entry point `name`, with register blocks of RB rows (RB divides
 * 64). */
#define LUTGEMM_VECLUT_INT_KERNEL(name, RB)                                    \
    IVL_LOOKUPS(RB)                                                            \
    LUTGEMM_KERNEL(name)                                                       \
    {                                                                          \
        const size_t rows = a->row_groups * IVL_MR;                            \
        const int fused = a->fuse != 0;                                        \
        const int f = a->bits == 3 ? 4 : (int)a->bits;                         \
        const size_t cols = (size_t)(8 / f);                                   \
        LUTGEMM_REQUIRE(a->mr == IVL_MR && a->kc == 8 && a->plane_out == 1 &&  \
                        a->bits >= 1 && a->bits <= 4 && a->bp % 8 == 0 &&      \
                        a->w_stride == IVL_MR * a->nb * a->bp / cols &&        \
                        LUTGEMM_FUSE_VALID(a->fuse) &&                         \
                        a->scratch_bytes >=                                    \
                            lutgemm_int_veclut_scratch_bytes(rows, a->nb, fused)); \
        int16_t *xT = (int16_t *)a->scratch;                                   \
        int16_t *tables = (int16_t *)(a->scratch + IVL_XT_BYTES);              \
        int32_t *qsT = (int32_t *)(a->scratch + IVL_XT_BYTES + IVL_TABLE_BYTES); \
        int16_t *acc16 = (int16_t *)((uint8_t *)qsT + IVL_QSUM_BYTES);         \
        int32_t *acc32 = (int32_t *)(acc16 + rows * IVL_NT);                   \
        float *accf = (float *)(acc32 + rows * IVL_NT);                        \
        const size_t gpb = a->bp / cols; /* index groups per scale group */   \
        const size_t flush = IVL_FLUSH(a->bits);                               \
        const size_t elem = (a->fuse & LUTGEMM_FUSE_F16) ? 2 : 4;              \
        const int offsets = (a->fuse & LUTGEMM_FUSE_OFFSETS) != 0;             \
        const size_t per_group = IVL_MR * elem * (offsets ? 2 : 1);            \
        ivl_fuse fz = {0};                                                     \
        fz.f16 = elem == 2;                                                    \
        fz.offsets = offsets;                                                  \
        fz.z = (a->fuse & LUTGEMM_FUSE_ZERO_POINT) ? 1 << (a->bits - 1) : 0;   \
        fz.qsT = qsT;                                                          \
        for (size_t t0 = 0; t0 < a->n; t0 += IVL_NT) {                         \
            const size_t nt = a->n - t0 < IVL_NT ? a->n - t0 : IVL_NT;         \
            if (fused)                                                         \
                memset(accf, 0, rows * IVL_NT * sizeof(float));                \
            for (size_t b = 0; b < a->nb; b++) {                               \
                const size_t j0 = b * gpb, j1 = j0 + gpb;                      \
                if (fused && (offsets || fz.z))                                \
                    for (size_t t = 0; t < IVL_NT; t++)                        \
                        qsT[t] = t < nt ? a->qsum[(t0 + t) * a->qsum_stride + b] : 0; \
                for (size_t s0 = j0; s0 < j1; s0 += flush) {                   \
                    const size_t s1 = s0 + flush < j1 ? s0 + flush : j1;       \
                    for (size_t k0 = s0; k0 < s1; k0 += IVL_KBLOCK) {          \
                        const size_t kn = s1 - k0 < IVL_KBLOCK ? s1 - k0 : IVL_KBLOCK; \
                        IVL_TRANSPOSE(a, t0, nt, cols * k0, cols * kn, xT);    \
                        ivl_build(xT, kn, f, tables);                          \
                        const int first = k0 == s0, last = k0 + kn == s1;      \
                        const int first_run = s0 == j0, group_end = s1 == j1;  \
                        for (size_t g = 0; g < a->row_groups; g++) {           \
                            const uint8_t *wg = a->w + g * a->w_stride + k0 * IVL_MR; \
                            for (size_t s = 0; s < IVL_MR; s += (RB)) {        \
                                const size_t r = g * IVL_MR + s;               \
                                if (fused)                                     \
                                    fz.scales = (const uint8_t *)a->gscale +   \
                                                g * a->gscale_stride +         \
                                                b * per_group + s * elem;      \
                                ivl_lookups(wg + s, kn, tables, acc16 + r * IVL_NT, \
                                            fused ? acc32 + r * IVL_NT         \
                                                  : acc32 + (r * a->nb + b) * IVL_NT, \
                                            fused ? IVL_NT : a->nb * IVL_NT,   \
                                            accf + r * IVL_NT, fused ? &fz : 0, \
                                            first, last, first_run, group_end); \
                            }                                                  \
                        }                                                      \
                    }                                                          \
                }                                                              \
            }                                                                  \
            if (fused)                                                         \
                IVL_WRITE_OUT(a, (const int32_t *)accf, rows, t0, nt);         \
            else                                                               \
                IVL_WRITE_OUT(a, acc32, rows * a->nb, t0, nt);                 \
        }                                                                      \
    }

#endif
