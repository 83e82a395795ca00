/* Shared declarations of the lutgemm C kernels.
 *
 * Only innermost loops live in C: no allocation, no threads, no dispatch.
 * Every decision (layout, tiling, bounds, threading, selection) is made in
 * Rust (src/gemm.rs, src/pack.rs, src/lut.rs); the Rust side checks every
 * extent before calling. Layouts are documented in src/pack.rs (weights) and
 * src/lut.rs (activations and tables).
 *
 * Each ISA object is built with its own -m flags, so this header holds only
 * declarations, macros and `static inline` helpers: nothing non-static and
 * inline may be shared between objects built with different flags.
 */
#ifndef LUTGEMM_KERNELS_H
#define LUTGEMM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* One kernel call: for `row_groups` row groups starting at `w` and one token,
 * out[row * nb + b] = sum over block b of q[c] * code[row][c], exact int32.
 *   w      packed weights (layout of the kernel), row_groups * mr * kp / 4 bytes
 *   qpad   the token's int8 activations, blocks padded to bp, kp = nb * bp
 *   qsum   per-block sums of qpad (nb values; multiply-add kernels)
 *   tables the token's lookup tables (table kernels; else unused)
 *   out    row_groups * mr * nb int32
 */
#define LUTGEMM_KERNEL(name)                                                   \
    void name(const uint8_t *w, const int8_t *qpad, const int32_t *qsum,       \
              const uint8_t *tables, size_t row_groups, size_t nb, size_t bp,  \
              int32_t *out)

/* A table builder: kp padded activations -> the family's tables. */
#define LUTGEMM_TABLE_BUILDER(name)                                            \
    void name(const int8_t *qpad, size_t kp, uint8_t *tables)

#endif
