/*
 * host: the io_uring backend's private state, shared by its files:
 * host.c (the backend and host socket lifetime), host_send.c (guest ->
 * host), host_recv.c (host -> guest), listen.c (listeners and the hybrid
 * handshake). rules.c (parsing, no I/O) stands apart.
 *
 * One struct host_socket per host socket. Its operations are embedded
 * evloop_ops with a handler each. `sqes` counts operations submitted and
 * not yet completed, `pins` the callers up the stack that still use it;
 * it is freed only when it is closing and both are zero (a deferred
 * free), so nothing in flight or on the stack points into freed memory.
 * At most one send, one recv (or poll) and one connect are in flight per
 * socket, which keeps each direction's bytes in order.
 */
#ifndef DEVICES_VSOCK_HOST_H
#define DEVICES_VSOCK_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "devices/vsock/backend.h"
#include "devices/vsock/handshake.h"

#define VSOCK_SEND_IOV 64u /* iovecs in one sendmsg or recvmsg */
/* Chains one connection may hold before its payloads are copied (see
 * copy below), and the most memory all copies and stages may take. */
#define VSOCK_HOLD_MAX 16u
#define VSOCK_BUFFER_BUDGET (64u << 20)
/* Host clients still in the hybrid handshake at once; beyond it the
 * oldest is closed. Each also has the connection timeout to finish. */
#define VSOCK_HANDSHAKE_PENDING_MAX 64u
/* Descriptors the VMM needs besides host sockets (KVM, eventfds, images,
 * the ring, the terminal). */
#define VSOCK_FD_RESERVE 64u
/* Largest SEQPACKET message from a host peer we stage when it does not fit
 * one RX buffer: a Linux guest's default socket buffer, beyond which it
 * refuses the message anyway. */
#define VSOCK_SEQ_MAX_MSG (256u * 1024)

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

enum listener_kind {
	LISTEN_HYBRID, /* <uds>: CONNECT handshake, stream */
	LISTEN_HYBRID_SEQ, /* <uds>_seqpacket: handshake message */
	LISTEN_TCP, /* straight to a guest port */
};

struct listener {
	struct vsock_backend *be;
	enum listener_kind kind;
	int fd;
	uint32_t guest_port; /* TCP */
	char *path; /* unix socket file we created, removed on exit */
	bool accepting; /* an accept is in flight */
	struct evloop_op op;
};

struct vsock_backend {
	struct vsock_backend_env env;
	char *uds_path;
	struct vsock_port_rule *ports;
	unsigned int nr_ports;
	unsigned int hold_total; /* TX chains all sockets may hold */
	struct host_socket *socks; /* every live host socket, newest first */
	unsigned int nr_handshaking; /* of them in PH_HANDSHAKE */
	uint64_t buffered; /* bytes in all copies and stages */
	unsigned int nr_held; /* TX chains queued on sockets */
	struct listener *listeners;
	unsigned int nr_listeners;
};

struct host_socket {
	struct vsock_backend *be;
	struct host_socket *prev, *next;
	struct vsock_mconn *mc; /* NULL before the handshake, after a reset */
	int fd;
	bool seqpacket;
	enum host_kind kind;
	enum host_phase phase;
	struct sockaddr_storage addr; /* HOST_OUT: connect target */
	socklen_t addrlen;

	struct evloop_op connect_op, poll_op, recv_op, send_op;
	unsigned int sqes, pins; /* see above */
	bool polling, sending, closing, shut_wr_pending, close_after_flush;
	const char *receiving; /* the recv in flight ("stream", ...), or NULL */
	void (*recv_done)(struct host_socket *s, int res); /* its handler */
	/* Closed when it passes: in PH_HANDSHAKE, or with close_after_flush
	 * (a peer that never reads must not keep it forever). */
	uint64_t deadline;

	struct vsock_handshake hshake;
	uint8_t hsbuf[64];

	/* Host bytes for the guest that could not go straight to an RX
	 * buffer: a too-large SEQPACKET message, or what followed the
	 * handshake line in its read. */
	uint8_t *stage;
	uint32_t stage_len, stage_off;
	bool stage_is_msg; /* a whole SEQPACKET message */
	uint8_t stage_small[VSOCK_HANDSHAKE_MAX];

	char ctl[24]; /* the "OK <port>\n" reply */
	uint32_t ctl_len, ctl_off;

	struct vsock_txbuf *txq_head, *txq_tail; /* held, to send in order */
	unsigned int nr_held;
	/*
	 * Guest data copied out of its chains, sent after the queued ones.
	 * A peer that stops reading would otherwise keep up to a credit's
	 * worth of small packets, i.e. every TX descriptor the guest has,
	 * and stall all its other connections. So beyond VSOCK_HOLD_MAX
	 * chains per connection the payload is copied and the chain returned.
	 * Bounded: credit keeps undelivered bytes within buf_alloc, the size
	 * of this buffer, and the backend caps the sum (VSOCK_BUFFER_BUDGET).
	 */
	uint8_t *copy;
	uint32_t copy_off, copy_len;
	struct iovec siov[VSOCK_SEND_IOV];
	struct msghdr smsg;

	struct vsock_rxbuf *rbs[VSOCK_RX_BATCH]; /* lent for the recv */
	uint32_t rlen[VSOCK_RX_BATCH]; /* bytes each may take */
	unsigned int nr_rb;
	uint32_t rmax; /* their sum */
	struct iovec riov[VSOCK_SEND_IOV];
	struct msghdr rmsg;
};

/* host.c */
struct host_socket *host_new(struct vsock_backend *be, enum host_kind kind,
			     int fd, bool seqpacket);
void host_attach(struct host_socket *s, struct vsock_mconn *mc);
/* An SQE for one of the socket's operations, counted in `sqes`. */
struct io_uring_sqe *host_sqe(struct host_socket *s);
/* Around every completion of a socket's operation: the device entry, and
 * at the end the deferred free and the end of the entry. */
void host_op_begin(struct host_socket *s);
void host_op_end(struct host_socket *s);
/* Close: queued guest data returned unsent, operations in flight
 * cancelled, the socket freed after their completions. */
void host_close(struct host_socket *s);
/* The host side failed: reset the guest side, close ours. */
void host_fail(struct host_socket *s, int err);
/* The muxer accepted a host-initiated connection (the guest answered). */
void host_opened(struct host_socket *s);

/* host_send.c */
void host_on_send(struct evloop_op *op, int res, uint32_t flags);
void host_send_queue(struct host_socket *s, struct vsock_txbuf *tb);
void host_send_kick(struct host_socket *s);
/* Once everything queued is sent: a pending SHUT_WR, close. */
void host_after_flush(struct host_socket *s);
/* Give every queued TX buffer back unsent. */
void host_send_drop(struct host_socket *s);
void host_copy_free(struct host_socket *s);

/* host_recv.c */
void host_on_poll(struct evloop_op *op, int res, uint32_t flags);
void host_arm_poll(struct host_socket *s);
/* Submit a recvmsg; `done` handles its result (never called for a
 * socket closing meanwhile, nor for one whose connection is gone after
 * the handshake). `what` names it in a dump. */
typedef void host_recv_fn(struct host_socket *s, int res);
bool host_submit_recv(struct host_socket *s, const char *what,
		      host_recv_fn *done, struct iovec *iov, unsigned int n,
		      int flags);
/* Give back lent RX buffers from index `from` on, unused. */
void host_rx_return_from(struct host_socket *s, unsigned int from);
void host_stage_free(struct host_socket *s);
uint32_t host_stage_left(const struct host_socket *s);
bool host_rx(struct vsock_backend *be, struct vsock_mconn *mc,
	     struct vsock_rxbuf **rbs, const uint32_t *max, unsigned int nr);

/* listen.c */
int listeners_open(struct vsock_backend *be, const struct vsock_config *cfg);
void listeners_arm(struct vsock_backend *be);
void listeners_close(struct vsock_backend *be);

/* rules.c */
/* The first rule for `port`, or NULL. */
const struct vsock_port_rule *vsock_rules_find(
	const struct vsock_port_rule *ports, unsigned int nr_ports,
	uint32_t port);
/* Where a guest connection to host port `port` goes; false: nowhere
 * (or to an internal target: see vsock_rules_find). */
bool vsock_rules_endpoint(const char *uds_path,
			  const struct vsock_port_rule *ports,
			  unsigned int nr_ports, uint32_t port, bool seqpacket,
			  struct sockaddr_storage *ss, socklen_t *len);

#endif
