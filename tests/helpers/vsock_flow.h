/*
 * vsock_flow: the guest half of the "conversation" (see vsock_host.h) over
 * many vsock_driver sockets at once: each sends its 8-byte id and
 * guest_len bytes of stream 2*id+1 then SHUTDOWN(SEND), and checks the
 * host_len bytes of stream 2*id+2 that come back, in random-sized writes
 * and reads, interleaved round-robin on the one device thread.
 */
#ifndef TESTS_VSOCK_FLOW_H
#define TESTS_VSOCK_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/helpers/vsock_driver.h"
#include "tests/helpers/vsock_host.h"

struct vsock_flow_conn {
	struct vsock_sock *s;
	uint64_t id;
	uint64_t to_send, sent; /* payload after the id */
	unsigned int id_sent;
	uint64_t expect, received;
	long bad_at; /* first wrong byte received, or -1 */
	bool send_done, eof, done;
	int err; /* send or recv error (e.g. -ECONNRESET) */
};

struct vsock_flow {
	struct vsock_driver *d;
	struct vsock_flow_conn *c;
	unsigned int n;
	uint32_t max_write; /* app write/read size; 0: 65536 */
	bool random_writes;
	uint64_t seed;
	uint64_t bytes_in, bytes_out;
	uint8_t *buf;
};

void vsock_flow_init(struct vsock_flow *f, struct vsock_driver *d,
		     unsigned int n);
void vsock_flow_set(struct vsock_flow *f, unsigned int i, struct vsock_sock *s,
		    uint64_t id, uint64_t guest_len, uint64_t host_len);
/* Run every conversation to its end (done, or an error). */
void vsock_flow_run(struct vsock_flow *f);
void vsock_flow_free(struct vsock_flow *f);
/* Run the device until host peer `p` has finished, then join it. */
void vsock_flow_join_peer(struct vsock_driver *d, struct vsock_host_peer *p);

#endif
