/*
 * vq: device side of a VIRTIO 1.2 split virtqueue (spec section 2.7).
 *
 * Owns nothing but the device-side indices in struct vq. Every call
 * re-translates the rings through guestmem_ptr() (regions are fixed after
 * creation, so this is cheap and keeps no guest pointer across calls); the
 * only host pointers handed out are the segments of a popped chain, valid
 * until the chain is pushed.
 *
 * Invariants: size is a power of two in 1..VQ_MAX_SIZE while ready; the
 * three rings lie wholly inside guest RAM and are naturally aligned both as
 * guest addresses and as host addresses; (u16)(avail->idx - last_avail) is
 * never trusted to be <= size until checked.
 *
 * Guest-triggered errors are returned, not logged: the caller (transport or
 * device) owns the rate limit and the NEEDS_RESET decision.
 *
 * Layouts (all little-endian):
 *   desc  [size] { le64 addr; le32 len; le16 flags; le16 next; }  align 16
 *   avail { le16 flags; le16 idx; le16 ring[size]; le16 used_event; } align 2
 *   used  { le16 flags; le16 idx; { le32 id; le32 len; } ring[size];
 *           le16 avail_event; }                                   align 4
 */
#include "virtio/vq.h"
#include "vmm/util.h"

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#define VQ_DESC_SIZE 16u
#define VQ_AVAIL_F_NO_INTERRUPT 1
#define VQ_USED_F_NO_NOTIFY 1

/* Byte offsets inside the avail and used rings. */
#define VQ_RING_FLAGS 0
#define VQ_RING_IDX 2
#define VQ_RING_ENTRIES 4
#define VQ_USED_ELEM_SIZE 8u

static uint64_t vq_desc_bytes(uint32_t size)
{
	return (uint64_t)size * VQ_DESC_SIZE;
}

static uint64_t vq_avail_bytes(uint32_t size)
{
	return VQ_RING_ENTRIES + 2ull * size + 2;
}

static uint64_t vq_used_bytes(uint32_t size)
{
	return VQ_RING_ENTRIES + (uint64_t)VQ_USED_ELEM_SIZE * size + 2;
}

/*
 * Shared-field accessors. The guest may rewrite any ring field at any time,
 * so each one is loaded exactly once with an atomic (relaxed) access: the
 * compiler may then neither tear it nor re-read it later in place of our
 * local copy (a double fetch would let the guest change a value between
 * our check and our use). Natural alignment is guaranteed by vq_init().
 */
static uint16_t vq_load16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p,
				       __ATOMIC_RELAXED));
}

static void vq_store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static void vq_store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/*
 * Snapshot one descriptor. Descriptors in an indirect table need not be
 * aligned, so they are copied with memcpy; the compiler barrier after the
 * copy forbids the compiler from re-reading guest memory instead of using
 * the local copy (the same single-fetch guarantee as vq_load16()).
 */
static void vq_desc_read(const uint8_t *p, struct vq_desc *d)
{
	uint8_t raw[VQ_DESC_SIZE];

	memcpy(raw, p, sizeof(raw));
	__asm__ __volatile__("" ::: "memory");
	d->addr = get_le64(raw);
	d->len = get_le32(raw + 8);
	d->flags = get_le16(raw + 12);
	d->next = get_le16(raw + 14);
}

static uint8_t *vq_avail_ring(const struct vq *vq)
{
	return guestmem_ptr(vq->mem, vq->avail_gpa, vq_avail_bytes(vq->size));
}

static uint8_t *vq_used_ring(const struct vq *vq)
{
	return guestmem_ptr(vq->mem, vq->used_gpa, vq_used_bytes(vq->size));
}

static bool vq_usable(const struct vq *vq)
{
	return vq->ready && !vq->broken;
}

static int vq_check_ring(const struct guestmem *mem, uint64_t gpa,
			 uint64_t len, uint64_t align)
{
	const uint8_t *p;

	if (gpa & (align - 1))
		return -EINVAL;
	p = guestmem_ptr(mem, gpa, len);
	if (!p)
		return -EINVAL;
	/* The atomic accessors need the host side aligned as well. */
	if ((uintptr_t)p & (align - 1))
		return -EINVAL;
	return 0;
}

int vq_init(struct vq *vq)
{
	uint32_t size = vq->size;

	vq->ready = false;
	if (!vq->mem || !size || size > VQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	if (vq_check_ring(vq->mem, vq->desc_gpa, vq_desc_bytes(size), 16) ||
	    vq_check_ring(vq->mem, vq->avail_gpa, vq_avail_bytes(size), 2) ||
	    vq_check_ring(vq->mem, vq->used_gpa, vq_used_bytes(size), 4))
		return -EINVAL;
	/* The driver set the rings up from index 0 (spec 2.7.6, 2.7.8). */
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->broken = false;
	vq->ready = true;
	return 0;
}

void vq_reset(struct vq *vq)
{
	const struct guestmem *mem = vq->mem;

	/* The memory is the VM's, not the driver's: it survives a reset. */
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
}

static int vq_break(struct vq *vq)
{
	vq->broken = true;
	return -EIO;
}

int vq_pop(struct vq *vq, struct vq_chain *c)
{
	const uint8_t *avail;
	uint16_t avail_idx, pending, head;

	if (vq->broken)
		return -EIO;
	if (!vq->ready)
		return 0;
	avail = vq_avail_ring(vq);
	if (!avail)
		return vq_break(vq);
	avail_idx = vq_load16(avail + VQ_RING_IDX);
	pending = (uint16_t)(avail_idx - vq->last_avail);
	if (!pending)
		return 0;
	/* More than a ring's worth of new entries: the index is garbage. */
	if (pending > vq->size)
		return vq_break(vq);
	/*
	 * Acquire: pairs with the driver's write barrier before it bumped
	 * avail->idx, so the ring entry and the descriptors it points to are
	 * read no earlier than the index that published them.
	 */
	atomic_thread_fence(memory_order_acquire);
	head = vq_load16(avail + VQ_RING_ENTRIES +
			 2u * (vq->last_avail & (vq->size - 1)));
	if (head >= vq->size)
		return vq_break(vq);
	/* Ownership: the chain is the device's until vq_push() returns it. */
	vq->last_avail++;
	*c = (struct vq_chain){
		.vq = vq,
		.head = head,
		.next = head,
		.has_next = true,
	};
	return 1;
}

void vq_unpop(struct vq *vq)
{
	vq->last_avail--;
}

/* Ends the walk: after an error the chain yields nothing more. */
static int vq_chain_fail(struct vq_chain *c, int err)
{
	c->has_next = false;
	return err;
}

/*
 * Switch the walk into the indirect table described by `d`: a whole,
 * non-zero number of descriptors, all inside one guest RAM region, and at
 * most VQ_MAX_SIZE of them (512 KiB). Deliberately not bounded by the
 * queue size: Linux builds indirect tables longer than the queue; this
 * bound still keeps every walk finite and small.
 */
static int vq_chain_enter_indirect(struct vq_chain *c, const struct vq_desc *d)
{
	const struct vq *vq = c->vq;

	if (c->in_indirect || !vq->indirect || (d->flags & VQ_DESC_F_NEXT))
		return -EINVAL;
	if (!d->len || d->len % VQ_DESC_SIZE ||
	    d->len / VQ_DESC_SIZE > VQ_MAX_SIZE)
		return -EFAULT;
	if (!guestmem_ptr(vq->mem, d->addr, d->len))
		return -EFAULT;
	c->in_indirect = true;
	c->table_gpa = d->addr;
	c->table_len = d->len / VQ_DESC_SIZE;
	c->next = 0;
	c->seen = 0;
	return 0;
}

int vq_chain_next(struct vq_chain *c, struct vq_seg *seg)
{
	const struct vq *vq = c->vq;
	const uint8_t *p;
	struct vq_desc d;
	uint64_t gpa;
	uint32_t bound;
	bool writable;
	int ret;

	for (;;) {
		if (!c->has_next)
			return 0;
		if (!vq->ready)
			return vq_chain_fail(c, -EINVAL);
		/*
		 * The direct part is bounded by the queue size, the indirect
		 * table by its own length: a cycle in either ends here.
		 */
		gpa = c->in_indirect ? c->table_gpa : vq->desc_gpa;
		bound = c->in_indirect ? c->table_len : vq->size;
		if (c->next >= bound)
			return vq_chain_fail(c, -EINVAL);
		if (c->seen >= bound)
			return vq_chain_fail(c, -ELOOP);
		gpa += (uint64_t)c->next * VQ_DESC_SIZE;
		p = guestmem_ptr(vq->mem, gpa, VQ_DESC_SIZE);
		if (!p)
			return vq_chain_fail(c, -EFAULT);
		c->seen++;
		vq_desc_read(p, &d);

		if (!(d.flags & VQ_DESC_F_INDIRECT))
			break;
		/* The WRITE bit of the table's own descriptor is ignored. */
		ret = vq_chain_enter_indirect(c, &d);
		if (ret)
			return vq_chain_fail(c, ret);
	}

	writable = d.flags & VQ_DESC_F_WRITE;
	if (!writable && c->seen_writable)
		return vq_chain_fail(c, -EINVAL);
	/*
	 * Zero-length descriptors are returned as empty segments; their
	 * address is checked like any other, so every pointer we hand out
	 * came from guestmem_ptr(). It also rejects addr + len wrapping.
	 */
	seg->ptr = guestmem_ptr(vq->mem, d.addr, d.len);
	if (!seg->ptr)
		return vq_chain_fail(c, -EFAULT);
	seg->len = d.len;
	seg->writable = writable;
	c->seen_writable |= writable;
	c->has_next = d.flags & VQ_DESC_F_NEXT;
	c->next = d.next;
	return 1;
}

int vq_push(struct vq *vq, uint16_t head, uint32_t written)
{
	uint8_t *used, *elem;

	if (!vq_usable(vq))
		return -EIO;
	if (head >= vq->size)
		return -EINVAL;
	used = vq_used_ring(vq);
	if (!used)
		return vq_break(vq);
	elem = used + VQ_RING_ENTRIES +
	       VQ_USED_ELEM_SIZE * (vq->used_idx & (vq->size - 1));
	vq_store32(elem, head);
	vq_store32(elem + 4, written);
	/*
	 * Release: the element (and the data written into the buffers before
	 * this call) must be visible before the index that publishes it.
	 */
	atomic_thread_fence(memory_order_release);
	/* Ownership: from this store on, the chain is the driver's again. */
	vq->used_idx++;
	vq_store16(used + VQ_RING_IDX, vq->used_idx);
	/*
	 * 65536 pushes since the last notify decision: the 16-bit distance to
	 * signalled_used reads as 0, so forget it and notify next time.
	 */
	if (vq->used_idx == vq->signalled_used)
		vq->signalled_used_valid = false;
	return 0;
}

bool vq_should_notify(struct vq *vq)
{
	const uint8_t *avail;
	uint16_t old, new, event;
	bool valid;

	if (!vq_usable(vq))
		return false;
	avail = vq_avail_ring(vq);
	if (!avail)
		return false;
	/*
	 * Full barrier: our used->idx store must be visible before we read
	 * the driver's suppression state; the driver writes that state and
	 * then re-reads used->idx. With only store->load reordering allowed
	 * out, one of the two sides always sees the other.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (!vq->event_idx)
		return !(vq_load16(avail + VQ_RING_FLAGS) &
			 VQ_AVAIL_F_NO_INTERRUPT);

	event = vq_load16(avail + VQ_RING_ENTRIES + 2u * vq->size);
	old = vq->signalled_used;
	new = vq->used_idx;
	valid = vq->signalled_used_valid;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	/* No reference point yet: a spurious interrupt is harmless. */
	if (!valid)
		return true;
	/* Did used->idx step past used_event since the last decision? */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

void vq_set_notify(struct vq *vq, bool enable)
{
	uint8_t *used;

	if (!vq_usable(vq))
		return;
	used = vq_used_ring(vq);
	if (!used)
		return;
	if (vq->event_idx) {
		/*
		 * With EVENT_IDX the flags must stay 0 (spec 2.7.10.1);
		 * disabling just leaves avail_event behind, so the driver
		 * stops notifying once it has passed it.
		 */
		if (enable)
			vq_store16(used + VQ_RING_ENTRIES +
					   VQ_USED_ELEM_SIZE * vq->size,
				   vq->last_avail);
	} else {
		vq_store16(used + VQ_RING_FLAGS,
			   enable ? 0 : VQ_USED_F_NO_NOTIFY);
	}
	/*
	 * Full barrier: the store above must be visible before the caller
	 * re-reads avail->idx (vq_has_avail), or a buffer the driver added
	 * while it still saw notifications off would be missed by both sides.
	 */
	if (enable)
		atomic_thread_fence(memory_order_seq_cst);
}

bool vq_has_avail(struct vq *vq)
{
	const uint8_t *avail;

	if (!vq_usable(vq))
		return false;
	avail = vq_avail_ring(vq);
	if (!avail)
		return false;
	/* A garbage index reads as "yes": the pop that follows breaks. */
	return vq_load16(avail + VQ_RING_IDX) != vq->last_avail;
}

int vq_view(const struct vq *vq, struct vq_view *v)
{
	const uint8_t *avail, *used;

	if (!vq->ready)
		return -EINVAL;
	avail = vq_avail_ring(vq);
	used = vq_used_ring(vq);
	if (!avail || !used)
		return -EINVAL;
	v->avail_flags = vq_load16(avail + VQ_RING_FLAGS);
	v->avail_idx = vq_load16(avail + VQ_RING_IDX);
	v->used_event = vq_load16(avail + VQ_RING_ENTRIES + 2u * vq->size);
	v->used_flags = vq_load16(used + VQ_RING_FLAGS);
	v->used_idx = vq_load16(used + VQ_RING_IDX);
	v->avail_event = vq_load16(used + VQ_RING_ENTRIES +
				   VQ_USED_ELEM_SIZE * vq->size);
	return 0;
}

bool vq_enable_notify(struct vq *vq)
{
	vq_set_notify(vq, true);
	return vq_has_avail(vq);
}

void vq_fill(struct vq *vq, bool (*fill)(void *arg), void *arg)
{
	/* Ends: each round takes at least one buffer for pending work. */
	while (!fill(arg) && vq_enable_notify(vq))
		;
}
