/*
 * vsock_int: what device.c (virtqueues <-> packets) and backend.c (host
 * sockets on io_uring) share. Every function here runs on the event loop
 * thread with the transport lock held, unless it says otherwise.
 *
 * Buffer ownership, the one place it changes hands:
 * - A TX chain carrying RW data becomes a struct vsock_txbuf queued on its
 *   host connection; its iovecs point into guest memory and are sent from
 *   there (copy once). The chain goes back to the guest, used, when the
 *   send that covers its last byte completes, or when the connection dies.
 *   Guest credit (our buf_alloc) bounds the bytes, the queue size the
 *   chains.
 * - An RX chain waits in the device's pool until the muxer has a packet
 *   for it; for data, a host connection borrows it for one io_uring recv
 *   straight into the chain's payload area and hands it back on completion.
 * Every borrowed chain carries the device generation; after a device reset
 * a stale chain is forgotten, never pushed.
 */
#ifndef DEVICES_VSOCK_VSOCK_INT_H
#define DEVICES_VSOCK_VSOCK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "handshake.h"
#include "log.h"
#include "muxer.h"
#include "vsock.h"

#define VSOCK_QUEUE_MAX 256u /* queue size we offer */
#define VSOCK_TX_MAX_SEGS 32u /* data descriptors in one TX packet */
#define VSOCK_RX_MAX_SEGS 16u /* descriptors of one RX buffer we use */
#define VSOCK_RX_POOL 64u /* RX chains the device holds at once */
#define VSOCK_SEND_IOV 64u /* iovecs in one sendmsg */
#define VSOCK_RX_BATCH 16u /* RX buffers one stream recv may fill */
#define VSOCK_TX_BUDGET 256u /* TX chains per pass, then requeue */
/* Chains one connection may hold before its payloads are copied, and the
 * most memory all such copies may take (see backend.c, tx_stage). */
#define VSOCK_HOLD_MAX 16u
#define VSOCK_HOLD_TOTAL (VSOCK_QUEUE_MAX / 4)
#define VSOCK_STAGE_BUDGET (64u << 20)
/* Largest SEQPACKET message from a host peer we stage when it does not fit
 * one RX buffer: the same as our advertised buffer. */
#define VSOCK_SEQ_MAX_MSG VSOCK_MUXER_BUF_ALLOC

struct vsock_host;

struct vsock_txbuf {
	bool busy;
	uint16_t head;
	uint32_t gen;
	uint32_t len; /* payload bytes */
	uint32_t off; /* bytes already sent */
	uint32_t flags; /* RW flags (SEQPACKET EOM/EOR) */
	int next; /* next txbuf queued on the same host, or -1 */
	unsigned int nseg;
	struct iovec iov[VSOCK_TX_MAX_SEGS];
};

struct vsock_rxbuf {
	bool popped; /* holds a guest chain */
	bool lent; /* a host connection's recv is filling it */
	uint16_t head;
	uint32_t gen;
	uint32_t room; /* payload bytes after the header */
	unsigned int nseg;
	struct iovec seg[VSOCK_RX_MAX_SEGS]; /* writable part, header first */
};

enum vsock_listener_kind {
	VSOCK_LISTEN_HYBRID, /* <uds>: CONNECT handshake, stream */
	VSOCK_LISTEN_HYBRID_SEQ, /* <uds>_seqpacket: handshake message */
	VSOCK_LISTEN_TCP, /* straight to a guest port */
};

struct vsock_listener {
	struct vsock_dev *d;
	enum vsock_listener_kind kind;
	int fd;
	uint32_t guest_port; /* TCP */
	char *path; /* unix socket file we created, removed on exit */
	bool accepting; /* an accept is in flight */
	struct evloop_op op;
};

struct vsock_dev {
	struct vsock_config cfg; /* arrays and strings owned below */
	char *uds_path;
	struct vsock_port_rule *ports;
	struct evloop *loop;
	struct virtio_mmio *mmio;
	pthread_t loop_thread;
	bool started;

	struct vsock_muxer mx;
	struct vsock_muxer_config mx_cfg; /* to rebuild mx after a reset */
	bool active; /* DRIVER_OK and not reset since */
	bool reset_pending; /* set by reset(), acted on by the loop thread */
	uint32_t gen;
	bool seqpacket;

	int kick_efd; /* wakes the loop thread after activate/reset */
	uint64_t kick_buf;
	struct evloop_op kick_op;
	struct evloop_op tick_op;
	struct __kernel_timespec tick_ts;

	struct vsock_txbuf txbufs[VSOCK_QUEUE_MAX];
	struct vsock_rxbuf rxbufs[VSOCK_RX_POOL];
	bool tx_used, rx_used; /* pushed since the last signal */

	struct vsock_host *hosts; /* every live host connection */
	uint64_t stage_bytes; /* sum of the hosts' staging buffers */
	unsigned int nr_held; /* TX chains queued on hosts */
	struct vsock_listener *listeners;
	unsigned int nr_listeners;

	struct vsock_dev_stats stats;
	struct log_ratelimit rl;
};

/* device.c, for the backend */
/* Take guest TX, fill RX, interrupt: the end of every completion. */
void vsock_dev_process(struct vsock_dev *d);
void vsock_dev_tx_done(struct vsock_dev *d, struct vsock_txbuf *tb);
/* A lent RX buffer comes back: `n` payload bytes with header `h` were
 * written (n == 0 with h == NULL: unused). */
void vsock_dev_rx_return(struct vsock_dev *d, struct vsock_rxbuf *rb,
			 const struct vsock_hdr *h, uint32_t n);
/* Copy `len` bytes into the payload area of `rb`; returns bytes copied. */
uint32_t vsock_rxbuf_copy(struct vsock_rxbuf *rb, const void *src,
			  uint32_t len);
/* Point `iov` at up to `max` payload bytes of `rb`; returns iov count. */
unsigned int vsock_rxbuf_iov(const struct vsock_rxbuf *rb, uint32_t max,
			     struct iovec *iov, unsigned int nr_iov);
void vsock_dev_lock(struct vsock_dev *d);
void vsock_dev_unlock(struct vsock_dev *d);
/* At every loop-thread entry, under the lock: finish a pending reset. */
void vsock_dev_sync(struct vsock_dev *d);

/* backend.c, for the device */
int vsock_backend_open_listeners(struct vsock_dev *d,
				 const struct vsock_config *cfg);
void vsock_backend_close_all(struct vsock_dev *d, bool final);
/* Guest asked for local port `mc->conn.local_port`: connect there. */
void vsock_backend_connect(struct vsock_dev *d, struct vsock_mconn *mc);
/* The muxer says `act` for `mc`; `tb` is the RW payload for DELIVER. */
void vsock_backend_action(struct vsock_dev *d, struct vsock_mconn *mc,
			  enum vsock_conn_action act, struct vsock_txbuf *tb);
/*
 * Fill RX buffers for a VSOCK_RX_PAYLOAD on `mc`: rbs[i] takes at most
 * max[i] bytes (their sum is within the guest's credit), in order, one
 * packet each. Returns true if the backend took them all (filled now or
 * lent to a recv; it gives back what it does not use), false if none.
 */
bool vsock_backend_rx(struct vsock_dev *d, struct vsock_mconn *mc,
		      struct vsock_rxbuf **rbs, const uint32_t *max,
		      unsigned int nr);
/* A connection timed out in the muxer: close its host side. */
void vsock_backend_expired(void *opaque, struct vsock_mconn *mc);
/* Periodic: closes hosts past their close deadline, (re)arms accepts. */
void vsock_backend_tick(struct vsock_dev *d);
/* One "dump: " line per host connection: its socket-side state and the
 * connection's credit (for a state dump; the lock is held). */
void vsock_backend_dump(struct vsock_dev *d, FILE *f);

#endif
