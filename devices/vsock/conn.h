/*
 * conn: one vsock connection between a guest socket (the "peer") and a
 * host socket (the "local" side), as a pure state machine.
 *
 * It sees validated packet headers from the guest and events from the
 * host backend (connected, bytes delivered, end of stream, error, the
 * clock), and answers with what it wants: packets for the guest (bits in
 * `want`, sent by the muxer in priority order) and actions for the host
 * socket (the return values). It does no I/O, so a unit test can drive
 * every op in every state.
 *
 * Protocol primer (VIRTIO 1.2, 5.10.6):
 * - A connection is opened by REQUEST and accepted by RESPONSE (or refused
 *   by RST). Either side may be the one that asks.
 * - RW carries data. Every header also carries the sender's buf_alloc (its
 *   receive buffer) and fwd_cnt (bytes it has consumed), so each side
 *   knows how much the other can still take: buf_alloc - (sent - fwd_cnt).
 *   Nobody may send more than that ("credit"); CREDIT_UPDATE announces
 *   fresh space, CREDIT_REQUEST asks for an update.
 * - SHUTDOWN with RCV/SEND flags says a direction is finished; once both
 *   directions are, the side that received the final SHUTDOWN answers RST
 *   and both forget the connection. RST aborts at any time and is never
 *   answered.
 * All counters are 32-bit and wrap; differences are taken modulo 2^32.
 */
#ifndef DEVICES_VSOCK_CONN_H
#define DEVICES_VSOCK_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/vsock/pkt.h"

enum vsock_conn_state {
	VSOCK_CONN_CONNECTING, /* awaiting the host connect or guest reply */
	VSOCK_CONN_ESTABLISHED,
	VSOCK_CONN_CLOSING, /* sent SHUTDOWN(both); awaiting the guest's RST */
	VSOCK_CONN_CLOSED, /* finished; freed once no host I/O is pending */
};

/* Control packets the connection wants sent to the guest. */
#define VSOCK_WANT_RST (1u << 0)
#define VSOCK_WANT_RESPONSE (1u << 1)
#define VSOCK_WANT_REQUEST (1u << 2)
#define VSOCK_WANT_SHUTDOWN (1u << 3)
#define VSOCK_WANT_CREDIT_UPDATE (1u << 4)

/* What the host side must do after a guest packet. */
enum vsock_conn_action {
	VSOCK_ACT_NONE,
	VSOCK_ACT_DELIVER, /* forward this RW payload to the host socket */
	VSOCK_ACT_ACCEPTED, /* host-initiated: the guest accepted */
	VSOCK_ACT_SHUT_WR, /* guest sends no more: half-close the host side
			      once delivered data is flushed */
	VSOCK_ACT_CLOSE, /* flush what was delivered, then close */
	VSOCK_ACT_ABORT, /* close the host socket now */
};

/* Timeouts for a REQUEST the guest never answers and for closing. */
#define VSOCK_CONN_TIMEOUT_NS (2000ull * 1000 * 1000)

struct vsock_conn {
	uint64_t guest_cid;
	uint32_t local_port; /* host side */
	uint32_t peer_port; /* guest side */
	uint16_t type; /* VSOCK_TYPE_* */
	bool host_initiated;
	enum vsock_conn_state state;
	uint32_t want; /* VSOCK_WANT_* */
	uint32_t shutdown_flags; /* flags for the SHUTDOWN we want to send */

	/* The guest's receive side, from its headers. */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t sent_cnt; /* RW bytes sent to the guest (our tx_cnt) */

	/* Our receive side: guest bytes on their way to the host socket. */
	uint32_t buf_alloc; /* what we advertise */
	uint32_t recv_cnt; /* RW bytes received from the guest (our rx_cnt) */
	uint32_t fwd_cnt; /* ...of which the host socket has taken */
	uint32_t fwd_cnt_sent; /* fwd_cnt as last told to the guest */

	uint32_t peer_shutdown; /* VSOCK_SHUTDOWN_* received */
	bool host_eof; /* the host peer sends no more */
	/* The guest shut down both ways: the RST that ends the connection
	 * only acknowledges (nobody in the guest waits for it). */
	bool guest_closed;
	uint64_t deadline_ns; /* 0: no timer */
	uint64_t timeout_ns;
};

/*
 * A new connection. Guest-initiated (a REQUEST arrived): CONNECTING until
 * the backend reports vsock_conn_host_connected(). Host-initiated: wants a
 * REQUEST sent and stays CONNECTING until the guest answers or `now +
 * timeout_ns` passes.
 */
void vsock_conn_init(struct vsock_conn *c, uint64_t guest_cid,
		     uint32_t local_port, uint32_t peer_port, uint16_t type,
		     bool host_initiated, uint32_t buf_alloc,
		     uint64_t timeout_ns, uint64_t now);

/* A validated guest packet for this connection (see pkt.h). */
enum vsock_conn_action vsock_conn_recv(struct vsock_conn *c,
				       const struct vsock_hdr *h,
				       uint64_t now);

/* Guest-initiated: the host socket connected (ok) or failed. */
void vsock_conn_host_connected(struct vsock_conn *c, bool ok);
/* `n` guest bytes reached the host socket. */
void vsock_conn_delivered(struct vsock_conn *c, uint32_t n);
/* The host peer finished sending (recv returned 0). */
void vsock_conn_host_eof(struct vsock_conn *c, uint64_t now);
/* The host socket failed or the peer vanished: reset the guest side. */
void vsock_conn_host_error(struct vsock_conn *c);
/* Expire timers and announce freed space the guest has not been told
 * of. Returns true if the connection just timed out. */
bool vsock_conn_tick(struct vsock_conn *c, uint64_t now);

/* Bytes of RW payload the guest can take now (0 if it lied). */
uint32_t vsock_conn_peer_credit(const struct vsock_conn *c);
/* Has the guest read all we sent, as its last header told? */
bool vsock_conn_peer_drained(const struct vsock_conn *c);
/* `n` bytes of RW payload went to the guest. */
void vsock_conn_sent(struct vsock_conn *c, uint32_t n);

/*
 * Header for a packet to the guest on this connection, carrying our
 * current credit (which also satisfies a pending CREDIT_UPDATE).
 */
void vsock_conn_fill_hdr(struct vsock_conn *c, struct vsock_hdr *h,
			 enum vsock_op op, uint32_t len);

/* May RW data flow to the guest / to the host? */
bool vsock_conn_can_send(const struct vsock_conn *c);

#endif
