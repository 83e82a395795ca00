/* lutgemm: table-lookup CPU kernels for low-bit LLM inference, C API.
 *
 * C99. Link the static library (cargo build --release: target/release/
 * liblutgemm.a, plus the native libraries `cargo rustc --release --lib
 * --crate-type staticlib -- --print native-static-libs` prints) or the
 * shared one (liblutgemm.so).
 *
 * Shapes follow the linear layer: W is m × k (out × in features,
 * row-major), X is n × k (tokens × in features), Y = X · Wᵀ is n × m.
 *
 * Every function returns a lutgemm_status (or a plain value for queries);
 * no function aborts or lets a Rust panic cross this boundary. On an error
 * lutgemm_last_error() describes it (per thread).
 *
 * Host threads (ggml style), for an engine with its own thread pool:
 *
 *     size_t ws;
 *     lutgemm_work_size(w, n, nth, &ws);            // once per (n, nth)
 *     void *wdata = malloc(ws);                     // any alignment
 *     // on every thread ith < nth:
 *     lutgemm_prepare(w, x, LUTGEMM_TYPE_F32, n, ith, nth, wdata, ws);
 *     // ... barrier ...
 *     lutgemm_compute(w, n, y, ldy, ith, nth, wdata, ws);
 *
 * Results are bit-identical for every nth. lutgemm_matmul() does the same
 * in one call on the library's own threads.
 *
 * The Rust side is src/capi.rs; tests/capi_header.rs keeps the two in sync.
 */
#ifndef LUTGEMM_H
#define LUTGEMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LUTGEMM_VERSION_MAJOR 0
#define LUTGEMM_VERSION_MINOR 1
#define LUTGEMM_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
const char *lutgemm_version(void);

typedef int lutgemm_status;
#define LUTGEMM_OK 0
#define LUTGEMM_ERR_NULL 1        /* a required pointer is NULL */
#define LUTGEMM_ERR_ARGUMENT 2    /* ith >= nth, unknown enum value, ldy < m, ... */
#define LUTGEMM_ERR_SHAPE 3       /* zero or overflowing sizes, group not dividing k */
#define LUTGEMM_ERR_LENGTH 4      /* a count does not match the shape */
#define LUTGEMM_ERR_VALUE 5       /* a code or scale outside the format */
#define LUTGEMM_ERR_NON_FINITE 6  /* NaN or infinite activation */
#define LUTGEMM_ERR_UNAVAILABLE 7 /* kernel or ISA not available here */
#define LUTGEMM_ERR_WORKSPACE 8   /* wdata smaller than lutgemm_work_size */
#define LUTGEMM_ERR_INTERNAL 9    /* a bug in lutgemm (caught) */

/* A static description of a status. */
const char *lutgemm_status_str(lutgemm_status status);
/* The last error's message on this thread ("" if none), valid until the
 * next lutgemm call on this thread. */
const char *lutgemm_last_error(void);

/* Element types of float arrays. */
typedef int lutgemm_type;
#define LUTGEMM_TYPE_F32 0
#define LUTGEMM_TYPE_F16 1
#define LUTGEMM_TYPE_BF16 2

/* Numerical contracts (see the README): exact int8 activations and
 * integer sums; fast int8 tables with a scale per <= 64 activations;
 * float f32 tables. */
#define LUTGEMM_CONTRACT_EXACT 0
#define LUTGEMM_CONTRACT_FAST 1
#define LUTGEMM_CONTRACT_FLOAT 2

#define LUTGEMM_ISA_AUTO 0
#define LUTGEMM_ISA_SCALAR 1
#define LUTGEMM_ISA_AVX2 2
#define LUTGEMM_ISA_AVX512 3

#define LUTGEMM_FAMILY_AUTO 0
#define LUTGEMM_FAMILY_MAD 1
#define LUTGEMM_FAMILY_LUT_G2 2
#define LUTGEMM_FAMILY_LUT_G4 3
#define LUTGEMM_FAMILY_BITLUT_G4 4
#define LUTGEMM_FAMILY_VECLUT_G4 5
#define LUTGEMM_FAMILY_MAD5 6
#define LUTGEMM_FAMILY_VECLUT_INT 7

typedef struct lutgemm_pack_options {
    int contract;   /* LUTGEMM_CONTRACT_* */
    int isa;        /* LUTGEMM_ISA_* (AUTO: LUTGEMM_ISA env, else the best) */
    int family;     /* LUTGEMM_FAMILY_* (AUTO: selected by measurement) */
    int64_t tokens; /* typical tokens per call, for selection (1: decode) */
} lutgemm_pack_options;

/* Fills *opts with the defaults (exact, automatic ISA and family). */
lutgemm_status lutgemm_pack_options_default(lutgemm_pack_options *opts);

/* Packed weights: immutable, usable by many threads at once. */
typedef struct lutgemm_weights lutgemm_weights;

/* Scale groups along k: 0 one per tensor, -1 one per row, g > 0 one per g
 * consecutive weights of a row (g divides k). opts may be NULL (defaults).
 * On success *out owns the weights (free with lutgemm_weights_free). */

/* Float weights (m × k of `type`) quantized to ternary, absmean per group. */
lutgemm_status lutgemm_weights_from_float_ternary(const void *w, lutgemm_type type,
                                                  int64_t m, int64_t k, int64_t group,
                                                  const lutgemm_pack_options *opts,
                                                  lutgemm_weights **out);
/* Float weights quantized to `bits`-bit integers (1..4) with a scale and an
 * offset per group: round to nearest with min/max, or symmetric. */
lutgemm_status lutgemm_weights_from_float_int(const void *w, lutgemm_type type, int64_t m,
                                              int64_t k, int bits, int64_t group,
                                              int symmetric,
                                              const lutgemm_pack_options *opts,
                                              lutgemm_weights **out);
/* Ternary codes (m × k in {-1, 0, 1}) and their scales (1, m or
 * m · k / group of them). */
lutgemm_status lutgemm_weights_from_ternary(const int8_t *codes, const float *scales,
                                            size_t nscales, int64_t m, int64_t k,
                                            int64_t group, const lutgemm_pack_options *opts,
                                            lutgemm_weights **out);
/* b-bit codes (m × k, one per byte, < 2^bits) with a scale and an offset
 * per group: w = scale · q + offset. */
lutgemm_status lutgemm_weights_from_int(const uint8_t *codes, const float *scales,
                                        const float *offsets, size_t ngroups, int64_t m,
                                        int64_t k, int bits, int64_t group,
                                        const lutgemm_pack_options *opts,
                                        lutgemm_weights **out);
/* llama.cpp GGUF block types (their ggml_type ids). */
#define LUTGEMM_GGML_Q4_0 2
#define LUTGEMM_GGML_Q2_K 10
#define LUTGEMM_GGML_Q4_K 12
#define LUTGEMM_GGML_TQ1_0 34
#define LUTGEMM_GGML_TQ2_0 35

/* An m × k tensor of GGUF blocks (rows of consecutive blocks, nbytes
 * bytes), imported without loss: block scales and mins become group scales
 * and offsets exactly. */
lutgemm_status lutgemm_weights_from_gguf(int ggml_type, const void *blocks, size_t nbytes,
                                         int64_t m, int64_t k,
                                         const lutgemm_pack_options *opts,
                                         lutgemm_weights **out);
/* Bytes of an m × k tensor of ggml_type blocks. */
lutgemm_status lutgemm_gguf_size(int ggml_type, int64_t m, int64_t k, size_t *bytes);
/* Exports ternary codes and scales as TQ1_0 or TQ2_0 blocks without loss
 * (scales exact in f16, one per 256 weights or coarser); out_bytes must be
 * lutgemm_gguf_size(). */
lutgemm_status lutgemm_gguf_export_ternary(const int8_t *codes, const float *scales,
                                           size_t nscales, int64_t m, int64_t k,
                                           int64_t group, int ggml_type, void *out,
                                           size_t out_bytes);
/* Exports 4-bit codes, scales and offsets as Q4_0 blocks without loss
 * (groups of 32, offset = -8 · scale, scales exact in f16). */
lutgemm_status lutgemm_gguf_export_int(const uint8_t *codes, const float *scales,
                                       const float *offsets, size_t ngroups, int64_t m,
                                       int64_t k, int bits, int64_t group, int ggml_type,
                                       void *out, size_t out_bytes);

/* Frees weights; NULL is a no-op. */
void lutgemm_weights_free(lutgemm_weights *w);

/* Queries (0 or "" for NULL). The describe string is owned by w. */
int64_t lutgemm_weights_m(const lutgemm_weights *w);
int64_t lutgemm_weights_k(const lutgemm_weights *w);
size_t lutgemm_weights_packed_bytes(const lutgemm_weights *w);
const char *lutgemm_weights_describe(const lutgemm_weights *w);

/* Bytes of wdata (any alignment) for n tokens on any number of host
 * threads from 1 to nth. */
lutgemm_status lutgemm_work_size(const lutgemm_weights *w, int64_t n, int nth,
                                 size_t *bytes);
/* Thread ith of nth prepares its share of the n tokens of x (n × k of
 * `type`): int8 quantization (exact contract), and tables when nth is 1
 * (with several threads each compute builds the tables it reads), into
 * wdata. */
lutgemm_status lutgemm_prepare(const lutgemm_weights *w, const void *x, lutgemm_type type,
                               int64_t n, int ith, int nth, void *wdata, size_t wsize);
/* After every thread's prepare (a barrier), thread ith of nth computes its
 * share of y: n rows of m floats, row t at y + t · ldy (ldy >= m).
 * LUTGEMM_ERR_ARGUMENT if no prepare ever ran on wdata (table kernels). */
lutgemm_status lutgemm_compute(const lutgemm_weights *w, int64_t n, float *y, int64_t ldy,
                               int ith, int nth, void *wdata, size_t wsize);
/* y = x · Wᵀ in one call on the library's threads: threads 0 = all cores,
 * 1 = the calling thread, t > 1 = a pool of t kept for later calls. */
lutgemm_status lutgemm_matmul(const lutgemm_weights *w, const void *x, lutgemm_type type,
                              int64_t n, float *y, int64_t ldy, int threads);

#ifdef __cplusplus
}
#endif

#endif /* LUTGEMM_H */
