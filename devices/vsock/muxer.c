/*
 * muxer: connection table, RX priority lists and the orphan-RST ring (see
 * muxer.h).
 *
 * Memory is bounded: at most cfg.max_conns connections (a REQUEST beyond
 * that is refused with RST), and at most VSOCK_MUXER_ORPHANS queued RSTs
 * for packets that matched no connection (more are dropped; the guest's
 * own timeout covers them, and tx_paused() throttles the guest first).
 * Each connection is on at most one RX list, the one for the most urgent
 * packet it wants (or HELD while that must wait), so the lists never grow
 * beyond the table.
 */
#include "devices/vsock/muxer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t hash(const struct vsock_muxer *mx, uint32_t local,
		     uint32_t peer)
{
	return (local * 2654435761u ^ peer * 2246822519u) &
	       (mx->nr_buckets - 1);
}

int vsock_muxer_init(struct vsock_muxer *mx,
		     const struct vsock_muxer_config *cfg)
{
	uint32_t n = 16;

	memset(mx, 0, sizeof(*mx));
	if (!cfg->max_conns || cfg->max_conns > (1u << 20) || !cfg->buf_alloc)
		return -EINVAL;
	while (n < 2 * cfg->max_conns)
		n *= 2;
	mx->buckets = calloc(n, sizeof(*mx->buckets));
	if (!mx->buckets)
		return -ENOMEM;
	mx->nr_buckets = n;
	mx->cfg = *cfg;
	mx->next_host_port = VSOCK_HOST_PORT_BASE;
	return 0;
}

void vsock_muxer_destroy(struct vsock_muxer *mx)
{
	uint32_t i;

	for (i = 0; i < mx->nr_buckets; i++) {
		struct vsock_mconn *mc = mx->buckets[i];

		while (mc) {
			struct vsock_mconn *next = mc->hash_next;

			free(mc);
			mc = next;
		}
	}
	free(mx->buckets);
	memset(mx, 0, sizeof(*mx));
}

struct vsock_mconn *vsock_muxer_find(const struct vsock_muxer *mx,
				     uint32_t local_port, uint32_t peer_port)
{
	struct vsock_mconn *mc = mx->buckets[hash(mx, local_port, peer_port)];

	while (mc && (mc->conn.local_port != local_port ||
		      mc->conn.peer_port != peer_port))
		mc = mc->hash_next;
	return mc;
}

/* RX lists -------------------------------------------------------------- */

static void rx_remove(struct vsock_muxer *mx, struct vsock_mconn *mc)
{
	struct vsock_mconn *prev = NULL, *cur;

	if (mc->rx_class == VSOCK_RX_NONE)
		return;
	/* Lists are short in practice and bounded by the table size. */
	for (cur = mx->rx[mc->rx_class].head; cur && cur != mc;
	     cur = cur->rx_next)
		prev = cur;
	if (cur) {
		if (prev)
			prev->rx_next = mc->rx_next;
		else
			mx->rx[mc->rx_class].head = mc->rx_next;
		if (mx->rx[mc->rx_class].tail == mc)
			mx->rx[mc->rx_class].tail = prev;
	}
	mc->rx_next = NULL;
	mc->rx_class = VSOCK_RX_NONE;
}

static void rx_append(struct vsock_muxer *mx, struct vsock_mconn *mc,
		      enum vsock_rx_class cls)
{
	mc->rx_class = cls;
	mc->rx_next = NULL;
	if (mx->rx[cls].tail)
		mx->rx[cls].tail->rx_next = mc;
	else
		mx->rx[cls].head = mc;
	mx->rx[cls].tail = mc;
}

/* A wanted packet gets its due time when it is first wanted; one that is
 * no longer wanted (sent, or carried by another packet) forgets it. */
static void stamp(uint64_t *due, bool want, uint64_t delay, uint64_t now)
{
	if (!want)
		*due = 0;
	else if (delay && !*due)
		*due = now + delay;
}

static void stamp_held(const struct vsock_muxer *mx, struct vsock_mconn *mc)
{
	uint32_t want = mc->conn.want;

	stamp(&mc->credit_due, want & VSOCK_WANT_CREDIT_UPDATE,
	      mx->cfg.credit_delay_ns, mx->now);
	stamp(&mc->response_due, want & VSOCK_WANT_RESPONSE,
	      mx->cfg.response_delay_ns, mx->now);
}

/* The most urgent packet class the connection wants, or NONE. */
static enum vsock_rx_class wanted(const struct vsock_muxer *mx,
				  const struct vsock_mconn *mc)
{
	const struct vsock_conn *c = &mc->conn;

	if (c->want & VSOCK_WANT_RST)
		return VSOCK_RX_RST;
	/* Nothing of a connection reaches the guest before its RESPONSE. */
	if (mc->response_due > mx->now)
		return VSOCK_RX_HELD;
	if (c->want &
	    (VSOCK_WANT_RESPONSE | VSOCK_WANT_REQUEST | VSOCK_WANT_SHUTDOWN))
		return VSOCK_RX_CTRL;
	if (mc->readable && vsock_conn_can_send(c) &&
	    vsock_conn_peer_credit(c) > 0)
		return VSOCK_RX_DATA;
	if (c->want & VSOCK_WANT_CREDIT_UPDATE)
		return mc->credit_due > mx->now ? VSOCK_RX_HELD
						: VSOCK_RX_CREDIT;
	return VSOCK_RX_NONE;
}

static void unlink_hash(struct vsock_muxer *mx, struct vsock_mconn *mc)
{
	struct vsock_mconn **pp =
		&mx->buckets[hash(mx, mc->conn.local_port, mc->conn.peer_port)];

	while (*pp && *pp != mc)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = mc->hash_next;
}

/* Re-file the connection after anything changed; free it when done. */
static void update(struct vsock_muxer *mx, struct vsock_mconn *mc)
{
	enum vsock_rx_class cls;
	bool unread = !vsock_conn_peer_drained(&mc->conn);

	if (unread != mc->unread) {
		mc->unread = unread;
		if (unread)
			mx->nr_unread++;
		else
			mx->nr_unread--;
	}
	stamp_held(mx, mc);
	cls = wanted(mx, mc);

	if (cls != mc->rx_class) {
		rx_remove(mx, mc);
		if (cls != VSOCK_RX_NONE)
			rx_append(mx, mc, cls);
	}
	if (cls == VSOCK_RX_NONE && mc->released &&
	    mc->conn.state == VSOCK_CONN_CLOSED) {
		unlink_hash(mx, mc);
		mx->nr_conns--;
		if (mc->unread)
			mx->nr_unread--;
		free(mc);
	}
}

void vsock_muxer_reply_rst(struct vsock_muxer *mx, const struct vsock_hdr *h)
{
	struct vsock_orphan *o;

	if (h->op == VSOCK_OP_RST || mx->orphan_count == VSOCK_MUXER_ORPHANS)
		return; /* never answer an RST; full: the guest times out */
	o = &mx->orphans[(mx->orphan_head + mx->orphan_count) %
			 VSOCK_MUXER_ORPHANS];
	o->src_port = h->src_port;
	o->dst_port = h->dst_port;
	/* A reset of an unknown type would be discarded by the guest. */
	o->type = h->type == VSOCK_TYPE_SEQPACKET ? VSOCK_TYPE_SEQPACKET
						  : VSOCK_TYPE_STREAM;
	mx->orphan_count++;
}

void vsock_muxer_advance(struct vsock_muxer *mx, uint64_t now)
{
	struct vsock_mconn *mc = mx->rx[VSOCK_RX_HELD].head, *next;

	mx->now = now;
	for (; mc; mc = next) {
		next = mc->rx_next; /* update() may move it to another list */
		update(mx, mc);
	}
}

uint64_t vsock_muxer_held_next(const struct vsock_muxer *mx)
{
	const struct vsock_mconn *mc;
	uint64_t first = 0;

	for (mc = mx->rx[VSOCK_RX_HELD].head; mc; mc = mc->rx_next) {
		uint64_t due = mc->response_due > mx->now ? mc->response_due
							  : mc->credit_due;

		if (!first || due < first)
			first = due;
	}
	return first;
}

bool vsock_muxer_pending(const struct vsock_muxer *mx, enum vsock_rx_class cls)
{
	return mx->rx[cls].head != NULL;
}

bool vsock_muxer_tx_paused(const struct vsock_muxer *mx)
{
	return mx->orphan_count >= VSOCK_MUXER_ORPHANS / 2;
}

static struct vsock_mconn *new_conn(struct vsock_muxer *mx, uint32_t local,
				    uint32_t peer, uint16_t type,
				    bool host_initiated, uint64_t now)
{
	struct vsock_mconn *mc;
	uint32_t b;

	if (mx->nr_conns >= mx->cfg.max_conns)
		return NULL;
	mc = calloc(1, sizeof(*mc));
	if (!mc)
		return NULL;
	/*
	 * A SEQPACKET message must fit one AF_UNIX datagram on the host
	 * (about 208 KiB by default), and Linux guests refuse messages
	 * larger than the peer's buffer: so advertise less for those.
	 */
	vsock_conn_init(&mc->conn, mx->cfg.guest_cid, local, peer, type,
			host_initiated,
			type == VSOCK_TYPE_SEQPACKET &&
					mx->cfg.buf_alloc > VSOCK_SEQ_BUF_ALLOC
				? VSOCK_SEQ_BUF_ALLOC
				: mx->cfg.buf_alloc,
			mx->cfg.timeout_ns, now);
	mc->rx_class = VSOCK_RX_NONE;
	b = hash(mx, local, peer);
	mc->hash_next = mx->buckets[b];
	mx->buckets[b] = mc;
	mx->nr_conns++;
	return mc;
}

struct vsock_tx_result vsock_muxer_tx(struct vsock_muxer *mx,
				      const struct vsock_hdr *h, uint64_t now)
{
	struct vsock_tx_result r = { .kind = VSOCK_TX_NONE };
	struct vsock_mconn *mc = vsock_muxer_find(mx, h->dst_port, h->src_port);

	if (!mc) {
		if (h->op != VSOCK_OP_REQUEST) {
			vsock_muxer_reply_rst(mx, h);
			return r;
		}
		mc = new_conn(mx, h->dst_port, h->src_port, h->type, false,
			      now);
		if (!mc) {
			vsock_muxer_reply_rst(mx, h); /* at the limit */
			return r;
		}
		mc->conn.peer_buf_alloc = h->buf_alloc;
		mc->conn.peer_fwd_cnt = h->fwd_cnt;
		r.kind = VSOCK_TX_CONNECT;
		r.mc = mc;
		return r;
	}
	r.kind = VSOCK_TX_CONN;
	r.mc = mc;
	r.action = vsock_conn_recv(&mc->conn, h, now);
	update(mx, mc);
	return r;
}

struct vsock_mconn *vsock_muxer_connect(struct vsock_muxer *mx,
					uint32_t peer_port, uint16_t type,
					uint64_t now)
{
	struct vsock_mconn *mc;
	uint32_t tries, port = mx->next_host_port;

	if (mx->nr_conns >= mx->cfg.max_conns)
		return NULL;
	/* At most nr_conns ports are taken, so this ends. */
	for (tries = 0; tries <= mx->nr_conns; tries++) {
		if (!vsock_muxer_find(mx, port, peer_port))
			break;
		port = port == UINT32_MAX ? VSOCK_HOST_PORT_BASE : port + 1;
	}
	mx->next_host_port = port == UINT32_MAX ? VSOCK_HOST_PORT_BASE
						: port + 1;
	mc = new_conn(mx, port, peer_port, type, true, now);
	if (mc)
		update(mx, mc);
	return mc;
}

void vsock_muxer_host_connected(struct vsock_muxer *mx, struct vsock_mconn *mc,
				bool ok)
{
	vsock_conn_host_connected(&mc->conn, ok);
	update(mx, mc);
}

void vsock_muxer_delivered(struct vsock_muxer *mx, struct vsock_mconn *mc,
			   uint32_t n)
{
	vsock_conn_delivered(&mc->conn, n);
	update(mx, mc);
}

void vsock_muxer_readable(struct vsock_muxer *mx, struct vsock_mconn *mc,
			  bool readable)
{
	mc->readable = readable;
	update(mx, mc);
}

void vsock_muxer_host_eof(struct vsock_muxer *mx, struct vsock_mconn *mc,
			  uint64_t now)
{
	mc->readable = false;
	vsock_conn_host_eof(&mc->conn, now);
	update(mx, mc);
}

void vsock_muxer_host_error(struct vsock_muxer *mx, struct vsock_mconn *mc)
{
	mc->readable = false;
	vsock_conn_host_error(&mc->conn);
	update(mx, mc);
}

void vsock_muxer_release(struct vsock_muxer *mx, struct vsock_mconn *mc)
{
	mc->released = true;
	update(mx, mc);
}

unsigned int vsock_muxer_tick(struct vsock_muxer *mx, uint64_t now,
			      void (*expired)(void *opaque,
					      struct vsock_mconn *mc),
			      void *opaque)
{
	unsigned int n = 0;
	uint32_t i;

	for (i = 0; i < mx->nr_buckets; i++) {
		struct vsock_mconn *mc = mx->buckets[i];

		while (mc) {
			/* update() may free mc: step first. */
			struct vsock_mconn *next = mc->hash_next;
			uint32_t want = mc->conn.want;

			if (vsock_conn_tick(&mc->conn, now)) {
				n++;
				/* Not yet released, so update() keeps it. */
				update(mx, mc);
				if (expired)
					expired(opaque, mc);
			} else if (mc->conn.want != want) {
				update(mx, mc); /* a credit update is due */
			}
			mc = next;
		}
	}
	return n;
}

static struct vsock_mconn *rx_pop(struct vsock_muxer *mx,
				  enum vsock_rx_class cls)
{
	struct vsock_mconn *mc = mx->rx[cls].head;

	if (mc)
		rx_remove(mx, mc);
	return mc;
}

struct vsock_rx vsock_muxer_next_rx(struct vsock_muxer *mx,
				    uint32_t payload_room)
{
	struct vsock_rx rx = { .kind = VSOCK_RX_EMPTY };
	struct vsock_conn *c;
	struct vsock_mconn *mc;
	enum vsock_op op;

	/* Resets first: the oldest replies to unmatched packets, then ours. */
	if (mx->orphan_count) {
		const struct vsock_orphan *o = &mx->orphans[mx->orphan_head];

		memset(&rx.hdr, 0, sizeof(rx.hdr));
		rx.hdr.src_cid = VSOCK_HOST_CID;
		rx.hdr.dst_cid = mx->cfg.guest_cid;
		rx.hdr.src_port = o->dst_port;
		rx.hdr.dst_port = o->src_port;
		rx.hdr.type = o->type;
		rx.hdr.op = VSOCK_OP_RST;
		mx->orphan_head = (mx->orphan_head + 1) % VSOCK_MUXER_ORPHANS;
		mx->orphan_count--;
		rx.kind = VSOCK_RX_PACKET;
		return rx;
	}
	mc = rx_pop(mx, VSOCK_RX_RST);
	if (!mc)
		mc = rx_pop(mx, VSOCK_RX_CTRL);
	if (!mc && payload_room) {
		mc = rx_pop(mx, VSOCK_RX_DATA);
		if (mc) {
			uint32_t credit = vsock_conn_peer_credit(&mc->conn);

			rx.kind = VSOCK_RX_PAYLOAD;
			rx.mc = mc;
			rx.max_len = credit < payload_room ? credit
							   : payload_room;
			if (rx.max_len > VSOCK_MAX_PKT_DATA)
				rx.max_len = VSOCK_MAX_PKT_DATA;
			return rx; /* re-filed by vsock_muxer_rx_data() */
		}
	}
	if (!mc)
		mc = rx_pop(mx, VSOCK_RX_CREDIT);
	if (!mc)
		return rx;

	c = &mc->conn;
	if (c->want & VSOCK_WANT_RST) {
		op = VSOCK_OP_RST;
		c->want &= ~VSOCK_WANT_RST;
		rx.lazy = c->guest_closed;
	} else if (c->want & VSOCK_WANT_RESPONSE) {
		op = VSOCK_OP_RESPONSE;
		c->want &= ~VSOCK_WANT_RESPONSE;
	} else if (c->want & VSOCK_WANT_REQUEST) {
		op = VSOCK_OP_REQUEST;
		c->want &= ~VSOCK_WANT_REQUEST;
	} else if (c->want & VSOCK_WANT_SHUTDOWN) {
		op = VSOCK_OP_SHUTDOWN;
		c->want &= ~VSOCK_WANT_SHUTDOWN;
	} else {
		op = VSOCK_OP_CREDIT_UPDATE;
	}
	vsock_conn_fill_hdr(c, &rx.hdr, op, 0);
	rx.kind = VSOCK_RX_PACKET;
	update(mx, mc); /* may want more, or may be freed now */
	return rx;
}

void vsock_muxer_rx_data(struct vsock_muxer *mx, struct vsock_mconn *mc,
			 uint32_t n, struct vsock_hdr *hdr)
{
	if (n) {
		vsock_conn_fill_hdr(&mc->conn, hdr, VSOCK_OP_RW, n);
		vsock_conn_sent(&mc->conn, n);
	} else {
		mc->readable = false; /* the backend says when there is more */
	}
	update(mx, mc);
}
