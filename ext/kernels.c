/* Hot kernels of the core in plain C.
 *
 * Why C and not Cython: the min-hash update is 84 multiply-add-min steps per
 * shingle, most of the core's time. With function multi-versioning the same
 * source runs as AVX-512 (native 64-bit multiply, vpmullq) where the CPU has
 * it, as AVX2 elsewhere, and as plain x86-64 or any other architecture: the
 * package stays portable (no -march=native) and still fast. Results are the
 * same bits on every path: integer arithmetic modulo 2^64.
 */
#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define SHINGLES_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SHINGLES_CLONES
#endif

SHINGLES_CLONES
void shingles_minhash_update(uint64_t *restrict mins, const uint64_t *restrict a,
                             const uint64_t *restrict b, int perm,
                             const uint64_t *restrict xs, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        const uint64_t x = xs[j];
        for (int i = 0; i < perm; i++) {
            const uint64_t v = a[i] * x + b[i];
            mins[i] = v < mins[i] ? v : mins[i];
        }
    }
}
