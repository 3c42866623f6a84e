/*
 * host_send: guest -> host. RW payloads queue as TX buffers (guest
 * memory) and go out with sendmsg straight from there; short sends advance
 * and resubmit. A stream sends as much as one sendmsg takes, a SEQPACKET
 * socket exactly one message (up to and including its EOM packet).
 */
#define LOG_TAG "vsock"
#include "devices/vsock/host.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/util.h"

void host_copy_free(struct host_socket *s)
{
	if (!s->copy)
		return;
	free(s->copy);
	s->copy = NULL;
	s->copy_off = s->copy_len = 0;
	s->be->buffered -= s->be->env.buf_alloc;
}

static void tx_done(struct host_socket *s, struct vsock_txbuf *tb)
{
	s->be->env.tx_done(s->be->env.dev, tb);
}

void host_send_drop(struct host_socket *s)
{
	while (s->txq_head) {
		struct vsock_txbuf *tb = s->txq_head;

		s->txq_head = tb->next;
		tx_done(s, tb);
	}
	s->txq_tail = NULL;
	s->be->nr_held -= s->nr_held;
	s->nr_held = 0;
	/* A send in flight may point into the copy: keep it till then. */
	if (!s->sending)
		host_copy_free(s);
}

/* Copy a payload instead of holding its chain (see host.h, `copy`).
 * Returns true if it was copied and the chain given back. */
static bool copy_out(struct host_socket *s, struct vsock_txbuf *tb)
{
	struct vsock_backend *be = s->be;
	uint32_t cap = be->env.buf_alloc;
	unsigned int i;

	/* Messages are sent whole from their chains; few held chains per
	 * connection, and few overall, are fine. */
	if (s->seqpacket ||
	    (!s->copy && s->nr_held < VSOCK_HOLD_MAX &&
	     be->nr_held < be->hold_total))
		return false;
	if (!s->copy) {
		if (be->buffered + cap > VSOCK_BUFFER_BUDGET)
			return false; /* hold it: slower, never unbounded */
		s->copy = malloc(cap);
		if (!s->copy)
			return false;
		be->buffered += cap;
	}
	/*
	 * Everything in the copy is undelivered (host_on_send compacts it),
	 * and credit keeps undelivered bytes within cap; a guest past it was
	 * reset by the connection layer before we got here. Never fall back
	 * to holding the chain: it would overtake the copied bytes.
	 */
	if (s->copy_len + tb->len > cap) {
		tx_done(s, tb);
		host_fail(s, ENOBUFS);
		return true;
	}
	for (i = 0; i < tb->nseg; i++) {
		memcpy(s->copy + s->copy_len, tb->iov[i].iov_base,
		       tb->iov[i].iov_len);
		s->copy_len += (uint32_t)tb->iov[i].iov_len;
	}
	tx_done(s, tb);
	host_send_kick(s);
	return true;
}

void host_send_queue(struct host_socket *s, struct vsock_txbuf *tb)
{
	if (copy_out(s, tb))
		return;
	tb->next = NULL;
	s->nr_held++;
	s->be->nr_held++;
	if (s->txq_tail)
		s->txq_tail->next = tb;
	else
		s->txq_head = tb;
	s->txq_tail = tb;
	host_send_kick(s);
}

void host_after_flush(struct host_socket *s)
{
	if (s->sending || s->txq_head || s->ctl_off < s->ctl_len ||
	    s->copy_len)
		return;
	if (s->shut_wr_pending) {
		s->shut_wr_pending = false;
		/* Not I/O: it only queues a FIN behind the data sent. */
		shutdown(s->fd, SHUT_WR);
	}
	if (s->close_after_flush)
		host_close(s);
}

/* `res` bytes went out: advance the reply, the queue, then the copy.
 * Returns the guest payload bytes among them. */
static uint32_t sent(struct host_socket *s, uint32_t res)
{
	uint32_t delivered = 0;

	if (s->ctl_off < s->ctl_len) {
		uint32_t k = MIN(res, s->ctl_len - s->ctl_off);

		s->ctl_off += k;
		res -= k;
	}
	while (s->txq_head) {
		struct vsock_txbuf *tb = s->txq_head;
		uint32_t k = MIN(res, tb->len - tb->off);

		tb->off += k;
		res -= k;
		delivered += k;
		if (tb->off < tb->len)
			break;
		/* Fully sent: the chain goes back to the guest. */
		s->txq_head = tb->next;
		if (!s->txq_head)
			s->txq_tail = NULL;
		s->nr_held--;
		s->be->nr_held--;
		tx_done(s, tb);
		if (s->seqpacket && (tb->flags & VSOCK_SEQ_EOM))
			break; /* one message per send */
	}
	if (!s->txq_head && s->copy_len) {
		uint32_t k = MIN(res, s->copy_len - s->copy_off);

		s->copy_off += k;
		delivered += k;
		if (s->copy_off == s->copy_len) {
			host_copy_free(s);
		} else if (s->copy_off) {
			/* No send points into it now: compact, so that
			 * credit alone guarantees room for what comes. */
			memmove(s->copy, s->copy + s->copy_off,
				s->copy_len - s->copy_off);
			s->copy_len -= s->copy_off;
			s->copy_off = 0;
		}
	}
	return delivered;
}

void host_on_send(struct evloop_op *op, int res, uint32_t flags)
{
	struct host_socket *s = container_of(op, struct host_socket, send_op);
	uint32_t delivered;

	(void)flags;
	host_op_begin(s);
	s->sending = false;
	if (s->closing)
		goto out;
	if (res == -EINTR || res == -EAGAIN) {
		host_send_kick(s);
		goto out;
	}
	if (res < 0) {
		host_fail(s, -res);
		goto out;
	}
	delivered = sent(s, (uint32_t)res);
	if (delivered && s->mc)
		vsock_muxer_delivered(s->be->env.mx, s->mc, delivered);
	host_send_kick(s);
	host_after_flush(s);
out:
	host_op_end(s);
}

void host_send_kick(struct host_socket *s)
{
	struct io_uring_sqe *sqe;
	struct vsock_txbuf *tb;
	unsigned int n = 0;
	int msgflags = MSG_NOSIGNAL;
	bool message = false; /* SEQPACKET: a whole message, maybe empty */

	if (s->sending || s->closing || s->phase != PH_OPEN)
		return;
	if (s->ctl_off < s->ctl_len) {
		s->siov[n].iov_base = s->ctl + s->ctl_off;
		s->siov[n].iov_len = s->ctl_len - s->ctl_off;
		n++;
		if (s->seqpacket)
			goto submit; /* the reply is a message of its own */
	}
	for (tb = s->txq_head; tb; tb = tb->next) {
		uint32_t skip = tb->off;
		unsigned int i;

		for (i = 0; i < tb->nseg; i++) {
			size_t len = tb->iov[i].iov_len;

			if (skip >= len) {
				skip -= (uint32_t)len;
				continue;
			}
			if (n == VSOCK_SEND_IOV)
				break;
			s->siov[n].iov_base = (uint8_t *)tb->iov[i].iov_base +
					      skip;
			s->siov[n].iov_len = len - skip;
			skip = 0;
			n++;
		}
		if (i < tb->nseg) {
			if (s->seqpacket) {
				log_warn_rl(s->be->env.rl,
					    "SEQPACKET message in too many pieces");
				host_fail(s, EMSGSIZE);
				return;
			}
			break;
		}
		if (s->seqpacket && (tb->flags & VSOCK_SEQ_EOM)) {
			if (tb->flags & VSOCK_SEQ_EOR)
				msgflags |= MSG_EOR;
			message = true;
			goto submit;
		}
	}
	if (s->seqpacket)
		return; /* the message is not complete yet */
	if (!tb && s->copy_len && n < VSOCK_SEND_IOV) {
		s->siov[n].iov_base = s->copy + s->copy_off;
		s->siov[n].iov_len = s->copy_len - s->copy_off;
		n++;
	}
submit:
	if (!n && !message)
		return;
	sqe = host_sqe(s);
	if (!sqe) {
		host_fail(s, EBUSY);
		return;
	}
	memset(&s->smsg, 0, sizeof(s->smsg));
	s->smsg.msg_iov = s->siov;
	s->smsg.msg_iovlen = n;
	io_uring_prep_sendmsg(sqe, s->fd, &s->smsg, (unsigned int)msgflags);
	io_uring_sqe_set_data(sqe, &s->send_op);
	s->sending = true;
}
