/*
 * Unit tests: the split virtqueue (virtio/vq.c) against a driver-side
 * builder (tests/helpers/vq_driver.c) over fake guest memory.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/fake_mem.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "tests/helpers/vq_driver.h"
#include "virtio/vq.h"
#include "vmm/util.h"

#define QSIZE 16
#define RAM 0x40000ull
#define TABLE 0x10000ull /* free RAM for hand-made indirect tables */
#define TABLE2 0x11000ull
#define BUF 0x20000ull /* free RAM for buffers */
#define HIGH 0x100000000ull /* second region, see two_regions */

static struct vq_driver drv;
static struct vq vq;

static void setup_with(bool event_idx, bool indirect)
{
	test_log_install();
	vq_driver_init(&drv, QSIZE, RAM);
	vq_driver_setup_vq(&drv, &vq, event_idx, indirect);
	ck_assert_int_eq(vq_init(&vq), 0);
}

static void setup(void)
{
	setup_with(false, false);
}

static void setup_event_idx(void)
{
	setup_with(true, false);
}

static void setup_indirect(void)
{
	setup_with(false, true);
}

static void teardown(void)
{
	vq_driver_destroy(&drv);
}

/* Every segment must lie inside guest RAM (a region of drv.mem). */
static void assert_seg_in_ram(const struct vq_seg *s)
{
	unsigned int i;

	for (i = 0; i < drv.mem.nr_regions; i++) {
		const struct guestmem_region *r = &drv.mem.regions[i];

		uintptr_t p = (uintptr_t)s->ptr, h = (uintptr_t)r->host;

		if (p >= h && s->len <= r->size && p - h <= r->size - s->len)
			return;
	}
	ck_abort_msg("segment %p+%u outside guest RAM", (void *)s->ptr,
		     s->len);
}

/*
 * Walk a chain to its end; returns the number of good segments and stores
 * the final vq_chain_next() result in *end. Segments go to `segs` (up to
 * `max`).
 */
static unsigned int walk(struct vq_chain *c, struct vq_seg *segs,
			 unsigned int max, int *end)
{
	struct vq_seg s;
	unsigned int n = 0;
	int ret;

	while ((ret = vq_chain_next(c, &s)) == 1) {
		assert_seg_in_ram(&s);
		if (n < max)
			segs[n] = s;
		n++;
		ck_assert_uint_le(n, (unsigned int)VQ_MAX_SIZE * 2);
	}
	*end = ret;
	/* A finished (or failed) chain stays finished. */
	ck_assert_int_eq(vq_chain_next(c, &s), 0);
	return n;
}

/* Pop one chain, expect success, return its head. */
static uint16_t pop_one(struct vq_chain *c)
{
	ck_assert_int_eq(vq_pop(&vq, c), 1);
	return c->head;
}

/* ---- chain walking ---- */

START_TEST(simple_chain)
{
	struct vq_driver_buf b = { BUF, 64, false };
	struct vq_chain c;
	struct vq_seg segs[2];
	uint32_t id, len;
	int head, end;

	memset(vq_driver_host(&drv, BUF, 64), 0xab, 64);
	head = vq_driver_add_chain(&drv, &b, 1);
	ck_assert_int_ge(head, 0);
	ck_assert_uint_eq(pop_one(&c), head);
	ck_assert_uint_eq(walk(&c, segs, 2, &end), 1);
	ck_assert_int_eq(end, 0);
	ck_assert_ptr_eq(segs[0].ptr, vq_driver_host(&drv, BUF, 64));
	ck_assert_uint_eq(segs[0].len, 64);
	ck_assert(!segs[0].writable);
	ck_assert_uint_eq(segs[0].ptr[63], 0xab);
	ck_assert_int_eq(vq_pop(&vq, &c), 0);

	ck_assert_int_eq(vq_push(&vq, (uint16_t)head, 0), 0);
	ck_assert_uint_eq(vq_driver_used_idx(&drv), 1);
	ck_assert_int_eq(vq_driver_get_used(&drv, &id, &len), 1);
	ck_assert_uint_eq(id, (uint32_t)head);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(vq_driver_get_used(&drv, &id, &len), 0);
	ck_assert_uint_eq(vq_driver_nr_free(&drv), QSIZE);
}
END_TEST

START_TEST(mixed_chain)
{
	const struct vq_driver_buf b[] = {
		{ BUF, 16, false },
		{ BUF + 0x100, 100, false },
		{ BUF + 0x200, 200, true },
		{ BUF + 0x400, 1, true },
	};
	struct vq_chain c;
	struct vq_seg segs[4];
	unsigned int i;
	uint32_t id, len;
	int head, end;

	head = vq_driver_add_chain(&drv, b, ARRAY_SIZE(b));
	ck_assert_int_ge(head, 0);
	pop_one(&c);
	ck_assert_uint_eq(walk(&c, segs, 4, &end), 4);
	ck_assert_int_eq(end, 0);
	for (i = 0; i < ARRAY_SIZE(b); i++) {
		ck_assert_ptr_eq(segs[i].ptr,
				 vq_driver_host(&drv, b[i].gpa, b[i].len));
		ck_assert_uint_eq(segs[i].len, b[i].len);
		ck_assert_int_eq(segs[i].writable, b[i].write);
	}
	memset(segs[2].ptr, 0x5a, segs[2].len);
	ck_assert_int_eq(vq_push(&vq, c.head, 200), 0);
	ck_assert_int_eq(vq_driver_get_used(&drv, &id, &len), 1);
	ck_assert_uint_eq(id, (uint32_t)head);
	ck_assert_uint_eq(len, 200);
	ck_assert_uint_eq(*(uint8_t *)vq_driver_host(&drv, BUF + 0x2c7, 1),
			  0x5a);
}
END_TEST

/* A chain exactly as long as the queue, for several queue sizes. */
static const uint16_t long_sizes[] = { 1, 2, 16, 256, VQ_MAX_SIZE };

START_TEST(long_chain)
{
	uint16_t size = long_sizes[_i];
	struct vq_driver_buf *b = calloc(size, sizeof(*b));
	struct vq_chain c;
	struct vq_seg s;
	unsigned int i;
	uint64_t buf;
	int head, ret;

	ck_assert_ptr_nonnull(b);
	vq_driver_destroy(&drv);
	vq_driver_init(&drv, size, MIB(2));
	vq_driver_setup_vq(&drv, &vq, true, true);
	ck_assert_int_eq(vq_init(&vq), 0);
	buf = vq_driver_alloc(&drv, 64, 64);
	for (i = 0; i < size; i++)
		b[i] = (struct vq_driver_buf){ buf + i % 64, 1,
					       i >= size / 2 };
	head = vq_driver_add_chain(&drv, b, size);
	ck_assert_int_ge(head, 0);
	ck_assert_int_eq(vq_driver_add_chain(&drv, b, 1), -ENOSPC);
	pop_one(&c);
	for (i = 0; (ret = vq_chain_next(&c, &s)) == 1; i++)
		ck_assert_int_eq(s.writable, i >= size / 2u);
	ck_assert_int_eq(ret, 0);
	ck_assert_uint_eq(i, size);
	ck_assert_int_eq(vq_push(&vq, c.head, 0), 0);
	free(b);
}
END_TEST

START_TEST(zero_length_descriptors)
{
	const struct vq_driver_buf b[] = {
		{ BUF, 0, false },
		{ BUF + 8, 8, false },
		{ RAM, 0, true }, /* at the very end of RAM: still valid */
	};
	struct vq_chain c;
	struct vq_seg segs[3];
	int end;

	ck_assert_int_ge(vq_driver_add_chain(&drv, b, ARRAY_SIZE(b)), 0);
	pop_one(&c);
	ck_assert_uint_eq(walk(&c, segs, 3, &end), 3);
	ck_assert_int_eq(end, 0);
	ck_assert_uint_eq(segs[0].len, 0);
	ck_assert_uint_eq(segs[2].len, 0);
	ck_assert(segs[2].writable);
	ck_assert_ptr_eq(segs[2].ptr, drv.ram + RAM);
}
END_TEST

START_TEST(two_regions)
{
	const struct vq_driver_buf ok[] = {
		{ HIGH, 0x1000, false },
		{ 0x100, 0x10, true },
	};
	const struct vq_driver_buf straddle = { HIGH + 0xfff, 2, false };
	struct vq_chain c;
	struct vq_seg segs[2];
	uint8_t *high = fake_mem_add(&drv.mem, HIGH, 0x1000);
	int end;

	ck_assert_int_ge(vq_driver_add_chain(&drv, ok, 2), 0);
	ck_assert_int_ge(vq_driver_add_chain(&drv, &straddle, 1), 0);
	pop_one(&c);
	ck_assert_uint_eq(walk(&c, segs, 2, &end), 2);
	ck_assert_int_eq(end, 0);
	ck_assert_ptr_eq(segs[0].ptr, high);
	pop_one(&c);
	ck_assert_uint_eq(walk(&c, segs, 2, &end), 0);
	ck_assert_int_eq(end, -EFAULT);
}
END_TEST

/* ---- malformed chains, direct and indirect (table-driven) ---- */

struct chain_case {
	const char *name;
	bool indirect; /* VIRTIO_F_INDIRECT_DESC negotiated */
	unsigned int nr_desc; /* main table entries 0.. ; head is 0 */
	struct vq_driver_desc desc[3];
	unsigned int nr_table; /* entries written at TABLE */
	struct vq_driver_desc table[3];
	unsigned int good; /* segments before the end or the error */
	int end; /* final vq_chain_next() result */
};

#define F_N VQ_DESC_F_NEXT
#define F_W VQ_DESC_F_WRITE
#define F_I VQ_DESC_F_INDIRECT

static const struct chain_case chain_cases[] = {
	{ "next out of range", false, 1, { { BUF, 8, F_N, QSIZE } }, 0, {},
	  1, -EINVAL },
	{ "self loop", false, 1, { { BUF, 8, F_N, 0 } }, 0, {}, QSIZE,
	  -ELOOP },
	{ "two-step loop", false, 2,
	  { { BUF, 8, F_N, 1 }, { BUF, 8, F_N, 0 } }, 0, {}, QSIZE, -ELOOP },
	{ "loop back to the middle", false, 3,
	  { { BUF, 8, F_N, 1 }, { BUF, 8, F_N | F_W, 2 },
	    { BUF, 8, F_N | F_W, 1 } }, 0, {}, QSIZE, -ELOOP },
	{ "addr past RAM", false, 1, { { RAM, 1, 0, 0 } }, 0, {}, 0,
	  -EFAULT },
	{ "len runs past RAM", false, 1, { { RAM - 1, 2, F_W, 0 } }, 0, {},
	  0, -EFAULT },
	{ "addr + len wraps", false, 1, { { ~0ull - 3, 8, 0, 0 } }, 0, {}, 0,
	  -EFAULT },
	{ "len 4 GiB - 1", false, 1, { { BUF, 0xffffffffu, 0, 0 } }, 0, {},
	  0, -EFAULT },
	{ "zero len outside RAM", false, 1, { { RAM + 1, 0, 0, 0 } }, 0, {},
	  0, -EFAULT },
	{ "bad addr after good", false, 2,
	  { { BUF, 8, F_N, 1 }, { 0x7fffffff0000ull, 8, F_W, 0 } }, 0, {}, 1,
	  -EFAULT },
	{ "read after write", false, 2,
	  { { BUF, 8, F_W | F_N, 1 }, { BUF, 8, 0, 0 } }, 0, {}, 1, -EINVAL },
	{ "indirect not negotiated", false, 1, { { TABLE, 16, F_I, 0 } }, 1,
	  { { BUF, 8, 0, 0 } }, 0, -EINVAL },
	{ "unknown flags ignored", false, 1, { { BUF, 8, 0xfff8, 0 } }, 0, {},
	  1, 0 },

	{ "indirect: valid", true, 1, { { TABLE, 48, F_I, 0 } }, 3,
	  { { BUF, 8, F_N, 1 }, { BUF + 8, 8, F_N | F_W, 2 },
	    { BUF + 16, 8, F_W, 0 } }, 3, 0 },
	{ "indirect: WRITE on table desc ignored", true, 1,
	  { { TABLE, 16, F_I | F_W, 0 } }, 1, { { BUF, 8, 0, 0 } }, 1, 0 },
	{ "indirect: walk starts at entry 0", true, 1,
	  { { TABLE, 48, F_I, 0 } }, 3,
	  { { BUF, 8, F_W, 0 }, { BUF, 8, F_N, 2 }, { BUF, 8, F_N, 0 } }, 1,
	  0 },
	{ "indirect: after direct", true, 2,
	  { { BUF, 8, F_N, 1 }, { TABLE, 32, F_I, 0 } }, 2,
	  { { BUF, 8, F_N, 1 }, { BUF, 8, F_W, 0 } }, 3, 0 },
	{ "indirect: nested", true, 1, { { TABLE, 16, F_I, 0 } }, 1,
	  { { TABLE2, 16, F_I, 0 } }, 0, -EINVAL },
	{ "indirect: nested after segment", true, 1, { { TABLE, 32, F_I, 0 } },
	  2, { { BUF, 8, F_N, 1 }, { TABLE, 32, F_I, 0 } }, 1, -EINVAL },
	{ "indirect: with NEXT", true, 2,
	  { { TABLE, 16, F_I | F_N, 1 }, { BUF, 8, 0, 0 } }, 1,
	  { { BUF, 8, 0, 0 } }, 0, -EINVAL },
	{ "indirect: table past RAM", true, 1, { { RAM - 16, 32, F_I, 0 } },
	  0, {}, 0, -EFAULT },
	{ "indirect: table addr wraps", true, 1,
	  { { ~0ull - 15, 32, F_I, 0 } }, 0, {}, 0, -EFAULT },
	{ "indirect: len not a multiple of 16", true, 1,
	  { { TABLE, 24, F_I, 0 } }, 2, { { BUF, 8, 0, 0 } }, 0, -EFAULT },
	{ "indirect: len 0", true, 1, { { TABLE, 0, F_I, 0 } }, 0, {}, 0,
	  -EFAULT },
	{ "indirect: more than VQ_MAX_SIZE entries", true, 1,
	  { { TABLE, (VQ_MAX_SIZE + 1) * 16, F_I, 0 } }, 0, {}, 0, -EFAULT },
	{ "indirect: loop in table", true, 1, { { TABLE, 32, F_I, 0 } }, 2,
	  { { BUF, 8, F_N, 1 }, { BUF, 8, F_N, 0 } }, 2, -ELOOP },
	{ "indirect: self loop", true, 1, { { TABLE, 48, F_I, 0 } }, 3,
	  { { BUF, 8, F_N, 0 } }, 3, -ELOOP },
	{ "indirect: next past table", true, 1, { { TABLE, 32, F_I, 0 } }, 2,
	  { { BUF, 8, F_N, 2 }, { BUF, 8, 0, 0 } }, 1, -EINVAL },
	{ "indirect: bad buffer", true, 1, { { TABLE, 16, F_I, 0 } }, 1,
	  { { RAM - 4, 8, 0, 0 } }, 0, -EFAULT },
	{ "indirect: read after write", true, 1, { { TABLE, 32, F_I, 0 } },
	  2, { { BUF, 8, F_W | F_N, 1 }, { BUF, 8, 0, 0 } }, 1, -EINVAL },
	{ "indirect: write before table, read in it", true, 2,
	  { { BUF, 8, F_W | F_N, 1 }, { TABLE, 16, F_I, 0 } }, 1,
	  { { BUF, 8, 0, 0 } }, 1, -EINVAL },
};

START_TEST(chain_case)
{
	const struct chain_case *t = &chain_cases[_i];
	struct vq_chain c, c2;
	struct vq_seg s;
	unsigned int i, n;
	uint32_t id, len;
	int end;

	vq.indirect = t->indirect;
	for (i = 0; i < t->nr_desc; i++)
		vq_driver_set_desc(&drv, (uint16_t)i, &t->desc[i]);
	for (i = 0; i < t->nr_table; i++)
		vq_driver_poke_desc(&drv, TABLE, i, &t->table[i]);
	vq_driver_publish(&drv, 0);
	ck_assert_uint_eq(pop_one(&c), 0);
	n = walk(&c, NULL, 0, &end);
	ck_assert_msg(n == t->good && end == t->end,
		      "%s: %u segments then %d, expected %u then %d", t->name,
		      n, end, t->good, t->end);

	/* A bad chain is the chain's problem, not the ring's. */
	ck_assert(!vq.broken);
	ck_assert_int_eq(vq_push(&vq, c.head, 0), 0);
	ck_assert_int_eq(vq_driver_get_used(&drv, &id, &len), 1);
	ck_assert_uint_eq(id, 0);
	vq_driver_set_desc(&drv, 5, &(struct vq_driver_desc){ BUF, 4, 0, 0 });
	vq_driver_publish(&drv, 5);
	ck_assert_uint_eq(pop_one(&c2), 5);
	ck_assert_int_eq(vq_chain_next(&c2, &s), 1);
	ck_assert_int_eq(vq_chain_next(&c2, &s), 0);
}
END_TEST

/* Chains built by the helper's indirect path. */
START_TEST(indirect_builder)
{
	const struct vq_driver_buf b[] = {
		{ BUF, 10, false }, { BUF + 10, 20, false },
		{ BUF + 30, 30, true }, { BUF + 60, 40, true },
		{ BUF + 100, 50, true },
	};
	struct vq_chain c;
	struct vq_seg segs[5];
	unsigned int i;
	uint32_t id, len;
	int head, end;

	head = vq_driver_add_indirect(&drv, b, ARRAY_SIZE(b));
	ck_assert_int_ge(head, 0);
	ck_assert_uint_eq(vq_driver_nr_free(&drv), QSIZE - 1);
	pop_one(&c);
	ck_assert_uint_eq(walk(&c, segs, 5, &end), 5);
	ck_assert_int_eq(end, 0);
	for (i = 0; i < ARRAY_SIZE(b); i++) {
		ck_assert_ptr_eq(segs[i].ptr,
				 vq_driver_host(&drv, b[i].gpa, b[i].len));
		ck_assert_int_eq(segs[i].writable, b[i].write);
	}
	ck_assert_int_eq(vq_push(&vq, c.head, 120), 0);
	ck_assert_int_eq(vq_driver_get_used(&drv, &id, &len), 1);
	ck_assert_uint_eq(id, (uint32_t)head);
	ck_assert_uint_eq(len, 120);
	ck_assert_uint_eq(vq_driver_nr_free(&drv), QSIZE);
}
END_TEST

/* An indirect table longer than the queue is fine (Linux does this). */
START_TEST(indirect_longer_than_queue)
{
	struct vq_driver_buf b[QSIZE * 4];
	struct vq_chain c;
	unsigned int i;
	int end;

	for (i = 0; i < ARRAY_SIZE(b); i++)
		b[i] = (struct vq_driver_buf){ BUF + i, 1, i > QSIZE };
	ck_assert_int_ge(vq_driver_add_indirect(&drv, b, ARRAY_SIZE(b)), 0);
	pop_one(&c);
	ck_assert_uint_eq(walk(&c, NULL, 0, &end), ARRAY_SIZE(b));
	ck_assert_int_eq(end, 0);
}
END_TEST

/* ---- the available and used rings ---- */

START_TEST(head_out_of_range)
{
	struct vq_chain c;

	vq_driver_set_avail_slot(&drv, 0, QSIZE);
	vq_driver_set_avail_idx(&drv, 1);
	ck_assert_int_eq(vq_pop(&vq, &c), -EIO);
	ck_assert(vq.broken);
	/* Broken stays broken, even once the driver repairs the slot. */
	vq_driver_set_avail_slot(&drv, 0, 0);
	ck_assert_int_eq(vq_pop(&vq, &c), -EIO);
	ck_assert(!vq_has_avail(&vq));
	ck_assert_int_eq(vq_push(&vq, 0, 0), -EIO);
	ck_assert(!vq_should_notify(&vq));
	/* Until the device is reset and set up again. */
	vq_reset(&vq);
	vq_driver_setup_vq(&drv, &vq, false, false);
	ck_assert_int_eq(vq_init(&vq), 0);
	ck_assert_int_eq(vq_pop(&vq, &c), 1);
}
END_TEST

/* avail->idx values relative to last_avail = 0, for a queue of QSIZE. */
static const struct {
	uint16_t avail_idx;
	int pops; /* successful pops before the end */
	int end; /* then: 0 (empty) or -EIO (broken) */
} idx_cases[] = {
	{ 0, 0, 0 },
	{ 1, 1, 0 },
	{ QSIZE, QSIZE, 0 },
	{ QSIZE + 1, 0, -EIO },
	{ 0x8000, 0, -EIO },
	{ 0xffff, 0, -EIO }, /* "minus one": the driver went backwards */
};

START_TEST(avail_idx_jump)
{
	struct vq_chain c;
	int i;

	/* Every slot holds head 0, a valid zero-length descriptor. */
	vq_driver_set_avail_idx(&drv, idx_cases[_i].avail_idx);
	for (i = 0; i < idx_cases[_i].pops; i++)
		ck_assert_int_eq(vq_pop(&vq, &c), 1);
	ck_assert_int_eq(vq_pop(&vq, &c), idx_cases[_i].end);
	ck_assert_int_eq(vq.broken, idx_cases[_i].end != 0);
	if (idx_cases[_i].end)
		ck_assert_int_eq(vq_pop(&vq, &c), -EIO);
}
END_TEST

/* The 16-bit indices wrap at 65536 on both rings. */
START_TEST(index_wrap)
{
	const struct vq_driver_buf b = { BUF, 4, true };
	struct vq_chain c;
	uint32_t id, len;
	unsigned int i;

	for (i = 0; i < 0x10000 + 3 * QSIZE; i++) {
		int head = vq_driver_add_chain(&drv, &b, 1);

		ck_assert_int_ge(head, 0);
		ck_assert_uint_eq(pop_one(&c), head);
		ck_assert_int_eq(vq_push(&vq, c.head, i), 0);
		ck_assert_int_eq(vq_driver_get_used(&drv, &id, &len), 1);
		ck_assert_uint_eq(id, (uint32_t)head);
		ck_assert_uint_eq(len, i);
	}
	ck_assert_uint_eq(vq.last_avail, (uint16_t)i);
	ck_assert_uint_eq(vq_driver_used_idx(&drv), (uint16_t)i);
}
END_TEST

START_TEST(out_of_order_push)
{
	const struct vq_driver_buf b = { BUF, 4, false };
	const unsigned int order[] = { 2, 0, 3, 1 };
	struct vq_chain c[4];
	int head[4];
	uint32_t id, len;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		head[i] = vq_driver_add_chain(&drv, &b, 1);
		ck_assert_uint_eq(pop_one(&c[i]), head[i]);
	}
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(vq_push(&vq, c[order[i]].head, 10 + i), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(vq_driver_get_used(&drv, &id, &len), 1);
		ck_assert_uint_eq(id, (uint32_t)head[order[i]]);
		ck_assert_uint_eq(len, 10 + i);
	}
	ck_assert_uint_eq(vq_driver_nr_free(&drv), QSIZE);
}
END_TEST

START_TEST(push_rejects_bad_head)
{
	ck_assert_int_eq(vq_push(&vq, QSIZE, 0), -EINVAL);
	ck_assert_int_eq(vq_push(&vq, 0xffff, 0), -EINVAL);
	ck_assert_uint_eq(vq_driver_used_idx(&drv), 0);
	ck_assert(!vq.broken);
}
END_TEST

START_TEST(unpop_and_repop)
{
	const struct vq_driver_buf b[2] = { { BUF, 4, false },
					    { BUF + 4, 4, true } };
	struct vq_chain c, again;
	struct vq_seg s;
	int h0, h1;

	h0 = vq_driver_add_chain(&drv, b, 2);
	h1 = vq_driver_add_chain(&drv, b, 1);
	ck_assert_uint_eq(pop_one(&c), h0);
	ck_assert_int_eq(vq_chain_next(&c, &s), 1);
	ck_assert(vq_has_avail(&vq));
	ck_assert_uint_eq(pop_one(&c), h1);
	ck_assert(!vq_has_avail(&vq));
	/* No room downstream for h1: give it back. */
	vq_unpop(&vq);
	ck_assert(vq_has_avail(&vq));
	ck_assert_uint_eq(pop_one(&again), h1);
	ck_assert_int_eq(vq_chain_next(&again, &s), 1);
	ck_assert_int_eq(vq_chain_next(&again, &s), 0);
	ck_assert_int_eq(vq_pop(&vq, &again), 0);
}
END_TEST

START_TEST(has_avail)
{
	const struct vq_driver_buf b = { BUF, 4, false };
	struct vq_chain c;

	ck_assert(!vq_has_avail(&vq));
	vq_driver_add_chain(&drv, &b, 1);
	ck_assert(vq_has_avail(&vq));
	pop_one(&c);
	ck_assert(!vq_has_avail(&vq));
	/* A garbage index still reads as "something": the pop breaks. */
	vq_driver_set_avail_idx(&drv, 0x4000);
	ck_assert(vq_has_avail(&vq));
	ck_assert_int_eq(vq_pop(&vq, &c), -EIO);
	ck_assert(!vq_has_avail(&vq));
}
END_TEST

START_TEST(not_ready)
{
	struct vq_chain c;

	vq_driver_add_chain(&drv, &(struct vq_driver_buf){ BUF, 4, 0 }, 1);
	vq_reset(&vq);
	ck_assert_ptr_eq(vq.mem, &drv.mem);
	ck_assert(!vq.ready);
	ck_assert_int_eq(vq_pop(&vq, &c), 0);
	ck_assert_int_eq(vq_push(&vq, 0, 0), -EIO);
	ck_assert(!vq_has_avail(&vq));
	ck_assert(!vq_should_notify(&vq));
	vq_set_notify(&vq, false);
	ck_assert_uint_eq(vq_driver_used_flags(&drv), 0);
}
END_TEST

/* A chain popped before a reset is dead: walking it fails, no fault. */
START_TEST(chain_after_reset)
{
	struct vq_chain c;
	struct vq_seg s;

	vq_driver_add_chain(&drv, &(struct vq_driver_buf){ BUF, 4, 0 }, 1);
	pop_one(&c);
	vq_reset(&vq);
	ck_assert_int_eq(vq_chain_next(&c, &s), -EINVAL);
	ck_assert_int_eq(vq_chain_next(&c, &s), 0);
}
END_TEST

/* ---- notifications ---- */

/*
 * vring_need_event with 16-bit wrap: notify iff used_event lies in
 * [old, new), i.e. the used index stepped onto used_event + 1 or past it.
 */
static const struct {
	uint16_t old, new, used_event;
	bool notify;
} event_cases[] = {
	{ 0, 1, 0, true },
	{ 0, 1, 1, false },
	{ 1, 2, 1, true },
	{ 0, 5, 3, true },
	{ 0, 5, 4, true },
	{ 0, 5, 5, false },
	{ 0, 5, 0xffff, false },
	{ 5, 5, 4, false }, /* nothing pushed since */
	{ 5, 5, 5, false },
	{ 10, 20, 9, false }, /* event already behind us */
	{ 10, 20, 10, true },
	{ 10, 20, 19, true },
	{ 10, 20, 20, false },
	{ 0xfffe, 1, 0xfffe, true }, /* wrap */
	{ 0xfffe, 1, 0xffff, true },
	{ 0xfffe, 1, 0, true },
	{ 0xfffe, 1, 1, false },
	{ 0xfffe, 1, 0xfffd, false },
	{ 0xffff, 0, 0xffff, true },
	{ 0xffff, 0, 0, false },
	{ 0xffff, 0, 0xfffe, false },
	{ 0, 0x8000, 0x7fff, true },
	{ 0x8000, 0, 0xffff, true },
};

START_TEST(event_idx_decision)
{
	vq.signalled_used = event_cases[_i].old;
	vq.signalled_used_valid = true;
	vq.used_idx = event_cases[_i].new;
	vq_driver_set_used_event(&drv, event_cases[_i].used_event);
	ck_assert_msg(vq_should_notify(&vq) == event_cases[_i].notify,
		      "old %u new %u used_event %u: expected %d",
		      event_cases[_i].old, event_cases[_i].new,
		      event_cases[_i].used_event, event_cases[_i].notify);
	ck_assert_uint_eq(vq.signalled_used, event_cases[_i].new);
}
END_TEST

START_TEST(event_idx_sequence)
{
	struct vq_chain c;

	vq_driver_set_used_event(&drv, 100);
	/* Nothing to compare with yet: the first decision notifies. */
	ck_assert_int_eq(vq_push(&vq, 0, 0), 0);
	ck_assert(vq_should_notify(&vq));
	ck_assert_int_eq(vq_push(&vq, 0, 0), 0);
	ck_assert(!vq_should_notify(&vq));
	/* The driver asks for an interrupt once entry 2 is used. */
	vq_driver_set_used_event(&drv, 2);
	ck_assert_int_eq(vq_push(&vq, 0, 0), 0);
	ck_assert(vq_should_notify(&vq));
	ck_assert(!vq_should_notify(&vq));
	/* NO_INTERRUPT is ignored with EVENT_IDX. */
	vq_driver_set_avail_flags(&drv, 1);
	vq_driver_set_used_event(&drv, 3);
	ck_assert_int_eq(vq_push(&vq, 0, 0), 0);
	ck_assert(vq_should_notify(&vq));
	/* The avail ring is not consulted for pops here. */
	ck_assert_int_eq(vq_pop(&vq, &c), 0);
}
END_TEST

/* 65536 pushes without a decision: the 16-bit distance is ambiguous. */
START_TEST(event_idx_full_wrap)
{
	unsigned int i;

	ck_assert_int_eq(vq_push(&vq, 0, 0), 0);
	ck_assert(vq_should_notify(&vq));
	vq_driver_set_used_event(&drv, 0x4000);
	for (i = 0; i < 0x10000; i++)
		ck_assert_int_eq(vq_push(&vq, 0, 0), 0);
	ck_assert(vq_should_notify(&vq));
}
END_TEST

START_TEST(no_interrupt_flag)
{
	ck_assert_int_eq(vq_push(&vq, 0, 0), 0);
	ck_assert(vq_should_notify(&vq));
	vq_driver_set_avail_flags(&drv, 1);
	ck_assert(!vq_should_notify(&vq));
	/* used_event means nothing without EVENT_IDX. */
	vq_driver_set_used_event(&drv, 0);
	ck_assert(!vq_should_notify(&vq));
	vq_driver_set_avail_flags(&drv, 0);
	ck_assert(vq_should_notify(&vq));
}
END_TEST

START_TEST(set_notify_flags)
{
	vq_set_notify(&vq, false);
	ck_assert_uint_eq(vq_driver_used_flags(&drv), 1);
	ck_assert_uint_eq(vq_driver_avail_event(&drv), 0);
	vq_set_notify(&vq, true);
	ck_assert_uint_eq(vq_driver_used_flags(&drv), 0);
}
END_TEST

START_TEST(enable_notify_rechecks)
{
	const struct vq_driver_buf b = { BUF, 4, false };
	struct vq_chain c;

	vq_driver_add_chain(&drv, &b, 1);
	pop_one(&c);
	ck_assert(!vq_enable_notify(&vq));
	ck_assert_uint_eq(vq_driver_avail_event(&drv), 1);
	/* The driver posted before seeing the request: take it now. */
	vq_driver_add_chain(&drv, &b, 1);
	ck_assert(vq_enable_notify(&vq));
	pop_one(&c);
	ck_assert(!vq_enable_notify(&vq));
	ck_assert_uint_eq(vq_driver_avail_event(&drv), 2);
}
END_TEST

START_TEST(set_notify_avail_event)
{
	const struct vq_driver_buf b = { BUF, 4, false };
	struct vq_chain c;

	vq_driver_add_chain(&drv, &b, 1);
	vq_driver_add_chain(&drv, &b, 1);
	pop_one(&c);
	pop_one(&c);
	vq_set_notify(&vq, true);
	ck_assert_uint_eq(vq_driver_avail_event(&drv), 2);
	ck_assert_uint_eq(vq_driver_used_flags(&drv), 0);
	/* Disabling leaves avail_event behind and the flags at 0. */
	vq_driver_add_chain(&drv, &b, 1);
	pop_one(&c);
	vq_set_notify(&vq, false);
	ck_assert_uint_eq(vq_driver_avail_event(&drv), 2);
	ck_assert_uint_eq(vq_driver_used_flags(&drv), 0);
	/* The re-check after enabling sees what the driver added. */
	vq_driver_add_chain(&drv, &b, 1);
	vq_set_notify(&vq, true);
	ck_assert_uint_eq(vq_driver_avail_event(&drv), 3);
	ck_assert(vq_has_avail(&vq));
}
END_TEST

/*
 * vq_fill with the interleaving that lost wake-ups: the device ran dry,
 * and the driver posted two buffers after the device's last look but
 * before its notification request, seeing no request yet, so without a
 * notification. The device takes those too and runs dry again: its
 * request must now name the slot after them, or the driver's next buffer
 * (past the old request) comes with no notification at all.
 */
struct fill_ctx {
	unsigned int rounds, taken;
};

static bool fill_taking_all(void *arg)
{
	const struct vq_driver_buf b = { BUF, 4, false };
	struct fill_ctx *f = arg;
	struct vq_chain c;

	while (vq_pop(&vq, &c) == 1) {
		ck_assert_int_eq(vq_push(&vq, c.head, 0), 0);
		f->taken++;
	}
	if (f->rounds++ == 0) {
		vq_driver_add_chain(&drv, &b, 1);
		vq_driver_add_chain(&drv, &b, 1);
	}
	return false; /* work left, ring dry */
}

/* The driver's side of EVENT_IDX: does moving avail->idx need a kick? */
static bool driver_kicks(uint16_t old, uint16_t new)
{
	uint16_t event = vq_driver_avail_event(&drv);

	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

START_TEST(fill_rearms_after_late_buffers)
{
	const struct vq_driver_buf b = { BUF, 4, false };
	struct fill_ctx f = { 0 };
	uint16_t old;
	uint32_t id, len;

	vq_driver_add_chain(&drv, &b, 1);
	vq_fill(&vq, fill_taking_all, &f);
	ck_assert_uint_eq(f.taken, 3);
	ck_assert_uint_eq(f.rounds, 2);
	ck_assert_uint_eq(vq_driver_avail_event(&drv), 3);
	while (vq_driver_get_used(&drv, &id, &len))
		;
	old = vq_driver_avail_idx(&drv);
	vq_driver_add_chain(&drv, &b, 1);
	ck_assert_msg(driver_kicks(old, vq_driver_avail_idx(&drv)),
		      "the next buffer must come with a notification");
}
END_TEST

/* A fill step with nothing to do keeps what it has: no request. */
static bool fill_idle(void *arg)
{
	(*(unsigned int *)arg)++;
	return true;
}

START_TEST(fill_idle_no_request)
{
	unsigned int calls = 0;

	vq_fill(&vq, fill_idle, &calls);
	ck_assert_uint_eq(calls, 1);
	ck_assert_uint_eq(vq_driver_avail_event(&drv), 0);
}
END_TEST

/* ---- vq_init ---- */

static const struct {
	const char *name;
	uint16_t size;
	uint64_t desc, avail, used;
} init_cases[] = {
	{ "size 0", 0, 0, 0x1000, 0x2000 },
	{ "size 3", 3, 0, 0x1000, 0x2000 },
	{ "size 12", 12, 0, 0x1000, 0x2000 },
	{ "size 32769", 32769, 0, 0x1000, 0x2000 },
	{ "size 65535", 65535, 0, 0x1000, 0x2000 },
	{ "desc misaligned", QSIZE, 8, 0x1000, 0x2000 },
	{ "avail misaligned", QSIZE, 0, 0x1001, 0x2000 },
	{ "used misaligned", QSIZE, 0, 0x1000, 0x2002 },
	{ "desc past RAM", QSIZE, RAM - 16 * QSIZE + 16, 0x1000, 0x2000 },
	{ "used_event past RAM", QSIZE, 0, RAM - 4 - 2 * QSIZE, 0x2000 },
	{ "avail_event past RAM", QSIZE, 0, 0x1000, RAM - 4 - 8 * QSIZE },
	{ "avail in hole", QSIZE, 0, RAM + 0x1000, 0x2000 },
	{ "desc wraps", QSIZE, ~0ull & ~15ull, 0x1000, 0x2000 },
	{ "used wraps", QSIZE, 0, 0x1000, ~0ull & ~3ull },
	{ "rings too big for RAM", VQ_MAX_SIZE, 0, 0x1000, 0x2000 },
};

START_TEST(init_rejects)
{
	struct vq_chain c;

	vq.size = init_cases[_i].size;
	vq.desc_gpa = init_cases[_i].desc;
	vq.avail_gpa = init_cases[_i].avail;
	vq.used_gpa = init_cases[_i].used;
	ck_assert_msg(vq_init(&vq) == -EINVAL, "%s accepted",
		      init_cases[_i].name);
	ck_assert(!vq.ready);
	ck_assert_int_eq(vq_pop(&vq, &c), 0);
	ck_assert_int_eq(vq_push(&vq, 0, 0), -EIO);
}
END_TEST

START_TEST(init_accepts_tight_rings)
{
	struct vq_chain c;

	/* Rings ending exactly at the end of RAM, event fields included. */
	vq.desc_gpa = RAM - 16 * QSIZE;
	ck_assert_int_eq(vq_init(&vq), 0);
	vq_driver_setup_vq(&drv, &vq, false, false);
	vq.avail_gpa = RAM - (6 + 2 * QSIZE);
	ck_assert_int_eq(vq_init(&vq), 0);
	/* 6 + 8 * size is 2 mod 4: the closest a used ring can get. */
	vq_driver_setup_vq(&drv, &vq, false, false);
	vq.used_gpa = RAM - (6 + 8 * QSIZE) - 2;
	ck_assert_int_eq(vq_init(&vq), 0);
	ck_assert_int_eq(vq_pop(&vq, &c), 0);
}
END_TEST

START_TEST(init_resets_state)
{
	const struct vq_driver_buf b = { BUF, 4, false };
	struct vq_chain c;

	vq_driver_add_chain(&drv, &b, 1);
	pop_one(&c);
	ck_assert_int_eq(vq_push(&vq, c.head, 0), 0);
	ck_assert(vq_should_notify(&vq));
	vq.broken = true;
	ck_assert_int_eq(vq_init(&vq), 0);
	ck_assert(!vq.broken);
	ck_assert_uint_eq(vq.last_avail, 0);
	ck_assert_uint_eq(vq.used_idx, 0);
	ck_assert(!vq.signalled_used_valid);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vq");
	TCase *tc;

	tc = tcase_create("chain_walk");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, simple_chain);
	tcase_add_test(tc, mixed_chain);
	tcase_add_loop_test(tc, long_chain, 0, ARRAY_SIZE(long_sizes));
	tcase_add_test(tc, zero_length_descriptors);
	tcase_add_test(tc, two_regions);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed_chains");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, chain_case, 0, ARRAY_SIZE(chain_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("indirect");
	tcase_add_checked_fixture(tc, setup_indirect, teardown);
	tcase_add_test(tc, indirect_builder);
	tcase_add_test(tc, indirect_longer_than_queue);
	suite_add_tcase(s, tc);

	tc = tcase_create("rings");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, head_out_of_range);
	tcase_add_loop_test(tc, avail_idx_jump, 0, ARRAY_SIZE(idx_cases));
	tcase_add_test(tc, index_wrap);
	tcase_add_test(tc, out_of_order_push);
	tcase_add_test(tc, push_rejects_bad_head);
	tcase_add_test(tc, unpop_and_repop);
	tcase_add_test(tc, has_avail);
	tcase_add_test(tc, not_ready);
	tcase_add_test(tc, chain_after_reset);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup_event_idx, teardown);
	tcase_add_loop_test(tc, event_idx_decision, 0, ARRAY_SIZE(event_cases));
	tcase_add_test(tc, event_idx_sequence);
	tcase_add_test(tc, event_idx_full_wrap);
	tcase_add_test(tc, set_notify_avail_event);
	tcase_add_test(tc, enable_notify_rechecks);
	tcase_add_test(tc, fill_rearms_after_late_buffers);
	tcase_add_test(tc, fill_idle_no_request);
	suite_add_tcase(s, tc);

	tc = tcase_create("notify_flags");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, no_interrupt_flag);
	tcase_add_test(tc, set_notify_flags);
	suite_add_tcase(s, tc);

	tc = tcase_create("init");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, init_rejects, 0, ARRAY_SIZE(init_cases));
	tcase_add_test(tc, init_accepts_tight_rings);
	tcase_add_test(tc, init_resets_state);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
