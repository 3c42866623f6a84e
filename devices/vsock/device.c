/*
 * device: the virtio-vsock device proper: config space, features, and the
 * mapping between virtqueue chains and packets (see vsock.h, backend.h).
 *
 * TX: each chain is one packet: a 44-byte header then its payload, in any
 * split across descriptors (header alone, header and data together, data
 * over several descriptors, indirect). The header is copied out once; the
 * payload stays in guest memory until the host socket has taken it.
 * RX: chains are popped into a small pool only when the muxer has
 * something for them; control packets are written at once, data is
 * received straight into the chain by the backend.
 *
 * Events: the event queue's buffers are taken only to send an event, and
 * the one event is TRANSPORT_RESET: every connection is dropped on the
 * host side at once, and the guest is told in its next event buffer (see
 * transport_reset()).
 *
 * Fault modes (--vsock-fault, struct vsock_fault) change only when and in
 * what sizes packets go out, never what they say: tiny RX packets here,
 * held credit updates and responses in the muxer, periodic transport
 * resets on a timer here.
 *
 * Trust edge: a malformed chain (writable TX descriptor, short header,
 * bad address, a read-only or short event buffer) is returned unused and
 * counted; a malformed ring breaks the device (DEVICE_NEEDS_RESET), as
 * does a chain head the guest makes available again while we still hold
 * it.
 */
#define LOG_TAG "vsock"
#include "devices/vsock/vsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/vsock/backend.h"
#include "devices/vsock/pcap.h"
#include "vmm/util.h"

#define VSOCK_QUEUE_MAX 256u /* queue size we offer */
#define VSOCK_RX_POOL 64u /* RX chains the device holds at once: one
			     bit each in a uint64_t (rxb_sync) */
#define VSOCK_TX_BUDGET 256u /* TX chains per pass, then requeue */
#define VSOCK_NR_QUEUES 3u
#define VIRTIO_VSOCK_EVENT_TRANSPORT_RESET 0u

/* A one-shot timer on the loop; re-armed by the pass that needs it. */
struct vsock_timer {
	struct evloop_op op;
	struct __kernel_timespec ts;
	bool armed; /* in flight */
	struct vsock_dev *dev; /* for on_pass_timer() */
};

struct vsock_dev {
	struct evloop *loop;
	struct virtio_mmio *mmio;
	pthread_t loop_thread;
	bool started;
	pthread_cond_t reset_done; /* on the transport lock: see wait_reset() */
	bool reset_done_ok; /* initialised */
	bool loop_stopped; /* for good: see vsock_dev_stop() */
	unsigned int reset_waiters;

	struct vsock_muxer mx; /* its cfg: CID, limits, SEQPACKET */
	bool active; /* DRIVER_OK and not reset since */
	bool reset_pending; /* set by reset(), acted on by the loop thread */
	uint32_t gen;

	int kick_efd; /* wakes the loop thread after activate/reset */
	uint64_t kick_buf;
	struct evloop_op kick_op;
	struct evloop_op tick_op;
	struct __kernel_timespec tick_ts;

	struct vsock_txbuf txbufs[VSOCK_QUEUE_MAX]; /* by chain head */
	struct vsock_rxbuf rxbufs[VSOCK_RX_POOL];
	/* The pool by state, one bit per entry (rxb_sync() keeps them): a
	 * chain nobody uses, and of those one with payload room; an entry
	 * holding no chain. And the heads of the chains held, by head. */
	uint64_t rx_idle, rx_roomy, rx_spare;
	uint64_t rx_heads[VSOCK_QUEUE_MAX / 64];
	bool used[VSOCK_NR_QUEUES]; /* pushed since the last signal */
	bool rx_urgent; /* ...and on RX, something the guest waits for */
	bool rx_drained; /* a receive for a guest with nothing to read went
			    out: its interrupt goes before the burst's */

	struct vsock_fault fault; /* --vsock-fault; the delays are the muxer's */
	bool event_pending; /* a TRANSPORT_RESET waits for an event buffer */
	bool event_waited; /* ...and had to wait for one */
	uint64_t reset_due; /* the next periodic transport reset, 0: none */
	uint64_t held_max_wait; /* the shortest delay of a held packet */
	struct vsock_timer held_timer; /* the muxer's next held packet */
	struct vsock_timer reset_timer; /* reset_due */
	uint32_t signal_due; /* queues whose used entries wait to share an
				interrupt (1 << queue) */
	uint64_t signal_delay_ns; /* ...for at most this long */
	struct vsock_timer signal_timer; /* its deadline */
	uint64_t tx_quiet_since; /* TX notifications off since (0: on) */
	uint64_t tx_quiet_ns; /* ...for at most this long */
	struct vsock_timer tx_quiet_timer; /* ...and on again by then */

	const struct vsock_backend_ops *be_ops;
	struct vsock_backend *be;
	struct vsock_pcap *pcap; /* --vsock-pcap, or NULL */

	struct vsock_dev_stats stats;
	struct log_ratelimit rl;
};

static void vsock_dev_process(struct vsock_dev *d);
static void vsock_dev_sync(struct vsock_dev *d);

_Static_assert(VSOCK_RX_POOL == 64, "the RX pool masks are uint64_t");
_Static_assert(VSOCK_QUEUE_MAX % 64 == 0, "rx_heads: 64 heads per word");

/* RX pool bookkeeping: every change of an entry's popped or lent goes
 * through these, so that finding an entry is a bit scan, not a walk. */
static void rxb_sync(struct vsock_dev *d, const struct vsock_rxbuf *rb)
{
	uint64_t bit = 1ull << (rb - d->rxbufs);

	d->rx_idle &= ~bit;
	d->rx_roomy &= ~bit;
	d->rx_spare &= ~bit;
	if (rb->lent)
		return;
	if (!rb->popped)
		d->rx_spare |= bit;
	else if (rb->room)
		d->rx_idle |= bit, d->rx_roomy |= bit;
	else
		d->rx_idle |= bit;
}

/* RX pool entries lent to host receives: neither idle nor spare. */
static unsigned int rx_lent(const struct vsock_dev *d)
{
	return (unsigned int)__builtin_popcountll(~(d->rx_idle | d->rx_spare));
}

static void rxb_set_popped(struct vsock_dev *d, struct vsock_rxbuf *rb,
			   bool popped)
{
	uint64_t bit = 1ull << (rb->head % 64);

	rb->popped = popped;
	if (popped)
		d->rx_heads[rb->head / 64] |= bit;
	else
		d->rx_heads[rb->head / 64] &= ~bit;
	rxb_sync(d, rb);
}

static void rxb_set_lent(struct vsock_dev *d, struct vsock_rxbuf *rb,
			 bool lent)
{
	rb->lent = lent;
	rxb_sync(d, rb);
}

static bool rx_head_held(const struct vsock_dev *d, uint16_t head)
{
	return d->rx_heads[head / 64] & (1ull << (head % 64));
}

/*
 * The start of an entry (a completion, a notification): the muxer's
 * clock, read once for the entry and its pass. Due times set in it count
 * from now (muxer.h); deadlines are seconds, an entry microseconds, and
 * where the clocksource has no vDSO (an HPET, as in the nested bed's L1)
 * each read is a system call.
 */
static void dev_clock(struct vsock_dev *d)
{
	vsock_dev_sync(d);
	vsock_muxer_advance(&d->mx, util_now_ns());
}

/*
 * The entry bracket: every entry into the device from the event loop (a
 * backend completion or accept, the wake-up, the timer) runs between
 * these two. Enter takes the transport lock (the vCPU threads' config and
 * status accesses take it too), finishes a pending reset and sets the
 * muxer's clock; leave takes guest TX, fills RX buffers with whatever the
 * entry made ready, sends a pending event, raises the interrupts, arms
 * the fault modes' timers, and drops the lock. The transport's own entry
 * (a queue notification, vsock_queue_notify) holds the lock already and
 * runs the same pass. Entries never nest: nothing called inside one
 * enters again, and the backend defers freeing what a caller up the
 * stack still uses (backend.h).
 */
static void dev_enter(void *opaque)
{
	struct vsock_dev *d = opaque;

	pthread_mutex_lock(&d->mmio->lock);
	dev_clock(d);
}

static void dev_leave(void *opaque)
{
	struct vsock_dev *d = opaque;

	vsock_dev_process(d);
	/* Lent RX buffers come back only in entries (env.rx_return): a
	 * vCPU waiting out a reset looks again. */
	if (d->reset_waiters)
		pthread_cond_broadcast(&d->reset_done);
	pthread_mutex_unlock(&d->mmio->lock);
}

static bool on_loop_thread(const struct vsock_dev *d)
{
	return d->started && pthread_equal(pthread_self(), d->loop_thread);
}

static int timer_arm(struct vsock_dev *d, struct vsock_timer *t,
		     uint64_t delay_ns);

/*
 * Used entries nobody waits for: TX ones give the driver its buffers
 * back (the guest gets ring room, and Linux counts the bytes as gone from
 * SIOCOUTQ and reports zero-copy completions), and an RX packet may be
 * the RST that ends a connection the guest closed (its close() returned
 * long ago). So when a pass has used only such entries, its interrupt
 * waits up to signal_delay_ns (VSOCK_SIGNAL_DELAY_NS) to go out with the
 * next one somebody waits for (a round trip's reply, the next data, the
 * next connection's RESPONSE): one interrupt, and the driver's two
 * register exits, instead of two. Only with EVENT_IDX, and it goes at
 * once when VSOCK_SIGNAL_BATCH entries of a queue have been used since
 * its last signal decision, so the driver never runs short of ring, or
 * when the timer cannot be armed.
 */
#define VSOCK_SIGNAL_BATCH(size) ((size) / 4u)

static bool signal_may_wait(struct vsock_dev *d, uint32_t mask)
{
	unsigned int q;

	for (q = 0; q < VSOCK_NR_QUEUES; q++) {
		const struct vq *vq = virtio_mmio_queue(d->mmio, q);

		if (!(mask & 1u << q))
			continue;
		if (!vq || !vq->event_idx || !vq->signalled_used_valid ||
		    (uint16_t)(vq->used_idx - vq->signalled_used) >=
			    VSOCK_SIGNAL_BATCH(vq->size))
			return false;
	}
	return true;
}

/* One interrupt per pass at most, whichever queues were used. */
static void signal_used(struct vsock_dev *d)
{
	uint32_t mask = 0, lazy = 1u << VSOCK_QUEUE_TX;
	unsigned int q;

	for (q = 0; q < VSOCK_NR_QUEUES; q++) {
		if (d->used[q])
			mask |= 1u << q;
		d->used[q] = false;
	}
	if (!d->rx_urgent)
		lazy |= 1u << VSOCK_QUEUE_RX;
	d->rx_urgent = false;
	if (mask && !(mask & ~lazy) && signal_may_wait(d, mask) &&
	    !timer_arm(d, &d->signal_timer, d->signal_delay_ns)) {
		d->signal_due |= mask;
		return;
	}
	if (!mask)
		return;
	if (d->rx_drained && (mask & 1u << VSOCK_QUEUE_RX)) {
		d->rx_drained = false;
		evloop_after_early(d->loop);
	}
	mask |= d->signal_due;
	d->signal_due = 0;
	virtio_mmio_signal_used_mask(d->mmio, mask);
}

static void push(struct vsock_dev *d, unsigned int q, uint16_t head,
		 uint32_t written)
{
	struct vq *vq = virtio_mmio_queue(d->mmio, q);

	if (!vq)
		return;
	if (vq_push(vq, head, written)) {
		virtio_mmio_set_needs_reset(d->mmio);
		return;
	}
	d->used[q] = true;
}

static void kick(struct vsock_dev *d)
{
	if (util_eventfd_signal(d->kick_efd))
		log_err("cannot wake the event loop: %s", strerror(errno));
}

/* Reset --------------------------------------------------------------- */

/*
 * Every connection goes: the backend closes every host socket (host
 * peers see the close) and gives back what it holds as its operations
 * complete, and the connection table starts empty.
 */
static void drop_connections(struct vsock_dev *d)
{
	struct vsock_muxer_config mx_cfg = d->mx.cfg;

	d->be_ops->reset(d->be);
	vsock_muxer_destroy(&d->mx);
	if (vsock_muxer_init(&d->mx, &mx_cfg)) {
		log_err("cannot recreate the connection table");
		virtio_mmio_set_needs_reset(d->mmio);
	}
	vsock_muxer_advance(&d->mx, util_now_ns());
}

static void vsock_dev_sync(struct vsock_dev *d)
{
	unsigned int i;

	if (!d->reset_pending)
		return;
	d->reset_pending = false;
	/* Stale chains are forgotten: the queues they came from are gone. */
	for (i = 0; i < VSOCK_QUEUE_MAX; i++)
		d->txbufs[i].busy = false;
	for (i = 0; i < VSOCK_RX_POOL; i++)
		if (!d->rxbufs[i].lent && d->rxbufs[i].popped)
			rxb_set_popped(d, &d->rxbufs[i], false);
	drop_connections(d);
	memset(d->used, 0, sizeof(d->used));
	d->signal_due = 0;
	d->rx_urgent = false;
	d->tx_quiet_since = 0;
	d->event_pending = d->event_waited = false;
}

/* RX ------------------------------------------------------------------ */

/* Turn a popped chain into an RX buffer; false if it is unusable. */
static bool rxbuf_load(struct vsock_dev *d, struct vsock_rxbuf *rb,
		       struct vq_chain *c)
{
	int ret = vsock_rxbuf_load(rb, c);

	if (ret)
		log_warn_rl(&d->rl, "malformed RX buffer (%d)", ret);
	return !ret;
}

/* An RX packet goes to the guest; `lazy`: nobody waits for it
 * (vsock_rx.lazy, signal_used()). */
static void rx_complete(struct vsock_dev *d, struct vsock_rxbuf *rb,
			const struct vsock_hdr *h, bool lazy)
{
	vsock_rxbuf_write_hdr(rb, h);
	if (d->pcap) {
		struct iovec iov[VSOCK_RX_MAX_SEGS];

		vsock_pcap_packet(d->pcap, h, iov,
				  vsock_rxbuf_iov(rb, h->len, iov,
						  VSOCK_RX_MAX_SEGS));
	}
	push(d, VSOCK_QUEUE_RX, rb->head, VSOCK_HDR_SIZE + h->len);
	if (!lazy)
		d->rx_urgent = true;
	rxb_set_popped(d, rb, false);
	d->stats.rx_packets++;
	if (h->op == VSOCK_OP_RW)
		d->stats.rx_bytes += h->len;
}

/* Payload room of an RX buffer as we fill it: all of it, or with
 * --vsock-fault tiny-rx at most that much. */
static uint32_t rx_room(const struct vsock_dev *d, const struct vsock_rxbuf *rb)
{
	return d->fault.tiny_rx ? MIN(rb->room, d->fault.tiny_rx) : rb->room;
}

/*
 * A pool entry holding a chain nobody uses, popping one if needed; with
 * `need_room`, one with room for payload. NULL: no chain available (or
 * the ring is broken).
 */
static struct vsock_rxbuf *rx_buffer(struct vsock_dev *d, struct vq *vq,
				     bool need_room)
{
	uint64_t ready = need_room ? d->rx_roomy : d->rx_idle;

	if (ready)
		return &d->rxbufs[__builtin_ctzll(ready)];
	while (d->rx_spare) {
		struct vsock_rxbuf *spare =
			&d->rxbufs[__builtin_ctzll(d->rx_spare)];
		struct vq_chain c;
		int ret = vq_pop(vq, &c);

		if (ret <= 0) {
			if (ret < 0)
				virtio_mmio_set_needs_reset(d->mmio);
			return NULL;
		}
		if (rx_head_held(d, c.head)) {
			/* The guest re-posted a chain we hold. */
			log_warn_rl(&d->rl, "RX chain %u made available twice",
				    c.head);
			virtio_mmio_set_needs_reset(d->mmio);
			return NULL;
		}
		spare->head = c.head;
		spare->gen = d->gen;
		if (rxbuf_load(d, spare, &c)) {
			rxb_set_popped(d, spare, true);
			if (spare->room || !need_room)
				return spare;
			/* Header-only: keep it for control packets. */
			continue;
		}
		push(d, VSOCK_QUEUE_RX, c.head, 0);
	}
	return NULL;
}

/*
 * Data for a stream: one recv may fill several buffers (one packet each),
 * so a host that sends much costs one operation per batch, not per
 * buffer; all of it within the guest's credit.
 *
 * A guest that has read all we sent, on every connection, waits for this
 * data: Linux returns its credit only once a reader has emptied its
 * socket (or read most of its buffer), so each window of a host->guest
 * flow starts so. A full batch would keep it waiting while 128 KiB are
 * copied; a small one, whose interrupt goes out before the burst's next
 * round (evloop_after_early), gets it reading while the next batch is
 * copied. In the nested bed this cut the guest's idle time per MiB from
 * host to guest by about 40%.
 */
static void rx_payload(struct vsock_dev *d, struct vq *vq,
		       const struct vsock_rx *rx, struct vsock_rxbuf *rb)
{
	struct vsock_rxbuf *rbs[VSOCK_RX_BATCH];
	uint32_t max[VSOCK_RX_BATCH];
	uint32_t credit = vsock_conn_peer_credit(&rx->mc->conn);
	uint32_t total = rx->max_len;
	unsigned int i, nr = 1, most = VSOCK_RX_BATCH;

	if (vsock_muxer_guest_drained(&d->mx)) {
		most = VSOCK_RX_FIRST;
		d->rx_drained = true;
	}
	rbs[0] = rb;
	max[0] = rx->max_len;
	rxb_set_lent(d, rb, true); /* so rx_buffer() looks past it */
	while (rx->mc->conn.type == VSOCK_TYPE_STREAM && nr < most &&
	       total < credit) {
		struct vsock_rxbuf *more = rx_buffer(d, vq, true);

		if (!more)
			break;
		rbs[nr] = more;
		max[nr] = MIN(rx_room(d, more), credit - total);
		total += max[nr];
		rxb_set_lent(d, more, true);
		nr++;
	}
	if (d->be_ops->rx(d->be, rx->mc, rbs, max, nr))
		return;
	for (i = 0; i < nr; i++)
		rxb_set_lent(d, rbs[i], false);
	vsock_muxer_rx_data(&d->mx, rx->mc, 0, NULL);
}

/*
 * Fill RX buffers with what the muxer has for the guest. Returns false
 * only when the guest's ring ran dry with work left (vq_fill then asks for
 * a notification); true when the work is done, or when the buffers we
 * hold are all lent to host receives, whose completions call us again.
 */
static bool rx_fill(void *arg)
{
	struct vsock_dev *d = arg;
	struct vq *vq = virtio_mmio_queue(d->mmio, VSOCK_QUEUE_RX);
	struct vsock_rxbuf *rb;
	bool need_room = false;

	if (!vq)
		return true;
	while ((rb = rx_buffer(d, vq, need_room))) {
		struct vsock_rx rx = vsock_muxer_next_rx(&d->mx,
							 rx_room(d, rb));

		need_room = false;
		switch (rx.kind) {
		case VSOCK_RX_EMPTY:
			/* Data waiting but this buffer has no room for it? */
			if (!rb->room &&
			    vsock_muxer_pending(&d->mx, VSOCK_RX_DATA)) {
				need_room = true;
				break;
			}
			return true; /* keep the buffer for later */
		case VSOCK_RX_PACKET:
			rx_complete(d, rb, &rx.hdr, rx.lazy);
			break;
		case VSOCK_RX_PAYLOAD:
			rx_payload(d, vq, &rx, rb);
			break;
		}
	}
	return vq_has_avail(vq);
}

static void vsock_dev_rx_kick(struct vsock_dev *d)
{
	struct vq *vq;

	if (!d->active)
		return;
	vq = virtio_mmio_queue(d->mmio, VSOCK_QUEUE_RX);
	if (vq)
		vq_fill(vq, rx_fill, d);
}

/* env.rx_return: a lent RX buffer comes back from the backend. */
static void rx_return(void *opaque, struct vsock_rxbuf *rb,
		      const struct vsock_hdr *h, uint32_t n)
{
	struct vsock_dev *d = opaque;

	rxb_set_lent(d, rb, false);
	if (rb->gen != d->gen || !d->active) {
		rxb_set_popped(d, rb, false); /* from before a reset: forget it */
		return;
	}
	if (h && n)
		rx_complete(d, rb, h, false);
	/* else it stays popped, free for the next packet */
}

/* TX ------------------------------------------------------------------ */

/* env.tx_done: the backend is done with a TX buffer. */
static void tx_done(void *opaque, struct vsock_txbuf *tb)
{
	struct vsock_dev *d = opaque;

	tb->busy = false;
	if (tb->gen == d->gen && d->active)
		push(d, VSOCK_QUEUE_TX, tb->head, 0);
}

static void tx_packet(struct vsock_dev *d, struct vq_chain *c)
{
	struct vsock_txbuf *tb = &d->txbufs[c->head];
	uint8_t wire[VSOCK_HDR_SIZE];
	struct vsock_tx_result r;
	struct vsock_hdr h;
	const char *why = NULL;
	bool too_fragmented;
	int64_t len;

	tb->head = c->head;
	tb->gen = d->gen;
	tb->off = 0;
	tb->next = NULL;
	len = vsock_txbuf_parse(tb, c, wire, &too_fragmented);
	d->stats.tx_packets++;
	if (len < 0) {
		log_warn_rl(&d->rl, "malformed TX chain (%d)", (int)len);
		d->stats.tx_dropped++;
		push(d, VSOCK_QUEUE_TX, c->head, 0);
		return;
	}
	vsock_hdr_decode(&h, wire);
	if (d->pcap)
		vsock_pcap_packet(d->pcap, &h, tb->iov, tb->nseg);
	switch (vsock_hdr_check_tx(&h, d->mx.cfg.guest_cid, d->mx.cfg.seqpacket,
				   (uint32_t)len, &why)) {
	case VSOCK_DROP:
		log_warn_rl(&d->rl, "dropped TX %s: %s", vsock_op_name(h.op),
			    why);
		d->stats.tx_dropped++;
		push(d, VSOCK_QUEUE_TX, c->head, 0);
		return;
	case VSOCK_REPLY_RST:
		log_warn_rl(&d->rl, "reset TX %s: %s", vsock_op_name(h.op),
			    why);
		d->stats.tx_dropped++;
		vsock_muxer_reply_rst(&d->mx, &h);
		push(d, VSOCK_QUEUE_TX, c->head, 0);
		return;
	case VSOCK_ACCEPT:
		break;
	}
	if (too_fragmented) {
		struct vsock_mconn *mc =
			vsock_muxer_find(&d->mx, h.dst_port, h.src_port);

		log_warn_rl(&d->rl, "TX packet in more than %u pieces: reset",
			    VSOCK_TX_MAX_SEGS);
		if (mc)
			d->be_ops->action(d->be, mc, VSOCK_ACT_ABORT, NULL);
		else
			vsock_muxer_reply_rst(&d->mx, &h);
		push(d, VSOCK_QUEUE_TX, c->head, 0);
		return;
	}

	/* The pass's clock (vsock_dev_process), not a clock read per
	 * packet: deadlines are seconds, a pass is microseconds. */
	r = vsock_muxer_tx(&d->mx, &h, d->mx.now);
	switch (r.kind) {
	case VSOCK_TX_NONE:
		break;
	case VSOCK_TX_CONNECT:
		d->be_ops->connect(d->be, r.mc);
		break;
	case VSOCK_TX_CONN:
		if (r.action == VSOCK_ACT_DELIVER) {
			/* The chain now belongs to the host connection. */
			tb->busy = true;
			tb->len = (uint32_t)len;
			tb->flags = h.flags;
			d->stats.tx_bytes += tb->len;
			d->be_ops->action(d->be, r.mc, r.action, tb);
			return;
		}
		d->be_ops->action(d->be, r.mc, r.action, NULL);
		break;
	}
	push(d, VSOCK_QUEUE_TX, c->head, 0);
}

static void tx_process(struct vsock_dev *d)
{
	struct vq *vq;
	unsigned int budget = VSOCK_TX_BUDGET;
	struct vq_chain c;
	int ret = 0;

	if (!d->active)
		return;
	vq = virtio_mmio_queue(d->mmio, VSOCK_QUEUE_TX);
	if (!vq)
		return;
	while (budget) {
		if (vsock_muxer_tx_paused(&d->mx)) {
			/* Replies first; RX progress calls us again. */
			vsock_dev_rx_kick(d);
			if (vsock_muxer_tx_paused(&d->mx))
				return;
		}
		ret = vq_pop(vq, &c);
		if (ret <= 0)
			break;
		if (d->txbufs[c.head].busy) {
			/* The guest re-posted a chain we still hold. */
			log_warn_rl(&d->rl, "TX chain %u made available twice",
				    c.head);
			virtio_mmio_set_needs_reset(d->mmio);
			return;
		}
		tx_packet(d, &c);
		budget--;
	}
	if (ret < 0) {
		virtio_mmio_set_needs_reset(d->mmio);
		return;
	}
	if (!budget)
		virtio_mmio_requeue(d->mmio, VSOCK_QUEUE_TX);
}

/*
 * After a pass has emptied the TX ring: ask the driver to notify us of
 * new TX buffers, unless host data is flowing to the guest, when the
 * device runs again soon anyway: a host receive is in flight (its
 * completion enters the device), or data the guest has credit for waits
 * for RX buffers (the driver's notification when it posts more enters
 * it). Every pass looks at the TX ring (vsock_dev_process), so what the
 * driver posts meanwhile (Linux: a credit update each time a reader
 * empties its socket) is taken at the next pass without a notification,
 * a VM exit each. Notifications stay off for at most tx_quiet_ns;
 * while only waiting for RX buffers, a timer keeps that bound should the
 * driver post none. (A receive in flight needs no timer: a round trip's
 * request costs none.)
 */
static void tx_notify(struct vsock_dev *d)
{
	struct vq *vq = virtio_mmio_queue(d->mmio, VSOCK_QUEUE_TX);
	uint64_t now = d->mx.now;
	bool receiving = rx_lent(d);

	if (!d->active || !vq || vsock_muxer_tx_paused(&d->mx))
		return;
	if (receiving || vsock_muxer_pending(&d->mx, VSOCK_RX_DATA)) {
		if (!d->tx_quiet_since)
			d->tx_quiet_since = now;
		if (now - d->tx_quiet_since < d->tx_quiet_ns &&
		    (receiving ||
		     !timer_arm(d, &d->tx_quiet_timer, d->tx_quiet_ns)))
			return;
	}
	d->tx_quiet_since = 0;
	if (vq_enable_notify(vq))
		virtio_mmio_requeue(d->mmio, VSOCK_QUEUE_TX);
}

/* Events and the transport reset ---------------------------------------- */

/*
 * Put event `id` into the driver's next usable event buffer; malformed
 * ones go back unused. Returns 1 when it went out, 0 when the driver has
 * no buffer posted (it notifies us when it posts one), -EIO on a broken
 * ring.
 */
static int event_put(struct vsock_dev *d, uint32_t id)
{
	struct vq *vq = virtio_mmio_queue(d->mmio, VSOCK_QUEUE_EVENT);
	struct vq_chain c;
	int ret;

	if (!vq)
		return 0;
	do {
		while ((ret = vq_pop(vq, &c)) == 1) {
			int n = vsock_evbuf_write(&c, id);

			if (n > 0) {
				push(d, VSOCK_QUEUE_EVENT, c.head, (uint32_t)n);
				return 1;
			}
			log_warn_rl(&d->rl, "malformed event buffer (%d)", n);
			d->stats.events_rejected++;
			push(d, VSOCK_QUEUE_EVENT, c.head, 0);
		}
		if (ret < 0) {
			virtio_mmio_set_needs_reset(d->mmio);
			return ret;
		}
	} while (vq_enable_notify(vq));
	return 0;
}

/* Send the pending TRANSPORT_RESET, if there is a buffer for it now. */
static void event_flush(struct vsock_dev *d)
{
	if (!d->event_pending || !d->active)
		return;
	if (event_put(d, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) <= 0) {
		d->event_waited = true;
		return;
	}
	d->event_pending = false;
	/* The driver drops its connections only now, including those it
	 * made while the event waited: so must we. */
	if (d->event_waited)
		drop_connections(d);
	d->event_waited = false;
}

/*
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (VIRTIO 1.2, 5.10.6.6): the device's
 * side of every connection is gone. Host peers see their sockets close at
 * once; the driver, told by the event, drops its connections, re-reads
 * the CID and keeps its listeners. With no event buffer posted the event
 * waits for one (several resets meanwhile make one event: each says
 * "everything is gone"), and goes out with a second drop (event_flush).
 */
static void transport_reset(struct vsock_dev *d)
{
	log_info("transport reset: %u connections dropped", d->mx.nr_conns);
	d->stats.transport_resets++;
	drop_connections(d);
	d->event_pending = true;
	d->event_waited = false; /* nothing made since is left to drop */
	event_flush(d);
}

/* Timers (fault modes) -------------------------------------------------- */

/* Arm `t` unless it is in flight already; 0, or -1 if it cannot be. */
static int timer_arm(struct vsock_dev *d, struct vsock_timer *t,
		     uint64_t delay_ns)
{
	if (t->armed)
		return 0;
	t->ts = evloop_ts_from_ns(delay_ns);
	if (evloop_timeout(d->loop, &t->op, &t->ts)) {
		log_err("cannot arm a vsock timer");
		return -1;
	}
	t->armed = true;
	return 0;
}

/*
 * Wake up for the next held packet and the next periodic reset. A timer
 * in flight may be due later than a packet held after it was armed: the
 * held timer never waits longer than the shortest delay, so such a
 * packet's due time (at least that delay after it was held) is not missed.
 */
static void timers_arm(struct vsock_dev *d)
{
	uint64_t held = vsock_muxer_held_next(&d->mx), now;

	if (!d->active || (!held && !d->reset_due))
		return;
	now = util_now_ns();
	if (held)
		timer_arm(d, &d->held_timer,
			  MIN(held > now ? held - now : 0, d->held_max_wait));
	if (d->reset_due)
		timer_arm(d, &d->reset_timer,
			  d->reset_due > now ? d->reset_due - now : 0);
}

/* A timer whose work is a pass: the held timer (the clock moves, what is
 * due goes out) and the TX quiet timer (the pass ends with tx_notify()). */
static void on_pass_timer(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_timer *t = container_of(op, struct vsock_timer, op);
	struct vsock_dev *d = t->dev;

	(void)res;
	(void)flags;
	dev_enter(d);
	t->armed = false;
	dev_leave(d);
}

static void on_signal_timer(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_dev *d =
		container_of(op, struct vsock_dev, signal_timer.op);

	(void)res;
	(void)flags;
	dev_enter(d);
	d->signal_timer.armed = false;
	if (d->signal_due && d->active) {
		virtio_mmio_signal_used_mask(d->mmio, d->signal_due);
		d->signal_due = 0;
	}
	dev_leave(d);
}

static void on_reset_timer(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_dev *d =
		container_of(op, struct vsock_dev, reset_timer.op);
	uint64_t now;

	(void)res;
	(void)flags;
	dev_enter(d);
	d->reset_timer.armed = false;
	now = util_now_ns();
	/* Armed before a device reset: the next DRIVER_OK set a new time. */
	if (d->active && d->reset_due && now >= d->reset_due) {
		d->reset_due = now + d->fault.reset_period_ns;
		transport_reset(d);
	}
	dev_leave(d);
}

/* One pass of all work: guest packets in, then packets out. The clock is
 * the entry's (dev_clock()). */
static void vsock_dev_process(struct vsock_dev *d)
{
	vsock_dev_sync(d);
	event_flush(d);
	tx_process(d);
	vsock_dev_rx_kick(d);
	tx_notify(d);
	signal_used(d);
	timers_arm(d);
}

/* Transport ops (lock held) --------------------------------------------- */

static void vsock_cfg_read(void *dev, uint64_t offset, void *data,
			   unsigned int len)
{
	struct vsock_dev *d = dev;
	uint8_t cfg[8];

	put_le64(cfg, d->mx.cfg.guest_cid);
	memset(data, 0, len);
	if (offset < sizeof(cfg))
		memcpy(data, cfg + offset, MIN(len, sizeof(cfg) - offset));
}

static void vsock_queue_notify(void *dev, unsigned int q)
{
	struct vsock_dev *d = dev;

	(void)q; /* one pass serves every queue */
	if (!on_loop_thread(d)) {
		/* Only the loop thread may touch the ring: hand it over. */
		kick(d);
		return;
	}
	dev_clock(d);
	vsock_dev_process(d);
}

static int vsock_activate(void *dev)
{
	struct vsock_dev *d = dev;
	struct vq *tx = virtio_mmio_queue(d->mmio, VSOCK_QUEUE_TX);

	d->mx.cfg.seqpacket =
		virtio_mmio_has_feature(d->mmio, VIRTIO_VSOCK_F_SEQPACKET);
	d->be_ops->activate(d->be, tx ? tx->size : 0);
	d->active = true;
	d->reset_due = d->fault.reset_period_ns
			       ? util_now_ns() + d->fault.reset_period_ns
			       : 0;
	kick(d);
	return 0;
}

#define VSOCK_RESET_WAIT_S 2

/*
 * For the guest a reset is over when its status write returns: from then
 * on it may free and reuse every buffer it gave the device (Linux does at
 * once, without reading the status back). RX buffers lent to host
 * receives are written by the kernel whenever those receives complete,
 * so the vCPU thread that wrote the status waits here, the transport
 * lock released so that the loop can enter, until every lent buffer has
 * come back (the loop's next entry finishes the reset: every host socket
 * shut down, its receives cancelled). With none lent it returns at once:
 * the device is inactive, so nothing new is lent. Bounded: a receive
 * that outlives VSOCK_RESET_WAIT_S is reported and the reset returns
 * anyway; once the loop has stopped with the VM (vsock_dev_stop) it
 * returns at once.
 */
static void wait_reset(struct vsock_dev *d)
{
	struct timespec until;

	if (!d->reset_done_ok || !d->started || on_loop_thread(d))
		return; /* the loop's own thread finishes it at its next entry */
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += VSOCK_RESET_WAIT_S;
	d->reset_waiters++;
	while (rx_lent(d) && !d->loop_stopped) {
		if (pthread_cond_timedwait(&d->reset_done, &d->mmio->lock,
					   &until) == ETIMEDOUT) {
			log_err("device reset: %u RX buffers still lent to host "
				"receives after %d s", rx_lent(d),
				VSOCK_RESET_WAIT_S);
			break;
		}
	}
	d->reset_waiters--;
}

static void vsock_reset(void *dev)
{
	struct vsock_dev *d = dev;

	/* Any thread: the loop thread tears down at its next entry. */
	d->active = false;
	d->gen++;
	d->reset_pending = true;
	kick(d);
	wait_reset(d);
}

static void vsock_dump(void *dev, FILE *f)
{
	struct vsock_dev *d = dev;
	unsigned int i, popped = 0, held = 0;

	for (i = 0; i < VSOCK_RX_POOL; i++)
		popped += d->rxbufs[i].popped;
	for (i = 0; i < VSOCK_QUEUE_MAX; i++)
		held += d->txbufs[i].busy;
	fprintf(f, "dump: vsock active %d gen %u reset_pending %d conns %u "
		"rx_pool popped %u lent %u | tx chains held %u | pending rx: "
		"rst %d ctrl %d data %d credit %d held %d | tx paused %d | "
		"transport resets %llu event pending %d\n",
		d->active, d->gen, d->reset_pending, d->mx.nr_conns, popped,
		rx_lent(d), held, vsock_muxer_pending(&d->mx, VSOCK_RX_RST),
		vsock_muxer_pending(&d->mx, VSOCK_RX_CTRL),
		vsock_muxer_pending(&d->mx, VSOCK_RX_DATA),
		vsock_muxer_pending(&d->mx, VSOCK_RX_CREDIT),
		vsock_muxer_pending(&d->mx, VSOCK_RX_HELD),
		vsock_muxer_tx_paused(&d->mx),
		(unsigned long long)d->stats.transport_resets,
		d->event_pending);
	d->be_ops->dump(d->be, f);
}

static const struct virtio_dev_ops vsock_ops = {
	.cfg_read = vsock_cfg_read,
	.queue_notify = vsock_queue_notify,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.dump = vsock_dump,
};

/* Event loop ------------------------------------------------------------ */

static int arm_kick(struct vsock_dev *d)
{
	return evloop_read(d->loop, &d->kick_op, d->kick_efd, &d->kick_buf,
			   sizeof(d->kick_buf));
}

static void on_kick(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_dev *d = container_of(op, struct vsock_dev, kick_op);

	(void)res;
	(void)flags;
	dev_enter(d);
	dev_leave(d);
	if (arm_kick(d))
		log_err("cannot re-arm the vsock wake-up");
}

static void expired(void *opaque, struct vsock_mconn *mc)
{
	struct vsock_dev *d = opaque;

	d->be_ops->expired(d->be, mc);
}

static void on_tick(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_dev *d = container_of(op, struct vsock_dev, tick_op);

	(void)res;
	(void)flags;
	dev_enter(d);
	vsock_muxer_tick(&d->mx, util_now_ns(), expired, d);
	d->be_ops->tick(d->be);
	/* The leave's pass is a whole one, TX included: no direction waits
	 * for good on a notification lost on its way to us. */
	dev_leave(d);
	if (evloop_timeout(d->loop, &d->tick_op, &d->tick_ts))
		log_err("cannot re-arm the vsock timer");
}

/* Lifecycle ------------------------------------------------------------- */

static uint64_t held_max_wait(const struct vsock_fault *f)
{
	if (!f->credit_delay_ns || !f->response_delay_ns)
		return f->credit_delay_ns | f->response_delay_ns;
	return MIN(f->credit_delay_ns, f->response_delay_ns);
}

int vsock_dev_create(struct vsock_dev **out, const struct vsock_config *cfg,
		     struct evloop *loop)
{
	struct vsock_dev *d = calloc(1, sizeof(*d));
	struct vsock_muxer_config mx_cfg = {
		.guest_cid = cfg->guest_cid,
		.max_conns = cfg->max_conns ? cfg->max_conns
					    : VSOCK_MUXER_MAX_CONNS_DEFAULT,
		.buf_alloc = cfg->buf_alloc ? cfg->buf_alloc
					    : VSOCK_MUXER_BUF_ALLOC,
		.timeout_ns = cfg->timeout_ns ? cfg->timeout_ns
					      : VSOCK_CONN_TIMEOUT_NS,
		.credit_delay_ns = cfg->fault.credit_delay_ns,
		.response_delay_ns = cfg->fault.response_delay_ns,
	};
	struct vsock_backend_env env;
	uint64_t tick_ns;
	int ret;

	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->kick_efd = -1;
	d->reset_done_ok = !util_cond_init_monotonic(&d->reset_done);
	d->signal_delay_ns = vsock_signal_delay_ns(cfg);
	d->tx_quiet_ns = cfg->tx_quiet_ns ? cfg->tx_quiet_ns
					 : VSOCK_TX_QUIET_NS;
	d->kick_op.handler = on_kick;
	d->tick_op.handler = on_tick;
	d->held_timer.op.handler = on_pass_timer;
	d->held_timer.dev = d;
	d->reset_timer.op.handler = on_reset_timer;
	d->signal_timer.op.handler = on_signal_timer;
	d->tx_quiet_timer.op.handler = on_pass_timer;
	d->tx_quiet_timer.dev = d;
	d->rx_spare = ~0ull; /* VSOCK_RX_POOL entries, none holding a chain */
	d->fault = cfg->fault;
	d->held_max_wait = held_max_wait(&cfg->fault);
	d->be_ops = cfg->backend ? cfg->backend : &vsock_uring_backend;
	ret = vsock_muxer_init(&d->mx, &mx_cfg);
	if (ret) {
		free(d);
		return ret;
	}
	tick_ns = MIN(mx_cfg.timeout_ns / 4, 250ull * 1000 * 1000);
	if (tick_ns < 1000 * 1000)
		tick_ns = 1000 * 1000;
	d->tick_ts = evloop_ts_from_ns(tick_ns);
	d->kick_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->kick_efd < 0) {
		ret = -errno;
		goto err;
	}
	env = (struct vsock_backend_env){
		.loop = loop,
		.mx = &d->mx,
		.stats = &d->stats,
		.rl = &d->rl,
		.buf_alloc = mx_cfg.buf_alloc,
		.timeout_ns = mx_cfg.timeout_ns,
		.dev = d,
		.enter = dev_enter,
		.leave = dev_leave,
		.tx_done = tx_done,
		.rx_return = rx_return,
	};
	if (cfg->pcap_path) {
		ret = vsock_pcap_open(&d->pcap, cfg->pcap_path,
				      cfg->pcap_snaplen, loop);
		if (ret)
			goto err;
	}
	ret = d->be_ops->create(&d->be, &env, cfg);
	if (ret)
		goto err;
	*out = d;
	return 0;
err:
	vsock_dev_destroy(d);
	return ret;
}

struct virtio_mmio_config vsock_dev_mmio_config(struct vsock_dev *d)
{
	return (struct virtio_mmio_config){
		.name = "virtio-vsock",
		.device_id = VIRTIO_ID_VSOCK,
		.device_features = 1ull << VIRTIO_VSOCK_F_SEQPACKET,
		.nr_queues = 3,
		.queue_max = VSOCK_QUEUE_MAX,
		.ops = &vsock_ops,
		.dev = d,
	};
}

void vsock_dev_attach(struct vsock_dev *d, struct virtio_mmio *m)
{
	d->mmio = m;
}

int vsock_dev_start(struct vsock_dev *d)
{
	int ret;

	d->loop_thread = pthread_self();
	d->started = true;
	ret = arm_kick(d);
	if (!ret)
		ret = evloop_timeout(d->loop, &d->tick_op, &d->tick_ts);
	if (!ret)
		ret = d->be_ops->start(d->be);
	return ret;
}

void vsock_dev_stop(struct vsock_dev *d)
{
	if (!d->mmio)
		return;
	pthread_mutex_lock(&d->mmio->lock);
	d->loop_stopped = true;
	if (d->reset_done_ok)
		pthread_cond_broadcast(&d->reset_done);
	pthread_mutex_unlock(&d->mmio->lock);
}

void vsock_dev_destroy(struct vsock_dev *d)
{
	if (!d)
		return;
	d->active = false; /* nothing goes back to the guest any more */
	if (d->be)
		d->be_ops->destroy(d->be);
	vsock_pcap_close(d->pcap);
	vsock_muxer_destroy(&d->mx);
	if (d->kick_efd >= 0)
		close(d->kick_efd);
	if (d->reset_done_ok)
		pthread_cond_destroy(&d->reset_done);
	free(d);
}

int vsock_dev_transport_reset(struct vsock_dev *d)
{
	int ret = 0;

	dev_enter(d);
	if (d->active)
		transport_reset(d);
	else
		ret = -ENODEV; /* no driver: no connection, nobody to tell */
	dev_leave(d);
	return ret;
}

void vsock_dev_get_stats(struct vsock_dev *d, struct vsock_dev_stats *st)
{
	*st = d->stats;
	st->conns_live = d->mx.nr_conns;
	if (d->pcap) {
		st->pcap_records = vsock_pcap_records(d->pcap);
		st->pcap_dropped = vsock_pcap_dropped(d->pcap);
	}
}
