/*
 * vq: the device side of a VIRTIO 1.x split virtqueue, as pure logic over
 * the guest memory API (no syscalls, no locks, no device knowledge).
 *
 * The transport fills in the ring addresses and size from the driver's
 * registers and calls vq_init() when the queue goes ready. A device pops
 * chains, walks their segments, and pushes them to the used ring when done
 * (possibly out of order, possibly much later: a chain may stay in flight
 * while host I/O completes).
 *
 * Trust edge: everything in the rings and descriptors is written by the
 * guest and may change under us at any time. Each shared field is read
 * once into a local; every index is range-checked; every buffer address
 * and length is checked through guestmem_ptr(); a chain (including an
 * indirect table) is bounded by the queue size, so a cyclic chain ends in
 * an error, never a hang. A malformed ring marks the queue broken: the
 * transport then reports DEVICE_NEEDS_RESET.
 */
#ifndef VIRTIO_VQ_H
#define VIRTIO_VQ_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/guestmem.h"

#define VQ_MAX_SIZE 32768u

/* Descriptor flags (VIRTIO 1.2, 2.7.5). */
#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_DESC_F_INDIRECT 4

struct vq {
	/* Configuration, set by the transport before vq_init(). */
	const struct guestmem *mem;
	uint16_t size; /* power of two, 1..VQ_MAX_SIZE */
	uint64_t desc_gpa;
	uint64_t avail_gpa; /* "driver area" */
	uint64_t used_gpa; /* "device area" */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect; /* VIRTIO_F_INDIRECT_DESC negotiated */

	/* Device-side state. */
	bool ready;
	bool broken;
	uint16_t last_avail; /* next avail ring slot to consume */
	uint16_t used_idx; /* our copy of used->idx */
	uint16_t signalled_used; /* used_idx when we last notified */
	bool signalled_used_valid;
};

/* One piece of a chain, already translated to a host pointer. */
struct vq_seg {
	uint8_t *ptr;
	uint32_t len;
	bool writable; /* device-writable ("in" for the driver) */
};

/* A popped chain; walk it with vq_chain_next(). */
struct vq_chain {
	struct vq *vq;
	uint16_t head; /* what vq_push() takes back */
	/* iteration state (private) */
	uint16_t next;
	bool has_next;
	bool in_indirect;
	uint64_t table_gpa; /* indirect table */
	uint32_t table_len; /* entries in the indirect table */
	uint32_t seen; /* descriptors visited: bounded */
	bool seen_writable;
};

/*
 * Validate the configuration (size a power of two, each ring inside guest
 * RAM and suitably aligned) and reset the device-side state. Returns 0, or
 * -EINVAL leaving the queue not ready.
 */
int vq_init(struct vq *vq);

/* Forget everything (device reset). */
void vq_reset(struct vq *vq);

/*
 * Take the next available chain. Returns 1 and fills `c`, 0 if the driver
 * has made nothing available, -EIO if the ring is malformed (the queue is
 * then broken and every later call fails).
 */
int vq_pop(struct vq *vq, struct vq_chain *c);

/* Give back the last chain popped, so the next vq_pop() returns it again. */
void vq_unpop(struct vq *vq);

/*
 * Next segment of the chain. Returns 1 with `seg` filled, 0 at the end of
 * the chain, or a negative errno for a malformed chain: -EFAULT (buffer
 * outside guest RAM, bad indirect table), -ELOOP (more descriptors than the
 * queue size, i.e. a cycle), -EINVAL (a read-only descriptor after a
 * writable one, a nested or unnegotiated indirect table, an index out of
 * range). A malformed chain should still be pushed back with length 0.
 */
int vq_chain_next(struct vq_chain *c, struct vq_seg *seg);

/*
 * Return chain `head` to the driver with `written` bytes written into its
 * writable part. Returns 0, or -EIO if the used ring is unreachable.
 */
int vq_push(struct vq *vq, uint16_t head, uint32_t written);

/*
 * After one or more vq_push(): does the driver want an interrupt now?
 * Honours VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX
 * (including 16-bit wrap-around).
 */
bool vq_should_notify(struct vq *vq);

/*
 * Ask the driver to notify us (enable = true) or not (false) about new
 * available buffers: VRING_USED_F_NO_NOTIFY, or avail_event with
 * EVENT_IDX. After enabling, callers must check vq_has_avail() again to
 * close the race with a driver that added buffers meanwhile.
 */
void vq_set_notify(struct vq *vq, bool enable);

/*
 * What both sides see of a queue, for diagnostics: the driver's fields as
 * read once (untrusted, only printed) and ours as the guest sees them.
 */
struct vq_view {
	uint16_t avail_idx, avail_flags, used_event; /* driver area */
	uint16_t used_idx, used_flags, avail_event; /* device area */
};

/* Fill `v`; -EINVAL if the queue is not ready or its rings unreachable. */
int vq_view(const struct vq *vq, struct vq_view *v);

/* Does the driver have buffers we have not popped yet? */
bool vq_has_avail(struct vq *vq);

/*
 * A device that drained the queue asks to be notified again, then looks
 * once more: the driver may have added buffers after our last pop without
 * seeing the request. Returns true if there are buffers to take now.
 */
bool vq_enable_notify(struct vq *vq);

/*
 * For a device that takes buffers only as it has work for them (vsock RX):
 * `fill` uses available buffers until it has no more work (returns true)
 * or runs out of buffers (false). Out of buffers, ask to be notified and
 * look again; if the driver posted more meanwhile, fill again, and ask
 * again if those run out too: the request names the slot after the last
 * one taken, and a request the driver has already passed brings no
 * notification for its next buffers (a lost wake-up).
 */
void vq_fill(struct vq *vq, bool (*fill)(void *arg), void *arg);

#endif
