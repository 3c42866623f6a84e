/*
 * pattern: deterministic byte streams for end-to-end data checks. Byte i
 * of stream `seed` is a pure function of (seed, i), so a receiver can
 * verify any piece of a stream at any offset without keeping a copy, and
 * report the first wrong byte.
 */
#ifndef TESTS_PATTERN_H
#define TESTS_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* Fill `buf` with bytes [off, off + len) of stream `seed`. */
void pattern_fill(uint64_t seed, uint64_t off, void *buf, size_t len);
/*
 * Compare `buf` with bytes [off, off + len) of stream `seed`. Returns -1
 * when equal, else the index in `buf` of the first difference.
 */
long pattern_check(uint64_t seed, uint64_t off, const void *buf, size_t len);

/* FNV-1a style 64-bit running hash over arbitrary pieces. */
#define PATTERN_HASH_INIT 0xcbf29ce484222325ull
uint64_t pattern_hash(uint64_t h, const void *buf, size_t len);

/* splitmix64: small deterministic PRNG for sizes and choices. */
uint64_t pattern_rand(uint64_t *state);

#endif
