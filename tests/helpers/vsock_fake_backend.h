/*
 * vsock_fake_backend: a vsock backend (devices/vsock/backend.h) with no
 * sockets, for the device's unit tests. Guest connections open (or fail)
 * at once; their sends complete when the test says, in pieces as short as
 * it likes; host bytes for the guest are what the test writes. Failures
 * are injected one at a time: a host socket that cannot be made (ENOMEM),
 * a receive that finds nothing (EAGAIN), a short send, a submission the
 * ring refuses.
 *
 * One fake at a time (vsock_fake, set up by the device's create); every
 * vsock_fake_* call that acts runs as a device entry, as a completion on
 * the event loop thread would.
 */
#ifndef TESTS_VSOCK_FAKE_BACKEND_H
#define TESTS_VSOCK_FAKE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/vsock/backend.h"

#define VSOCK_FAKE_CONNS 16u
#define VSOCK_FAKE_HELD 256u

struct vsock_fake_conn {
	bool used;
	struct vsock_mconn *mc;
	uint32_t port; /* the host port the guest connected to */
	/* guest -> host: held TX buffers, and what was sent of them */
	struct vsock_txbuf *held[VSOCK_FAKE_HELD];
	unsigned int nr_held;
	uint8_t *sent;
	size_t sent_len, sent_cap;
	bool shut_wr, close_after_flush;
	/* host -> guest */
	uint8_t *in;
	size_t in_len, in_off;
};

struct vsock_fake {
	struct vsock_backend_env env;
	/* Injected failures, each consumed by the next occurrence. */
	int connect_err; /* errno for the next guest connect */
	bool submit_fails; /* the next send or recv is not submitted */
	unsigned int eagain; /* the next receives find nothing */
	/* Sends complete only through vsock_fake_send(). */
	bool manual_send;
	/* The next receive stays in flight, its buffers lent, until
	 * vsock_fake_finish_recv(), as a real one does until it completes. */
	bool hold_recv;
	struct vsock_rxbuf *held_rx[VSOCK_RX_BATCH];
	unsigned int nr_held_rx;
	/* How many buffers each receive was lent, the first 16 of them. */
	unsigned int rx_lent[16];
	unsigned int rx_calls;
	struct vsock_fake_conn conns[VSOCK_FAKE_CONNS];
	unsigned int failed; /* connections the fake failed */
};

extern struct vsock_fake vsock_fake;
extern const struct vsock_backend_ops vsock_fake_backend;

/* The open connection to host port `port`, or NULL. */
struct vsock_fake_conn *vsock_fake_find(uint32_t port);
/* Complete a send of at most `max` bytes of what `c` holds; returns how
 * many went out. */
size_t vsock_fake_send(struct vsock_fake_conn *c, size_t max);
/* The host peer writes `len` bytes (the socket becomes readable). */
void vsock_fake_write(struct vsock_fake_conn *c, const void *buf,
		      size_t len);
/* A poll on the socket completes: readable again after an EAGAIN. */
void vsock_fake_poll(struct vsock_fake_conn *c);
/* The held receive completes late, as one whose socket was shut down
 * while the kernel was already copying: it writes `len` bytes of `buf`
 * into each lent buffer, then gives them all back with nothing
 * delivered. */
void vsock_fake_finish_recv(const void *buf, size_t len);

#endif
