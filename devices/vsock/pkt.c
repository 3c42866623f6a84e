/*
 * pkt: header codec and guest TX validation (see pkt.h).
 *
 * Trust edge: every field of a TX header is guest-controlled. The rules
 * here follow the spec's "drop or reset" guidance: a packet for another
 * CID, from a forged CID, of an unknown type or op, or whose length does
 * not match the data present is never passed on; connection-level
 * problems get an RST, but an RST is never answered with an RST (two
 * peers must not ping-pong resets).
 */
#include "devices/vsock/pkt.h"

#include <string.h>

#include "vmm/util.h"

void vsock_hdr_decode(struct vsock_hdr *h, const uint8_t wire[VSOCK_HDR_SIZE])
{
	h->src_cid = get_le64(wire + 0);
	h->dst_cid = get_le64(wire + 8);
	h->src_port = get_le32(wire + 16);
	h->dst_port = get_le32(wire + 20);
	h->len = get_le32(wire + 24);
	h->type = get_le16(wire + 28);
	h->op = get_le16(wire + 30);
	h->flags = get_le32(wire + 32);
	h->buf_alloc = get_le32(wire + 36);
	h->fwd_cnt = get_le32(wire + 40);
}

void vsock_hdr_encode(uint8_t wire[VSOCK_HDR_SIZE], const struct vsock_hdr *h)
{
	put_le64(wire + 0, h->src_cid);
	put_le64(wire + 8, h->dst_cid);
	put_le32(wire + 16, h->src_port);
	put_le32(wire + 20, h->dst_port);
	put_le32(wire + 24, h->len);
	put_le16(wire + 28, h->type);
	put_le16(wire + 30, h->op);
	put_le32(wire + 32, h->flags);
	put_le32(wire + 36, h->buf_alloc);
	put_le32(wire + 40, h->fwd_cnt);
}

enum vsock_verdict vsock_hdr_check_tx(const struct vsock_hdr *h,
				      uint64_t guest_cid, bool seqpacket,
				      uint32_t data_len, const char **why)
{
	bool is_rst = h->op == VSOCK_OP_RST;
	enum vsock_verdict bad = is_rst ? VSOCK_DROP : VSOCK_REPLY_RST;

	/* Addressing first: a reply to a forged address would go nowhere. */
	if (h->src_cid != guest_cid) {
		*why = "source CID is not the guest's";
		return VSOCK_DROP;
	}
	if (h->dst_cid != VSOCK_HOST_CID) {
		*why = "destination is not the host (CID 2)";
		return VSOCK_DROP;
	}
	if (h->len != data_len) {
		*why = "header length does not match the data present";
		return VSOCK_DROP;
	}
	if (h->len > VSOCK_MAX_PKT_DATA) {
		*why = "payload larger than 64 KiB";
		return VSOCK_DROP;
	}
	if (h->type != VSOCK_TYPE_STREAM &&
	    !(seqpacket && h->type == VSOCK_TYPE_SEQPACKET)) {
		*why = "unknown or unnegotiated socket type";
		return bad;
	}
	if (h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST) {
		*why = "unknown operation";
		return bad;
	}
	if (h->op != VSOCK_OP_RW && h->len) {
		*why = "data on an operation that carries none";
		return bad;
	}
	return VSOCK_ACCEPT;
}

void vsock_hdr_reply(struct vsock_hdr *out, const struct vsock_hdr *h,
		     enum vsock_op op)
{
	memset(out, 0, sizeof(*out));
	out->src_cid = h->dst_cid;
	out->dst_cid = h->src_cid;
	out->src_port = h->dst_port;
	out->dst_port = h->src_port;
	out->type = h->type;
	out->op = (uint16_t)op;
}

const char *vsock_op_name(uint16_t op)
{
	static const char *const names[] = {
		[VSOCK_OP_INVALID] = "INVALID",
		[VSOCK_OP_REQUEST] = "REQUEST",
		[VSOCK_OP_RESPONSE] = "RESPONSE",
		[VSOCK_OP_RST] = "RST",
		[VSOCK_OP_SHUTDOWN] = "SHUTDOWN",
		[VSOCK_OP_RW] = "RW",
		[VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE",
		[VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
	};

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "UNKNOWN";
}
