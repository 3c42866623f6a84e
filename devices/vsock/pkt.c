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
#include "pkt.h"

#include <endian.h>
#include <string.h>

static uint16_t ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void st16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void st32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void st64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

void vsock_hdr_decode(struct vsock_hdr *h, const uint8_t wire[VSOCK_HDR_SIZE])
{
	h->src_cid = ld64(wire + 0);
	h->dst_cid = ld64(wire + 8);
	h->src_port = ld32(wire + 16);
	h->dst_port = ld32(wire + 20);
	h->len = ld32(wire + 24);
	h->type = ld16(wire + 28);
	h->op = ld16(wire + 30);
	h->flags = ld32(wire + 32);
	h->buf_alloc = ld32(wire + 36);
	h->fwd_cnt = ld32(wire + 40);
}

void vsock_hdr_encode(uint8_t wire[VSOCK_HDR_SIZE], const struct vsock_hdr *h)
{
	st64(wire + 0, h->src_cid);
	st64(wire + 8, h->dst_cid);
	st32(wire + 16, h->src_port);
	st32(wire + 20, h->dst_port);
	st32(wire + 24, h->len);
	st16(wire + 28, h->type);
	st16(wire + 30, h->op);
	st32(wire + 32, h->flags);
	st32(wire + 36, h->buf_alloc);
	st32(wire + 40, h->fwd_cnt);
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
