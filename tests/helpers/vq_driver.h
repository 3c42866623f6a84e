/*
 * vq_driver: the driver (guest) side of a split virtqueue, for tests.
 *
 * Owns a fake guest memory (fake_mem: calloc'd at exact size, so ASan
 * catches overruns) with one RAM region at gpa 0, lays out the descriptor
 * table, available ring and used ring for a queue size, and plays the
 * guest: it builds chains (direct or indirect) from free descriptors, makes
 * them available, reads the used ring back and sets the notification
 * suppression fields. Raw pokes build malformed rings for negative tests.
 *
 * Layout of the RAM region (every part page-aligned):
 *   desc table | avail ring | used ring | data area (bump-allocated)
 * More regions may be added to `mem` with fake_mem_add().
 *
 * Several queues of one device share one guest memory: the first queue is
 * set up with vq_driver_init() and owns the memory; the others, set up with
 * vq_driver_init_shared(), take their rings from its data area and borrow
 * its memory (vq_driver_mem()), and must be destroyed before it.
 *
 * Descriptor bookkeeping (free list, chain membership) is private to the
 * driver, so a test that scribbles on the rings cannot confuse it. Raw
 * pokes bypass that bookkeeping: do not mix them with vq_driver_add_*()
 * on the same descriptor indices.
 *
 * Functions abort the running Check test on misuse (out of memory, bad
 * arguments); fallible guest-level operations return -errno.
 */
#ifndef TESTS_VQ_DRIVER_H
#define TESTS_VQ_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/vq.h"
#include "vmm/guestmem.h"

/* One buffer element of a chain, as the driver describes it. */
struct vq_driver_buf {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

/* A raw descriptor, as laid out in guest memory (host byte order here). */
struct vq_driver_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq_driver {
	struct guestmem mem;
	uint8_t *ram; /* host view of the region at gpa 0 */
	uint64_t ram_size;
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* private */
	uint64_t data_next; /* bump allocator in the data area */
	uint16_t avail_idx; /* shadow of avail->idx */
	uint16_t last_used; /* next used entry to read */
	uint16_t *free; /* stack of free descriptor indices */
	unsigned int nr_free;
	uint16_t *chain_next; /* private copy of each descriptor's link */
	uint16_t *chain_len; /* descriptors in the chain headed here, 0 free */
	struct vq_driver *owner; /* whose memory we share, or NULL */
};

/*
 * Set up `ram_size` bytes of guest RAM at gpa 0 with rings for a queue of
 * `size` (a power of two, 1..VQ_MAX_SIZE) and all descriptors free.
 */
void vq_driver_init(struct vq_driver *drv, uint16_t size, uint64_t ram_size);
/*
 * Set up another queue of `size` in `owner`'s guest memory: its rings and
 * later vq_driver_alloc() calls come from `owner`'s data area.
 */
void vq_driver_init_shared(struct vq_driver *drv, uint16_t size,
			   struct vq_driver *owner);
/* Forget every chain and clear the rings (after a device reset). */
void vq_driver_reset(struct vq_driver *drv);
/* Free the guest memory (all regions, unless shared) and the bookkeeping. */
void vq_driver_destroy(struct vq_driver *drv);
/* The guest memory the rings live in (the owner's for a shared queue). */
struct guestmem *vq_driver_mem(struct vq_driver *drv);

/*
 * Fill the transport-side configuration of `vq` (memory, size, ring
 * addresses, features) and clear its device state; the caller then runs
 * vq_init().
 */
void vq_driver_setup_vq(const struct vq_driver *drv, struct vq *vq,
			bool event_idx, bool indirect);

/* Reserve `len` bytes of the data area (aligned to `align`, a power of 2). */
uint64_t vq_driver_alloc(struct vq_driver *drv, uint64_t len, uint64_t align);
/* Host pointer for [gpa, gpa + len); aborts the test when out of RAM. */
void *vq_driver_host(struct vq_driver *drv, uint64_t gpa, uint64_t len);

/*
 * Build a chain of `n` descriptors from free ones, linked with NEXT, and
 * make it available. Returns the head index, or -ENOSPC when fewer than
 * `n` descriptors are free (n == 0 is -EINVAL).
 */
int vq_driver_add_chain(struct vq_driver *drv, const struct vq_driver_buf *bufs,
			unsigned int n);
/*
 * Write an indirect table of `n` descriptors (chained 0 -> 1 -> ... ->
 * n - 1) into the data area, point one free descriptor at it and make that
 * available. Returns the head index or -ENOSPC.
 */
int vq_driver_add_indirect(struct vq_driver *drv,
			   const struct vq_driver_buf *bufs, unsigned int n);
/*
 * The same with the table at `table_gpa` (16 * n bytes the caller owns and
 * may reuse once the chain is used), for long runs that would exhaust the
 * data area.
 */
int vq_driver_add_indirect_at(struct vq_driver *drv, uint64_t table_gpa,
			      const struct vq_driver_buf *bufs,
			      unsigned int n);
/* Avail entries published so far (the driver's shadow of avail->idx). */
uint16_t vq_driver_avail_idx(const struct vq_driver *drv);

/* Raw: write descriptor `idx` of the table at `table_gpa`. */
void vq_driver_poke_desc(struct vq_driver *drv, uint64_t table_gpa,
			 uint32_t idx, const struct vq_driver_desc *d);
/* Raw: write descriptor `idx` of the main descriptor table. */
void vq_driver_set_desc(struct vq_driver *drv, uint16_t idx,
			const struct vq_driver_desc *d);
/* Raw: put `head` in the next avail slot and bump avail->idx. */
void vq_driver_publish(struct vq_driver *drv, uint16_t head);
/* Raw: set avail->idx (and the driver's shadow of it). */
void vq_driver_set_avail_idx(struct vq_driver *drv, uint16_t idx);
/* Raw: write avail->ring[slot % size] without publishing it. */
void vq_driver_set_avail_slot(struct vq_driver *drv, uint16_t slot,
			      uint16_t head);

/*
 * Take the next used element. Returns 1 with `id`/`len` filled (and frees
 * the chain's descriptors when `id` heads a chain this driver built), or 0
 * when the device has used nothing new.
 */
int vq_driver_get_used(struct vq_driver *drv, uint32_t *id, uint32_t *len);
/* Descriptors currently free. */
unsigned int vq_driver_nr_free(const struct vq_driver *drv);

/* Notification suppression, driver side and what the device wrote. */
void vq_driver_set_avail_flags(struct vq_driver *drv, uint16_t flags);
void vq_driver_set_used_event(struct vq_driver *drv, uint16_t used_event);
uint16_t vq_driver_used_flags(struct vq_driver *drv);
uint16_t vq_driver_used_idx(struct vq_driver *drv);
uint16_t vq_driver_avail_event(struct vq_driver *drv);

#endif
