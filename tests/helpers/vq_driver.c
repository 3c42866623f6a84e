/* vq_driver: see vq_driver.h. */
#include "tests/helpers/vq_driver.h"

#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/fake_mem.h"
#include "vmm/util.h"

/*
 * Check's ck_assert*() record a checkpoint in a file on every success;
 * the driver's hot paths (the benchmark's too) pay only on failure.
 */
#define VQD_CHECK(cond, ...)                       \
	do {                                       \
		if (!(cond))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

#define DRV_PAGE 4096ull
#define DRV_DESC_SIZE 16u

static uint64_t drv_align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static void drv_put16(struct vq_driver *drv, uint64_t gpa, uint16_t v)
{
	put_le16(vq_driver_host(drv, gpa, 2), v);
}

static uint16_t drv_get16(struct vq_driver *drv, uint64_t gpa)
{
	return get_le16(vq_driver_host(drv, gpa, 2));
}

static uint32_t drv_get32(struct vq_driver *drv, uint64_t gpa)
{
	return get_le32(vq_driver_host(drv, gpa, 4));
}

/* Ring layout and bookkeeping for a queue whose rings start at `base`. */
static uint64_t drv_layout(struct vq_driver *drv, uint16_t size, uint64_t base)
{
	unsigned int i;

	VQD_CHECK(size && size <= VQ_MAX_SIZE && !(size & (size - 1)),
		  "bad queue size %u", size);
	drv->size = size;
	drv->desc_gpa = base;
	drv->avail_gpa = drv_align_up(base + (uint64_t)size * DRV_DESC_SIZE,
				      DRV_PAGE);
	drv->used_gpa = drv_align_up(drv->avail_gpa + 6 + 2ull * size,
				     DRV_PAGE);
	drv->free = calloc(size, sizeof(*drv->free));
	drv->chain_next = calloc(size, sizeof(*drv->chain_next));
	drv->chain_len = calloc(size, sizeof(*drv->chain_len));
	VQD_CHECK(drv->free && drv->chain_next && drv->chain_len,
		  "out of memory");
	/* Hand out low indices first: tests read more easily. */
	for (i = 0; i < size; i++)
		drv->free[i] = (uint16_t)(size - 1 - i);
	drv->nr_free = size;
	return drv_align_up(drv->used_gpa + 6 + 8ull * size, DRV_PAGE);
}

void vq_driver_init(struct vq_driver *drv, uint16_t size, uint64_t ram_size)
{
	uint64_t end;

	memset(drv, 0, sizeof(*drv));
	end = drv_layout(drv, size, 0);
	VQD_CHECK(end < ram_size, "%#llx bytes of RAM: no room for rings",
		      (unsigned long long)ram_size);
	drv->data_next = end;
	drv->ram_size = ram_size;
	drv->ram = fake_mem_add(&drv->mem, 0, ram_size);
}

void vq_driver_init_shared(struct vq_driver *drv, uint16_t size,
			   struct vq_driver *owner)
{
	uint64_t rings, base;

	VQD_CHECK(!owner->owner, "memory already owned");
	memset(drv, 0, sizeof(*drv));
	/* Desc table, avail and used ring, each page-aligned. */
	rings = drv_align_up((uint64_t)size * DRV_DESC_SIZE, DRV_PAGE) +
		drv_align_up(6 + 2ull * size, DRV_PAGE) +
		drv_align_up(6 + 8ull * size, DRV_PAGE);
	base = vq_driver_alloc(owner, rings, DRV_PAGE);
	drv->owner = owner;
	drv->ram = owner->ram;
	drv->ram_size = owner->ram_size;
	drv_layout(drv, size, base);
}

void vq_driver_reset(struct vq_driver *drv)
{
	unsigned int i;

	memset(vq_driver_host(drv, drv->desc_gpa, 16ull * drv->size), 0,
	       16ull * drv->size);
	memset(vq_driver_host(drv, drv->avail_gpa, 6 + 2ull * drv->size), 0,
	       6 + 2ull * drv->size);
	memset(vq_driver_host(drv, drv->used_gpa, 6 + 8ull * drv->size), 0,
	       6 + 8ull * drv->size);
	drv->avail_idx = 0;
	drv->last_used = 0;
	for (i = 0; i < drv->size; i++) {
		drv->free[i] = (uint16_t)(drv->size - 1 - i);
		drv->chain_len[i] = 0;
	}
	drv->nr_free = drv->size;
}

struct guestmem *vq_driver_mem(struct vq_driver *drv)
{
	return drv->owner ? &drv->owner->mem : &drv->mem;
}

void vq_driver_destroy(struct vq_driver *drv)
{
	if (!drv->owner)
		fake_mem_free(&drv->mem);
	free(drv->free);
	free(drv->chain_next);
	free(drv->chain_len);
	memset(drv, 0, sizeof(*drv));
}

void vq_driver_setup_vq(const struct vq_driver *drv, struct vq *vq,
			bool event_idx, bool indirect)
{
	*vq = (struct vq){
		.mem = drv->owner ? &drv->owner->mem : &drv->mem,
		.size = drv->size,
		.desc_gpa = drv->desc_gpa,
		.avail_gpa = drv->avail_gpa,
		.used_gpa = drv->used_gpa,
		.event_idx = event_idx,
		.indirect = indirect,
	};
}

uint64_t vq_driver_alloc(struct vq_driver *drv, uint64_t len, uint64_t align)
{
	uint64_t gpa;

	if (drv->owner)
		return vq_driver_alloc(drv->owner, len, align);
	VQD_CHECK(align && !(align & (align - 1)), "bad alignment");
	gpa = drv_align_up(drv->data_next, align);
	VQD_CHECK(gpa <= drv->ram_size && len <= drv->ram_size - gpa,
		      "data area exhausted");
	drv->data_next = gpa + len;
	return gpa;
}

void *vq_driver_host(struct vq_driver *drv, uint64_t gpa, uint64_t len)
{
	void *p = guestmem_ptr(vq_driver_mem(drv), gpa, len);

	VQD_CHECK(p, "gpa %#llx+%#llx outside guest RAM",
		      (unsigned long long)gpa, (unsigned long long)len);
	return p;
}

void vq_driver_poke_desc(struct vq_driver *drv, uint64_t table_gpa,
			 uint32_t idx, const struct vq_driver_desc *d)
{
	uint8_t *raw = vq_driver_host(drv, table_gpa +
					     (uint64_t)idx * DRV_DESC_SIZE,
				      DRV_DESC_SIZE);

	put_le64(raw, d->addr);
	put_le32(raw + 8, d->len);
	put_le16(raw + 12, d->flags);
	put_le16(raw + 14, d->next);
}

void vq_driver_set_desc(struct vq_driver *drv, uint16_t idx,
			const struct vq_driver_desc *d)
{
	VQD_CHECK(idx < drv->size, "descriptor %u out of range", idx);
	vq_driver_poke_desc(drv, drv->desc_gpa, idx, d);
}

void vq_driver_set_avail_slot(struct vq_driver *drv, uint16_t slot,
			      uint16_t head)
{
	drv_put16(drv, drv->avail_gpa + 4 + 2u * (slot & (drv->size - 1)),
		  head);
}

void vq_driver_set_avail_idx(struct vq_driver *drv, uint16_t idx)
{
	/* Entries and descriptors first, then the index (spec 2.7.13.3). */
	atomic_thread_fence(memory_order_release);
	drv->avail_idx = idx;
	drv_put16(drv, drv->avail_gpa + 2, idx);
}

void vq_driver_publish(struct vq_driver *drv, uint16_t head)
{
	vq_driver_set_avail_slot(drv, drv->avail_idx, head);
	vq_driver_set_avail_idx(drv, (uint16_t)(drv->avail_idx + 1));
}

/* The descriptor for one buffer element, linked to `next` if `more`. */
static struct vq_driver_desc drv_desc(const struct vq_driver_buf *b,
				      bool more, uint16_t next)
{
	return (struct vq_driver_desc){
		.addr = b->gpa,
		.len = b->len,
		.flags = (uint16_t)((b->write ? VQ_DESC_F_WRITE : 0) |
				    (more ? VQ_DESC_F_NEXT : 0)),
		.next = next,
	};
}

/* Take `n` free descriptors, linked in the private table; returns head. */
static int drv_take(struct vq_driver *drv, unsigned int n, uint16_t *idx)
{
	unsigned int i;

	if (!n)
		return -EINVAL;
	if (n > drv->nr_free)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		idx[i] = drv->free[--drv->nr_free];
		if (i)
			drv->chain_next[idx[i - 1]] = idx[i];
	}
	drv->chain_len[idx[0]] = (uint16_t)n;
	return idx[0];
}

int vq_driver_add_chain(struct vq_driver *drv, const struct vq_driver_buf *bufs,
			unsigned int n)
{
	uint16_t small[64], *idx = small;
	unsigned int i;
	int head;

	if (n > drv->size)
		return n ? -ENOSPC : -EINVAL;
	if (n > ARRAY_SIZE(small)) {
		idx = calloc(n, sizeof(*idx));
		VQD_CHECK(idx, "out of memory");
	}
	head = drv_take(drv, n, idx);
	for (i = 0; head >= 0 && i < n; i++) {
		struct vq_driver_desc d = drv_desc(&bufs[i], i + 1 < n,
						   i + 1 < n ? idx[i + 1] : 0);

		vq_driver_set_desc(drv, idx[i], &d);
	}
	if (idx != small)
		free(idx);
	if (head >= 0)
		vq_driver_publish(drv, (uint16_t)head);
	return head;
}

int vq_driver_add_indirect(struct vq_driver *drv,
			   const struct vq_driver_buf *bufs, unsigned int n)
{
	if (!n)
		return -EINVAL;
	if (!drv->nr_free)
		return -ENOSPC;
	return vq_driver_add_indirect_at(drv,
		vq_driver_alloc(drv, (uint64_t)n * DRV_DESC_SIZE, 16),
		bufs, n);
}

int vq_driver_add_indirect_at(struct vq_driver *drv, uint64_t table,
			      const struct vq_driver_buf *bufs, unsigned int n)
{
	uint16_t idx;
	unsigned int i;
	int head;

	if (!n)
		return -EINVAL;
	head = drv_take(drv, 1, &idx);
	if (head < 0)
		return head;
	for (i = 0; i < n; i++) {
		bool more = i + 1 < n;
		uint16_t next = more ? (uint16_t)(i + 1) : 0;
		struct vq_driver_desc d = drv_desc(&bufs[i], more, next);

		vq_driver_poke_desc(drv, table, i, &d);
	}
	vq_driver_set_desc(drv, idx, &(struct vq_driver_desc){
		.addr = table,
		.len = n * DRV_DESC_SIZE,
		.flags = VQ_DESC_F_INDIRECT,
	});
	vq_driver_publish(drv, idx);
	return head;
}

uint16_t vq_driver_avail_idx(const struct vq_driver *drv)
{
	return drv->avail_idx;
}

int vq_driver_get_used(struct vq_driver *drv, uint32_t *id, uint32_t *len)
{
	uint64_t elem;
	uint16_t n, d;

	if (vq_driver_used_idx(drv) == drv->last_used)
		return 0;
	/* The element is read only after the index that published it. */
	atomic_thread_fence(memory_order_acquire);
	elem = drv->used_gpa + 4 + 8ull * (drv->last_used & (drv->size - 1));
	*id = drv_get32(drv, elem);
	*len = drv_get32(drv, elem + 4);
	drv->last_used++;
	if (*id < drv->size && drv->chain_len[*id]) {
		d = (uint16_t)*id;
		for (n = drv->chain_len[d], drv->chain_len[d] = 0; n; n--) {
			drv->free[drv->nr_free++] = d;
			d = drv->chain_next[d];
		}
	}
	return 1;
}

unsigned int vq_driver_nr_free(const struct vq_driver *drv)
{
	return drv->nr_free;
}

void vq_driver_set_avail_flags(struct vq_driver *drv, uint16_t flags)
{
	drv_put16(drv, drv->avail_gpa, flags);
}

void vq_driver_set_used_event(struct vq_driver *drv, uint16_t used_event)
{
	drv_put16(drv, drv->avail_gpa + 4 + 2u * drv->size, used_event);
}

uint16_t vq_driver_used_flags(struct vq_driver *drv)
{
	return drv_get16(drv, drv->used_gpa);
}

uint16_t vq_driver_used_idx(struct vq_driver *drv)
{
	return drv_get16(drv, drv->used_gpa + 2);
}

uint16_t vq_driver_avail_event(struct vq_driver *drv)
{
	return drv_get16(drv, drv->used_gpa + 4 + 8ull * drv->size);
}
