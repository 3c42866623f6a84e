/*
 * vsock_driver: see vsock_driver.h.
 *
 * Guest memory layout (one RAM region at gpa 0, owned by the rx queue's
 * vq_driver): the three queues' rings, then one TX slot per queue entry
 * (a packet's header, data and indirect table live in its slot until the
 * device hands the chain back), one RX slot per posted buffer, the event
 * buffers, and 1 MiB of scratch for raw tests.
 *
 * TX slot (VSOCK_DRV_TX_SLOT bytes from its base B):
 *   B            header (SPLIT, SCATTER, INDIRECT), first header piece
 *   B + 64       header + data (LINEAR)
 *   B + 128      second header piece + data (HDR_SPLIT)
 *   B + 4096     data (SPLIT), pieces in reverse order (SCATTER)
 *   B + 69632    indirect table
 * RX slot: header at B, data at B + 44 (LINEAR) or B + 64 (SPLIT,
 * INDIRECT), indirect table at the end.
 */
#include "tests/helpers/vsock_driver.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/vsock/muxer.h"
#include "tests/helpers/mmio_driver.h"
#include "tests/helpers/pattern.h"
#include "vmm/util.h"

#define DRV_HDR VSOCK_HDR_SIZE
#define DRV_PAGE 4096u
#define DRV_TX_SLOT (72u * 1024)
#define DRV_TX_DATA 4096u
#define DRV_TX_TABLE (69632u)
#define DRV_MAX_SEGS 16u /* data pieces per SCATTER/INDIRECT packet */
#define DRV_EV_BUFS 8u
#define DRV_SCRATCH (1u << 20)
#define DRV_BUCKETS 4096u
#define DRV_HDR_CUT 20u /* HDR_SPLIT: first piece of the header */
#define VRING_USED_F_NO_NOTIFY 1u
#define SLOT_FREE (-1)
#define SLOT_RAW (-2)

static uint32_t align_up32(uint32_t x, uint32_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static void default_fail(const char *msg)
{
	fprintf(stderr, "vsock_driver: protocol violation: %s\n", msg);
	abort();
}

void vsock_driver_fail(struct vsock_driver *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->broken = true;
	(d->cfg.fail ? d->cfg.fail : default_fail)(msg);
	abort(); /* the hook must not return */
}

static const char *hdr_str(const struct vsock_hdr *h)
{
	static char buf[200];

	snprintf(buf, sizeof(buf),
		 "[%s src %llu:%u dst %llu:%u len %u type %u flags %#x "
		 "buf_alloc %u fwd_cnt %u]",
		 vsock_op_name(h->op), (unsigned long long)h->src_cid,
		 h->src_port, (unsigned long long)h->dst_cid, h->dst_port,
		 h->len, h->type, h->flags, h->buf_alloc, h->fwd_cnt);
	return buf;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Enter the device (a notification): time it if asked. */
static void dev_notify(struct vsock_driver *d, unsigned int q)
{
	uint64_t t0 = d->cfg.measure_cpu ? thread_cpu_ns() : 0;

	virtio_mmio_notify(d->m, q);
	if (d->cfg.measure_cpu)
		d->st.dev_cpu_ns += thread_cpu_ns() - t0;
}

static int dev_run_loop(struct vsock_driver *d, unsigned int wait_us)
{
	uint64_t t0 = d->cfg.measure_cpu ? thread_cpu_ns() : 0;
	int n = evloop_run_once(&d->loop, wait_us);

	if (d->cfg.measure_cpu)
		d->st.dev_cpu_ns += thread_cpu_ns() - t0;
	return n;
}

/* ---- the transport's host side ---- */

static void host_irq(void *opaque)
{
	struct vsock_driver *d = opaque;

	if (d->drop_irqs) {
		d->drop_irqs--;
		d->st.irqs_lost++;
		return;
	}
	d->st.irqs++;
}

static void host_requeue(void *opaque, unsigned int q)
{
	struct vsock_driver *d = opaque;

	d->st.requeues++;
	d->requeue_mask |= 1u << q;
}

/* ---- socket table ---- */

static unsigned int bucket(uint32_t local, uint32_t peer)
{
	return (local * 2654435761u ^ peer * 40503u) & (DRV_BUCKETS - 1);
}

static struct vsock_sock *sock_find(struct vsock_driver *d, uint32_t local,
				    uint32_t peer)
{
	struct vsock_sock *s;

	for (s = d->buckets[bucket(local, peer)]; s; s = s->hash_next)
		if (s->local_port == local && s->peer_port == peer)
			return s;
	return NULL;
}

static void sock_unhash(struct vsock_sock *s)
{
	struct vsock_sock **pp;

	if (!s->in_table)
		return;
	pp = &s->d->buckets[bucket(s->local_port, s->peer_port)];
	while (*pp != s)
		pp = &(*pp)->hash_next;
	*pp = s->hash_next;
	if (s->table_prev)
		s->table_prev->table_next = s->table_next;
	else
		s->d->table = s->table_next;
	if (s->table_next)
		s->table_next->table_prev = s->table_prev;
	s->in_table = false;
}

static struct vsock_sock *sock_new(struct vsock_driver *d, uint32_t local,
				   uint32_t peer, uint16_t type)
{
	struct vsock_sock *s = calloc(1, sizeof(*s));
	unsigned int b = bucket(local, peer);

	if (!s)
		abort();
	s->d = d;
	s->local_port = local;
	s->peer_port = peer;
	s->type = type;
	s->buf_alloc = d->cfg.buf_alloc;
	s->hash_next = d->buckets[b];
	d->buckets[b] = s;
	s->table_next = d->table;
	if (d->table)
		d->table->table_prev = s;
	d->table = s;
	s->in_table = true;
	d->nr_socks++;
	return s;
}

/* A held RX slot is read: it may be posted again. */
static void release_held(struct vsock_driver *d, uint16_t slot)
{
	d->rx_free_slots[d->rx_nr_free++] = slot;
	d->rx_held--;
}

static void sock_free(struct vsock_sock *s)
{
	while (s->nr_held) {
		release_held(s->d, s->held[s->held_first].slot);
		s->held_first = (s->held_first + 1) % VSOCK_DRIVER_HOLD_MAX;
		s->nr_held--;
	}
	free(s->held);
	sock_unhash(s);
	s->d->nr_socks--;
	free(s->rxq);
	free(s);
}

unsigned int vsock_driver_nr_socks(const struct vsock_driver *d)
{
	return d->nr_socks;
}

static bool is_listening(struct vsock_driver *d, uint32_t port)
{
	unsigned int i;

	for (i = 0; i < d->nr_listening; i++)
		if (d->listening[i] == port)
			return true;
	return false;
}

/* ---- TX ---- */

struct vsock_hdr vsock_driver_hdr(struct vsock_driver *d, uint16_t op,
				  uint32_t src_port, uint32_t dst_port,
				  uint32_t len)
{
	return (struct vsock_hdr){
		.src_cid = d->cfg.dev.guest_cid,
		.dst_cid = VSOCK_HOST_CID,
		.src_port = src_port,
		.dst_port = dst_port,
		.len = len,
		.type = VSOCK_TYPE_STREAM,
		.op = op,
		.buf_alloc = d->cfg.buf_alloc,
	};
}

static uint64_t tx_slot_gpa(struct vsock_driver *d, unsigned int slot)
{
	return d->tx_slot_base + (uint64_t)slot * d->tx_slot_size;
}

static void *host(struct vsock_driver *d, uint64_t gpa, uint64_t len)
{
	return vq_driver_host(&d->q[VSOCK_QUEUE_RX], gpa, len);
}

/* Free TX slot and enough descriptors for `ndesc`? */
static bool tx_room(struct vsock_driver *d, unsigned int ndesc)
{
	return d->tx_nr_free &&
	       vq_driver_nr_free(&d->q[VSOCK_QUEUE_TX]) >= ndesc;
}

static unsigned int tx_ndesc(struct vsock_driver *d,
			     enum vsock_driver_tx_layout layout, uint32_t len)
{
	uint32_t seg = d->tx.seg_size ? d->tx.seg_size : 4096;

	switch (layout) {
	case VSOCK_DRV_TX_LINEAR:
		return 1;
	case VSOCK_DRV_TX_SPLIT:
	case VSOCK_DRV_TX_HDR_SPLIT:
		return len ? 2 : 1;
	case VSOCK_DRV_TX_SCATTER:
		return 1 + (len + seg - 1) / seg;
	default:
		return 1;
	}
}

/*
 * Lay out one packet (header `h`, payload `data` of h->len bytes) in a
 * free slot and make it available. The caller checked tx_room().
 */
static void tx_publish(struct vsock_driver *d, const struct vsock_hdr *h,
		       const void *data, enum vsock_driver_tx_layout layout)
{
	struct vq_driver *tx = &d->q[VSOCK_QUEUE_TX];
	struct vq_driver_buf bufs[DRV_MAX_SEGS + 2];
	unsigned int slot = d->tx_free_slots[--d->tx_nr_free], n = 0, i, nseg;
	uint64_t b = tx_slot_gpa(d, slot);
	uint32_t len = h->len, seg = d->tx.seg_size ? d->tx.seg_size : 4096;
	uint8_t wire[DRV_HDR];
	int head;

	vsock_hdr_encode(wire, h);
	switch (layout) {
	case VSOCK_DRV_TX_LINEAR:
		memcpy(host(d, b + 64, DRV_HDR), wire, DRV_HDR);
		if (len)
			memcpy(host(d, b + 64 + DRV_HDR, len), data, len);
		bufs[n++] = (struct vq_driver_buf){ b + 64, DRV_HDR + len,
						    false };
		break;
	case VSOCK_DRV_TX_SPLIT:
		memcpy(host(d, b, DRV_HDR), wire, DRV_HDR);
		bufs[n++] = (struct vq_driver_buf){ b, DRV_HDR, false };
		if (len) {
			memcpy(host(d, b + DRV_TX_DATA, len), data, len);
			bufs[n++] = (struct vq_driver_buf){ b + DRV_TX_DATA,
							    len, false };
		}
		break;
	case VSOCK_DRV_TX_HDR_SPLIT:
		memcpy(host(d, b, DRV_HDR_CUT), wire, DRV_HDR_CUT);
		memcpy(host(d, b + 128, DRV_HDR - DRV_HDR_CUT),
		       wire + DRV_HDR_CUT, DRV_HDR - DRV_HDR_CUT);
		if (len)
			memcpy(host(d, b + 128 + DRV_HDR - DRV_HDR_CUT, len),
			       data, len);
		bufs[n++] = (struct vq_driver_buf){ b, DRV_HDR_CUT, false };
		bufs[n++] = (struct vq_driver_buf){
			b + 128, DRV_HDR - DRV_HDR_CUT + len, false };
		break;
	case VSOCK_DRV_TX_SCATTER:
	case VSOCK_DRV_TX_INDIRECT:
	default:
		memcpy(host(d, b, DRV_HDR), wire, DRV_HDR);
		bufs[n++] = (struct vq_driver_buf){ b, DRV_HDR, false };
		nseg = (len + seg - 1) / seg;
		for (i = 0; i < nseg; i++) {
			uint32_t off = i * seg;
			uint32_t l = len - off < seg ? len - off : seg;
			/* Reverse order in memory: nothing is contiguous. */
			uint64_t at = b + DRV_TX_DATA +
				      (uint64_t)(nseg - 1 - i) * seg;

			memcpy(host(d, at, l), (const uint8_t *)data + off, l);
			bufs[n++] = (struct vq_driver_buf){ at, l, false };
		}
		break;
	}
	if (layout == VSOCK_DRV_TX_INDIRECT)
		head = vq_driver_add_indirect_at(tx, b + DRV_TX_TABLE, bufs, n);
	else
		head = vq_driver_add_chain(tx, bufs, n);
	if (head < 0)
		vsock_driver_fail(d, "no TX descriptors (harness bug)");
	d->tx_slot_of_head[head] = (int)slot;
	d->need_kick[VSOCK_QUEUE_TX] = true;
	d->st.tx_pkts++;
}

/* Queue a control packet; sent (with fresh credit) by flush_ctrl(). */
static void ctrl_queue(struct vsock_driver *d, const struct vsock_hdr *h)
{
	if (d->ctrlq_len == d->ctrlq_cap) {
		d->ctrlq_cap = d->ctrlq_cap ? 2 * d->ctrlq_cap : 64;
		d->ctrlq = realloc(d->ctrlq, d->ctrlq_cap * sizeof(*d->ctrlq));
		if (!d->ctrlq)
			abort();
	}
	d->ctrlq[d->ctrlq_len++] = *h;
}

static void sock_ctrl(struct vsock_sock *s, uint16_t op, uint32_t flags)
{
	struct vsock_hdr h = vsock_driver_hdr(s->d, op, s->local_port,
					      s->peer_port, 0);

	h.type = s->type;
	h.flags = flags;
	ctrl_queue(s->d, &h);
}

static void flush_ctrl(struct vsock_driver *d)
{
	unsigned int done = 0;

	while (done < d->ctrlq_len && tx_room(d, 1)) {
		struct vsock_hdr h = d->ctrlq[done++];
		struct vsock_sock *s = sock_find(d, h.src_port, h.dst_port);

		if (s) {
			if (h.op == VSOCK_OP_CREDIT_UPDATE) {
				if (!s->credit_update_pending)
					continue; /* an RW carried it */
				s->credit_update_pending = false;
			}
			h.buf_alloc = s->buf_alloc;
			h.fwd_cnt = s->fwd_cnt;
			s->fwd_cnt_sent = s->fwd_cnt;
		}
		tx_publish(d, &h, NULL, VSOCK_DRV_TX_LINEAR);
	}
	if (!done)
		return;
	memmove(d->ctrlq, d->ctrlq + done,
		(d->ctrlq_len - done) * sizeof(*d->ctrlq));
	d->ctrlq_len -= done;
}

static uint32_t sock_credit(const struct vsock_sock *s)
{
	uint32_t in_flight = s->tx_cnt - s->peer_fwd_cnt;

	return in_flight > s->peer_buf_alloc ? 0
					     : s->peer_buf_alloc - in_flight;
}

ssize_t vsock_driver_send_some(struct vsock_sock *s, const void *buf,
			       size_t len)
{
	struct vsock_driver *d = s->d;
	uint32_t max = d->tx.max_pkt ? d->tx.max_pkt : VSOCK_MAX_PKT_DATA;
	uint32_t seg = d->tx.seg_size ? d->tx.seg_size : 4096;
	size_t total = 0;

	if (s->state != VSOCK_SOCK_ESTABLISHED)
		return s->err ? s->err : -ENOTCONN;
	if ((s->shutdown_sent & VSOCK_SHUTDOWN_SEND) ||
	    (s->peer_shutdown & VSOCK_SHUTDOWN_RCV) || s->orphan)
		return -EPIPE;
	flush_ctrl(d);
	if (max > VSOCK_MAX_PKT_DATA)
		max = VSOCK_MAX_PKT_DATA;
	while (total < len) {
		enum vsock_driver_tx_layout layout = d->tx.layout;
		uint32_t credit = sock_credit(s), n;
		struct vsock_hdr h;

		if (layout == VSOCK_DRV_TX_MIXED)
			layout = (enum vsock_driver_tx_layout)(
				pattern_rand(&d->rng) % VSOCK_DRV_TX_MIXED);
		n = max;
		if (d->tx.random_sizes)
			n = 1 + (uint32_t)(pattern_rand(&d->rng) % max);
		if (n > len - total)
			n = (uint32_t)(len - total);
		if (n > credit)
			n = credit;
		if ((layout == VSOCK_DRV_TX_SCATTER ||
		     layout == VSOCK_DRV_TX_INDIRECT) && n > seg * DRV_MAX_SEGS)
			n = seg * DRV_MAX_SEGS;
		if (!n || !tx_room(d, tx_ndesc(d, layout, n)))
			break;
		h = vsock_driver_hdr(d, VSOCK_OP_RW, s->local_port,
				     s->peer_port, n);
		h.type = s->type;
		h.fwd_cnt = s->fwd_cnt;
		h.buf_alloc = s->buf_alloc;
		s->fwd_cnt_sent = s->fwd_cnt;
		s->credit_update_pending = false;
		tx_publish(d, &h, (const uint8_t *)buf + total, layout);
		s->tx_cnt += n;
		s->tx_bytes += n;
		total += n;
	}
	return (ssize_t)total;
}

int vsock_driver_send(struct vsock_sock *s, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = vsock_driver_send_some(s, (const uint8_t *)buf + done,
						   len - done);

		if (n < 0)
			return (int)n;
		done += (size_t)n;
		vsock_driver_pump(s->d, n ? 0 : s->d->cfg.loop_timeout_us);
	}
	return 0;
}

/* ---- RX ---- */

static void post_rx(struct vsock_driver *d)
{
	struct vq_driver *rx = &d->q[VSOCK_QUEUE_RX];
	enum vsock_driver_rx_layout layout = d->cfg.rx_layout;
	uint32_t size = d->cfg.rx_buf_size;

	while (d->rx_nr_free &&
	       vq_driver_nr_free(rx) >= (layout == VSOCK_DRV_RX_SPLIT ? 2 : 1)) {
		unsigned int slot = d->rx_free_slots[--d->rx_nr_free];
		uint64_t b = d->rx_slot_base + (uint64_t)slot * d->rx_slot_size;
		struct vq_driver_buf bufs[2] = {
			{ b, DRV_HDR, true },
			{ b + 64, size - DRV_HDR, true },
		};
		int head;

		if (layout == VSOCK_DRV_RX_LINEAR) {
			bufs[0].len = size;
			head = vq_driver_add_chain(rx, bufs, 1);
		} else if (layout == VSOCK_DRV_RX_SPLIT) {
			head = vq_driver_add_chain(rx, bufs, 2);
		} else {
			head = vq_driver_add_indirect_at(
				rx, b + d->rx_slot_size - 64, bufs, 2);
		}
		if (head < 0)
			vsock_driver_fail(d, "no RX descriptors (harness bug)");
		d->rx_slot_of_head[head] = (int)slot;
		d->rx_posted++;
		d->need_kick[VSOCK_QUEUE_RX] = true;
	}
}

static void maybe_credit_update(struct vsock_sock *s)
{
	uint32_t unannounced = s->fwd_cnt - s->fwd_cnt_sent;

	/* Linux: when the peer's view of our free space gets low, or when
	 * everything was read. */
	if (!unannounced || s->state != VSOCK_SOCK_ESTABLISHED || s->orphan)
		return;
	if ((s->rxq_len == 0 ||
	     s->buf_alloc - unannounced < VSOCK_MAX_PKT_DATA) &&
	    !s->credit_update_pending) {
		s->credit_update_pending = true;
		sock_ctrl(s, VSOCK_OP_CREDIT_UPDATE, 0);
	}
}

ssize_t vsock_driver_recv_some(struct vsock_sock *s, void *buf, size_t len)
{
	uint8_t *out = buf;
	uint32_t n, first, done = 0;

	if (s->rxq_len) {
		/* Held payloads first: they came before the ring's bytes. */
		while (done < len && s->nr_held) {
			struct vsock_held *c = &s->held[s->held_first];

			n = len - done < c->len ? (uint32_t)(len - done) : c->len;
			memcpy(out + done, c->data, n);
			c->data += n;
			c->len -= n;
			done += n;
			if (c->len)
				break;
			release_held(s->d, c->slot);
			s->held_first =
				(s->held_first + 1) % VSOCK_DRIVER_HOLD_MAX;
			s->nr_held--;
		}
		n = len - done < s->ring_len ? (uint32_t)(len - done)
					     : s->ring_len;
		first = s->buf_alloc - s->rxq_head;
		if (first > n)
			first = n;
		if (n) {
			memcpy(out + done, s->rxq + s->rxq_head, first);
			memcpy(out + done + first, s->rxq, n - first);
			s->rxq_head = (s->rxq_head + n) % s->buf_alloc;
			s->ring_len -= n;
			done += n;
		}
		s->rxq_len -= done;
		s->fwd_cnt += done;
		maybe_credit_update(s);
		return done;
	}
	if (s->state == VSOCK_SOCK_CLOSED && s->err)
		return s->err;
	if (s->state == VSOCK_SOCK_CLOSED ||
	    (s->peer_shutdown & VSOCK_SHUTDOWN_SEND))
		return 0;
	if (s->state == VSOCK_SOCK_CONNECTING)
		return -ENOTCONN;
	return -EAGAIN;
}

ssize_t vsock_driver_recv(struct vsock_sock *s, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = vsock_driver_recv_some(s, buf, len);

		if (n != -EAGAIN)
			return n;
		vsock_driver_pump(s->d, s->d->cfg.loop_timeout_us);
	}
}

int vsock_driver_recv_all(struct vsock_sock *s, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = vsock_driver_recv(s, (uint8_t *)buf + done,
					      len - done);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

/* The device reset connection `s` (or refused it). */
static void sock_got_rst(struct vsock_sock *s)
{
	s->got_rst = true;
	/*
	 * Unlike Linux (where RST reads as end of stream), an RST that is
	 * not the end of a close (we sent SHUTDOWN both ways, or the device
	 * had finished sending) is reported as -ECONNRESET, so tests can
	 * tell an abort from an orderly end.
	 */
	if (s->state == VSOCK_SOCK_CONNECTING)
		s->err = -ECONNREFUSED;
	else if (s->state == VSOCK_SOCK_ESTABLISHED &&
		 !(s->peer_shutdown & VSOCK_SHUTDOWN_SEND) &&
		 s->shutdown_sent != (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
		s->err = -ECONNRESET;
	s->state = VSOCK_SOCK_CLOSED;
	sock_unhash(s);
}

static void stray(struct vsock_driver *d, const struct vsock_hdr *h)
{
	struct vsock_hdr r;

	d->st.strays++;
	if (h->op == VSOCK_OP_RST)
		return;
	/* Linux answers a packet for no socket with RST. */
	r = vsock_driver_hdr(d, VSOCK_OP_RST, h->dst_port, h->src_port, 0);
	r.type = h->type;
	r.buf_alloc = 0;
	ctrl_queue(d, &r);
}

static void rx_rw(struct vsock_sock *s, const struct vsock_hdr *h,
		  const uint8_t *data)
{
	struct vsock_driver *d = s->d;
	uint32_t tail, first;

	if (s->state != VSOCK_SOCK_ESTABLISHED)
		vsock_driver_fail(d, "RW on a connection that is not "
				  "established: %s", hdr_str(h));
	if (s->peer_shutdown & VSOCK_SHUTDOWN_SEND)
		vsock_driver_fail(d, "RW after the device's SHUTDOWN(SEND): %s",
				  hdr_str(h));
	/* Our credit as the device last heard it. */
	if ((uint64_t)(uint32_t)(s->rx_cnt - s->fwd_cnt_sent) + h->len >
	    s->buf_alloc)
		vsock_driver_fail(d, "device exceeded our credit: rx_cnt %u "
				  "fwd_cnt_sent %u buf_alloc %u: %s",
				  s->rx_cnt, s->fwd_cnt_sent, s->buf_alloc,
				  hdr_str(h));
	s->rx_cnt += h->len;
	s->rx_bytes += h->len;
	s->rx_seq_flags |= h->flags;
	if (s->orphan || (s->shutdown_sent & VSOCK_SHUTDOWN_RCV)) {
		s->fwd_cnt += h->len; /* nobody reads it: drop */
		return;
	}
	s->rxq_len += h->len;
	/* Keep the buffer (see vsock_sock.held): the slot used_rx() just
	 * freed is the last one on the free list. */
	if (!s->ring_len && s->nr_held < VSOCK_DRIVER_HOLD_MAX &&
	    d->rx_held < d->cfg.rx_bufs / 4 && d->rx_cur_slot >= 0 &&
	    d->rx_nr_free &&
	    d->rx_free_slots[d->rx_nr_free - 1] == d->rx_cur_slot &&
	    (s->held || (s->held = calloc(VSOCK_DRIVER_HOLD_MAX,
					  sizeof(*s->held))))) {
		struct vsock_held *c = &s->held[(s->held_first + s->nr_held) %
						VSOCK_DRIVER_HOLD_MAX];

		d->rx_nr_free--;
		d->rx_held++;
		c->data = (uint8_t *)data; /* our RX buffer, no longer posted */
		c->len = h->len;
		c->slot = (uint16_t)d->rx_cur_slot;
		s->nr_held++;
		return;
	}
	/* Allocated at the first copy, so that idle sockets stay small (the
	 * benchmark measures the device's memory per idle connection). */
	if (!s->rxq && !(s->rxq = malloc(s->buf_alloc)))
		abort();
	/* rx_cnt - fwd_cnt <= buf_alloc, so it fits the ring. */
	tail = (s->rxq_head + s->ring_len) % s->buf_alloc;
	first = s->buf_alloc - tail;
	if (first > h->len)
		first = h->len;
	memcpy(s->rxq + tail, data, first);
	memcpy(s->rxq, data + first, h->len - first);
	s->ring_len += h->len;
}

static void rx_packet(struct vsock_driver *d, const struct vsock_hdr *h,
		      const uint8_t *data)
{
	struct vsock_sock *s;
	uint32_t fl;

	if (h->src_cid != VSOCK_HOST_CID ||
	    h->dst_cid != d->cfg.dev.guest_cid)
		vsock_driver_fail(d, "bad addresses: %s", hdr_str(h));
	/* SEQPACKET only if negotiated, except in an RST answering the
	 * guest's own unnegotiated SEQPACKET packet. */
	if (h->type != VSOCK_TYPE_STREAM &&
	    !(h->type == VSOCK_TYPE_SEQPACKET &&
	      ((d->features & (1ull << VIRTIO_VSOCK_F_SEQPACKET)) ||
	       h->op == VSOCK_OP_RST)))
		vsock_driver_fail(d, "bad type: %s", hdr_str(h));
	if (h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST)
		vsock_driver_fail(d, "bad op: %s", hdr_str(h));
	if (h->op == VSOCK_OP_RW ? !h->len : h->len)
		vsock_driver_fail(d, "bad length for the op: %s", hdr_str(h));
	fl = h->op == VSOCK_OP_SHUTDOWN ? VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND
	     : h->op == VSOCK_OP_RW && h->type == VSOCK_TYPE_SEQPACKET
		     ? VSOCK_SEQ_EOM | VSOCK_SEQ_EOR
		     : 0;
	if (h->flags & ~fl)
		vsock_driver_fail(d, "bad flags: %s", hdr_str(h));
	if (h->op == VSOCK_OP_SHUTDOWN && !h->flags)
		vsock_driver_fail(d, "SHUTDOWN without flags: %s", hdr_str(h));
	d->st.rx_pkts[h->op]++;

	s = sock_find(d, h->dst_port, h->src_port);
	if (!s) {
		if (h->op == VSOCK_OP_REQUEST && is_listening(d, h->dst_port)) {
			s = sock_new(d, h->dst_port, h->src_port, h->type);
			s->state = VSOCK_SOCK_ESTABLISHED;
			s->peer_buf_alloc = h->buf_alloc;
			s->peer_fwd_cnt = h->fwd_cnt;
			sock_ctrl(s, VSOCK_OP_RESPONSE, 0);
			if (d->accept_tail)
				d->accept_tail->accept_next = s;
			else
				d->accept_head = s;
			d->accept_tail = s;
			return;
		}
		stray(d, h);
		return;
	}
	if (h->type != s->type)
		vsock_driver_fail(d, "type changed on a connection: %s",
				  hdr_str(h));
	if (s->state == VSOCK_SOCK_ESTABLISHED && h->op != VSOCK_OP_RST) {
		/* fwd_cnt moves forward, never past what we sent. (Not
		 * checked in an RST: it ends the connection, and after a
		 * transport reset the device answers for one it no longer
		 * knows, with zeros.) */
		if ((uint32_t)(h->fwd_cnt - s->peer_fwd_cnt) >
		    (uint32_t)(s->tx_cnt - s->peer_fwd_cnt))
			vsock_driver_fail(d, "device fwd_cnt %u outside [%u, "
					  "%u]: %s", h->fwd_cnt,
					  s->peer_fwd_cnt, s->tx_cnt,
					  hdr_str(h));
	}
	s->peer_buf_alloc = h->buf_alloc;
	s->peer_fwd_cnt = h->fwd_cnt;

	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		if (s->state != VSOCK_SOCK_CONNECTING)
			vsock_driver_fail(d, "RESPONSE to no REQUEST: %s",
					  hdr_str(h));
		s->state = VSOCK_SOCK_ESTABLISHED;
		break;
	case VSOCK_OP_REQUEST:
		vsock_driver_fail(d, "REQUEST on a live connection: %s",
				  hdr_str(h));
		break;
	case VSOCK_OP_RST:
		sock_got_rst(s);
		if (s->orphan && !s->close_wait)
			sock_free(s);
		break;
	case VSOCK_OP_SHUTDOWN:
		if (s->state != VSOCK_SOCK_ESTABLISHED)
			vsock_driver_fail(d, "SHUTDOWN before RESPONSE: %s",
					  hdr_str(h));
		s->peer_shutdown |= h->flags;
		if (s->peer_shutdown ==
		    (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
			/* Linux: reset at once if nothing is left to read,
			 * and forget the socket either way. */
			sock_ctrl(s, VSOCK_OP_RST, 0);
			s->state = VSOCK_SOCK_CLOSED;
			sock_unhash(s);
			if (s->orphan && !s->close_wait)
				sock_free(s);
		}
		break;
	case VSOCK_OP_RW:
		rx_rw(s, h, data);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		s->credit_updates_rx++;
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		if (!s->credit_update_pending && !s->orphan) {
			s->credit_update_pending = true;
			sock_ctrl(s, VSOCK_OP_CREDIT_UPDATE, 0);
		}
		break;
	}
}

/* ---- used rings ---- */

static int used_tx(struct vsock_driver *d)
{
	struct vq_driver *tx = &d->q[VSOCK_QUEUE_TX];
	uint32_t id, len;
	int n = 0;

	while (vq_driver_get_used(tx, &id, &len) == 1) {
		int slot = id < tx->size ? d->tx_slot_of_head[id] : SLOT_FREE;

		n++;
		if (slot == SLOT_FREE)
			vsock_driver_fail(d, "TX used id %u was not in flight",
					  id);
		if (len)
			vsock_driver_fail(d, "device wrote %u bytes into TX "
					  "chain %u", len, id);
		d->tx_slot_of_head[id] = SLOT_FREE;
		if (slot == SLOT_RAW)
			d->raw_outstanding--;
		else
			d->tx_free_slots[d->tx_nr_free++] = (uint16_t)slot;
	}
	return n;
}

static int used_rx(struct vsock_driver *d)
{
	struct vq_driver *rx = &d->q[VSOCK_QUEUE_RX];
	uint32_t id, len, size = d->cfg.rx_buf_size;
	int n = 0;

	while (vq_driver_get_used(rx, &id, &len) == 1) {
		int slot = id < rx->size ? d->rx_slot_of_head[id] : SLOT_FREE;
		uint64_t b;
		struct vsock_hdr h;
		const uint8_t *data;

		n++;
		if (slot < 0)
			vsock_driver_fail(d, "RX used id %u was not posted", id);
		d->rx_slot_of_head[id] = SLOT_FREE;
		d->rx_free_slots[d->rx_nr_free++] = (uint16_t)slot;
		d->rx_posted--;
		if (len < DRV_HDR || len > size)
			vsock_driver_fail(d, "RX used length %u (buffer %u)",
					  len, size);
		b = d->rx_slot_base + (uint64_t)slot * d->rx_slot_size;
		vsock_hdr_decode(&h, host(d, b, DRV_HDR));
		if (h.len != len - DRV_HDR)
			vsock_driver_fail(d, "RX used length %u but header "
					  "%s", len, hdr_str(&h));
		data = host(d, b + (d->cfg.rx_layout == VSOCK_DRV_RX_LINEAR
					    ? DRV_HDR : 64),
			    h.len);
		if (!d->cfg.rx_hook || !d->cfg.rx_hook(d, &h, data)) {
			d->rx_cur_slot = slot;
			rx_packet(d, &h, data);
			d->rx_cur_slot = -1;
		}
	}
	return n;
}

/* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, handled as Linux does. */
static void transport_reset(struct vsock_driver *d)
{
	unsigned int i;

	d->cfg.dev.guest_cid =
		mmio_driver_read(d->m, VIRTIO_MMIO_CONFIG) |
		(uint64_t)mmio_driver_read(d->m, VIRTIO_MMIO_CONFIG + 4) << 32;
	for (i = 0; i < DRV_BUCKETS; i++) {
		struct vsock_sock *s;

		while ((s = d->buckets[i])) {
			sock_unhash(s);
			s->state = VSOCK_SOCK_CLOSED;
			s->err = -ECONNRESET;
			if (s->orphan && !s->close_wait)
				sock_free(s);
		}
	}
	d->st.transport_resets++;
}

static bool ev_usable(enum vsock_driver_ev_layout kind)
{
	return kind == VSOCK_DRV_EV_ROOMY || kind == VSOCK_DRV_EV_EXACT;
}

static int used_ev(struct vsock_driver *d)
{
	struct vq_driver *ev = &d->q[VSOCK_QUEUE_EVENT];
	uint32_t id, len;
	int n = 0;

	while (vq_driver_get_used(ev, &id, &len) == 1) {
		uint64_t b = d->ev_base + 8ull * id;

		n++;
		if (id >= DRV_EV_BUFS || !(d->ev_outstanding & (1ull << id)))
			vsock_driver_fail(d, "event used id %u not posted", id);
		d->ev_outstanding &= ~(1ull << id);
		d->st.events++;
		if (!ev_usable(d->ev_kind[id])) {
			/* Malformed: back unused, never written. */
			if (len)
				vsock_driver_fail(d, "device wrote %u bytes "
						  "into bad event buffer %u",
						  len, id);
			d->st.events_rejected++;
			continue;
		}
		if (len != 4 || get_le32(host(d, b, 4)) != 0)
			vsock_driver_fail(d, "bad event: len %u id %u", len,
					  get_le32(host(d, b, 4)));
		transport_reset(d);
	}
	return n;
}

static void post_ev(struct vsock_driver *d)
{
	static const struct {
		uint32_t len;
		uint16_t flags;
	} kinds[] = {
		[VSOCK_DRV_EV_ROOMY] = { 8, VQ_DESC_F_WRITE },
		[VSOCK_DRV_EV_EXACT] = { 4, VQ_DESC_F_WRITE },
		[VSOCK_DRV_EV_SHORT] = { 2, VQ_DESC_F_WRITE },
		[VSOCK_DRV_EV_READONLY] = { 8, 0 },
	};
	struct vq_driver *ev = &d->q[VSOCK_QUEUE_EVENT];
	enum vsock_driver_ev_layout kind = d->ev_layout;

	while (kind != VSOCK_DRV_EV_NONE && vq_driver_nr_free(ev)) {
		struct vq_driver_buf buf = { d->ev_base, 8, true };
		int head = vq_driver_add_chain(ev, &buf, 1);

		if (head < 0)
			break;
		/* Buffer i belongs to descriptor i. The device looks only
		 * when we notify, after this. */
		vq_driver_set_desc(ev, (uint16_t)head,
				   &(struct vq_driver_desc){
					   d->ev_base + 8ull * (unsigned)head,
					   kinds[kind].len, kinds[kind].flags,
					   0 });
		d->ev_outstanding |= 1ull << head;
		d->ev_kind[head] = (uint8_t)kind;
		d->need_kick[VSOCK_QUEUE_EVENT] = true;
	}
}

static void set_used_event(struct vsock_driver *d)
{
	unsigned int q;

	if (d->cfg.no_event_idx)
		return;
	for (q = 0; q < 3; q++)
		vq_driver_set_used_event(&d->q[q], d->q[q].last_used);
}

static bool any_used(struct vsock_driver *d)
{
	unsigned int q;

	if (!d->m->status)
		return false; /* reset: its rings are gone, no interrupt due */

	for (q = 0; q < 3; q++)
		if (vq_driver_used_idx(&d->q[q]) != d->q[q].last_used)
			return true;
	return false;
}

static int process_used(struct vsock_driver *d)
{
	uint32_t isr;
	int n = 0;

	if (!d->cfg.poll_used && d->st.irqs == d->irqs_seen)
		return 0;
	if (d->st.irqs != d->irqs_seen) {
		d->irqs_seen = d->st.irqs;
		isr = mmio_driver_read(d->m, VIRTIO_MMIO_INTERRUPT_STATUS);
		if (isr)
			mmio_driver_write(d->m, VIRTIO_MMIO_INTERRUPT_ACK, isr);
		if (isr & VIRTIO_MMIO_INT_CONFIG)
			d->st.config_irqs++;
	}
	/* Like virtqueue_enable_cb(): drain, re-arm, re-check. */
	do {
		n += used_tx(d) + used_rx(d) + used_ev(d);
		set_used_event(d);
		atomic_thread_fence(memory_order_seq_cst);
	} while (any_used(d));
	return n;
}

/* ---- notifications ---- */

static void kick(struct vsock_driver *d, unsigned int q)
{
	struct vq_driver *v = &d->q[q];
	uint16_t new_idx = vq_driver_avail_idx(v), old = d->notified[q];
	bool need;

	d->need_kick[q] = false;
	if (new_idx == old)
		return;
	/* The new avail idx must be visible before we read the device's
	 * suppression field (virtio_mb in virtqueue_kick_prepare). */
	atomic_thread_fence(memory_order_seq_cst);
	if (!d->cfg.no_event_idx) {
		uint16_t ev = vq_driver_avail_event(v);

		need = (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old);
	} else {
		need = !(vq_driver_used_flags(v) & VRING_USED_F_NO_NOTIFY);
	}
	d->notified[q] = new_idx;
	if (need && d->drop_notifies) {
		d->drop_notifies--;
		d->st.notifies_lost++;
	} else if (need) {
		d->st.notifies++;
		d->st.notifies_q[q]++;
		dev_notify(d, q);
	}
}

static void kick_all(struct vsock_driver *d)
{
	unsigned int q;

	for (q = 0; q < 3; q++)
		if (d->need_kick[q])
			kick(d, q);
}

static int do_requeues(struct vsock_driver *d)
{
	int n = 0;

	while (d->requeue_mask) {
		unsigned int q = (unsigned int)__builtin_ctz(d->requeue_mask);

		d->requeue_mask &= ~(1u << q);
		dev_notify(d, q);
		n++;
	}
	return n;
}

/* The host's interrupt check, every 250 ms as vm_virtio runs it. */
static void check_irq(struct vsock_driver *d)
{
	uint64_t now = util_now_ns();

	if (now - d->irq_check_ns < 250000000ull)
		return;
	d->irq_check_ns = now;
	pthread_mutex_lock(&d->m->lock);
	virtio_mmio_check_irq(d->m);
	pthread_mutex_unlock(&d->m->lock);
}

/* One pass of the device's loop; an error fails the test. */
static int run_loop(struct vsock_driver *d, unsigned int wait_us)
{
	int n = dev_run_loop(d, wait_us);

	if (n < 0)
		vsock_driver_fail(d, "evloop_run_once: %s", strerror(-n));
	return n;
}

int vsock_driver_pump(struct vsock_driver *d, unsigned int wait_us)
{
	int progress;

	check_irq(d);
	flush_ctrl(d);
	post_rx(d);
	post_ev(d);
	kick_all(d);
	progress = do_requeues(d);
	progress += process_used(d);
	if (progress) {
		flush_ctrl(d);
		post_rx(d);
		post_ev(d);
		kick_all(d);
	}
	progress += run_loop(d, progress ? 0 : wait_us);
	progress += do_requeues(d);
	progress += process_used(d);
	/*
	 * Idle after waiting longer than the device may hold an interrupt
	 * back, with used buffers unannounced: a lost interrupt. Unless a
	 * second wait brings it: on a loaded machine the hold's timer may
	 * have fired with its completion work still queued for this thread
	 * when the first wait timed out.
	 */
	if (!progress && !d->cfg.poll_used && !d->st.irqs_lost &&
	    wait_us * 1000ull >= vsock_signal_delay_ns(&d->cfg.dev) &&
	    any_used(d)) {
		progress = run_loop(d, wait_us) + process_used(d);
		if (!progress && any_used(d))
			vsock_driver_fail(d, "used buffers (rx %u/%u tx %u/%u) "
					  "but no interrupt",
					  vq_driver_used_idx(&d->q[0]),
					  d->q[0].last_used,
					  vq_driver_used_idx(&d->q[1]),
					  d->q[1].last_used);
	}
	return progress;
}

void vsock_driver_settle(struct vsock_driver *d, unsigned int idle_rounds)
{
	unsigned int idle = 0;

	while (idle < idle_rounds)
		idle = vsock_driver_pump(d, d->cfg.loop_timeout_us) ? 0
								     : idle + 1;
}

/* ---- sockets ---- */

struct vsock_sock *vsock_driver_connect_start(struct vsock_driver *d,
					      uint32_t port, uint16_t type)
{
	struct vsock_sock *s;
	uint32_t local;

	do {
		local = d->next_port++;
		if (d->next_port < 1024 || d->next_port >= VSOCK_HOST_PORT_BASE)
			d->next_port = 1024;
	} while (sock_find(d, local, port) || is_listening(d, local));
	s = sock_new(d, local, port, type);
	s->state = VSOCK_SOCK_CONNECTING;
	sock_ctrl(s, VSOCK_OP_REQUEST, 0);
	return s;
}

int vsock_driver_connect(struct vsock_driver *d, uint32_t port,
			 struct vsock_sock **out)
{
	struct vsock_sock *s = vsock_driver_connect_start(d, port,
							  VSOCK_TYPE_STREAM);

	while (s->state == VSOCK_SOCK_CONNECTING)
		vsock_driver_pump(d, d->cfg.loop_timeout_us);
	*out = s;
	return s->err;
}

void vsock_driver_listen(struct vsock_driver *d, uint32_t port)
{
	if (is_listening(d, port))
		return;
	if (d->nr_listening == d->cap_listening) {
		d->cap_listening = d->cap_listening ? 2 * d->cap_listening : 8;
		d->listening = realloc(d->listening,
				       d->cap_listening * sizeof(uint32_t));
		if (!d->listening)
			abort();
	}
	d->listening[d->nr_listening++] = port;
}

void vsock_driver_unlisten(struct vsock_driver *d, uint32_t port)
{
	unsigned int i;

	for (i = 0; i < d->nr_listening; i++)
		if (d->listening[i] == port)
			d->listening[i] = d->listening[--d->nr_listening];
}

struct vsock_sock *vsock_driver_accept_nowait(struct vsock_driver *d)
{
	struct vsock_sock *s = d->accept_head;

	if (s) {
		d->accept_head = s->accept_next;
		if (!d->accept_head)
			d->accept_tail = NULL;
		s->accept_next = NULL;
	}
	return s;
}

struct vsock_sock *vsock_driver_accept(struct vsock_driver *d)
{
	struct vsock_sock *s;

	while (!(s = vsock_driver_accept_nowait(d)))
		vsock_driver_pump(d, d->cfg.loop_timeout_us);
	return s;
}

void vsock_driver_shutdown(struct vsock_sock *s, uint32_t flags)
{
	if (s->state != VSOCK_SOCK_ESTABLISHED)
		return;
	s->shutdown_sent |= flags;
	sock_ctrl(s, VSOCK_OP_SHUTDOWN, flags);
}

void vsock_driver_credit_request(struct vsock_sock *s)
{
	sock_ctrl(s, VSOCK_OP_CREDIT_REQUEST, 0);
}

void vsock_driver_close(struct vsock_sock *s, bool wait)
{
	struct vsock_driver *d = s->d;

	if (s->state == VSOCK_SOCK_CONNECTING) {
		vsock_driver_abort(s);
		return;
	}
	if (s->state == VSOCK_SOCK_CLOSED || !s->in_table) {
		sock_free(s);
		return;
	}
	s->orphan = true;
	s->shutdown_sent = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	sock_ctrl(s, VSOCK_OP_SHUTDOWN, s->shutdown_sent);
	if (!wait)
		return; /* freed when the RST comes */
	s->close_wait = true; /* keep it while we wait */
	while (s->state != VSOCK_SOCK_CLOSED)
		vsock_driver_pump(d, d->cfg.loop_timeout_us);
	sock_free(s);
}

void vsock_driver_abort(struct vsock_sock *s)
{
	if (s->in_table)
		sock_ctrl(s, VSOCK_OP_RST, 0);
	sock_free(s);
}

/* ---- raw access for tests ---- */

uint64_t vsock_driver_scratch(struct vsock_driver *d, void **host_view)
{
	if (host_view)
		*host_view = host(d, d->scratch_base, DRV_SCRATCH);
	return d->scratch_base;
}

void vsock_driver_tx_raw(struct vsock_driver *d,
			 const struct vq_driver_buf *bufs, unsigned int n,
			 bool indirect)
{
	struct vq_driver *tx = &d->q[VSOCK_QUEUE_TX];
	int head;

	flush_ctrl(d);
	while (!tx_room(d, indirect ? 1 : n))
		vsock_driver_pump(d, d->cfg.loop_timeout_us);
	if (indirect)
		head = vq_driver_add_indirect_at(
			tx, d->scratch_base + DRV_SCRATCH - 16ull * n, bufs, n);
	else
		head = vq_driver_add_chain(tx, bufs, n);
	if (head < 0)
		vsock_driver_fail(d, "raw TX: no descriptors");
	d->tx_slot_of_head[head] = SLOT_RAW;
	d->raw_outstanding++;
	d->need_kick[VSOCK_QUEUE_TX] = true;
}

uint64_t vsock_driver_raw_outstanding(const struct vsock_driver *d)
{
	return d->raw_outstanding;
}

/* ---- setup ---- */

static void probe(struct vsock_driver *d)
{
	struct virtio_mmio *m = d->m;
	uint64_t offered, want;
	uint32_t st;
	unsigned int q;

	mmio_driver_write(m, VIRTIO_MMIO_STATUS, 0);
	mmio_driver_write(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered = mmio_driver_read(m, VIRTIO_MMIO_DEVICE_FEATURES);
	mmio_driver_write(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)mmio_driver_read(m, VIRTIO_MMIO_DEVICE_FEATURES)
		   << 32;
	want = 1ull << VIRTIO_F_VERSION_1;
	if (!d->cfg.no_event_idx)
		want |= 1ull << VIRTIO_F_EVENT_IDX;
	if (!d->cfg.no_indirect)
		want |= 1ull << VIRTIO_F_INDIRECT_DESC;
	if (d->cfg.seqpacket)
		want |= 1ull << VIRTIO_VSOCK_F_SEQPACKET;
	if ((offered & want) != want)
		vsock_driver_fail(d, "device offers %#llx, we need %#llx",
				  (unsigned long long)offered,
				  (unsigned long long)want);
	d->features = want;
	st = mmio_driver_negotiate(m, want);
	if (!(st & VIRTIO_STATUS_FEATURES_OK))
		vsock_driver_fail(d, "FEATURES_OK refused (status %#x)", st);
	for (q = 0; q < 3; q++) {
		mmio_driver_write(m, VIRTIO_MMIO_QUEUE_SEL, q);
		if (mmio_driver_read(m, VIRTIO_MMIO_QUEUE_NUM_MAX) <
		    d->q[q].size)
			vsock_driver_fail(d, "queue %u: max %u < %u", q,
					  mmio_driver_read(
						  m, VIRTIO_MMIO_QUEUE_NUM_MAX),
					  d->q[q].size);
		mmio_driver_setup_queue(m, q, &d->q[q]);
	}
	st = mmio_driver_ok(m);
	if (!(st & VIRTIO_STATUS_DRIVER_OK) ||
	    (st & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET)))
		vsock_driver_fail(d, "DRIVER_OK refused (status %#x)", st);
}

/* Forget every chain, buffer and socket: the device was reset. */
static void forget_all(struct vsock_driver *d)
{
	unsigned int i;

	/* The list, not the buckets: a reset per fuzz input stays cheap. */
	while (d->table)
		sock_free(d->table);
	d->accept_head = d->accept_tail = NULL;
	d->ctrlq_len = 0;
	for (i = 0; i < 3; i++) {
		vq_driver_reset(&d->q[i]);
		d->notified[i] = 0;
		d->need_kick[i] = false;
	}
	for (i = 0; i < d->q[0].size; i++)
		d->rx_slot_of_head[i] = d->tx_slot_of_head[i] = SLOT_FREE;
	d->tx_nr_free = 0;
	for (i = 0; i < d->q[VSOCK_QUEUE_TX].size; i++)
		d->tx_free_slots[d->tx_nr_free++] = (uint16_t)i;
	d->rx_nr_free = 0;
	for (i = 0; i < d->cfg.rx_bufs; i++)
		d->rx_free_slots[d->rx_nr_free++] = (uint16_t)i;
	d->rx_posted = 0;
	d->rx_held = 0;
	d->rx_cur_slot = -1;
	d->ev_outstanding = 0;
	d->raw_outstanding = 0;
	d->requeue_mask = 0;
	d->irqs_seen = d->st.irqs;
}

void vsock_driver_reprobe(struct vsock_driver *d)
{
	forget_all(d);
	probe(d);
	post_ev(d);
	post_rx(d);
	kick_all(d);
}

void vsock_driver_create(struct vsock_driver *d,
			 const struct vsock_driver_config *cfg)
{
	struct virtio_mmio_host mh = { .irq = host_irq,
				       .requeue = host_requeue,
				       .opaque = d };
	struct virtio_mmio_config mcfg;
	uint64_t ram;
	uint16_t qs;
	int ret;

	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	if (!d->cfg.dev.guest_cid)
		d->cfg.dev.guest_cid = 3;
	qs = d->cfg.queue_size ? d->cfg.queue_size : 256;
	d->cfg.queue_size = qs;
	if (!d->cfg.rx_buf_size)
		d->cfg.rx_buf_size = 4096 + DRV_HDR;
	if (!d->cfg.rx_bufs)
		d->cfg.rx_bufs = d->cfg.rx_layout == VSOCK_DRV_RX_SPLIT ? qs / 2
									: qs;
	if (!d->cfg.buf_alloc)
		d->cfg.buf_alloc = 256 * 1024;
	if (!d->cfg.loop_timeout_us)
		d->cfg.loop_timeout_us = 2000;
	d->rng = 0x5eed;
	d->next_port = 49152;
	d->ev_layout = d->cfg.ev_layout;

	d->tx_slot_size = DRV_TX_SLOT;
	d->rx_slot_size = align_up32(d->cfg.rx_buf_size + 64 + 64, DRV_PAGE);
	ram = (uint64_t)qs * d->tx_slot_size +
	      (uint64_t)d->cfg.rx_bufs * d->rx_slot_size + DRV_SCRATCH +
	      (4u << 20);
	vq_driver_init(&d->q[VSOCK_QUEUE_RX], qs, ram);
	vq_driver_init_shared(&d->q[VSOCK_QUEUE_TX], qs, &d->q[VSOCK_QUEUE_RX]);
	vq_driver_init_shared(&d->q[VSOCK_QUEUE_EVENT], DRV_EV_BUFS,
			      &d->q[VSOCK_QUEUE_RX]);
	d->tx_slot_base = vq_driver_alloc(&d->q[0],
					  (uint64_t)qs * d->tx_slot_size,
					  DRV_PAGE);
	d->rx_slot_base = vq_driver_alloc(
		&d->q[0], (uint64_t)d->cfg.rx_bufs * d->rx_slot_size, DRV_PAGE);
	d->ev_base = vq_driver_alloc(&d->q[0], 8 * DRV_EV_BUFS, DRV_PAGE);
	d->scratch_base = vq_driver_alloc(&d->q[0], DRV_SCRATCH, DRV_PAGE);

	d->tx_slot_of_head = calloc(qs, sizeof(int));
	d->rx_slot_of_head = calloc(qs, sizeof(int));
	d->tx_free_slots = calloc(qs, sizeof(uint16_t));
	d->rx_free_slots = calloc(d->cfg.rx_bufs, sizeof(uint16_t));
	d->buckets = calloc(DRV_BUCKETS, sizeof(*d->buckets));
	if (!d->tx_slot_of_head || !d->rx_slot_of_head || !d->tx_free_slots ||
	    !d->rx_free_slots || !d->buckets)
		abort();

	ret = evloop_create(&d->loop, 4096);
	if (ret)
		vsock_driver_fail(d, "evloop_create: %s", strerror(-ret));
	ret = vsock_dev_create(&d->dev, &d->cfg.dev, &d->loop);
	if (ret)
		vsock_driver_fail(d, "vsock_dev_create: %s", strerror(-ret));
	mcfg = vsock_dev_mmio_config(d->dev);
	ret = virtio_mmio_create(&d->m, &mcfg, vq_driver_mem(&d->q[0]), &mh);
	if (ret)
		vsock_driver_fail(d, "virtio_mmio_create: %s", strerror(-ret));
	vsock_dev_attach(d->dev, d->m);
	forget_all(d);
	probe(d);
	ret = vsock_dev_start(d->dev);
	if (ret)
		vsock_driver_fail(d, "vsock_dev_start: %s", strerror(-ret));
	d->started = true;
	post_ev(d);
	post_rx(d);
	kick_all(d);
}

void vsock_driver_destroy(struct vsock_driver *d)
{
	unsigned int i;

	/* Device first: it may still reference guest memory. */
	if (d->m)
		mmio_driver_write(d->m, VIRTIO_MMIO_STATUS, 0);
	if (d->dev) {
		/* Let the loop finish the reset before tearing down. */
		for (i = 0; i < 8; i++)
			evloop_run_once(&d->loop, 1000);
	}
	/* The ring first: cancelled operations may point into the device. */
	evloop_destroy(&d->loop);
	vsock_dev_destroy(d->dev);
	if (d->m)
		virtio_mmio_destroy(d->m);
	while (d->table)
		sock_free(d->table);
	vq_driver_destroy(&d->q[VSOCK_QUEUE_EVENT]);
	vq_driver_destroy(&d->q[VSOCK_QUEUE_TX]);
	vq_driver_destroy(&d->q[VSOCK_QUEUE_RX]);
	free(d->tx_slot_of_head);
	free(d->rx_slot_of_head);
	free(d->tx_free_slots);
	free(d->rx_free_slots);
	free(d->buckets);
	free(d->ctrlq);
	free(d->listening);
	memset(d, 0, sizeof(*d));
}
