/*
 * conn: the per-connection state machine and credit accounting (see
 * conn.h for the protocol primer).
 *
 * Trust edge: every header field is guest-controlled. Credit values are
 * only ever used through wrap-safe differences and clamped, so a guest
 * that reports nonsense gets no credit, never a huge one; a guest that
 * sends more than the credit we advertised is reset (it is lying or
 * broken), because accepting it would make our buffering unbounded.
 */
#include "devices/vsock/conn.h"

#include <string.h>

#include "vmm/util.h"

void vsock_conn_init(struct vsock_conn *c, uint64_t guest_cid,
		     uint32_t local_port, uint32_t peer_port, uint16_t type,
		     bool host_initiated, uint32_t buf_alloc,
		     uint64_t timeout_ns, uint64_t now)
{
	memset(c, 0, sizeof(*c));
	c->guest_cid = guest_cid;
	c->local_port = local_port;
	c->peer_port = peer_port;
	c->type = type;
	c->host_initiated = host_initiated;
	c->state = VSOCK_CONN_CONNECTING;
	c->buf_alloc = buf_alloc;
	c->timeout_ns = timeout_ns;
	if (host_initiated) {
		c->want = VSOCK_WANT_REQUEST;
		c->deadline_ns = now + timeout_ns;
	}
}

/* Abort: the guest gets an RST (unless it sent one), the host a close. */
static enum vsock_conn_action reset(struct vsock_conn *c, bool tell_guest)
{
	c->state = VSOCK_CONN_CLOSED;
	c->want = tell_guest ? VSOCK_WANT_RST : 0;
	c->deadline_ns = 0;
	return VSOCK_ACT_ABORT;
}

/* The guest closed both ways: finish with an RST, which nobody in the
 * guest waits for (guest_closed), after the host has what was already
 * delivered. */
static enum vsock_conn_action guest_finished(struct vsock_conn *c)
{
	c->state = VSOCK_CONN_CLOSED;
	c->want = VSOCK_WANT_RST;
	c->guest_closed = true;
	c->deadline_ns = 0;
	return VSOCK_ACT_CLOSE;
}

/* Both directions are finished: ask the guest to close, then wait. */
static void start_close(struct vsock_conn *c, uint64_t now)
{
	c->state = VSOCK_CONN_CLOSING;
	c->shutdown_flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	c->want |= VSOCK_WANT_SHUTDOWN;
	c->deadline_ns = now + c->timeout_ns;
}

/*
 * Announce freed space once half the sender's window is free and the
 * guest does not know yet; RW packets we send carry it for free. Half,
 * not less: each announcement costs the guest an interrupt (a quarter of
 * 256 KiB meant one per 64 KiB packet), and the half still in flight
 * keeps a sender busy until it arrives. A bigger buffer would cut them
 * too, but the guest's data in flight then outgrows the caches the host
 * socket copies it through.
 *
 * The window is our buffer or the guest's own, whichever is smaller:
 * Linux (6.12.117 among others) keeps no more than its own buffer
 * unacknowledged, whatever we advertise, so a guest socket with a
 * buffer under half of ours (SO_VM_SOCKETS_BUFFER_SIZE) would wait for
 * good for an announcement due at half of ours. A sender that holds back
 * further still is answered by vsock_conn_tick().
 */
static void credit_check(struct vsock_conn *c)
{
	uint32_t window = MIN(c->buf_alloc, c->peer_buf_alloc);
	uint32_t unannounced = c->fwd_cnt - c->fwd_cnt_sent;

	if (c->state == VSOCK_CONN_ESTABLISHED && unannounced &&
	    unannounced >= window / 2)
		c->want |= VSOCK_WANT_CREDIT_UPDATE;
}

static void credit_from(struct vsock_conn *c, const struct vsock_hdr *h)
{
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	/* A smaller window may make what is unannounced due now. */
	credit_check(c);
}

static enum vsock_conn_action recv_established(struct vsock_conn *c,
					       const struct vsock_hdr *h,
					       uint64_t now)
{
	uint32_t flags;

	switch (h->op) {
	case VSOCK_OP_RW:
		if (c->peer_shutdown & VSOCK_SHUTDOWN_SEND)
			return reset(c, true); /* data after "no more data" */
		/* In flight to the host after this packet, wrap-safe. */
		if ((uint64_t)(uint32_t)(c->recv_cnt - c->fwd_cnt) + h->len >
		    c->buf_alloc)
			return reset(c, true); /* beyond our advertised credit */
		c->recv_cnt += h->len;
		/* An empty SEQPACKET packet may still end a message. */
		return h->len || (c->type == VSOCK_TYPE_SEQPACKET &&
				  (h->flags & VSOCK_SEQ_EOM))
			       ? VSOCK_ACT_DELIVER
			       : VSOCK_ACT_NONE;
	case VSOCK_OP_CREDIT_UPDATE:
		return VSOCK_ACT_NONE; /* the header already updated credit */
	case VSOCK_OP_CREDIT_REQUEST:
		c->want |= VSOCK_WANT_CREDIT_UPDATE;
		return VSOCK_ACT_NONE;
	case VSOCK_OP_SHUTDOWN:
		flags = h->flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
		c->peer_shutdown |= flags;
		/* The side that receives the final SHUTDOWN answers it. */
		if (c->peer_shutdown ==
		    (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
			return guest_finished(c);
		if (flags & VSOCK_SHUTDOWN_SEND) {
			if (c->host_eof)
				start_close(c, now);
			return VSOCK_ACT_SHUT_WR;
		}
		return VSOCK_ACT_NONE;
	case VSOCK_OP_RST:
		return reset(c, false);
	default:
		/* REQUEST or RESPONSE on a live connection: confused peer. */
		return reset(c, true);
	}
}

enum vsock_conn_action vsock_conn_recv(struct vsock_conn *c,
				       const struct vsock_hdr *h, uint64_t now)
{
	if (c->state == VSOCK_CONN_CLOSED)
		return VSOCK_ACT_NONE;
	/* Every header carries the guest's current receive credit. */
	credit_from(c, h);
	if (h->type != c->type)
		return h->op == VSOCK_OP_RST ? reset(c, false)
					     : reset(c, true);

	switch (c->state) {
	case VSOCK_CONN_CONNECTING:
		if (h->op == VSOCK_OP_RST)
			return reset(c, false);
		if (c->host_initiated && h->op == VSOCK_OP_RESPONSE &&
		    !(c->want & VSOCK_WANT_REQUEST)) {
			c->state = VSOCK_CONN_ESTABLISHED;
			c->deadline_ns = 0;
			return VSOCK_ACT_ACCEPTED;
		}
		if (h->op == VSOCK_OP_CREDIT_UPDATE ||
		    h->op == VSOCK_OP_CREDIT_REQUEST)
			return VSOCK_ACT_NONE; /* harmless; answered later */
		return reset(c, true);
	case VSOCK_CONN_ESTABLISHED:
		return recv_established(c, h, now);
	case VSOCK_CONN_CLOSING:
		if (h->op == VSOCK_OP_RST) {
			c->state = VSOCK_CONN_CLOSED;
			c->want = 0;
			c->deadline_ns = 0;
			return VSOCK_ACT_CLOSE;
		}
		if (h->op == VSOCK_OP_SHUTDOWN) /* both sides closed at once */
			return guest_finished(c);
		return VSOCK_ACT_NONE; /* late data or credit: ignored */
	default:
		return VSOCK_ACT_NONE;
	}
}

void vsock_conn_host_connected(struct vsock_conn *c, bool ok)
{
	if (c->state != VSOCK_CONN_CONNECTING || c->host_initiated)
		return;
	if (!ok) {
		reset(c, true);
		return;
	}
	c->state = VSOCK_CONN_ESTABLISHED;
	c->want |= VSOCK_WANT_RESPONSE;
}

void vsock_conn_delivered(struct vsock_conn *c, uint32_t n)
{
	c->fwd_cnt += n;
	credit_check(c);
}

void vsock_conn_host_eof(struct vsock_conn *c, uint64_t now)
{
	if (c->state != VSOCK_CONN_ESTABLISHED || c->host_eof)
		return;
	c->host_eof = true;
	if (c->peer_shutdown & VSOCK_SHUTDOWN_SEND) {
		start_close(c, now);
		return;
	}
	c->shutdown_flags = VSOCK_SHUTDOWN_SEND;
	c->want |= VSOCK_WANT_SHUTDOWN;
}

void vsock_conn_host_error(struct vsock_conn *c)
{
	if (c->state != VSOCK_CONN_CLOSED)
		reset(c, true);
}

bool vsock_conn_tick(struct vsock_conn *c, uint64_t now)
{
	if (c->deadline_ns && now >= c->deadline_ns) {
		reset(c, true);
		return true;
	}
	/*
	 * Freed space the guest has not been told of: a sender that keeps
	 * less than half the window unacknowledged (credit_check()) may
	 * wait for it, and no rule says it asks (CREDIT_REQUEST; Linux
	 * never does). One announcement per tick at most, and only while
	 * there is something to announce: such a sender waits one tick,
	 * never for good.
	 */
	if (c->state == VSOCK_CONN_ESTABLISHED && c->fwd_cnt != c->fwd_cnt_sent)
		c->want |= VSOCK_WANT_CREDIT_UPDATE;
	return false;
}

uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->sent_cnt - c->peer_fwd_cnt;

	/* fwd_cnt ahead of what we sent, or space below zero: a lie. */
	if (in_flight > c->peer_buf_alloc)
		return 0;
	return c->peer_buf_alloc - in_flight;
}

bool vsock_conn_peer_drained(const struct vsock_conn *c)
{
	return c->sent_cnt == c->peer_fwd_cnt;
}

void vsock_conn_sent(struct vsock_conn *c, uint32_t n)
{
	c->sent_cnt += n;
}

void vsock_conn_fill_hdr(struct vsock_conn *c, struct vsock_hdr *h,
			 enum vsock_op op, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = c->guest_cid;
	h->src_port = c->local_port;
	h->dst_port = c->peer_port;
	h->len = len;
	h->type = c->type;
	h->op = (uint16_t)op;
	h->buf_alloc = c->buf_alloc;
	h->fwd_cnt = c->fwd_cnt;
	if (op == VSOCK_OP_SHUTDOWN)
		h->flags = c->shutdown_flags;
	c->fwd_cnt_sent = c->fwd_cnt;
	c->want &= ~VSOCK_WANT_CREDIT_UPDATE;
}

bool vsock_conn_can_send(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && !c->host_eof &&
	       !(c->peer_shutdown & VSOCK_SHUTDOWN_RCV);
}
