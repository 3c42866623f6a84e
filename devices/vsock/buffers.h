/*
 * buffers: guest chains the vsock device holds, as the backend sees them,
 * and the event buffers the device writes itself.
 *
 * A TX buffer is one guest TX chain carrying RW payload: its iovecs point
 * into guest memory and the host socket sends straight from there (copy
 * once). An RX buffer is one guest RX chain: a header area then payload
 * room, which a host recv fills in place.
 *
 * Invariants (the device keeps them; the backend relies on them):
 * - A buffer belongs to exactly one side at a time. TX: `busy` from the
 *   moment the device hands it to the backend until the backend gives it
 *   back (vsock_backend_env.tx_done); the chain goes back to the guest
 *   only then. RX: `lent` while a backend recv may write into it, until
 *   the backend gives it back (vsock_backend_env.rx_return).
 * - Every iovec was checked against guest memory when the chain was
 *   parsed; a buffer never holds a pointer the guest did not offer.
 * - `gen` is the device generation the chain was taken in. A buffer that
 *   comes back from an older generation (a device reset happened in
 *   between) is forgotten, never pushed to a ring the guest has replaced.
 * - Bounds: at most VSOCK_TX_MAX_SEGS payload pieces per TX buffer (more is
 *   a reset connection), VSOCK_RX_MAX_SEGS pieces of an RX chain used.
 */
#ifndef DEVICES_VSOCK_BUFFERS_H
#define DEVICES_VSOCK_BUFFERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/vsock/pkt.h"
#include "virtio/vq.h"

#define VSOCK_TX_MAX_SEGS 32u /* data descriptors in one TX packet */
#define VSOCK_RX_MAX_SEGS 16u /* descriptors of one RX buffer we use */

struct vsock_txbuf {
	bool busy; /* the backend holds it */
	uint16_t head;
	uint32_t gen;
	uint32_t len; /* payload bytes */
	uint32_t off; /* bytes already sent */
	uint32_t flags; /* RW flags (SEQPACKET EOM/EOR) */
	struct vsock_txbuf *next; /* queued behind it on one host socket */
	unsigned int nseg;
	struct iovec iov[VSOCK_TX_MAX_SEGS];
};

struct vsock_rxbuf {
	bool popped; /* holds a guest chain */
	bool lent; /* a host recv is filling it */
	uint16_t head;
	uint32_t gen;
	uint32_t room; /* payload bytes after the header */
	unsigned int nseg;
	struct iovec seg[VSOCK_RX_MAX_SEGS]; /* writable part, header first */
};

/*
 * Read TX chain `c`: copy the header into `wire`, point `tb` at the
 * payload in place. Returns the payload length (capped at UINT32_MAX), or
 * -errno for a malformed chain. *too_fragmented: more payload pieces than
 * `tb` can hold (the length still counts them all).
 */
int64_t vsock_txbuf_parse(struct vsock_txbuf *tb, struct vq_chain *c,
			  uint8_t wire[VSOCK_HDR_SIZE], bool *too_fragmented);

/* Load RX chain `c` into `rb`; -errno if it is unusable (a read-only
 * descriptor, a bad address, less room than a header). */
int vsock_rxbuf_load(struct vsock_rxbuf *rb, struct vq_chain *c);
/* Point `iov` at up to `max` payload bytes of `rb`; returns iov count. */
unsigned int vsock_rxbuf_iov(const struct vsock_rxbuf *rb, uint32_t max,
			     struct iovec *iov, unsigned int nr_iov);
/* Copy `len` bytes into the payload area of `rb`; returns bytes copied. */
uint32_t vsock_rxbuf_copy(struct vsock_rxbuf *rb, const void *src,
			  uint32_t len);
/* Write header `h` at the start of `rb`. */
void vsock_rxbuf_write_hdr(struct vsock_rxbuf *rb, const struct vsock_hdr *h);

/* struct virtio_vsock_event: le32 id. */
#define VSOCK_EVENT_SIZE 4u
/*
 * Write event `id` into event chain `c` (any split across writable
 * descriptors). Returns the bytes written, or -errno if the chain is
 * unusable: a read-only descriptor, less room than an event, a bad
 * address.
 */
int vsock_evbuf_write(struct vq_chain *c, uint32_t id);

#endif
