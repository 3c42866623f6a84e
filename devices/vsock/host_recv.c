/*
 * host_recv: host -> guest. A poll says the socket is readable; when the
 * muxer grants RX buffers and credit, a non-blocking recv fills the
 * guest's buffers directly. One handler per kind of receive:
 * - stream: into up to VSOCK_RX_BATCH lent buffers, one packet each;
 * - peek (SEQPACKET): a message is peeked into one lent buffer so its
 *   boundary is never lost, then consume drops it from the socket;
 * - stage (SEQPACKET): a message larger than the guest's buffer is read
 *   whole into a stage (bounded by VSOCK_SEQ_MAX_MSG) and handed out in
 *   pieces, the last one marked EOM;
 * - the hybrid handshake's recv is listen.c's.
 */
#define LOG_TAG "vsock"
#include "devices/vsock/host.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/util.h"

uint32_t host_stage_left(const struct host_socket *s)
{
	return s->stage_len - s->stage_off;
}

void host_stage_free(struct host_socket *s)
{
	if (s->stage && s->stage != s->stage_small) {
		free(s->stage);
		s->be->buffered -= s->stage_len;
	}
	s->stage = NULL;
	s->stage_len = s->stage_off = 0;
	s->stage_is_msg = false;
}

static void rx_return(struct host_socket *s, struct vsock_rxbuf *rb,
		      const struct vsock_hdr *h, uint32_t n)
{
	s->be->env.rx_return(s->be->env.dev, rb, h, n);
}

void host_rx_return_from(struct host_socket *s, unsigned int from)
{
	unsigned int i;

	for (i = from; i < s->nr_rb; i++)
		rx_return(s, s->rbs[i], NULL, 0);
	s->nr_rb = 0;
}

void host_on_poll(struct evloop_op *op, int res, uint32_t flags)
{
	struct host_socket *s = container_of(op, struct host_socket, poll_op);

	(void)flags;
	host_op_begin(s);
	s->polling = false;
	/* Readable, hung up or failed: the next recv tells which. */
	if (!s->closing && s->mc && res != -ECANCELED)
		vsock_muxer_readable(s->be->env.mx, s->mc, true);
	host_op_end(s);
}

void host_arm_poll(struct host_socket *s)
{
	struct io_uring_sqe *sqe;

	if (s->polling || s->receiving || s->closing || !s->mc ||
	    s->phase != PH_OPEN || host_stage_left(s) ||
	    !vsock_conn_can_send(&s->mc->conn))
		return;
	sqe = host_sqe(s);
	if (!sqe) {
		host_fail(s, EBUSY);
		return;
	}
	io_uring_prep_poll_add(sqe, s->fd, POLLIN);
	io_uring_sqe_set_data(sqe, &s->poll_op);
	s->polling = true;
}

static void on_recv(struct evloop_op *op, int res, uint32_t flags)
{
	struct host_socket *s = container_of(op, struct host_socket, recv_op);

	(void)flags;
	host_op_begin(s);
	s->receiving = NULL;
	if (s->closing || (!s->mc && s->phase != PH_HANDSHAKE))
		host_rx_return_from(s, 0);
	else
		s->recv_done(s, res);
	host_op_end(s);
}

bool host_submit_recv(struct host_socket *s, const char *what,
		      host_recv_fn *done, struct iovec *iov, unsigned int n,
		      int flags)
{
	struct io_uring_sqe *sqe = host_sqe(s);

	if (!sqe)
		return false;
	memset(&s->rmsg, 0, sizeof(s->rmsg));
	s->rmsg.msg_iov = iov;
	s->rmsg.msg_iovlen = n;
	io_uring_prep_recvmsg(sqe, s->fd, &s->rmsg, (unsigned int)flags);
	s->recv_op.handler = on_recv;
	io_uring_sqe_set_data(sqe, &s->recv_op);
	s->recv_done = done;
	s->receiving = what;
	return true;
}

/*
 * What stream and peek receives share: false (and the buffers given back)
 * unless `res` bytes arrived for a guest still reading.
 */
static bool data_arrived(struct host_socket *s, int res)
{
	struct vsock_muxer *mx = s->be->env.mx;

	if (res == -EAGAIN || res == -EINTR) {
		host_rx_return_from(s, 0);
		vsock_muxer_rx_data(mx, s->mc, 0, NULL);
		host_arm_poll(s);
		return false;
	}
	if (res < 0) {
		host_rx_return_from(s, 0);
		host_fail(s, -res);
		return false;
	}
	if (res == 0) {
		/* End of stream (or an empty SEQPACKET message, which
		 * AF_UNIX cannot tell apart from it). */
		host_rx_return_from(s, 0);
		vsock_muxer_host_eof(mx, s->mc, util_now_ns());
		return false;
	}
	if (!vsock_conn_can_send(&s->mc->conn)) {
		/* The guest closed its receive side meanwhile. */
		host_rx_return_from(s, 0);
		return false;
	}
	return true;
}

/* A stream recv brought `res` bytes: one packet per buffer, in order. */
static void recv_stream(struct host_socket *s, int res)
{
	struct vsock_muxer *mx = s->be->env.mx;
	uint32_t n = (uint32_t)res;
	bool full;
	unsigned int i;

	if (!data_arrived(s, res))
		return;
	full = n == s->rmax;
	for (i = 0; i < s->nr_rb && n; i++) {
		uint32_t k = MIN(n, s->rlen[i]);
		struct vsock_hdr hdr;

		vsock_muxer_rx_data(mx, s->mc, k, &hdr);
		rx_return(s, s->rbs[i], &hdr, k);
		n -= k;
	}
	host_rx_return_from(s, i);
	/* Filled up: there is probably more. Short: wait for the poll. */
	if (full)
		vsock_muxer_readable(mx, s->mc, true);
	else
		host_arm_poll(s);
}

static void recv_consume(struct host_socket *s, int res)
{
	if (res < 0) {
		/* Retrying would deliver the message twice. */
		host_fail(s, -res);
		return;
	}
	vsock_muxer_readable(s->be->env.mx, s->mc, true);
}

static void recv_stage(struct host_socket *s, int res)
{
	if (res < 0 || (s->rmsg.msg_flags & MSG_TRUNC) ||
	    (uint32_t)res != s->stage_len) {
		host_fail(s, res < 0 ? -res : EIO);
		return;
	}
	s->stage_is_msg = true;
	vsock_muxer_readable(s->be->env.mx, s->mc, true);
}

/* A message too big for the buffer it was peeked into: stage it whole. */
static void stage_message(struct host_socket *s, uint32_t len)
{
	struct vsock_backend *be = s->be;

	if (len > VSOCK_SEQ_MAX_MSG) {
		log_warn_rl(be->env.rl,
			    "host SEQPACKET message of %u bytes is too large",
			    len);
		host_fail(s, EMSGSIZE);
		return;
	}
	if (be->buffered + len > VSOCK_BUFFER_BUDGET ||
	    !(s->stage = malloc(len))) {
		host_fail(s, ENOMEM);
		return;
	}
	be->buffered += len;
	s->stage_len = len;
	s->stage_off = 0;
	s->riov[0].iov_base = s->stage;
	s->riov[0].iov_len = len;
	if (!host_submit_recv(s, "stage", recv_stage, s->riov, 1,
			      MSG_DONTWAIT))
		host_fail(s, EBUSY);
}

/* A SEQPACKET message was peeked (MSG_TRUNC: `res` is its whole size). */
static void recv_peek(struct host_socket *s, int res)
{
	struct vsock_hdr hdr;

	if (!data_arrived(s, res))
		return;
	if ((uint32_t)res > s->rmax) {
		host_rx_return_from(s, 0);
		stage_message(s, (uint32_t)res);
		return;
	}
	/* The whole message is in the buffer; drop it from the socket next.
	 * Every AF_UNIX message is a record, so it ends one (EOR) too. */
	vsock_muxer_rx_data(s->be->env.mx, s->mc, (uint32_t)res, &hdr);
	hdr.flags |= VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
	rx_return(s, s->rbs[0], &hdr, (uint32_t)res);
	host_rx_return_from(s, 1);
	if (!host_submit_recv(s, "consume", recv_consume, NULL, 0,
			      MSG_TRUNC | MSG_DONTWAIT))
		host_fail(s, EBUSY);
}

/* Hand out staged bytes into the first buffer (the others go back). */
static void rx_from_stage(struct host_socket *s, struct vsock_rxbuf *rb,
			  uint32_t max)
{
	struct vsock_muxer *mx = s->be->env.mx;
	uint32_t k = vsock_rxbuf_copy(rb, s->stage + s->stage_off,
				      MIN(host_stage_left(s), max));
	struct vsock_hdr hdr;

	s->stage_off += k;
	vsock_muxer_rx_data(mx, s->mc, k, &hdr);
	if (s->stage_is_msg && !host_stage_left(s))
		hdr.flags |= VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
	rx_return(s, rb, &hdr, k);
	host_rx_return_from(s, 1);
	if (!host_stage_left(s))
		host_stage_free(s);
	/* More staged, or the socket itself may have more. */
	vsock_muxer_readable(mx, s->mc, true);
}

bool host_rx(struct vsock_backend *be, struct vsock_mconn *mc,
	     struct vsock_rxbuf **rbs, const uint32_t *max, unsigned int nr)
{
	struct host_socket *s = mc->backend;
	unsigned int i, n = 0;

	(void)be;
	if (!s || s->closing || s->receiving || s->phase != PH_OPEN)
		return false;
	for (i = 0; i < nr; i++)
		s->rbs[i] = rbs[i];
	s->nr_rb = nr;
	if (host_stage_left(s)) {
		rx_from_stage(s, rbs[0], max[0]);
		return true;
	}
	s->rmax = 0;
	for (i = 0; i < nr && n < VSOCK_SEND_IOV; i++) {
		unsigned int k = vsock_rxbuf_iov(rbs[i], max[i], s->riov + n,
						 VSOCK_SEND_IOV - n);
		uint32_t len = 0;

		while (k--)
			len += (uint32_t)s->riov[n++].iov_len;
		s->rlen[i] = len;
		s->rmax += len;
	}
	for (; i < nr; i++)
		s->rlen[i] = 0; /* out of iovecs: comes back unused */
	if (!n) {
		s->nr_rb = 0;
		return false;
	}
	if (!(s->seqpacket
		      ? host_submit_recv(s, "peek", recv_peek, s->riov, n,
					 MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT)
		      : host_submit_recv(s, "stream", recv_stream, s->riov, n,
					 MSG_DONTWAIT))) {
		s->nr_rb = 0;
		host_fail(s, EBUSY);
		return false;
	}
	/* Lent to the recv (the device marked them so before the call);
	 * one recv per connection keeps bytes in order. */
	mc->readable = false;
	return true;
}
