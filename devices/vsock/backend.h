/*
 * backend: the contract between the vsock device and its host side.
 *
 * The device (device.c) owns the virtqueues, the guest chains and the
 * connection table (the muxer); it never touches a socket. A backend owns
 * the host sockets; it never touches a virtqueue. Between them pass only:
 * - connections (struct vsock_mconn, from the muxer both share) and the
 *   muxer calls that report host events on them;
 * - guest buffers: a TX buffer to send from, RX buffers to receive into
 *   (buffers.h says who owns which when); data is never copied on the way
 *   except where buffers.h's bounds say so (copy once).
 *
 * Entry rule. Every entry into the device from the event loop (a
 * completion, the device's own wake-up and timer) runs between
 * env.enter() and env.leave(): enter takes the transport lock and finishes
 * a pending device reset; leave runs one device pass (guest TX in, RX
 * buffers filled, interrupts) and drops the lock. Entries never nest (the
 * lock is not recursive): a backend call made by the device is already
 * inside one and must not enter again. Whatever a backend frees inside an
 * entry must not be referenced further up the same entry's stack, nor by
 * an operation still in flight: it defers the free until both are done.
 *
 * Threads: every backend op below runs on the event loop thread inside an
 * entry, except create and destroy (before the loop runs, after it
 * stopped) and activate (any thread, under the transport lock).
 */
#ifndef DEVICES_VSOCK_BACKEND_H
#define DEVICES_VSOCK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "devices/vsock/buffers.h"
#include "devices/vsock/muxer.h"
#include "devices/vsock/vsock.h"
#include "vmm/evloop.h"
#include "vmm/log.h"

#define VSOCK_RX_BATCH 32u /* most RX buffers one rx op is given: half
			     the device's pool, 128 KiB of Linux's 4 KiB ones */
#define VSOCK_RX_FIRST 4u /* ...and when the guest has read all we sent:
			    16 KiB it can start on while the rest is copied */

/* What the device gives a backend at create time. */
struct vsock_backend_env {
	struct evloop *loop;
	struct vsock_muxer *mx; /* the connection table, shared */
	struct vsock_dev_stats *stats; /* the backend counts connections */
	struct log_ratelimit *rl;
	uint32_t buf_alloc; /* our advertised buffer per connection */
	uint64_t timeout_ns; /* connection timeout (close deadline too) */
	/* Calls back into the device, with `dev` as their first argument. */
	void *dev;
	void (*enter)(void *dev);
	void (*leave)(void *dev);
	/* A TX buffer is done with (sent, copied or dropped): the chain goes
	 * back to the guest unless it is from before a reset. */
	void (*tx_done)(void *dev, struct vsock_txbuf *tb);
	/* A lent RX buffer comes back: `n` payload bytes with header `h` were
	 * written (n == 0, h == NULL: unused, the device keeps it). */
	void (*rx_return)(void *dev, struct vsock_rxbuf *rb,
			  const struct vsock_hdr *h, uint32_t n);
};

struct vsock_backend;

struct vsock_backend_ops {
	/* Copy what it needs of `cfg` and bind its listeners, so that a
	 * busy address is reported before the guest boots. */
	int (*create)(struct vsock_backend **out,
		      const struct vsock_backend_env *env,
		      const struct vsock_config *cfg);
	/* Start accepting host connections (event loop thread). */
	int (*start)(struct vsock_backend *be);
	/* The driver set DRIVER_OK with a TX queue of `tx_chains` entries. */
	void (*activate)(struct vsock_backend *be, unsigned int tx_chains);
	/* The device was reset, or resets the transport: close every host
	 * connection, clients in the handshake too, and keep the listeners
	 * (the muxer is about to be rebuilt, so drop every reference into it
	 * first). Lent buffers come back unused as their operations end. */
	void (*reset)(struct vsock_backend *be);
	/* Close everything, remove socket files; the loop no longer runs. */
	void (*destroy)(struct vsock_backend *be);

	/* The guest asked for local port `mc->conn.local_port`. */
	void (*connect)(struct vsock_backend *be, struct vsock_mconn *mc);
	/* The muxer says `act` for `mc`; `tb` is the RW payload for DELIVER
	 * (the backend now owns it and gives it back with env.tx_done). */
	void (*action)(struct vsock_backend *be, struct vsock_mconn *mc,
		       enum vsock_conn_action act, struct vsock_txbuf *tb);
	/*
	 * Fill RX buffers for a VSOCK_RX_PAYLOAD on `mc`: rbs[i] takes at
	 * most max[i] bytes (their sum is within the guest's credit), in
	 * order, one packet each. Returns true if the backend took them all
	 * (filled now or lent to a recv; each comes back by env.rx_return),
	 * false if it took none.
	 */
	bool (*rx)(struct vsock_backend *be, struct vsock_mconn *mc,
		   struct vsock_rxbuf **rbs, const uint32_t *max,
		   unsigned int nr);
	/* A connection timed out in the muxer: close its host side. */
	void (*expired)(struct vsock_backend *be, struct vsock_mconn *mc);
	/* Periodic: deadlines, re-arming what could not be armed before. */
	void (*tick)(struct vsock_backend *be);
	/* "dump: " lines: its totals, then one per host connection. */
	void (*dump)(struct vsock_backend *be, FILE *f);
};

/* Host sockets on the event loop's io_uring (uring_backend.c). */
extern const struct vsock_backend_ops vsock_uring_backend;

#endif
