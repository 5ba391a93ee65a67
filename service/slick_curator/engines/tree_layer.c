/* The elementwise steps of a decoder layer for tree attention's pass (see tree_kernel.py):
 * the residual add with Llama's RMS norm, the rotary embedding, SiLU(gate) * up. Each is a
 * chain of five to eight torch operations, every one a pass over memory and a dispatch; here
 * one pass, with torch's arithmetic: each operation computed in fp32 and, for a bf16 model,
 * rounded to bf16 where torch rounds its result (compiled with -ffp-contract=off: no fused
 * multiply-adds that torch does not do). The norm's sum of squares is summed in another order
 * than torch's, and SiLU's exponential is this file's: those may differ in the last bit.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t nan = (u >> 16) | 0x40u;  /* a NaN stays a (quiet) NaN */
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);  /* a select: vectorises */
}

/* exp(x) for x <= 0, vectorisable (Cephes' expf); 0 below -87.3. */
static inline float exp_le0(float x) {
    const float under = x < -87.3f ? 0.0f : 1.0f;
    x = x < -87.3f ? -87.3f : x;
    const float n = rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t e = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &e, 4);
    return p * scale * under;
}

#define IDENTITY(x) (x)

/* One body per element type: LOAD widens an element to fp32, ROUND rounds an fp32 to what
 * the type holds (identity for fp32), STORE narrows. */
#define DEFINE_LAYER(SUFFIX, T, LOAD, ROUND, STORE)                                            \
/* hidden[i] += delta[i] (when delta), then out[i] = weight * norm(hidden[i]), as             \
 * transformers' LlamaRMSNorm: fp32 variance, rsqrt, rounded, times the weight. */             \
void tree_add_norm_##SUFFIX(T *hidden, const T *delta, const T *weight, T *out, int64_t n,    \
                            int64_t size, float eps, int threads) {                          \
    _Pragma("omp parallel for schedule(static) num_threads(threads) if(n * size > 32768)")    \
    for (int64_t i = 0; i < n; i++) {                                                        \
        T *h = hidden + i * size;                                                            \
        if (delta) {                                                                         \
            const T *d = delta + i * size;                                                   \
            for (int64_t j = 0; j < size; j++) h[j] = STORE(LOAD(h[j]) + LOAD(d[j]));        \
        }                                                                                    \
        float lanes[16] = {0};                                                               \
        int64_t j = 0;                                                                       \
        for (; j + 16 <= size; j += 16)                                                      \
            for (int l = 0; l < 16; l++) {                                                   \
                const float x = LOAD(h[j + l]);                                              \
                lanes[l] += x * x;                                                           \
            }                                                                                \
        for (int l = 0; j < size; j++, l++) {                                                \
            const float x = LOAD(h[j]);                                                      \
            lanes[l] += x * x;                                                               \
        }                                                                                    \
        float total = 0.0f;                                                                  \
        for (int l = 0; l < 16; l++) total += lanes[l];                                      \
        const float inverse = 1.0f / sqrtf(total / (float)size + eps);                       \
        T *o = out + i * size;                                                               \
        for (j = 0; j < size; j++)                                                           \
            o[j] = STORE(LOAD(weight[j]) * ROUND(LOAD(h[j]) * inverse));                     \
    }                                                                                        \
}                                                                                            \
                                                                                             \
/* Llama's rotary embedding in place on x ([n, heads, dim], token stride `stride`): as        \
 * x * cos + cat(-x2, x1) * sin, each product and the sum rounded as torch rounds them. */    \
void tree_rotary_##SUFFIX(T *x, int64_t stride, const T *cos_, const T *sin_, int64_t n,     \
                          int64_t heads, int64_t dim, int threads) {                         \
    const int64_t half = dim / 2;                                                            \
    _Pragma("omp parallel for schedule(static) num_threads(threads) if(n * heads > 256)")    \
    for (int64_t i = 0; i < n; i++) {                                                        \
        const T *c = cos_ + i * dim, *s = sin_ + i * dim;                                    \
        for (int64_t h = 0; h < heads; h++) {                                                \
            T *a = x + i * stride + h * dim, *b = a + half;                                  \
            for (int64_t j = 0; j < half; j++) {                                             \
                const float x1 = LOAD(a[j]), x2 = LOAD(b[j]);                                \
                const float lo = ROUND(x1 * LOAD(c[j])) + ROUND(-x2 * LOAD(s[j]));           \
                const float hi = ROUND(x2 * LOAD(c[j + half])) + ROUND(x1 * LOAD(s[j + half])); \
                a[j] = STORE(lo);                                                            \
                b[j] = STORE(hi);                                                            \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
                                                                                             \
/* out = SiLU(gate) * up, rows of `width` (gate's and up's rows `stride` apart). */          \
void tree_silu_mul_##SUFFIX(const T *gate, const T *up, int64_t stride, T *out, int64_t n,   \
                            int64_t width, int threads) {                                    \
    _Pragma("omp parallel for schedule(static) num_threads(threads) if(n * width > 32768)")   \
    for (int64_t i = 0; i < n; i++) {                                                        \
        const T *g = gate + i * stride, *u = up + i * stride;                                \
        T *o = out + i * width;                                                              \
        for (int64_t j = 0; j < width; j++) {                                                \
            const float x = LOAD(g[j]);                                                      \
            const float e = exp_le0(-fabsf(x));                                              \
            const float sigmoid = (x >= 0.0f ? 1.0f : e) / (1.0f + e);                       \
            o[j] = STORE(ROUND(x * sigmoid) * LOAD(u[j]));                                   \
        }                                                                                    \
    }                                                                                        \
}

#define ROUND_BF16(x) from_bf16(to_bf16(x))
DEFINE_LAYER(bf16, uint16_t, from_bf16, ROUND_BF16, to_bf16)
DEFINE_LAYER(f32, float, IDENTITY, IDENTITY, IDENTITY)
