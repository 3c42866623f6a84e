/* pattern: see pattern.h. */
#include "tests/helpers/pattern.h"

#include <string.h>

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The 8-byte word `w` of stream `seed`. */
static uint64_t word(uint64_t seed, uint64_t w)
{
	return mix(seed * 0x9e3779b97f4a7c15ull + w);
}

void pattern_fill(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	/* Unaligned head, whole words, tail. */
	while (len && (off & 7)) {
		*p++ = (uint8_t)(word(seed, off >> 3) >> (8 * (off & 7)));
		off++;
		len--;
	}
	while (len >= 8) {
		uint64_t v = word(seed, off >> 3);

		memcpy(p, &v, 8); /* little-endian hosts only: tests */
		p += 8;
		off += 8;
		len -= 8;
	}
	while (len) {
		*p++ = (uint8_t)(word(seed, off >> 3) >> (8 * (off & 7)));
		off++;
		len--;
	}
}

long pattern_check(uint64_t seed, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t tmp[4096];
	size_t done = 0, i;

	while (done < len) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);

		pattern_fill(seed, off + done, tmp, n);
		if (memcmp(tmp, p + done, n)) {
			for (i = 0; tmp[i] == p[done + i]; i++)
				;
			return (long)(done + i);
		}
		done += n;
	}
	return -1;
}

uint64_t pattern_hash(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t pattern_rand(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ull;
	return mix(*state);
}
