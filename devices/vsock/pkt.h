/*
 * pkt: the virtio-vsock packet header (VIRTIO 1.2, 5.10.6): encoding,
 * decoding and the validation of headers the guest sends.
 *
 * Pure: no I/O, no state. All multi-byte fields are little-endian on the
 * wire; struct vsock_hdr holds them in host order.
 */
#ifndef DEVICES_VSOCK_PKT_H
#define DEVICES_VSOCK_PKT_H

#include <stdbool.h>
#include <stdint.h>

#define VSOCK_HDR_SIZE 44u
#define VSOCK_HOST_CID 2u
#define VSOCK_MAX_PKT_DATA 65536u /* largest payload a packet may carry */

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

enum vsock_type {
	VSOCK_TYPE_STREAM = 1,
	VSOCK_TYPE_SEQPACKET = 2,
};

/* SHUTDOWN flags. */
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u
/* RW flags on SEQPACKET connections. */
#define VSOCK_SEQ_EOM 1u
#define VSOCK_SEQ_EOR 2u

struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

void vsock_hdr_decode(struct vsock_hdr *h, const uint8_t wire[VSOCK_HDR_SIZE]);
void vsock_hdr_encode(uint8_t wire[VSOCK_HDR_SIZE], const struct vsock_hdr *h);

/* What to do with a packet the guest transmitted. */
enum vsock_verdict {
	VSOCK_ACCEPT, /* pass to the connection layer */
	VSOCK_DROP, /* ignore silently */
	VSOCK_REPLY_RST, /* answer with RST (never for an RST) */
};

/*
 * Check a guest TX header: src_cid is the guest's CID, dst_cid is the
 * host, the type is STREAM or (if negotiated) SEQPACKET, the op is known,
 * and `len` equals the `data_len` bytes actually present, at most
 * VSOCK_MAX_PKT_DATA, and zero for ops that carry no data.
 * *why gets a short reason for anything not accepted.
 */
enum vsock_verdict vsock_hdr_check_tx(const struct vsock_hdr *h,
				      uint64_t guest_cid, bool seqpacket,
				      uint32_t data_len, const char **why);

/* A reply header swapping source and destination of `h`. */
void vsock_hdr_reply(struct vsock_hdr *out, const struct vsock_hdr *h,
		     enum vsock_op op);

const char *vsock_op_name(uint16_t op);

#endif
