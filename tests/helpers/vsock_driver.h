/*
 * vsock_driver: the guest's virtio-vsock driver, played against the real
 * device in one process, for unit tests, stress tests and the guestless
 * benchmark.
 *
 * It owns one fake guest memory holding the rx, tx and event queues and
 * the packet buffers, an event loop, the device (vsock_dev_create) on the
 * real virtio-mmio transport, and a small guest socket layer on top:
 * connect, listen/accept, send, recv, shutdown, close, RST, with credit
 * accounting on both sides as Linux does it.
 *
 * Threads: everything here runs on the calling thread, which is also the
 * device's event loop thread (vsock_driver_pump() runs the loop). Host
 * peers live in other threads with ordinary blocking sockets.
 *
 * Trust: the driver validates everything the device sends (addresses,
 * lengths, ops, credit, which buffers come back used, interrupts) and
 * reports a protocol violation through the `fail` hook, which by default
 * prints the reason and aborts; Check tests install one that fails the
 * test. Packets the device is allowed to send late (after we closed) are
 * answered with RST like Linux does and counted as strays.
 */
#ifndef TESTS_VSOCK_DRIVER_H
#define TESTS_VSOCK_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "devices/vsock/pkt.h"
#include "devices/vsock/vsock.h"
#include "tests/helpers/vq_driver.h"
#include "virtio/mmio.h"
#include "vmm/evloop.h"

struct vsock_driver;

#define VSOCK_DRIVER_HOLD_MAX 64u /* RX buffers one socket may hold: a
				     256 KiB credit of 4 KiB buffers */

/* How a TX packet is laid out in descriptors. */
enum vsock_driver_tx_layout {
	VSOCK_DRV_TX_LINEAR, /* header and data in one descriptor */
	VSOCK_DRV_TX_SPLIT, /* header, then data in one descriptor */
	VSOCK_DRV_TX_SCATTER, /* header, then data in seg_size pieces, out
				 of order in memory */
	VSOCK_DRV_TX_HDR_SPLIT, /* header in two pieces, data after the 2nd */
	VSOCK_DRV_TX_INDIRECT, /* SCATTER through an indirect table */
	VSOCK_DRV_TX_MIXED, /* a random one of the above per packet */
	VSOCK_DRV_TX_NR_LAYOUTS,
};

/* What the driver posts on the event queue (d->ev_layout). */
enum vsock_driver_ev_layout {
	VSOCK_DRV_EV_ROOMY, /* 8 writable bytes: more than an event needs */
	VSOCK_DRV_EV_EXACT, /* 4 writable bytes, as Linux posts them */
	VSOCK_DRV_EV_SHORT, /* 2 writable bytes: the device must reject it */
	VSOCK_DRV_EV_READONLY, /* 8 read-only bytes: rejected likewise */
	VSOCK_DRV_EV_NONE, /* nothing (buffers already posted stay) */
};

/* How an RX buffer is laid out in descriptors. */
enum vsock_driver_rx_layout {
	VSOCK_DRV_RX_LINEAR, /* one writable descriptor */
	VSOCK_DRV_RX_SPLIT, /* a 44-byte header descriptor, then the data */
	VSOCK_DRV_RX_INDIRECT, /* SPLIT through an indirect table */
	VSOCK_DRV_RX_NR_LAYOUTS,
};

struct vsock_driver_config {
	struct vsock_config dev; /* device config (guest_cid 0: 3) */
	uint16_t queue_size; /* 0: the device's maximum */
	uint32_t rx_buf_size; /* per RX buffer, header included; 0: 4140 */
	enum vsock_driver_rx_layout rx_layout;
	unsigned int rx_bufs; /* posted at once; 0: queue size */
	uint32_t buf_alloc; /* guest socket buffer; 0: 256 KiB */
	bool no_event_idx; /* do not negotiate EVENT_IDX */
	bool no_indirect; /* do not negotiate INDIRECT_DESC */
	bool seqpacket; /* negotiate VIRTIO_VSOCK_F_SEQPACKET */
	enum vsock_driver_ev_layout ev_layout; /* the first event buffers */
	/* Look at used rings without waiting for an interrupt (else a
	 * missing interrupt is a protocol violation). */
	bool poll_used;
	uint32_t loop_timeout_us; /* evloop_run_once() wait; 0: 2000 */
	/* Account this thread's CPU time inside device entry points
	 * (notifications, the event loop) in stats.dev_cpu_ns. */
	bool measure_cpu;
	void (*fail)(const char *msg); /* NULL: print and abort */
	/* Sees every well-framed RX packet before the socket layer and
	 * returns true to take it: raw tests play some connections
	 * themselves. NULL: every packet goes to the sockets. */
	bool (*rx_hook)(struct vsock_driver *d, const struct vsock_hdr *h,
			const uint8_t *data);
};

/* TX packet shaping; may be changed at any time. */
struct vsock_driver_tx {
	enum vsock_driver_tx_layout layout;
	uint32_t max_pkt; /* payload per packet; 0: 64 KiB */
	bool random_sizes; /* 1..max_pkt per packet */
	uint32_t seg_size; /* SCATTER/INDIRECT piece; 0: 4096 */
	uint64_t seed;
};

enum vsock_sock_state {
	VSOCK_SOCK_CONNECTING,
	VSOCK_SOCK_ESTABLISHED,
	VSOCK_SOCK_CLOSED, /* reset, refused or finished */
};

struct vsock_sock {
	struct vsock_driver *d;
	uint32_t local_port; /* guest */
	uint32_t peer_port; /* host */
	uint16_t type;
	enum vsock_sock_state state;
	int err; /* 0, -ECONNREFUSED, -ECONNRESET */
	bool got_rst;
	uint32_t peer_shutdown; /* VSOCK_SHUTDOWN_* the device sent */
	uint32_t shutdown_sent; /* VSOCK_SHUTDOWN_* we sent */
	bool orphan; /* closed by the app; freed on RST */
	bool close_wait; /* vsock_driver_close() waits for it */
	bool in_table;

	/* Receive side (device -> guest). Like Linux, which queues the
	 * buffer a packet came in rather than copying it, a payload stays in
	 * its RX buffer (held, oldest first) while the socket holds fewer than
	 * VSOCK_DRIVER_HOLD_MAX and the driver fewer than a quarter of its RX
	 * buffers; beyond that, or once some bytes are in the ring, payloads
	 * are copied into the ring, after the held ones. */
	struct vsock_held {
		uint8_t *data;
		uint32_t len;
		uint16_t slot;
	} *held; /* VSOCK_DRIVER_HOLD_MAX, allocated at the first hold */
	unsigned int held_first, nr_held;
	uint8_t *rxq; /* ring of buf_alloc bytes */
	uint32_t rxq_head, ring_len;
	uint32_t rxq_len; /* bytes received and not read: held and ring */
	uint32_t buf_alloc, rx_cnt, fwd_cnt, fwd_cnt_sent;
	bool credit_update_pending;

	/* Send side (guest -> device). */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;

	uint64_t rx_bytes, tx_bytes;
	uint64_t credit_updates_rx; /* CREDIT_UPDATE packets received */
	uint64_t rx_seq_flags; /* OR of RW flags received (SEQPACKET) */
	void *user; /* free for the caller */

	struct vsock_sock *hash_next;
	struct vsock_sock *table_next, *table_prev; /* d->table */
	struct vsock_sock *accept_next;
};

struct vsock_driver_stats {
	uint64_t irqs, config_irqs;
	uint64_t irqs_lost; /* dropped on purpose (drop_irqs) */
	uint64_t notifies_lost; /* dropped on purpose (drop_notifies) */
	uint64_t rx_pkts[8]; /* by op */
	uint64_t tx_pkts;
	uint64_t strays; /* packets for no socket (answered by RST) */
	uint64_t events; /* event queue buffers used */
	uint64_t transport_resets; /* TRANSPORT_RESET events handled */
	uint64_t events_rejected; /* malformed event buffers given back */
	uint64_t notifies, requeues;
	uint64_t notifies_q[3]; /* notifies by queue: RX, TX, event */
	uint64_t dev_cpu_ns; /* with measure_cpu */
};

struct vsock_driver {
	struct vsock_driver_config cfg;
	struct vsock_driver_tx tx;
	struct evloop loop;
	struct vsock_dev *dev;
	struct virtio_mmio *m;
	struct vq_driver q[3]; /* rx (owns the memory), tx, event */
	uint64_t features;
	struct vsock_driver_stats st;
	/*
	 * Lose the next `drop_irqs` interrupts, as an interrupt controller
	 * below the device might: the driver then waits, as Linux does, for
	 * an interrupt that may never come (a used buffer without one is not
	 * a violation once one was lost).
	 */
	unsigned int drop_irqs;
	/* Likewise lose the next `drop_notifies` queue notifications. */
	unsigned int drop_notifies;
	/*
	 * What event buffers to post from now on. A TRANSPORT_RESET event
	 * is handled as Linux does: every connected socket (those waiting
	 * to be accepted too) is closed with -ECONNRESET without a packet,
	 * the CID is read again from config space, listeners stay.
	 */
	enum vsock_driver_ev_layout ev_layout;

	/* private */
	uint64_t irqs_seen;
	uint64_t irq_check_ns; /* last virtio_mmio_check_irq() */
	uint32_t requeue_mask;
	uint16_t notified[3]; /* avail idx at the last notification */
	bool need_kick[3];
	uint64_t rng;
	uint32_t next_port;

	uint64_t tx_slot_base, rx_slot_base, ev_base, scratch_base;
	uint32_t tx_slot_size, rx_slot_size;
	int *tx_slot_of_head; /* -1: not ours / free */
	int *rx_slot_of_head;
	uint16_t *tx_free_slots;
	unsigned int tx_nr_free;
	uint16_t *rx_free_slots;
	unsigned int rx_nr_free, rx_posted;
	unsigned int rx_held; /* RX slots sockets hold (vsock_held) */
	int rx_cur_slot; /* the slot of the RX packet being handled, or -1 */
	bool *ev_posted;
	uint64_t ev_outstanding; /* bitmask of event heads posted */
	uint8_t ev_kind[8]; /* enum vsock_driver_ev_layout of each head */
	uint64_t raw_outstanding; /* raw TX chains in flight (tests) */

	struct vsock_hdr *ctrlq; /* control packets waiting for a TX slot */
	unsigned int ctrlq_len, ctrlq_cap;

	struct vsock_sock **buckets; /* by (local_port, peer_port) */
	struct vsock_sock *table; /* the same sockets in one list */
	unsigned int nr_socks;
	uint32_t *listening;
	unsigned int nr_listening, cap_listening;
	struct vsock_sock *accept_head, *accept_tail;
	bool broken; /* a violation was reported */
	bool started;
};

/* Set up everything and bring the device to DRIVER_OK and started. */
void vsock_driver_create(struct vsock_driver *d,
			 const struct vsock_driver_config *cfg);
void vsock_driver_destroy(struct vsock_driver *d);

/* Report a protocol violation (printf-like) through cfg.fail. */
void vsock_driver_fail(struct vsock_driver *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * One round: flush queued control packets, post RX buffers, notify the
 * device where needed, run the event loop once (waiting up to `wait_us`
 * only if nothing happened), consume used buffers. Returns how much
 * happened (packets, completions); 0 means idle.
 */
int vsock_driver_pump(struct vsock_driver *d, unsigned int wait_us);
/* Pump until nothing happens in `idle_rounds` consecutive rounds. */
void vsock_driver_settle(struct vsock_driver *d, unsigned int idle_rounds);

/* Guest sockets. Blocking calls pump until done. */
struct vsock_sock *vsock_driver_connect_start(struct vsock_driver *d,
					      uint32_t port, uint16_t type);
/* Returns 0 or the socket's -errno; *out is the socket either way. */
int vsock_driver_connect(struct vsock_driver *d, uint32_t port,
			 struct vsock_sock **out);
void vsock_driver_listen(struct vsock_driver *d, uint32_t port);
void vsock_driver_unlisten(struct vsock_driver *d, uint32_t port);
/* An accepted connection (RESPONSE already sent), or NULL if none yet. */
struct vsock_sock *vsock_driver_accept_nowait(struct vsock_driver *d);
struct vsock_sock *vsock_driver_accept(struct vsock_driver *d);

/* Queue up to `len` bytes within credit and free TX slots; returns bytes
 * queued (0: no room now) or -errno (closed, reset, shut down). */
ssize_t vsock_driver_send_some(struct vsock_sock *s, const void *buf,
			       size_t len);
/* Send all of it; 0 or -errno. */
int vsock_driver_send(struct vsock_sock *s, const void *buf, size_t len);
/* Take up to `len` received bytes: a count, 0 at end of stream, -EAGAIN
 * when nothing is there yet, or -errno after a reset. */
ssize_t vsock_driver_recv_some(struct vsock_sock *s, void *buf, size_t len);
/* Blocking: at least one byte, 0 at end of stream, or -errno. */
ssize_t vsock_driver_recv(struct vsock_sock *s, void *buf, size_t len);
/* Exactly `len` bytes; 0, or -EPIPE at an early end, or -errno. */
int vsock_driver_recv_all(struct vsock_sock *s, void *buf, size_t len);

/* Send SHUTDOWN with `flags` (VSOCK_SHUTDOWN_*). */
void vsock_driver_shutdown(struct vsock_sock *s, uint32_t flags);
/* Ask for the device's credit. */
void vsock_driver_credit_request(struct vsock_sock *s);
/*
 * Close like Linux: SHUTDOWN(both) unless the connection is already gone,
 * then (wait) pump until the device's RST arrives. The socket is freed;
 * with !wait it lingers invisibly until the RST.
 */
void vsock_driver_close(struct vsock_sock *s, bool wait);
/* Abort: send RST and free the socket. */
void vsock_driver_abort(struct vsock_sock *s);

/*
 * Raw TX for malformed-packet tests: make the chain `bufs` (gpa from
 * vsock_driver_scratch()) available, directly or through an indirect
 * table; the next pump notifies. The device must hand it back used.
 */
void vsock_driver_tx_raw(struct vsock_driver *d,
			 const struct vq_driver_buf *bufs, unsigned int n,
			 bool indirect);
/* A header for the guest -> host packet of the given kind, with correct
 * CIDs and a credit of `buf_alloc`/0. */
struct vsock_hdr vsock_driver_hdr(struct vsock_driver *d, uint16_t op,
				  uint32_t src_port, uint32_t dst_port,
				  uint32_t len);
/* 1 MiB of guest memory the harness never touches: gpa and host view. */
uint64_t vsock_driver_scratch(struct vsock_driver *d, void **host);
/* Raw TX chains not yet given back used. */
uint64_t vsock_driver_raw_outstanding(const struct vsock_driver *d);

/* Re-run the probe sequence after a reset (status 0) by the test. */
void vsock_driver_reprobe(struct vsock_driver *d);

/* Sockets that still exist (incl. lingering). */
unsigned int vsock_driver_nr_socks(const struct vsock_driver *d);

#endif
