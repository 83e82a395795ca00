/* Uses lutgemm's C API as an engine would: pthreads doing prepare ->
 * barrier -> compute for several thread counts, checked bit for bit
 * against the one-call lutgemm_matmul, for ternary and 4-bit weights in
 * every contract; then bad inputs at the boundary. Exits non-zero on any
 * failure and prints "N passed, N failed". */
#define _POSIX_C_SOURCE 200112L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lutgemm.h"

static int passed, failed;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, " (last error: %s)\n", lutgemm_last_error());      \
        }                                                                      \
    } while (0)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

struct job {
    const lutgemm_weights *w;
    const float *x;
    int64_t n;
    float *y;
    int64_t ldy;
    int ith, nth;
    void *wdata;
    size_t wsize;
    pthread_barrier_t *barrier;
    lutgemm_status prep, comp;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    j->prep = lutgemm_prepare(j->w, j->x, LUTGEMM_TYPE_F32, j->n, j->ith, j->nth, j->wdata,
                              j->wsize);
    pthread_barrier_wait(j->barrier);
    j->comp = lutgemm_compute(j->w, j->n, j->y, j->ldy, j->ith, j->nth, j->wdata, j->wsize);
    return NULL;
}

/* Host-threaded y (ldy = m + 3) must equal lutgemm_matmul's bit for bit. */
static void check_threads(const lutgemm_weights *w, const char *what)
{
    const int64_t m = lutgemm_weights_m(w), k = lutgemm_weights_k(w);
    const int64_t ns[] = {1, 3, 17, 40};
    const int nths[] = {1, 2, 3, 8};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        const int64_t n = ns[a], ldy = m + 3;
        float *x = malloc(sizeof(float) * (size_t)(n * k));
        float *want = malloc(sizeof(float) * (size_t)(n * m));
        float *y = malloc(sizeof(float) * (size_t)(n * ldy));
        for (int64_t i = 0; i < n * k; i++)
            x[i] = frand();
        CHECK(lutgemm_matmul(w, x, LUTGEMM_TYPE_F32, n, want, m, 1) == LUTGEMM_OK,
              "%s: matmul n=%lld", what, (long long)n);
        for (size_t b = 0; b < sizeof nths / sizeof nths[0]; b++) {
            const int nth = nths[b];
            size_t ws = 0;
            CHECK(lutgemm_work_size(w, n, nth, &ws) == LUTGEMM_OK && ws > 0, "%s: work size", what);
            void *wdata = NULL;
            if (posix_memalign(&wdata, 64, ws) != 0)
                abort();
            memset(y, 0xff, sizeof(float) * (size_t)(n * ldy));
            pthread_barrier_t barrier;
            pthread_barrier_init(&barrier, NULL, (unsigned)nth);
            pthread_t tid[8];
            struct job jobs[8];
            for (int t = 0; t < nth; t++) {
                jobs[t] = (struct job){w, x, n, y, ldy, t, nth, wdata, ws, &barrier, -1, -1};
                pthread_create(&tid[t], NULL, worker, &jobs[t]);
            }
            int ok = 1;
            for (int t = 0; t < nth; t++) {
                pthread_join(tid[t], NULL);
                ok &= jobs[t].prep == LUTGEMM_OK && jobs[t].comp == LUTGEMM_OK;
            }
            pthread_barrier_destroy(&barrier);
            CHECK(ok, "%s: prepare/compute statuses, nth=%d", what, nth);
            int same = 1;
            for (int64_t t = 0; t < n; t++)
                same &= memcmp(y + t * ldy, want + t * m, sizeof(float) * (size_t)m) == 0;
            CHECK(same, "%s: n=%lld nth=%d differs from lutgemm_matmul", what, (long long)n, nth);
            free(wdata);
        }
        free(x);
        free(want);
        free(y);
    }
}

/* compute on a workspace no prepare has touched: a table kernel (each
 * thread builds its tables from the prepared activations) reports it. */
static void check_unprepared(const lutgemm_weights *w, const char *what)
{
    const int64_t m = lutgemm_weights_m(w);
    size_t ws = 0;
    CHECK(lutgemm_work_size(w, 1, 2, &ws) == LUTGEMM_OK, "%s: work size", what);
    void *wdata = calloc(1, ws);
    float *y = calloc((size_t)m, sizeof(float));
    const int tables = strstr(lutgemm_weights_describe(w), "family mad,") == NULL;
    const lutgemm_status s = lutgemm_compute(w, 1, y, m, 1, 2, wdata, ws);
    if (tables)
        CHECK(s == LUTGEMM_ERR_ARGUMENT && strstr(lutgemm_last_error(), "lutgemm_prepare"),
              "%s: unprepared compute: %d %s", what, (int)s, lutgemm_last_error());
    else
        CHECK(s == LUTGEMM_OK, "%s: unprepared compute (no tables): %d", what, (int)s);
    free(y);
    free(wdata);
}

static void check_bad_inputs(const lutgemm_weights *w)
{
    const int64_t m = lutgemm_weights_m(w), k = lutgemm_weights_k(w);
    float x[4096], y[4096];
    size_t ws = 0;
    for (int i = 0; i < 4096; i++)
        x[i] = 0.5f;
    lutgemm_weights *out = (lutgemm_weights *)&ws; /* must stay untouched on error */
    lutgemm_weights *before = out;

    CHECK(lutgemm_work_size(NULL, 1, 1, &ws) == LUTGEMM_ERR_NULL, "NULL weights");
    CHECK(lutgemm_work_size(w, 1, 1, NULL) == LUTGEMM_ERR_NULL, "NULL bytes");
    CHECK(lutgemm_work_size(w, 0, 1, &ws) == LUTGEMM_ERR_SHAPE, "n = 0");
    CHECK(lutgemm_work_size(w, -5, 1, &ws) == LUTGEMM_ERR_SHAPE, "n < 0");
    CHECK(lutgemm_work_size(w, INT64_MAX, 1, &ws) == LUTGEMM_ERR_SHAPE, "n overflows");
    CHECK(lutgemm_work_size(w, 1, 0, &ws) == LUTGEMM_ERR_ARGUMENT, "nth = 0");
    CHECK(lutgemm_work_size(w, 2, 2, &ws) == LUTGEMM_OK, "work size");
    void *wdata = NULL;
    if (posix_memalign(&wdata, 64, ws + 64) != 0)
        abort();
    CHECK(lutgemm_prepare(w, x, LUTGEMM_TYPE_F32, 2, 2, 2, wdata, ws) == LUTGEMM_ERR_ARGUMENT,
          "ith >= nth");
    CHECK(lutgemm_prepare(w, x, LUTGEMM_TYPE_F32, 2, -1, 2, wdata, ws) == LUTGEMM_ERR_ARGUMENT,
          "ith < 0");
    CHECK(lutgemm_prepare(w, x, LUTGEMM_TYPE_F32, 2, 0, 2, wdata, 100) == LUTGEMM_ERR_WORKSPACE,
          "small workspace");
    CHECK(lutgemm_prepare(w, x, LUTGEMM_TYPE_F32, 2, 0, 2, (char *)wdata + 8, ws) ==
              LUTGEMM_OK,
          "any alignment within the work size");
    {
        size_t ws1 = 0, ws8 = 0;
        CHECK(lutgemm_work_size(w, 1, 1, &ws1) == LUTGEMM_OK &&
                  lutgemm_work_size(w, 1, 8, &ws8) == LUTGEMM_OK && ws8 >= ws1,
              "work size covers every thread count up to nth");
    }
    CHECK(lutgemm_prepare(w, x, LUTGEMM_TYPE_F32, 2, 0, 2, NULL, ws) == LUTGEMM_ERR_NULL,
          "NULL wdata");
    CHECK(lutgemm_prepare(w, NULL, LUTGEMM_TYPE_F32, 2, 0, 2, wdata, ws) == LUTGEMM_ERR_NULL,
          "NULL x");
    CHECK(lutgemm_prepare(w, x, 7, 2, 0, 2, wdata, ws) == LUTGEMM_ERR_ARGUMENT, "bad type");
    x[k + 3] = 0.0f / 0.0f;
    CHECK(lutgemm_prepare(w, x, LUTGEMM_TYPE_F32, 2, 1, 2, wdata, ws) == LUTGEMM_ERR_NON_FINITE,
          "NaN activation");
    CHECK(strstr(lutgemm_last_error(), "token 1") != NULL, "message names the token: %s",
          lutgemm_last_error());
    x[k + 3] = 0.5f;
    CHECK(lutgemm_compute(w, 2, y, m - 1, 0, 2, wdata, ws) == LUTGEMM_ERR_ARGUMENT, "ldy < m");
    CHECK(lutgemm_compute(w, 2, NULL, m, 0, 2, wdata, ws) == LUTGEMM_ERR_NULL, "NULL y");
    CHECK(lutgemm_matmul(w, x, LUTGEMM_TYPE_F32, 1, y, m, -1) == LUTGEMM_ERR_ARGUMENT,
          "threads < 0");
    CHECK(lutgemm_matmul(w, x, LUTGEMM_TYPE_F32, 1, y, m, 2) == LUTGEMM_OK, "matmul threads 2");
    free(wdata);

    int8_t codes[8] = {0, 1, -1, 2, 0, 0, 0, 0};
    float scales[2] = {1.0f, 1.0f};
    CHECK(lutgemm_weights_from_ternary(codes, scales, 1, 2, 4, 0, NULL, &out) ==
              LUTGEMM_ERR_VALUE,
          "ternary code 2");
    CHECK(out == before, "out untouched on error");
    CHECK(lutgemm_weights_from_ternary(codes, scales, 2, 2, 4, 0, NULL, &out) ==
              LUTGEMM_ERR_LENGTH,
          "scale count");
    CHECK(lutgemm_weights_from_ternary(codes, scales, 1, 2, 4, 3, NULL, &out) ==
              LUTGEMM_ERR_SHAPE,
          "group not dividing k");
    CHECK(lutgemm_weights_from_ternary(codes, scales, 1, 0, 4, 0, NULL, &out) ==
              LUTGEMM_ERR_SHAPE,
          "m = 0");
    CHECK(lutgemm_weights_from_ternary(codes, scales, 1, INT64_MAX, INT64_MAX, 0, NULL, &out) ==
              LUTGEMM_ERR_SHAPE,
          "m × k overflows");
    CHECK(lutgemm_weights_from_ternary(NULL, scales, 1, 2, 4, 0, NULL, &out) == LUTGEMM_ERR_NULL,
          "NULL codes");
    CHECK(lutgemm_weights_from_ternary(codes, scales, 1, 2, 4, 0, NULL, NULL) == LUTGEMM_ERR_NULL,
          "NULL out");
    uint8_t q[8] = {0, 15, 16, 0, 0, 0, 0, 0};
    float off[1] = {0.0f};
    CHECK(lutgemm_weights_from_int(q, scales, off, 1, 2, 4, 4, 0, NULL, &out) == LUTGEMM_ERR_VALUE,
          "4-bit code 16");
    CHECK(lutgemm_weights_from_int(q, scales, off, 1, 2, 4, 5, 0, NULL, &out) == LUTGEMM_ERR_VALUE,
          "5 bits");
    lutgemm_pack_options o;
    lutgemm_pack_options_default(&o);
    o.contract = 9;
    CHECK(lutgemm_weights_from_ternary(codes, scales, 1, 2, 4, 0, &o, &out) ==
              LUTGEMM_ERR_ARGUMENT,
          "unknown contract");
    lutgemm_pack_options_default(&o);
    o.family = LUTGEMM_FAMILY_BITLUT_G4;
    codes[3] = 1;
    CHECK(lutgemm_weights_from_ternary(codes, scales, 1, 2, 4, 0, &o, &out) ==
              LUTGEMM_ERR_UNAVAILABLE,
          "bit-serial family for ternary");
    scales[0] = 0.0f / 0.0f;
    CHECK(lutgemm_weights_from_ternary(codes, scales, 1, 2, 4, 0, NULL, &out) ==
              LUTGEMM_ERR_VALUE,
          "NaN scale");
    CHECK(lutgemm_weights_m(NULL) == 0 && lutgemm_weights_packed_bytes(NULL) == 0 &&
              strcmp(lutgemm_weights_describe(NULL), "") == 0,
          "queries on NULL");
    lutgemm_weights_free(NULL);
    CHECK(strcmp(lutgemm_status_str(LUTGEMM_ERR_NULL), "a required pointer is NULL") == 0,
          "status string");
    CHECK(strcmp(lutgemm_status_str(12345), "unknown status") == 0, "unknown status string");
}

/* Ternary codes exported as TQ2_0 and TQ1_0 blocks and imported back give
 * the same products as the codes themselves; bad block inputs fail. */
static void check_gguf(void)
{
    enum { M = 8, K = 512 };
    static int8_t codes[M * K];
    float scales[M * K / 256];
    for (int i = 0; i < M * K; i++)
        codes[i] = (int8_t)((i * 7 + i / 13) % 3 - 1);
    for (int b = 0; b < M * K / 256; b++)
        scales[b] = 0.25f * (float)(b + 1); /* exact in f16 */
    lutgemm_weights *ref = NULL;
    CHECK(lutgemm_weights_from_ternary(codes, scales, M * K / 256, M, K, 256, NULL, &ref) ==
              LUTGEMM_OK,
          "ternary codes");
    float x[2 * K], want[2 * M], y[2 * M];
    for (int i = 0; i < 2 * K; i++)
        x[i] = frand();
    CHECK(lutgemm_matmul(ref, x, LUTGEMM_TYPE_F32, 2, want, M, 1) == LUTGEMM_OK, "matmul");
    const int types[] = {LUTGEMM_GGML_TQ2_0, LUTGEMM_GGML_TQ1_0};
    for (int i = 0; i < 2; i++) {
        size_t nbytes = 0;
        CHECK(lutgemm_gguf_size(types[i], M, K, &nbytes) == LUTGEMM_OK && nbytes > 0, "size");
        unsigned char *blocks = malloc(nbytes);
        CHECK(lutgemm_gguf_export_ternary(codes, scales, M * K / 256, M, K, 256, types[i],
                                          blocks, nbytes) == LUTGEMM_OK,
              "export type %d", types[i]);
        CHECK(lutgemm_gguf_export_ternary(codes, scales, M * K / 256, M, K, 256, types[i],
                                          blocks, nbytes - 1) == LUTGEMM_ERR_LENGTH,
              "export into a short buffer");
        lutgemm_weights *w = NULL;
        CHECK(lutgemm_weights_from_gguf(types[i], blocks, nbytes, M, K, NULL, &w) == LUTGEMM_OK,
              "import type %d", types[i]);
        CHECK(lutgemm_matmul(w, x, LUTGEMM_TYPE_F32, 2, y, M, 1) == LUTGEMM_OK, "matmul gguf");
        CHECK(memcmp(y, want, sizeof y) == 0, "type %d: products differ", types[i]);
        lutgemm_weights *bad = NULL;
        CHECK(lutgemm_weights_from_gguf(types[i], blocks, nbytes - 3, M, K, NULL, &bad) ==
                  LUTGEMM_ERR_LENGTH,
              "short blocks");
        CHECK(lutgemm_weights_from_gguf(types[i], blocks, nbytes, M, K + 1, NULL, &bad) ==
                  LUTGEMM_ERR_SHAPE,
              "k not a multiple of the block");
        CHECK(bad == NULL, "no handle on error");
        lutgemm_weights_free(w);
        free(blocks);
    }
    size_t nbytes = 0;
    CHECK(lutgemm_gguf_size(99, M, K, &nbytes) == LUTGEMM_ERR_ARGUMENT, "unknown ggml type");
    lutgemm_weights_free(ref);
}

int main(void)
{
    const int64_t m = 70, k = 320;
    float *wf = malloc(sizeof(float) * (size_t)(m * k));
    for (int64_t i = 0; i < m * k; i++)
        wf[i] = frand();
    printf("lutgemm %s\n", lutgemm_version());
    CHECK(strncmp(lutgemm_version(), "0.1.", 4) == 0, "version");

    for (int contract = 0; contract < 3; contract++) {
        lutgemm_pack_options o;
        lutgemm_pack_options_default(&o);
        o.contract = contract;
        lutgemm_weights *t = NULL, *i4 = NULL;
        CHECK(lutgemm_weights_from_float_ternary(wf, LUTGEMM_TYPE_F32, m, k, -1, &o, &t) ==
                  LUTGEMM_OK,
              "ternary from float");
        CHECK(lutgemm_weights_from_float_int(wf, LUTGEMM_TYPE_F32, m, k, 4, 32, 0, &o, &i4) ==
                  LUTGEMM_OK,
              "int4 from float");
        if (t && i4) {
            printf("%s\n%s\n", lutgemm_weights_describe(t), lutgemm_weights_describe(i4));
            check_threads(t, "ternary");
            check_threads(i4, "int4 g32");
            check_unprepared(t, "ternary");
            check_unprepared(i4, "int4 g32");
            if (contract == 0)
                check_bad_inputs(t);
        }
        {
            /* The vector-LUT (every contract): kernel scratch in every
             * thread's slot, token tiles of 32 (n = 40: two). */
            lutgemm_weights *v = NULL;
            o.family = LUTGEMM_FAMILY_VECLUT_G4;
            CHECK(lutgemm_weights_from_float_ternary(wf, LUTGEMM_TYPE_F32, m, k, -1, &o, &v) ==
                      LUTGEMM_OK,
                  "ternary vector-LUT from float");
            if (v)
                check_threads(v, "ternary veclut_g4");
            lutgemm_weights_free(v);
        }
        {
            /* The integer vector-LUT (every contract; Exact fuses the
             * group scaling in the kernel). */
            lutgemm_weights *v = NULL;
            o.family = LUTGEMM_FAMILY_VECLUT_INT;
            CHECK(lutgemm_weights_from_float_int(wf, LUTGEMM_TYPE_F32, m, k, 2, 64, 0, &o, &v) ==
                      LUTGEMM_OK,
                  "int2 vector-LUT from float");
            if (v)
                check_threads(v, "int2 g64 veclut_int");
            lutgemm_weights_free(v);
        }
        lutgemm_weights_free(t);
        lutgemm_weights_free(i4);
    }
    check_gguf();
    free(wf);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
