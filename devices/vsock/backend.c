/*
 * backend: the host side of vsock connections, all socket I/O on the
 * VMM's io_uring (accept, connect, recv, send, poll): no thread and no
 * blocking call per connection. AF_UNIX and TCP differ only in the
 * address, so one backend serves both.
 *
 * One struct vsock_host per host socket. Its operations are embedded
 * evloop_ops; `inflight` counts them and the host is freed only after the
 * last completion arrived and it is closing (a deferred delete). Per
 * connection at most one send, one recv (or poll) and one connect are in
 * flight, which keeps each direction's bytes in order.
 *
 * Data paths:
 * - guest -> host: RW payloads queue as txbufs (guest memory) and go out
 *   with sendmsg straight from there; short sends advance and resubmit.
 * - host -> guest: a poll says the socket is readable; when the muxer
 *   grants an RX buffer and credit, a non-blocking recv fills the guest's
 *   buffer directly. SEQPACKET messages are peeked first so a boundary is
 *   never lost; a message larger than the guest's buffer is staged whole
 *   (bounded by VSOCK_SEQ_MAX_MSG) and handed out in pieces, the last one
 *   marked EOM.
 * - the hybrid handshake reads at most 32 bytes; payload that followed
 *   the CONNECT line in the same read is staged (under 32 bytes) and goes
 *   to the guest first.
 */
#define LOG_TAG "vsock"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"
#include "vsock_int.h"

enum host_kind {
	HOST_OUT, /* the guest connected; we connect to a host endpoint */
	HOST_HYBRID, /* a client of <uds> or <uds>_seqpacket */
	HOST_TCP_IN, /* a client of a --vsock-listen TCP listener */
};

enum host_phase {
	PH_CONNECTING, /* HOST_OUT: connect in flight */
	PH_HANDSHAKE, /* HOST_HYBRID: reading "CONNECT <port>\n" */
	PH_WAIT_GUEST, /* REQUEST sent to the guest, awaiting RESPONSE */
	PH_OPEN,
};

enum host_recv {
	RECV_NONE,
	RECV_HANDSHAKE,
	RECV_STREAM, /* into a lent RX buffer */
	RECV_PEEK, /* SEQPACKET: peek a message into a lent RX buffer */
	RECV_CONSUME, /* SEQPACKET: discard the message just peeked */
	RECV_STAGE, /* SEQPACKET: a whole large message into the stage */
};

struct vsock_host {
	struct vsock_dev *d;
	struct vsock_host *prev, *next;
	struct vsock_mconn *mc; /* NULL before the handshake, after a reset */
	int fd;
	bool seqpacket;
	enum host_kind kind;
	enum host_phase phase;
	struct sockaddr_storage addr; /* HOST_OUT: connect target */
	socklen_t addrlen;

	struct evloop_op connect_op, poll_op, recv_op, send_op;
	unsigned int inflight;
	bool polling, sending, closing, shut_wr_pending, close_after_flush;
	uint64_t close_deadline; /* with close_after_flush */
	enum host_recv recv;

	struct vsock_handshake hs;
	uint8_t hsbuf[64];

	/* Bytes for the guest that could not go straight to an RX buffer. */
	uint8_t *stage;
	uint32_t stage_len, stage_off;
	bool stage_is_msg; /* a whole SEQPACKET message */
	uint8_t stage_small[VSOCK_HANDSHAKE_MAX];

	char ctl[24]; /* the "OK <port>\n" reply */
	uint32_t ctl_len, ctl_off;

	int txq_head, txq_tail; /* txbuf indices, -1: empty */
	unsigned int nr_held; /* txbufs queued */
	/*
	 * Guest data copied out of its chains, sent after the queued ones.
	 * A peer that stops reading would otherwise keep up to a credit's
	 * worth of small packets, i.e. every TX descriptor the guest has,
	 * and stall all its other connections. So beyond VSOCK_HOLD_MAX
	 * chains per connection the payload is copied and the chain returned.
	 * Bounded: credit keeps undelivered bytes within buf_alloc, the size
	 * of this buffer, and the device caps the sum (VSOCK_STAGE_BUDGET).
	 */
	uint8_t *tx_stage;
	uint32_t tx_stage_off, tx_stage_len;
	struct iovec siov[VSOCK_SEND_IOV];
	struct msghdr smsg;

	struct vsock_rxbuf *rbs[VSOCK_RX_BATCH]; /* lent for the recv */
	uint32_t rlen[VSOCK_RX_BATCH]; /* bytes each may take */
	unsigned int nr_rb;
	uint32_t rmax; /* their sum */
	struct iovec riov[VSOCK_SEND_IOV];
	struct msghdr rmsg;
};

static void host_close(struct vsock_host *h);
static void host_maybe_free(struct vsock_host *h);
static void host_arm_poll(struct vsock_host *h);

/* An SQE for one of the host's operations, counted in `inflight`; the
 * caller prepares it and sets its user_data. */
static struct io_uring_sqe *host_sqe(struct vsock_host *h)
{
	struct io_uring_sqe *sqe = evloop_sqe(h->d->loop);

	if (sqe)
		h->inflight++;
	return sqe;
}

/*
 * Every completion of a host operation runs between these two: under the
 * transport lock, with a pending device reset finished first; at the end
 * the host is freed if this was its last operation and it is closing (so
 * nothing in flight can point into freed memory), and the device takes
 * guest TX and fills RX buffers with whatever the completion made ready.
 */
static struct vsock_dev *host_op_begin(struct vsock_host *h)
{
	vsock_dev_lock(h->d);
	vsock_dev_sync(h->d);
	return h->d;
}

static void host_op_end(struct vsock_host *h)
{
	struct vsock_dev *d = h->d;

	h->inflight--;
	host_maybe_free(h);
	vsock_dev_process(d);
	vsock_dev_unlock(d);
}

static uint32_t stage_left(const struct vsock_host *h)
{
	return h->stage_len - h->stage_off;
}

static void tx_stage_free(struct vsock_host *h)
{
	if (!h->tx_stage)
		return;
	free(h->tx_stage);
	h->tx_stage = NULL;
	h->tx_stage_off = h->tx_stage_len = 0;
	h->d->stage_bytes -= h->d->mx_cfg.buf_alloc;
}

static void rx_stage_free(struct vsock_host *h)
{
	if (h->stage && h->stage != h->stage_small) {
		free(h->stage);
		h->d->stage_bytes -= h->stage_len;
	}
	h->stage = NULL;
	h->stage_len = h->stage_off = 0;
	h->stage_is_msg = false;
}

static void txq_drop(struct vsock_host *h)
{
	struct vsock_dev *d = h->d;

	while (h->txq_head >= 0) {
		struct vsock_txbuf *tb = &d->txbufs[h->txq_head];

		h->txq_head = tb->next;
		vsock_dev_tx_done(d, tb);
	}
	h->txq_tail = -1;
	d->nr_held -= h->nr_held;
	h->nr_held = 0;
	/* A send in flight may point into the stage: keep it till then. */
	if (!h->sending)
		tx_stage_free(h);
}

/* Free the host once closing and no operation is in flight. */
static void host_maybe_free(struct vsock_host *h)
{
	struct vsock_dev *d = h->d;

	if (!h->closing || h->inflight)
		return;
	txq_drop(h);
	tx_stage_free(h);
	rx_stage_free(h);
	if (h->fd >= 0)
		close(h->fd);
	if (h->mc) {
		struct vsock_mconn *mc = h->mc;

		mc->backend = NULL;
		h->mc = NULL;
		/* The host side is gone: the guest side must end too. */
		if (mc->conn.state != VSOCK_CONN_CLOSED)
			vsock_muxer_host_error(&d->mx, mc);
		vsock_muxer_release(&d->mx, mc);
	}
	if (h->prev)
		h->prev->next = h->next;
	else
		d->hosts = h->next;
	if (h->next)
		h->next->prev = h->prev;
	free(h);
}

static void cancel(struct vsock_host *h, struct evloop_op *op)
{
	struct io_uring_sqe *sqe = evloop_sqe(h->d->loop);

	if (!sqe)
		return;
	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

/*
 * Close the host socket: queued guest data is returned unsent, operations
 * in flight are cancelled, and the host is freed after their completions.
 */
static void host_close(struct vsock_host *h)
{
	if (h->closing)
		return;
	h->closing = true;
	txq_drop(h);
	if (h->fd >= 0)
		shutdown(h->fd, SHUT_RDWR); /* wakes blocked operations */
	if (h->phase == PH_CONNECTING && h->inflight)
		cancel(h, &h->connect_op);
	if (h->polling)
		cancel(h, &h->poll_op);
	if (h->recv != RECV_NONE)
		cancel(h, &h->recv_op);
	if (h->sending)
		cancel(h, &h->send_op);
	host_maybe_free(h);
}

/* The host side failed: reset the guest side, close ours. */
static void host_fail(struct vsock_host *h, int err)
{
	log_debug_rl(&h->d->rl, "host socket failed: %s", strerror(err));
	if (h->mc)
		vsock_muxer_host_error(&h->d->mx, h->mc);
	host_close(h);
}

/* Send ------------------------------------------------------------------ */

static void host_send_kick(struct vsock_host *h);

static void host_after_flush(struct vsock_host *h)
{
	if (h->sending || h->txq_head >= 0 || h->ctl_off < h->ctl_len ||
	    h->tx_stage_len)
		return;
	if (h->shut_wr_pending) {
		h->shut_wr_pending = false;
		/* Not I/O: it only queues a FIN behind the data sent. */
		shutdown(h->fd, SHUT_WR);
	}
	if (h->close_after_flush)
		host_close(h);
}

static void on_send(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_host *h = container_of(op, struct vsock_host, send_op);
	struct vsock_dev *d = host_op_begin(h);
	uint32_t delivered = 0;

	(void)flags;
	h->sending = false;
	if (h->closing)
		goto out;
	if (res == -EINTR || res == -EAGAIN) {
		host_send_kick(h);
		goto out;
	}
	if (res < 0) {
		host_fail(h, -res);
		goto out;
	}
	if (h->ctl_off < h->ctl_len) {
		uint32_t k = MIN((uint32_t)res, h->ctl_len - h->ctl_off);

		h->ctl_off += k;
		res -= (int)k;
	}
	while (h->txq_head >= 0) {
		struct vsock_txbuf *tb = &d->txbufs[h->txq_head];
		uint32_t k = MIN((uint32_t)res, tb->len - tb->off);

		tb->off += k;
		res -= (int)k;
		delivered += k;
		if (tb->off < tb->len)
			break;
		/* Fully sent: the chain goes back to the guest. */
		h->txq_head = tb->next;
		if (h->txq_head < 0)
			h->txq_tail = -1;
		h->nr_held--;
		d->nr_held--;
		vsock_dev_tx_done(d, tb);
		if (h->seqpacket && (tb->flags & VSOCK_SEQ_EOM))
			break; /* one message per send */
	}
	if (h->txq_head < 0 && h->tx_stage_len) {
		uint32_t k = MIN((uint32_t)res,
				 h->tx_stage_len - h->tx_stage_off);

		h->tx_stage_off += k;
		delivered += k;
		if (h->tx_stage_off == h->tx_stage_len) {
			tx_stage_free(h);
		} else if (h->tx_stage_off) {
			/* No send points into it now: compact, so that
			 * credit alone guarantees room for what comes. */
			memmove(h->tx_stage, h->tx_stage + h->tx_stage_off,
				h->tx_stage_len - h->tx_stage_off);
			h->tx_stage_len -= h->tx_stage_off;
			h->tx_stage_off = 0;
		}
	}
	if (delivered && h->mc)
		vsock_muxer_delivered(&d->mx, h->mc, delivered);
	host_send_kick(h);
	host_after_flush(h);
out:
	host_op_end(h);
}

/*
 * Send what is queued: for a stream as much as fits one sendmsg, for
 * SEQPACKET exactly one message (up to and including the EOM packet).
 */
static void host_send_kick(struct vsock_host *h)
{
	struct vsock_dev *d = h->d;
	struct io_uring_sqe *sqe;
	unsigned int n = 0;
	int msgflags = MSG_NOSIGNAL;
	bool message = false; /* SEQPACKET: a whole message, maybe empty */
	int i;

	if (h->sending || h->closing || h->phase != PH_OPEN)
		return;
	if (h->ctl_off < h->ctl_len) {
		h->siov[n].iov_base = h->ctl + h->ctl_off;
		h->siov[n].iov_len = h->ctl_len - h->ctl_off;
		n++;
		if (h->seqpacket)
			goto submit; /* the reply is a message of its own */
	}
	for (i = h->txq_head; i >= 0; i = d->txbufs[i].next) {
		struct vsock_txbuf *tb = &d->txbufs[i];
		uint32_t skip = tb->off;
		unsigned int s;

		for (s = 0; s < tb->nseg; s++) {
			size_t len = tb->iov[s].iov_len;

			if (skip >= len) {
				skip -= (uint32_t)len;
				continue;
			}
			if (n == VSOCK_SEND_IOV)
				break;
			h->siov[n].iov_base = (uint8_t *)tb->iov[s].iov_base +
					      skip;
			h->siov[n].iov_len = len - skip;
			skip = 0;
			n++;
		}
		if (s < tb->nseg) {
			if (h->seqpacket) {
				log_warn_rl(&d->rl,
					    "SEQPACKET message in too many pieces");
				host_fail(h, EMSGSIZE);
				return;
			}
			break;
		}
		if (h->seqpacket && (tb->flags & VSOCK_SEQ_EOM)) {
			if (tb->flags & VSOCK_SEQ_EOR)
				msgflags |= MSG_EOR;
			message = true;
			goto submit;
		}
	}
	if (h->seqpacket)
		return; /* the message is not complete yet */
	if (i < 0 && h->tx_stage_len && n < VSOCK_SEND_IOV) {
		h->siov[n].iov_base = h->tx_stage + h->tx_stage_off;
		h->siov[n].iov_len = h->tx_stage_len - h->tx_stage_off;
		n++;
	}
submit:
	if (!n && !message)
		return;
	sqe = host_sqe(h);
	if (!sqe) {
		host_fail(h, EBUSY);
		return;
	}
	memset(&h->smsg, 0, sizeof(h->smsg));
	h->smsg.msg_iov = h->siov;
	h->smsg.msg_iovlen = n;
	io_uring_prep_sendmsg(sqe, h->fd, &h->smsg, (unsigned int)msgflags);
	io_uring_sqe_set_data(sqe, &h->send_op);
	h->sending = true;
}

/* Receive --------------------------------------------------------------- */

static void on_poll(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_host *h = container_of(op, struct vsock_host, poll_op);
	struct vsock_dev *d = host_op_begin(h);

	(void)flags;
	h->polling = false;
	/* Readable, hung up or failed: the next recv tells which. */
	if (!h->closing && h->mc && res != -ECANCELED)
		vsock_muxer_readable(&d->mx, h->mc, true);
	host_op_end(h);
}

static void host_arm_poll(struct vsock_host *h)
{
	struct io_uring_sqe *sqe;

	if (h->polling || h->recv != RECV_NONE || h->closing || !h->mc ||
	    h->phase != PH_OPEN || stage_left(h) ||
	    !vsock_conn_can_send(&h->mc->conn))
		return;
	sqe = host_sqe(h);
	if (!sqe) {
		host_fail(h, EBUSY);
		return;
	}
	io_uring_prep_poll_add(sqe, h->fd, POLLIN);
	io_uring_sqe_set_data(sqe, &h->poll_op);
	h->polling = true;
}

static bool host_submit_recv(struct vsock_host *h, enum host_recv kind,
			     struct iovec *iov, unsigned int n, int flags)
{
	struct io_uring_sqe *sqe = host_sqe(h);

	if (!sqe)
		return false;
	memset(&h->rmsg, 0, sizeof(h->rmsg));
	h->rmsg.msg_iov = iov;
	h->rmsg.msg_iovlen = n;
	io_uring_prep_recvmsg(sqe, h->fd, &h->rmsg, (unsigned int)flags);
	io_uring_sqe_set_data(sqe, &h->recv_op);
	h->recv = kind;
	return true;
}

/* Give back lent RX buffers from index `from` on, unused. */
static void rx_return_from(struct vsock_host *h, unsigned int from)
{
	unsigned int i;

	for (i = from; i < h->nr_rb; i++)
		vsock_dev_rx_return(h->d, h->rbs[i], NULL, 0);
	h->nr_rb = 0;
}

bool vsock_backend_rx(struct vsock_dev *d, struct vsock_mconn *mc,
		      struct vsock_rxbuf **rbs, const uint32_t *max,
		      unsigned int nr)
{
	struct vsock_host *h = mc->backend;
	struct vsock_hdr hdr;
	unsigned int i, n = 0;

	if (!h || h->closing || h->recv != RECV_NONE || h->phase != PH_OPEN)
		return false;
	for (i = 0; i < nr; i++)
		h->rbs[i] = rbs[i];
	h->nr_rb = nr;
	if (stage_left(h)) {
		uint32_t k = vsock_rxbuf_copy(rbs[0], h->stage + h->stage_off,
					      MIN(stage_left(h), max[0]));

		h->stage_off += k;
		vsock_muxer_rx_data(&d->mx, mc, k, &hdr);
		if (h->stage_is_msg && !stage_left(h))
			hdr.flags |= VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
		vsock_dev_rx_return(d, rbs[0], &hdr, k);
		rx_return_from(h, 1);
		if (!stage_left(h))
			rx_stage_free(h);
		/* More staged, or the socket itself may have more. */
		vsock_muxer_readable(&d->mx, mc, true);
		return true;
	}
	h->rmax = 0;
	for (i = 0; i < nr && n < VSOCK_SEND_IOV; i++) {
		unsigned int k = vsock_rxbuf_iov(rbs[i], max[i], h->riov + n,
						 VSOCK_SEND_IOV - n);
		uint32_t len = 0;

		while (k--)
			len += (uint32_t)h->riov[n++].iov_len;
		h->rlen[i] = len;
		h->rmax += len;
	}
	for (; i < nr; i++)
		h->rlen[i] = 0; /* out of iovecs: comes back unused */
	if (!n) {
		h->nr_rb = 0;
		return false;
	}
	if (!host_submit_recv(h, h->seqpacket ? RECV_PEEK : RECV_STREAM,
			      h->riov, n,
			      h->seqpacket ? MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT
					   : MSG_DONTWAIT)) {
		h->nr_rb = 0;
		host_fail(h, EBUSY);
		return false;
	}
	/* Lent to the recv; one recv per connection keeps bytes in order. */
	for (i = 0; i < nr; i++)
		rbs[i]->lent = true;
	mc->readable = false;
	return true;
}

static void handshake_done(struct vsock_host *h, uint32_t port);

static void on_handshake(struct vsock_host *h, int res)
{
	size_t used = 0;
	uint32_t port = 0;
	enum vsock_handshake_result r;

	if (res <= 0 || (h->seqpacket && (h->rmsg.msg_flags & MSG_TRUNC))) {
		host_close(h);
		return;
	}
	r = vsock_handshake_feed(&h->hs, h->hsbuf, (size_t)res, &used, &port);
	if (r == VSOCK_HANDSHAKE_MORE && !h->seqpacket) {
		h->riov[0].iov_base = h->hsbuf;
		h->riov[0].iov_len = VSOCK_HANDSHAKE_MAX - h->hs.len;
		if (!host_submit_recv(h, RECV_HANDSHAKE, h->riov, 1, 0))
			host_close(h);
		return;
	}
	/* On SEQPACKET the first message must be exactly the line. */
	if (r != VSOCK_HANDSHAKE_DONE || (h->seqpacket && used != (size_t)res)) {
		log_debug_rl(&h->d->rl, "bad hybrid handshake: closed");
		host_close(h);
		return;
	}
	if (used < (size_t)res) {
		h->stage = h->stage_small;
		h->stage_len = (uint32_t)((size_t)res - used);
		memcpy(h->stage_small, h->hsbuf + used, h->stage_len);
	}
	handshake_done(h, port);
}

/* A stream recv brought `n` bytes: one packet per buffer, in order. */
static void rx_stream_done(struct vsock_host *h, uint32_t n)
{
	struct vsock_dev *d = h->d;
	bool full = n == h->rmax;
	unsigned int i;

	for (i = 0; i < h->nr_rb && n; i++) {
		uint32_t k = MIN(n, h->rlen[i]);
		struct vsock_hdr hdr;

		vsock_muxer_rx_data(&d->mx, h->mc, k, &hdr);
		vsock_dev_rx_return(d, h->rbs[i], &hdr, k);
		n -= k;
	}
	rx_return_from(h, i);
	/* Filled up: there is probably more. Short: wait for the poll. */
	if (full)
		vsock_muxer_readable(&d->mx, h->mc, true);
	else
		host_arm_poll(h);
}

static void on_recv(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_host *h = container_of(op, struct vsock_host, recv_op);
	struct vsock_dev *d = host_op_begin(h);
	struct vsock_mconn *mc;
	enum host_recv kind = h->recv;
	struct vsock_hdr hdr;

	(void)flags;
	h->recv = RECV_NONE;
	mc = h->mc;
	if (h->closing || (kind != RECV_HANDSHAKE && !mc)) {
		rx_return_from(h, 0);
		goto out;
	}
	switch (kind) {
	case RECV_NONE:
		break;
	case RECV_HANDSHAKE:
		on_handshake(h, res);
		break;
	case RECV_STREAM:
	case RECV_PEEK:
		if (res == -EAGAIN || res == -EINTR) {
			rx_return_from(h, 0);
			vsock_muxer_rx_data(&d->mx, mc, 0, NULL);
			host_arm_poll(h);
			break;
		}
		if (res < 0) {
			rx_return_from(h, 0);
			host_fail(h, -res);
			break;
		}
		if (res == 0) {
			/* End of stream (or an empty SEQPACKET message,
			 * which AF_UNIX cannot tell apart from it). */
			rx_return_from(h, 0);
			vsock_muxer_host_eof(&d->mx, mc, util_now_ns());
			break;
		}
		if (!vsock_conn_can_send(&mc->conn)) {
			/* The guest closed its receive side meanwhile. */
			rx_return_from(h, 0);
			break;
		}
		if (kind == RECV_PEEK && (uint32_t)res > h->rmax) {
			/* Too big for this buffer: stage the whole message. */
			rx_return_from(h, 0);
			if ((uint32_t)res > VSOCK_SEQ_MAX_MSG) {
				log_warn_rl(&d->rl,
					    "host SEQPACKET message of %d bytes is too large",
					    res);
				host_fail(h, EMSGSIZE);
				break;
			}
			if (d->stage_bytes + (uint32_t)res > VSOCK_STAGE_BUDGET ||
			    !(h->stage = malloc((size_t)res))) {
				host_fail(h, ENOMEM);
				break;
			}
			d->stage_bytes += (uint32_t)res;
			h->stage_len = (uint32_t)res;
			h->stage_off = 0;
			h->riov[0].iov_base = h->stage;
			h->riov[0].iov_len = (size_t)res;
			if (!host_submit_recv(h, RECV_STAGE, h->riov, 1,
					      MSG_DONTWAIT))
				host_fail(h, EBUSY);
			break;
		}
		if (kind == RECV_PEEK) {
			/* The whole message is in the buffer; drop it from
			 * the socket next. Every AF_UNIX message is a
			 * record, so it ends one (EOR) as well. */
			vsock_muxer_rx_data(&d->mx, mc, (uint32_t)res, &hdr);
			hdr.flags |= VSOCK_SEQ_EOM | VSOCK_SEQ_EOR;
			vsock_dev_rx_return(d, h->rbs[0], &hdr, (uint32_t)res);
			rx_return_from(h, 1);
			if (!host_submit_recv(h, RECV_CONSUME, NULL, 0,
					      MSG_TRUNC | MSG_DONTWAIT))
				host_fail(h, EBUSY);
			break;
		}
		rx_stream_done(h, (uint32_t)res);
		break;
	case RECV_CONSUME:
		if (res < 0) {
			/* Retrying would deliver the message twice. */
			host_fail(h, -res);
			break;
		}
		vsock_muxer_readable(&d->mx, mc, true);
		break;
	case RECV_STAGE:
		if (res < 0 || (h->rmsg.msg_flags & MSG_TRUNC) ||
		    (uint32_t)res != h->stage_len) {
			host_fail(h, res < 0 ? -res : EIO);
			break;
		}
		h->stage_is_msg = true;
		vsock_muxer_readable(&d->mx, mc, true);
		break;
	}
out:
	host_op_end(h);
}

/* Connections ----------------------------------------------------------- */

static struct vsock_host *host_new(struct vsock_dev *d, enum host_kind kind,
				   int fd, bool seqpacket)
{
	struct vsock_host *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->d = d;
	h->fd = fd;
	h->kind = kind;
	h->seqpacket = seqpacket;
	h->txq_head = h->txq_tail = -1;
	h->connect_op.handler = NULL; /* set by the caller that uses it */
	h->poll_op.handler = on_poll;
	h->recv_op.handler = on_recv;
	h->send_op.handler = on_send;
	h->next = d->hosts;
	if (d->hosts)
		d->hosts->prev = h;
	d->hosts = h;
	return h;
}

static void host_attach(struct vsock_host *h, struct vsock_mconn *mc)
{
	h->mc = mc;
	mc->backend = h;
}

/* The guest's REQUEST cannot be served: RST, nothing on the host. */
static void refuse(struct vsock_dev *d, struct vsock_mconn *mc)
{
	d->stats.conns_refused++;
	vsock_muxer_host_connected(&d->mx, mc, false);
	vsock_muxer_release(&d->mx, mc);
}

static void on_connect(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_host *h = container_of(op, struct vsock_host, connect_op);
	struct vsock_dev *d = host_op_begin(h);

	(void)flags;
	if (h->closing || !h->mc)
		goto out;
	if (res < 0) {
		log_debug_rl(&d->rl, "connect for guest port %u failed: %s",
			     h->mc->conn.peer_port, strerror(-res));
		d->stats.conns_refused++;
		host_close(h); /* the guest gets an RST */
		goto out;
	}
	h->phase = PH_OPEN;
	d->stats.conns_opened++;
	vsock_muxer_host_connected(&d->mx, h->mc, true);
	host_arm_poll(h);
	host_send_kick(h);
out:
	host_op_end(h);
}

static bool endpoint_for(struct vsock_dev *d, uint32_t port, bool seqpacket,
			 struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	unsigned int i;
	int n;

	for (i = 0; i < d->cfg.nr_ports; i++) {
		const struct vsock_endpoint *e = &d->ports[i].to;

		if (d->ports[i].port != port)
			continue;
		if (seqpacket && e->addr.ss_family != AF_UNIX)
			return false; /* TCP has no message boundaries */
		memcpy(ss, &e->addr, sizeof(*ss));
		*len = e->addrlen;
		return true;
	}
	if (!d->uds_path)
		return false;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s_%u",
		     d->uds_path, port);
	if (n < 0 || (size_t)n >= sizeof(sun->sun_path))
		return false;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			   (size_t)n + 1);
	return true;
}

void vsock_backend_connect(struct vsock_dev *d, struct vsock_mconn *mc)
{
	bool seq = mc->conn.type == VSOCK_TYPE_SEQPACKET;
	struct sockaddr_storage ss;
	struct io_uring_sqe *sqe;
	struct vsock_host *h;
	socklen_t len;
	int fd;

	if (!endpoint_for(d, mc->conn.local_port, seq, &ss, &len)) {
		refuse(d, mc);
		return;
	}
	fd = socket(ss.ss_family,
		    (seq ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn_rl(&d->rl, "cannot create a host socket: %s",
			    strerror(errno));
		refuse(d, mc);
		return;
	}
	if (ss.ss_family != AF_UNIX) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	h = host_new(d, HOST_OUT, fd, seq);
	if (!h) {
		close(fd);
		refuse(d, mc);
		return;
	}
	host_attach(h, mc);
	h->addr = ss;
	h->addrlen = len;
	h->phase = PH_CONNECTING;
	h->connect_op.handler = on_connect;
	sqe = host_sqe(h);
	if (!sqe) {
		host_close(h);
		return;
	}
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&h->addr,
			      h->addrlen);
	io_uring_sqe_set_data(sqe, &h->connect_op);
}

/* Copy a payload instead of holding its chain (see tx_stage above).
 * Returns true if it was copied and the chain given back. */
static bool tx_stage(struct vsock_host *h, struct vsock_txbuf *tb)
{
	struct vsock_dev *d = h->d;
	struct vq *vq = virtio_mmio_queue(d->mmio, VSOCK_QUEUE_TX);
	unsigned int hold_total = vq ? vq->size / 4u : 0;
	uint32_t cap = d->mx_cfg.buf_alloc;
	unsigned int s;

	/* Messages are sent whole from their chains; few held chains per
	 * connection, and few overall, are fine. */
	if (h->seqpacket ||
	    (!h->tx_stage && h->nr_held < VSOCK_HOLD_MAX &&
	     d->nr_held < hold_total))
		return false;
	if (!h->tx_stage) {
		if (d->stage_bytes + cap > VSOCK_STAGE_BUDGET)
			return false; /* hold it: slower, never unbounded */
		h->tx_stage = malloc(cap);
		if (!h->tx_stage)
			return false;
		d->stage_bytes += cap;
	}
	/*
	 * Everything in the stage is undelivered (on_send compacts it), and
	 * credit keeps undelivered bytes within cap; a guest past it was
	 * reset by the connection layer before we got here. Never fall back
	 * to holding the chain: it would overtake the staged bytes.
	 */
	if (h->tx_stage_len + tb->len > cap) {
		vsock_dev_tx_done(d, tb);
		host_fail(h, ENOBUFS);
		return true;
	}
	for (s = 0; s < tb->nseg; s++) {
		memcpy(h->tx_stage + h->tx_stage_len, tb->iov[s].iov_base,
		       tb->iov[s].iov_len);
		h->tx_stage_len += (uint32_t)tb->iov[s].iov_len;
	}
	vsock_dev_tx_done(d, tb);
	host_send_kick(h);
	return true;
}

/* A host client named its guest port: ask the guest. */
static void handshake_done(struct vsock_host *h, uint32_t port)
{
	struct vsock_dev *d = h->d;
	struct vsock_mconn *mc = NULL;

	/* A guest that did not negotiate SEQPACKET would only reset it. */
	if (!h->seqpacket || d->seqpacket)
		mc = vsock_muxer_connect(&d->mx, port,
					 h->seqpacket ? VSOCK_TYPE_SEQPACKET
						      : VSOCK_TYPE_STREAM,
					 util_now_ns());
	if (!mc) {
		log_debug_rl(&d->rl, "host connection to guest port %u refused",
			     port);
		d->stats.conns_refused++;
		host_close(h);
		return;
	}
	host_attach(h, mc);
	h->phase = PH_WAIT_GUEST;
}

void vsock_backend_action(struct vsock_dev *d, struct vsock_mconn *mc,
			  enum vsock_conn_action act, struct vsock_txbuf *tb)
{
	struct vsock_host *h = mc->backend;

	/* Hold the host: a failure below must not free it under us. */
	if (h)
		h->inflight++;
	switch (act) {
	case VSOCK_ACT_NONE:
		break;
	case VSOCK_ACT_DELIVER:
		if (!h || h->closing) {
			/* Nowhere to go: the connection is being reset. */
			vsock_dev_tx_done(d, tb);
			break;
		}
		if (tx_stage(h, tb))
			break;
		tb->next = -1;
		h->nr_held++;
		d->nr_held++;
		if (h->txq_tail >= 0)
			d->txbufs[h->txq_tail].next = (int)(tb - d->txbufs);
		else
			h->txq_head = (int)(tb - d->txbufs);
		h->txq_tail = (int)(tb - d->txbufs);
		host_send_kick(h);
		break;
	case VSOCK_ACT_ACCEPTED:
		if (!h || h->closing)
			break;
		h->phase = PH_OPEN;
		d->stats.conns_opened++;
		if (h->kind == HOST_HYBRID) {
			int n = snprintf(h->ctl, sizeof(h->ctl), "OK %u\n",
					 mc->conn.local_port);

			h->ctl_len = (uint32_t)n;
			h->ctl_off = 0;
		}
		if (stage_left(h))
			vsock_muxer_readable(&d->mx, mc, true);
		else
			host_arm_poll(h);
		host_send_kick(h);
		break;
	case VSOCK_ACT_SHUT_WR:
		if (!h)
			break;
		h->shut_wr_pending = true;
		host_after_flush(h);
		break;
	case VSOCK_ACT_CLOSE:
		if (!h)
			break;
		h->close_after_flush = true;
		/* A peer that never reads must not keep it forever. */
		h->close_deadline = util_now_ns() + d->mx_cfg.timeout_ns;
		host_after_flush(h);
		break;
	case VSOCK_ACT_ABORT:
		if (mc->conn.state != VSOCK_CONN_CLOSED)
			vsock_muxer_host_error(&d->mx, mc);
		if (h)
			host_close(h);
		break;
	}
	if (h) {
		h->inflight--;
		host_maybe_free(h);
	}
}

void vsock_backend_expired(void *opaque, struct vsock_mconn *mc)
{
	struct vsock_dev *d = opaque;
	struct vsock_host *h = mc->backend;

	(void)d;
	if (h)
		host_close(h);
}

/* Listeners ------------------------------------------------------------- */

static void listener_arm(struct vsock_listener *l)
{
	struct io_uring_sqe *sqe;

	if (l->accepting || l->fd < 0)
		return;
	sqe = evloop_sqe(l->d->loop);
	if (!sqe)
		return; /* retried from the tick */
	io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &l->op);
	l->accepting = true;
}

static void accepted(struct vsock_listener *l, int fd)
{
	struct vsock_dev *d = l->d;
	struct vsock_host *h;

	h = host_new(d, l->kind == VSOCK_LISTEN_TCP ? HOST_TCP_IN : HOST_HYBRID,
		     fd, l->kind == VSOCK_LISTEN_HYBRID_SEQ);
	if (!h) {
		close(fd);
		return;
	}
	if (l->kind == VSOCK_LISTEN_TCP) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		handshake_done(h, l->guest_port);
		return;
	}
	h->phase = PH_HANDSHAKE;
	vsock_handshake_init(&h->hs);
	h->riov[0].iov_base = h->hsbuf;
	/* Stream: never read past the longest line; SEQPACKET: one message,
	 * with room to notice one that is too long. */
	h->riov[0].iov_len = h->seqpacket ? sizeof(h->hsbuf)
					  : VSOCK_HANDSHAKE_MAX;
	if (!host_submit_recv(h, RECV_HANDSHAKE, h->riov, 1, 0))
		host_close(h);
}

static void on_accept(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_listener *l = container_of(op, struct vsock_listener, op);
	struct vsock_dev *d = l->d;

	(void)flags;
	vsock_dev_lock(d);
	vsock_dev_sync(d);
	l->accepting = false;
	if (res >= 0) {
		accepted(l, res);
		listener_arm(l);
	} else if (res == -EINTR || res == -EAGAIN || res == -ECONNABORTED) {
		listener_arm(l);
	} else if (res != -ECANCELED) {
		/* E.g. out of file descriptors: try again from the tick. */
		log_warn_rl(&d->rl, "accept failed: %s", strerror(-res));
	}
	vsock_dev_process(d);
	vsock_dev_unlock(d);
}

void vsock_backend_tick(struct vsock_dev *d)
{
	uint64_t now = util_now_ns();
	struct vsock_host *h, *next;
	unsigned int i;

	for (h = d->hosts; h; h = next) {
		next = h->next;
		if (h->close_after_flush && !h->closing &&
		    now >= h->close_deadline)
			host_close(h);
	}

	for (i = 0; i < d->nr_listeners; i++)
		listener_arm(&d->listeners[i]);
}

/* Bind an AF_UNIX listener, replacing a stale socket file but never a
 * live one or anything that is not a socket. */
static int listen_unix(const char *path, int type, int *out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("vsock socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			log_err("%s exists and is not a socket", path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sun,
					  sizeof(sun)) == 0) {
			close(probe);
			log_err("%s is in use by another process", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    listen(fd, SOMAXCONN)) {
		ret = -errno;
		log_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

static int listen_tcp(const struct vsock_endpoint *e, int *out)
{
	char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
	int fd, one = 1, ret;

	getnameinfo((const struct sockaddr *)&e->addr, e->addrlen, host,
		    sizeof(host), serv, sizeof(serv),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	fd = socket(e->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&e->addr, e->addrlen) ||
	    listen(fd, SOMAXCONN)) {
		ret = -errno;
		log_err("cannot listen on tcp:%s:%s: %s", host, serv,
			strerror(errno));
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

int vsock_backend_open_listeners(struct vsock_dev *d,
				 const struct vsock_config *cfg)
{
	unsigned int n = cfg->nr_listens + (cfg->uds_path ? 2 : 0), i;
	int ret;

	if (!n)
		return 0;
	d->listeners = calloc(n, sizeof(*d->listeners));
	if (!d->listeners)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct vsock_listener *l = &d->listeners[i];

		l->d = d;
		l->fd = -1;
		l->op.handler = on_accept;
	}
	for (i = 0; i < n; i++) {
		struct vsock_listener *l = &d->listeners[i];

		d->nr_listeners = i + 1;
		if (cfg->uds_path && i < 2) {
			size_t len = strlen(cfg->uds_path) + sizeof("_seqpacket");

			l->kind = i ? VSOCK_LISTEN_HYBRID_SEQ
				    : VSOCK_LISTEN_HYBRID;
			l->path = malloc(len);
			if (!l->path)
				return -ENOMEM;
			snprintf(l->path, len, "%s%s", cfg->uds_path,
				 i ? "_seqpacket" : "");
			ret = listen_unix(l->path,
					  i ? SOCK_SEQPACKET : SOCK_STREAM,
					  &l->fd);
			if (ret) {
				free(l->path);
				l->path = NULL;
				return ret;
			}
		} else {
			const struct vsock_listen_rule *r =
				&cfg->listens[i - (cfg->uds_path ? 2 : 0)];

			l->kind = VSOCK_LISTEN_TCP;
			l->guest_port = r->guest_port;
			ret = listen_tcp(&r->at, &l->fd);
			if (ret)
				return ret;
		}
	}
	return 0;
}

void vsock_backend_close_all(struct vsock_dev *d, bool final)
{
	struct vsock_host *h, *next;
	unsigned int i;

	for (h = d->hosts; h; h = next) {
		next = h->next;
		if (h->mc) {
			/* The connection table is about to be rebuilt. */
			h->mc->backend = NULL;
			h->mc = NULL;
		}
		if (final) {
			/* The loop no longer runs: nothing will complete. */
			h->inflight = 0;
			unsigned int r;

			for (r = 0; r < h->nr_rb; r++)
				h->rbs[r]->lent = false;
			h->closing = true;
			host_maybe_free(h);
		} else {
			host_close(h);
		}
	}
	if (!final)
		return;
	for (i = 0; i < d->nr_listeners; i++) {
		struct vsock_listener *l = &d->listeners[i];

		if (l->fd >= 0)
			close(l->fd);
		if (l->path) {
			unlink(l->path);
			free(l->path);
		}
	}
	free(d->listeners);
	d->listeners = NULL;
	d->nr_listeners = 0;
}

/* Parsing --------------------------------------------------------------- */

static int parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!len || len > 10)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into an address. */
static int parse_hostport(const char *s, bool passive,
			  struct vsock_endpoint *e, const char **why)
{
	char host[256];
	const char *colon, *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	size_t hlen;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':') {
			*why = "expected [IPV6]:PORT";
			return -EINVAL;
		}
		hlen = (size_t)(end - s - 1);
		memcpy(host, s + 1, MIN(hlen, sizeof(host) - 1));
		port = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "expected HOST:PORT";
			return -EINVAL;
		}
		hlen = (size_t)(colon - s);
		memcpy(host, s, MIN(hlen, sizeof(host) - 1));
		port = colon + 1;
	}
	if (!hlen || hlen >= sizeof(host)) {
		*why = "missing or overlong host";
		return -EINVAL;
	}
	host[hlen] = 0;
	{
		uint32_t p;

		if (parse_u32(port, strlen(port), &p) || !p || p > 65535) {
			*why = "bad TCP port (1..65535)";
			return -EINVAL;
		}
	}
	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) || !res) {
		*why = "cannot resolve the host";
		return -EINVAL;
	}
	memset(e, 0, sizeof(*e));
	memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
	e->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int vsock_parse_port_rule(const char *spec, struct vsock_port_rule *out,
			  const char **why)
{
	const char *eq = strchr(spec, '=');

	memset(out, 0, sizeof(*out));
	if (!eq || parse_u32(spec, (size_t)(eq - spec), &out->port)) {
		*why = "expected PORT=unix:PATH or PORT=tcp:HOST:PORT";
		return -EINVAL;
	}
	if (!strncmp(eq + 1, "unix:", 5)) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&out->to.addr;
		const char *path = eq + 6;

		if (!*path || strlen(path) >= sizeof(sun->sun_path)) {
			*why = "unix socket path empty or too long";
			return -EINVAL;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, path);
		out->to.addrlen = (socklen_t)(offsetof(struct sockaddr_un,
						       sun_path) +
					      strlen(path) + 1);
		return 0;
	}
	if (!strncmp(eq + 1, "tcp:", 4))
		return parse_hostport(eq + 5, false, &out->to, why);
	*why = "expected unix:PATH or tcp:HOST:PORT after '='";
	return -EINVAL;
}

int vsock_parse_listen_rule(const char *spec, struct vsock_listen_rule *out,
			    const char **why)
{
	char addr[300];
	const char *eq = strrchr(spec, '=');
	size_t len;

	memset(out, 0, sizeof(*out));
	if (strncmp(spec, "tcp:", 4) || !eq || eq < spec + 4) {
		*why = "expected tcp:ADDR:PORT=GUESTPORT";
		return -EINVAL;
	}
	if (parse_u32(eq + 1, strlen(eq + 1), &out->guest_port)) {
		*why = "bad guest port";
		return -EINVAL;
	}
	len = (size_t)(eq - (spec + 4));
	if (len >= sizeof(addr)) {
		*why = "address too long";
		return -EINVAL;
	}
	memcpy(addr, spec + 4, len);
	addr[len] = 0;
	return parse_hostport(addr, true, &out->at, why);
}

/* Diagnostics ------------------------------------------------------------ */

void vsock_backend_dump(struct vsock_dev *d, FILE *f)
{
	static const char *const phases[] = {
		[PH_CONNECTING] = "connecting", [PH_HANDSHAKE] = "handshake",
		[PH_WAIT_GUEST] = "wait-guest", [PH_OPEN] = "open",
	};
	static const char *const recvs[] = {
		[RECV_NONE] = "-", [RECV_HANDSHAKE] = "handshake",
		[RECV_STREAM] = "stream", [RECV_PEEK] = "peek",
		[RECV_CONSUME] = "consume", [RECV_STAGE] = "stage",
	};
	const struct vsock_host *h;

	for (h = d->hosts; h; h = h->next) {
		const struct vsock_mconn *mc = h->mc;

		fprintf(f, "dump: vsock host fd %d %s%s inflight %u polling %d "
			"sending %d recv %s held %u staged %u/%u closing %d",
			h->fd, phases[h->phase], h->seqpacket ? " seqpacket" : "",
			h->inflight, h->polling, h->sending, recvs[h->recv],
			h->nr_held, h->stage_off, h->stage_len, h->closing);
		if (mc) {
			const struct vsock_conn *c = &mc->conn;

			fprintf(f, " | conn %u<->%u state %d want 0x%x "
				"readable %d rx_class %d | to guest: tx_cnt %u "
				"peer_buf_alloc %u peer_fwd_cnt %u credit %u | "
				"from guest: rx_cnt %u fwd_cnt %u fwd_cnt_sent "
				"%u buf_alloc %u | shutdown peer 0x%x host_eof "
				"%d", c->local_port, c->peer_port, c->state,
				c->want, mc->readable, mc->rx_class, c->tx_cnt,
				c->peer_buf_alloc, c->peer_fwd_cnt,
				vsock_conn_peer_credit(c), c->rx_cnt, c->fwd_cnt,
				c->fwd_cnt_sent, c->buf_alloc, c->peer_shutdown,
				c->host_eof);
		}
		fputc('\n', f);
	}
}
