/* Tree attention's attention step, for one layer of one pass (see tree_kernel.py).
 *
 * Each real token of a pass attends to two key sets at once: its prefix's keys in the grid
 * (the first grid_len[c] of them) and the own slots of its row that its bias row allows
 * (bias 0; -inf hides a slot). One softmax over both, in fp32; the output is rounded to the
 * model's dtype once. A token and key head is computed by one thread from start to end, in a
 * fixed order: the result does not depend on the number of threads.
 *
 * Built with -march=native: the vector path needs AVX-512 (F, BW, DQ); `tree_kernel_vector`
 * says whether it was compiled, and the caller uses torch's kernels where it was not.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define VECTOR 1
#else
#define VECTOR 0
#endif

int tree_kernel_vector(void) { return VECTOR; }

/* Each token's keys and values ([n, kv heads, dim], strides in elements) into its row's own
 * slot: own_k[rows[i], g, slots[i]] = k[i, g] for every key head g (`elsize` bytes each). */
int tree_store(const char *k, const char *v, int64_t k_tok, int64_t v_tok, int64_t head,
               char *own_k, char *own_v, int64_t own_rows, int64_t own_cap,
               const int64_t *rows, const int64_t *slots, int64_t n, int64_t kv_heads,
               int64_t dim, int64_t elsize) {
    const int64_t bytes = dim * elsize;
    for (int64_t i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= own_rows || slots[i] < 0 || slots[i] >= own_cap)
            return 1;
    for (int64_t i = 0; i < n; i++)
        for (int64_t g = 0; g < kv_heads; g++) {
            const int64_t at = ((rows[i] * kv_heads + g) * own_cap + slots[i]) * bytes;
            memcpy(own_k + at, k + (i * k_tok + g * head) * elsize, bytes);
            memcpy(own_v + at, v + (i * v_tok + g * head) * elsize, bytes);
        }
    return 0;
}

#if VECTOR

/* bf16 <-> fp32: a bf16 is the high half of an fp32; rounding to nearest even, as torch. */
static inline __m512 load_bf16(const uint16_t *p) {
    __m256i raw = _mm256_loadu_si256((const __m256i *)p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

static inline void store_bf16(uint16_t *p, __m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
    __m512i nan = _mm512_or_si512(u, _mm512_set1_epi32(0x400000));  /* quiet NaN stays NaN */
    __mmask16 is_nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    __m512i bits = _mm512_srli_epi32(_mm512_mask_mov_epi32(rounded, is_nan, nan), 16);
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(bits));
}

static inline __m512 load_f32(const float *p) { return _mm512_loadu_ps(p); }
static inline void store_f32(float *p, __m512 x) { _mm512_storeu_ps(p, x); }

/* exp(x) for x <= 0 (Cephes' expf: range reduction by ln 2, degree-6 polynomial); below
 * -87.3 it is 0, as a hidden key's weight must be. */
static inline __m512 exp_le0(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f);
    __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(x, lo);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n),
                                                   _mm512_set1_epi32(127)), 23);
    __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
    return _mm512_maskz_mov_ps(~under, y);
}

#define MAX_GROUP 16  /* query heads per key head */

/* The body, once per element type (T: uint16_t for bf16, float for fp32). */
#define DEFINE_ATTEND(NAME, T, LOAD, STORE, CHUNKS)                                                   \
int NAME(const T *q, int64_t q_tok, int64_t q_head,                                          \
         const T *own_k, const T *own_v, int64_t own_rows, int64_t own_cap,                  \
         const float *bias, int64_t bias_width, int64_t bias_len, int64_t length,            \
         const int64_t *tok_row, const int64_t *tok_col,                                     \
         const T *grid_k, const T *grid_v, int64_t grid_cap,                                 \
         const int64_t *grid_len, int64_t n_prefixes, const int64_t *tok_prefix,             \
         T *out, int64_t n, int64_t heads, int64_t kv_heads, int64_t dim, float scale,       \
         int threads) {                                                                      \
    const int64_t group = heads / kv_heads, chunks = CHUNKS;                              \
    if (group > MAX_GROUP || dim != 16 * CHUNKS || heads % kv_heads) return 1;  \
    if (length > own_cap || length > bias_len) return 3;                                     \
    for (int64_t i = 0; i < n; i++)  /* indices the caller computed, checked all the same */ \
        if (tok_row[i] < 0 || tok_row[i] >= own_rows || tok_col[i] < 0                      \
            || tok_col[i] >= bias_width || (grid_k && (tok_prefix[i] < 0                      \
            || tok_prefix[i] >= n_prefixes || grid_len[tok_prefix[i]] > grid_cap)))          \
            return 3;                                                                        \
    int64_t most = length;                                                                   \
    if (grid_k)                                                                              \
        most += grid_cap;                                                                    \
    int failed = 0;                                                                          \
    _Pragma("omp parallel num_threads(threads)")                                             \
    {                                                                                        \
        const T **keys = malloc(sizeof(T *) * most * 2);                                     \
        float *scores = malloc(sizeof(float) * (most + 16) * group);                         \
        float *extra = malloc(sizeof(float) * most);                                         \
        const int ok = keys && scores && extra;                                              \
        if (!ok) {                                                                           \
            _Pragma("omp atomic write") failed = 1;                                          \
        }                                                                                    \
        const T **values = ok ? keys + most : NULL;                                          \
        {   /* every thread reaches the loop (a worksharing loop must be met by all) */      \
            _Pragma("omp for schedule(static)")                                              \
            for (int64_t job = 0; job < n * kv_heads; job++) {                               \
                if (!ok) continue;                                                           \
                const int64_t i = job / kv_heads, g = job % kv_heads;                        \
                const int64_t r = tok_row[i];                                                \
                int64_t count = 0;                                                           \
                if (grid_k && tok_prefix) {                                                  \
                    const int64_t c = tok_prefix[i];                                         \
                    const int64_t base = (c * kv_heads + g) * grid_cap;                      \
                    for (int64_t j = 0; j < grid_len[c]; j++, count++) {                     \
                        keys[count] = grid_k + (base + j) * dim;                             \
                        values[count] = grid_v + (base + j) * dim;                           \
                        extra[count] = 0.0f;                                                 \
                    }                                                                        \
                }                                                                            \
                const float *b = bias + (r * bias_width + tok_col[i]) * bias_len;            \
                const int64_t base = (r * kv_heads + g) * own_cap;                           \
                for (int64_t j = 0; j < length; j++) {                                       \
                    if (b[j] == -INFINITY) continue;                                         \
                    keys[count] = own_k + (base + j) * dim;                                  \
                    values[count] = own_v + (base + j) * dim;                                \
                    extra[count++] = b[j];                                                   \
                }                                                                            \
                __m512 qv[MAX_GROUP][CHUNKS];                                            \
                for (int64_t h = 0; h < group; h++)                                          \
                    for (int64_t d = 0; d < chunks; d++)                                     \
                        qv[h][d] = LOAD(q + i * q_tok + (g * group + h) * q_head + d * 16);  \
                for (int64_t j = 0; j < count; j++) {                                       \
                    __m512 kv[CHUNKS];                                                   \
                    for (int64_t d = 0; d < chunks; d++) kv[d] = LOAD(keys[j] + d * 16);     \
                    for (int64_t h = 0; h < group; h++) {                                    \
                        __m512 acc = _mm512_mul_ps(qv[h][0], kv[0]);                         \
                        for (int64_t d = 1; d < chunks; d++)                                 \
                            acc = _mm512_fmadd_ps(qv[h][d], kv[d], acc);                     \
                        scores[h * (most + 16) + j] =                                        \
                            fmaf(_mm512_reduce_add_ps(acc), scale, extra[j]);                \
                    }                                                                        \
                }                                                                            \
                float total[MAX_GROUP];                                                      \
                for (int64_t h = 0; h < group; h++) {                                        \
                    float *s = scores + h * (most + 16);                                     \
                    __m512 top = _mm512_set1_ps(-INFINITY);                                  \
                    int64_t j = 0;                                                           \
                    for (; j + 16 <= count; j += 16)                                         \
                        top = _mm512_max_ps(top, _mm512_loadu_ps(s + j));                    \
                    __mmask16 tail = (__mmask16)((1u << (count - j)) - 1);                   \
                    top = _mm512_mask_max_ps(top, tail, top, _mm512_maskz_loadu_ps(tail, s + j)); \
                    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(top));              \
                    __m512 sum = _mm512_setzero_ps();                                        \
                    for (j = 0; j + 16 <= count; j += 16) {                                  \
                        __m512 w = exp_le0(_mm512_sub_ps(_mm512_loadu_ps(s + j), m));        \
                        _mm512_storeu_ps(s + j, w);                                          \
                        sum = _mm512_add_ps(sum, w);                                         \
                    }                                                                        \
                    __m512 w = _mm512_maskz_mov_ps(tail,                                     \
                        exp_le0(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + j), m)));      \
                    _mm512_mask_storeu_ps(s + j, tail, w);                                   \
                    total[h] = _mm512_reduce_add_ps(_mm512_add_ps(sum, w));                  \
                }                                                                            \
                __m512 acc[MAX_GROUP][CHUNKS];                                           \
                for (int64_t h = 0; h < group; h++)                                          \
                    for (int64_t d = 0; d < chunks; d++) acc[h][d] = _mm512_setzero_ps();    \
                for (int64_t j = 0; j < count; j++) {                                        \
                    __m512 vv[CHUNKS];                                                   \
                    for (int64_t d = 0; d < chunks; d++) vv[d] = LOAD(values[j] + d * 16);   \
                    for (int64_t h = 0; h < group; h++) {                                    \
                        const __m512 w = _mm512_set1_ps(scores[h * (most + 16) + j]);        \
                        for (int64_t d = 0; d < chunks; d++)                                 \
                            acc[h][d] = _mm512_fmadd_ps(w, vv[d], acc[h][d]);                \
                    }                                                                        \
                }                                                                            \
                for (int64_t h = 0; h < group; h++) {                                        \
                    const __m512 inv = _mm512_set1_ps(1.0f / total[h]);                      \
                    T *o = out + (i * heads + g * group + h) * dim;                          \
                    for (int64_t d = 0; d < chunks; d++)                                     \
                        STORE(o + d * 16, _mm512_mul_ps(acc[h][d], inv));                    \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        free(keys);                                                                          \
        free(scores);                                                                        \
        free(extra);                                                                         \
    }                                                                                        \
    return failed ? 2 : 0;                                                                   \
}

/* head dims 64 and 128: the loops over a head's 16-lane chunks unrolled */
DEFINE_ATTEND(tree_attend_bf16_64, uint16_t, load_bf16, store_bf16, 4)
DEFINE_ATTEND(tree_attend_f32_64, float, load_f32, store_f32, 4)
DEFINE_ATTEND(tree_attend_bf16_128, uint16_t, load_bf16, store_bf16, 8)
DEFINE_ATTEND(tree_attend_f32_128, float, load_f32, store_f32, 8)

#endif
