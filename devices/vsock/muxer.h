/*
 * muxer: the vsock connection table, and the order in which packets go
 * to the guest.
 *
 * Pure, like conn.c: it consumes validated guest packets and host events,
 * returns what the host backend must do, and hands out the next packet
 * for the guest when the device has an RX buffer. Connections are keyed by
 * (local port, peer port); "local" is always the host, "peer" the guest.
 *
 * Packets for the guest leave in priority order: RST, then the other
 * control packets (RESPONSE, REQUEST, SHUTDOWN), then data, then credit
 * updates. An RST for a packet that matched no connection is queued in a
 * bounded ring; when it is full the muxer reports back-pressure and the
 * device stops taking guest TX until replies have gone out.
 *
 * Held packets (--vsock-fault slow-credit, late-response): a connection
 * whose CREDIT_UPDATE or RESPONSE must wait is filed on the HELD list
 * until its due time passes on the muxer's clock, which is the time given
 * to the last vsock_muxer_advance(); nothing else of it goes out before a
 * held RESPONSE. At most one packet of each kind per connection is held,
 * so holding is bounded by the table like every other list.
 */
#ifndef DEVICES_VSOCK_MUXER_H
#define DEVICES_VSOCK_MUXER_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/vsock/conn.h"
#include "devices/vsock/pkt.h"

#define VSOCK_MUXER_MAX_CONNS_DEFAULT 1024u
#define VSOCK_HOST_PORT_BASE (1u << 30)
#define VSOCK_MUXER_ORPHANS 64u
#define VSOCK_MUXER_BUF_ALLOC (256u * 1024)
#define VSOCK_SEQ_BUF_ALLOC (128u * 1024) /* for SEQPACKET connections */

struct vsock_muxer_config {
	uint64_t guest_cid;
	uint32_t max_conns;
	uint32_t buf_alloc; /* our advertised receive buffer per connection */
	uint64_t timeout_ns;
	bool seqpacket; /* VIRTIO_VSOCK_F_SEQPACKET negotiated */
	uint64_t credit_delay_ns; /* hold each CREDIT_UPDATE this long */
	uint64_t response_delay_ns; /* hold each RESPONSE this long */
};

enum vsock_rx_class {
	VSOCK_RX_RST,
	VSOCK_RX_CTRL,
	VSOCK_RX_DATA,
	VSOCK_RX_CREDIT,
	VSOCK_RX_HELD, /* a held packet: not sent before its due time */
	VSOCK_RX_NR_CLASSES,
	VSOCK_RX_NONE = VSOCK_RX_NR_CLASSES,
};

struct vsock_mconn {
	struct vsock_conn conn;
	void *backend; /* the backend's state for this connection */
	struct vsock_mconn *hash_next;
	struct vsock_mconn *rx_next;
	enum vsock_rx_class rx_class; /* list it is queued on, or NONE */
	bool readable; /* the host socket has bytes for the guest */
	bool released; /* the backend is done with it */
	bool unread; /* the guest has not read all we sent (its last header) */
	/* Due times of a held CREDIT_UPDATE and RESPONSE (0: none). */
	uint64_t credit_due, response_due;
};

struct vsock_orphan {
	uint32_t src_port, dst_port; /* as the guest sent them */
	uint16_t type;
};

struct vsock_muxer {
	struct vsock_muxer_config cfg;
	struct vsock_mconn **buckets;
	uint32_t nr_buckets; /* power of two */
	uint32_t nr_conns;
	uint32_t nr_unread; /* connections with `unread` set */
	uint32_t next_host_port;
	struct {
		struct vsock_mconn *head, *tail;
	} rx[VSOCK_RX_NR_CLASSES];
	struct vsock_orphan orphans[VSOCK_MUXER_ORPHANS];
	uint32_t orphan_head, orphan_count;
	uint64_t now; /* the clock, as vsock_muxer_advance() last set it */
};

int vsock_muxer_init(struct vsock_muxer *mx,
		     const struct vsock_muxer_config *cfg);
/* Free every connection (the backend must have dropped its references). */
void vsock_muxer_destroy(struct vsock_muxer *mx);

/* What the device must do with a guest packet. */
struct vsock_tx_result {
	enum {
		VSOCK_TX_NONE, /* consumed (maybe an RST was queued) */
		VSOCK_TX_CONNECT, /* new connection: connect to local_port */
		VSOCK_TX_CONN, /* `action` for connection `mc` */
	} kind;
	struct vsock_mconn *mc;
	enum vsock_conn_action action;
};

/* A guest packet that passed vsock_hdr_check_tx(). */
struct vsock_tx_result vsock_muxer_tx(struct vsock_muxer *mx,
				      const struct vsock_hdr *h, uint64_t now);

/* Packets of class `cls` wait for the guest. */
bool vsock_muxer_pending(const struct vsock_muxer *mx, enum vsock_rx_class cls);

/*
 * Set the muxer's clock to `now`: held packets whose time has come are
 * queued for the guest. The device calls it at every entry.
 */
void vsock_muxer_advance(struct vsock_muxer *mx, uint64_t now);
/* The earliest due time of a held packet, or 0 if none is held. */
uint64_t vsock_muxer_held_next(const struct vsock_muxer *mx);

/* Too many replies waiting: stop taking guest TX for now. */
bool vsock_muxer_tx_paused(const struct vsock_muxer *mx);

/*
 * A host client wants guest port `peer_port`: a new connection with a
 * fresh host port, wanting a REQUEST sent. NULL when at the limit.
 */
struct vsock_mconn *vsock_muxer_connect(struct vsock_muxer *mx,
					uint32_t peer_port, uint16_t type,
					uint64_t now);

/* Host events for a connection (they may queue packets for the guest). */
void vsock_muxer_host_connected(struct vsock_muxer *mx, struct vsock_mconn *mc,
				bool ok);
void vsock_muxer_delivered(struct vsock_muxer *mx, struct vsock_mconn *mc,
			   uint32_t n);
void vsock_muxer_readable(struct vsock_muxer *mx, struct vsock_mconn *mc,
			  bool readable);
void vsock_muxer_host_eof(struct vsock_muxer *mx, struct vsock_mconn *mc,
			  uint64_t now);
void vsock_muxer_host_error(struct vsock_muxer *mx, struct vsock_mconn *mc);
/* The backend holds no more I/O for it: free it once closed and sent. */
void vsock_muxer_release(struct vsock_muxer *mx, struct vsock_mconn *mc);

/*
 * Run timers: each connection that times out queues an RST and is passed
 * to `expired` (may be NULL), whose backend must then close its host side
 * and release it; one with freed space the guest was not told of queues
 * a credit update (vsock_conn_tick()). Returns how many expired.
 */
unsigned int vsock_muxer_tick(struct vsock_muxer *mx, uint64_t now,
			      void (*expired)(void *opaque,
					      struct vsock_mconn *mc),
			      void *opaque);

/*
 * Queue an RST answering guest packet `h` (e.g. one that failed
 * vsock_hdr_check_tx() with VSOCK_REPLY_RST). Never answers an RST.
 */
void vsock_muxer_reply_rst(struct vsock_muxer *mx, const struct vsock_hdr *h);

/* The next packet for the guest. */
struct vsock_rx {
	enum {
		VSOCK_RX_EMPTY, /* nothing to send */
		VSOCK_RX_PACKET, /* `hdr` is complete, no payload */
		VSOCK_RX_PAYLOAD, /* read up to `max_len` bytes from `mc`'s
				     host socket, then vsock_muxer_rx_data() */
	} kind;
	struct vsock_hdr hdr;
	struct vsock_mconn *mc;
	uint32_t max_len;
	/* VSOCK_RX_PACKET: nobody waits for it (the RST that ends a
	 * connection the guest closed), so its interrupt may wait. */
	bool lazy;
};

/* Has the guest read all we sent it, on every connection (as its last
 * headers told)? Then it waits for whatever comes next. */
static inline bool vsock_muxer_guest_drained(const struct vsock_muxer *mx)
{
	return !mx->nr_unread;
}

/*
 * Take the next packet for an RX buffer with room for `payload_room`
 * payload bytes after the header.
 */
struct vsock_rx vsock_muxer_next_rx(struct vsock_muxer *mx,
				    uint32_t payload_room);
/*
 * After VSOCK_RX_PAYLOAD: `n` bytes were read (0: none were ready). Fills
 * `hdr` for the RW packet when n > 0.
 */
void vsock_muxer_rx_data(struct vsock_muxer *mx, struct vsock_mconn *mc,
			 uint32_t n, struct vsock_hdr *hdr);

struct vsock_mconn *vsock_muxer_find(const struct vsock_muxer *mx,
				     uint32_t local_port, uint32_t peer_port);

#endif
