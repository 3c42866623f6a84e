/*
 * fuzz_vq: libFuzzer target for the split virtqueue (virtio/vq.c).
 *
 * The input is a queue configuration followed by the initial contents of
 * guest RAM, so the fuzzer controls every ring field and descriptor. A
 * deterministic PRNG seeded from the header drives a bounded sequence of
 * device operations (pop, walk, push in or out of order, unpop, notify
 * decisions) interleaved with "guest" writes to RAM. Every segment handed
 * out is read in full and, when writable, written (ASan then sees any bad
 * pointer); structural invariants abort via __builtin_trap().
 *
 * Input layout (little-endian):
 *   0      size: 1 << (b & 15); bit 7 adds (b >> 4) & 7 (not a power of 2)
 *   1      bit 0 EVENT_IDX, bit 1 INDIRECT_DESC
 *   2..4   desc ring: le16 offset, region selector
 *   5..7   avail ring: le16 offset, region selector
 *   8..10  used ring: le16 offset, region selector
 *   11     operations - 1 (& 63)
 *   12..15 PRNG seed
 *   16..   RAM contents: region A (64 KiB at gpa 0), then region B
 *          (16 KiB at gpa 0x20000, a hole in between)
 * Region selector & 3: 0, 3 -> region A; 1 -> region B; 2 -> no RAM.
 * Run with the seeds in tests/fuzz/corpus_vq/; past crashers live in
 * tests/fuzz/regress_vq/ (pass that directory's files to the binary).
 *
 * Build by hand (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ivmm -Ivirtio
 *     -D_GNU_SOURCE tests/fuzz/fuzz_vq.c virtio/vq.c vmm/guestmem.c
 *     vmm/log.c vmm/util.c -o fuzz_vq
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/vq.h"
#include "vmm/guestmem.h"
#include "vmm/util.h"

#define RAM_A_GPA 0x0ull
#define RAM_A_SIZE 0x10000u
#define RAM_B_GPA 0x20000ull
#define RAM_B_SIZE 0x4000u
#define HDR_SIZE 16
#define MAX_INFLIGHT 64
/* Bytes touched in full per input; past it only the ends of segments. */
#define TOUCH_BUDGET (256u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz {
	struct guestmem mem;
	uint8_t *a, *b;
	struct vq vq;
	uint64_t rng;
	uint16_t inflight[MAX_INFLIGHT];
	unsigned int nr_inflight;
	size_t touched;
	volatile uint8_t sink;
};

#define CHECK(cond)                          \
	do {                                 \
		if (!(cond))                 \
			__builtin_trap();    \
	} while (0)

static uint32_t fuzz_rand(struct fuzz *f)
{
	/* xorshift64: deterministic, no real time. */
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 7;
	f->rng ^= f->rng << 17;
	return (uint32_t)(f->rng >> 11);
}

static uint64_t ring_gpa(const uint8_t *p)
{
	uint64_t off = get_le16(p);

	switch (p[2] & 3) {
	case 1:
		return RAM_B_GPA + off;
	case 2:
		return 0xffffffffffff0000ull + off;
	default:
		return RAM_A_GPA + off;
	}
}

/* A segment must lie inside one region: the whole point of vq.c. */
static void check_seg(struct fuzz *f, const struct vq_seg *s)
{
	unsigned int i;

	for (i = 0; i < f->mem.nr_regions; i++) {
		const struct guestmem_region *r = &f->mem.regions[i];
		uintptr_t p = (uintptr_t)s->ptr, h = (uintptr_t)r->host;

		if (p >= h && s->len <= r->size && p - h <= r->size - s->len)
			return;
	}
	__builtin_trap();
}

static void touch_seg(struct fuzz *f, const struct vq_seg *s)
{
	uint64_t word, words = 0;
	uint8_t acc = 0;
	uint32_t i = 0;

	if (!s->len)
		return;
	if (f->touched < TOUCH_BUDGET) {
		f->touched += s->len;
		/*
		 * Eight bytes a step (each load still checked by ASan): the
		 * bytes of the words' XOR fold to the XOR of the bytes.
		 */
		for (; i + 8 <= s->len; i += 8) {
			memcpy(&word, s->ptr + i, sizeof(word));
			words ^= word;
		}
		for (; i < s->len; i++)
			acc ^= s->ptr[i];
		for (; words; words >>= 8)
			acc ^= (uint8_t)words;
		if (s->writable)
			memset(s->ptr, 0xa5 ^ acc, s->len);
	} else {
		acc = s->ptr[0] ^ s->ptr[s->len - 1];
		if (s->writable)
			s->ptr[0] = s->ptr[s->len - 1] = acc;
	}
	f->sink ^= acc;
}

/* The guest scribbles on its RAM while the device works. */
static void guest_poke(struct fuzz *f)
{
	uint32_t r = fuzz_rand(f);

	if (r & 1)
		f->a[(r >> 8) % RAM_A_SIZE] = (uint8_t)(r >> 1);
	else
		f->b[(r >> 8) % RAM_B_SIZE] = (uint8_t)(r >> 1);
}

/* The guest makes `n` more entries available (n may be absurd). */
static void guest_bump_avail(struct fuzz *f, uint16_t n)
{
	uint8_t *p = guestmem_ptr(&f->mem, f->vq.avail_gpa + 2, 2);

	if (p)
		put_le16(p, (uint16_t)(get_le16(p) + n));
}

/* avail->idx and avail->ring[slot], as the guest last wrote them. */
static uint32_t avail_snapshot(struct fuzz *f, uint16_t slot)
{
	const struct vq *vq = &f->vq;
	const uint8_t *p = guestmem_ptr(&f->mem, vq->avail_gpa,
					4 + 2ull * vq->size);

	if (!p)
		return 0;
	return (uint32_t)get_le16(p + 2) << 16 |
	       get_le16(p + 4 + 2u * (slot & (vq->size - 1)));
}

/* Pop and walk one chain; returns vq_pop()'s result. */
static int pop_and_walk(struct fuzz *f)
{
	struct vq *vq = &f->vq;
	bool was_broken = vq->broken;
	struct vq_chain c;
	struct vq_seg s;
	uint32_t nsegs = 0, written = 0;
	uint16_t snap_head;
	uint32_t snap;
	int ret;

	ret = vq_pop(vq, &c);
	CHECK(ret == 1 || ret == 0 || ret == -EIO);
	if (was_broken)
		CHECK(ret == -EIO);
	if (ret != 1)
		return ret;
	CHECK(c.head < vq->size);
	snap_head = c.head;
	snap = avail_snapshot(f, (uint16_t)(vq->last_avail - 1));
	while ((ret = vq_chain_next(&c, &s)) == 1) {
		check_seg(f, &s);
		touch_seg(f, &s);
		if (s.writable)
			written += s.len;
		CHECK(++nsegs <= (uint32_t)vq->size + VQ_MAX_SIZE);
		if (!(fuzz_rand(f) & 15))
			guest_poke(f);
	}
	CHECK(ret == 0 || ret == -EFAULT || ret == -ELOOP || ret == -EINVAL);
	CHECK(vq_chain_next(&c, &s) == 0);
	if (ret)
		written = 0;
	if (f->nr_inflight < MAX_INFLIGHT && (fuzz_rand(f) & 1)) {
		f->inflight[f->nr_inflight++] = c.head;
	} else if (fuzz_rand(f) & 7) {
		CHECK(vq_push(vq, c.head, written) == 0);
	} else {
		/*
		 * Give it back. Unless the guest has meanwhile rewritten the
		 * avail ring, the next pop must return the same head.
		 */
		bool same = avail_snapshot(f, (uint16_t)(vq->last_avail - 1)) ==
			    snap;

		vq_unpop(vq);
		if (same)
			CHECK(vq_has_avail(vq));
		ret = vq_pop(vq, &c);
		if (same)
			CHECK(ret == 1 && c.head == snap_head);
		if (ret == 1)
			CHECK(vq_push(vq, c.head, 0) == 0);
	}
	return 1;
}

static void push_inflight(struct fuzz *f, bool all)
{
	while (f->nr_inflight) {
		/* Any in-flight chain, not just the oldest: out of order. */
		unsigned int i = fuzz_rand(f) % f->nr_inflight;
		uint16_t head = f->inflight[i];
		int ret = vq_push(&f->vq, head, fuzz_rand(f) & 0xff);

		CHECK(ret == 0 || (ret == -EIO && f->vq.broken));
		f->inflight[i] = f->inflight[--f->nr_inflight];
		if (!all)
			break;
	}
}

static void run_ops(struct fuzz *f, unsigned int nr_ops)
{
	struct vq *vq = &f->vq;
	unsigned int i;

	for (i = 0; i < nr_ops; i++) {
		switch (fuzz_rand(f) % 8) {
		case 0:
		case 1:
		case 2:
			pop_and_walk(f);
			break;
		case 3:
			push_inflight(f, false);
			break;
		case 4:
			f->sink ^= vq_should_notify(vq);
			break;
		case 5:
			vq_set_notify(vq, fuzz_rand(f) & 1);
			f->sink ^= vq_has_avail(vq);
			break;
		case 6:
			guest_bump_avail(f, (uint16_t)(fuzz_rand(f) % 40));
			guest_poke(f);
			break;
		case 7:
			/* Drain everything currently available. */
			while (pop_and_walk(f) == 1)
				;
			push_inflight(f, true);
			f->sink ^= vq_should_notify(vq);
			break;
		}
	}
	push_inflight(f, true);
}

/*
 * Guest RAM is allocated once per process (libFuzzer gives no other place
 * to keep it) and every input rewrites all of it, the input's bytes then
 * zeros, so no input sees what the one before left.
 */
static uint8_t *ram_a, *ram_b;

static void ram_load(uint8_t *ram, size_t ram_size, const uint8_t *src,
		     size_t len)
{
	size_t n = MIN(len, ram_size);

	memcpy(ram, src, n);
	memset(ram + n, 0, ram_size - n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f;
	size_t rest, n;
	uint32_t seed;
	int ret;

	if (size < HDR_SIZE)
		return 0;
	if (!ram_a) {
		ram_a = malloc(RAM_A_SIZE);
		ram_b = malloc(RAM_B_SIZE);
		if (!ram_a || !ram_b)
			abort();
	}
	memset(&f, 0, sizeof(f));
	f.a = ram_a;
	f.b = ram_b;
	CHECK(guestmem_add_region(&f.mem, RAM_A_GPA, RAM_A_SIZE, f.a) == 0);
	CHECK(guestmem_add_region(&f.mem, RAM_B_GPA, RAM_B_SIZE, f.b) == 0);
	rest = size - HDR_SIZE;
	n = MIN(rest, RAM_A_SIZE);
	ram_load(f.a, RAM_A_SIZE, data + HDR_SIZE, n);
	ram_load(f.b, RAM_B_SIZE, data + HDR_SIZE + n, rest - n);

	f.vq.mem = &f.mem;
	f.vq.size = (uint16_t)(1u << (data[0] & 15));
	if (data[0] & 0x80)
		f.vq.size = (uint16_t)(f.vq.size + ((data[0] >> 4) & 7));
	f.vq.event_idx = data[1] & 1;
	f.vq.indirect = data[1] & 2;
	f.vq.desc_gpa = ring_gpa(data + 2);
	f.vq.avail_gpa = ring_gpa(data + 5);
	f.vq.used_gpa = ring_gpa(data + 8);
	memcpy(&seed, data + 12, 4);
	f.rng = 0x9e3779b97f4a7c15ull ^ seed;

	ret = vq_init(&f.vq);
	CHECK(ret == 0 || ret == -EINVAL);
	if (ret) {
		/* A queue that is not ready does nothing and faults nowhere. */
		CHECK(!f.vq.ready);
		CHECK(vq_push(&f.vq, 0, 0) == -EIO);
	}
	run_ops(&f, (data[11] & 63) + 1u);
	if (!ret) {
		/* Device reset, then the same rings again from index 0. */
		vq_reset(&f.vq);
		f.vq.desc_gpa = ring_gpa(data + 2);
		f.vq.avail_gpa = ring_gpa(data + 5);
		f.vq.used_gpa = ring_gpa(data + 8);
		f.vq.size = (uint16_t)(1u << (data[0] & 15));
		if (!vq_init(&f.vq))
			run_ops(&f, 8);
	}
	return 0;
}
