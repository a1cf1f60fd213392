/* Hot kernels of the core in plain C, so the compiler can vectorise them. */
#ifndef SHINGLES_KERNELS_H
#define SHINGLES_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/* mins[i] = min(mins[i], a[i] * x + b[i] mod 2^64) for every x in xs[0..n), i in [0, perm). */
void shingles_minhash_update(uint64_t *mins, const uint64_t *a, const uint64_t *b,
                             int perm, const uint64_t *xs, size_t n);

#endif
