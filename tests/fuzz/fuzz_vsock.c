/*
 * fuzz_vsock: streams of guest packets and host events against the vsock
 * layers: header decoding and TX validation (pkt), the handshake parser,
 * the connection state machine (conn) and the connection table (muxer),
 * checking their invariants after every step. No I/O, no real time: the
 * clock comes from the input.
 *
 * Input: 4 bytes of setup (bit 1 of byte 0 selects the muxer mode); then
 * records of 1 + 44 bytes: an event byte and a raw header (used by guest
 * packets). Bytes left over feed the handshake parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vsock/conn.h"
#include "devices/vsock/handshake.h"
#include "devices/vsock/muxer.h"
#include "devices/vsock/pkt.h"

#define GUEST_CID 3u
#define MAX_STEPS 4096u

/* libFuzzer reports abort() as a crash, with the input that caused it. */
static void require(int cond)
{
	if (!cond)
		abort();
}

static void check_invariants(const struct vsock_conn *c)
{
	/* We never owe the guest more data than it can take. */
	require(vsock_conn_peer_credit(c) <= c->peer_buf_alloc);
	/* Guest bytes in flight to the host never exceed our credit. */
	require((uint32_t)(c->recv_cnt - c->fwd_cnt) <= c->buf_alloc);
	if (c->state == VSOCK_CONN_CLOSED)
		require((c->want & ~VSOCK_WANT_RST) == 0 && !c->deadline_ns);
	require(c->state <= VSOCK_CONN_CLOSED);
}

static void feed_handshake(const uint8_t *data, size_t len)
{
	struct vsock_handshake hs;
	size_t used;
	uint32_t port;

	vsock_handshake_init(&hs);
	while (len) {
		enum vsock_handshake_result r =
			vsock_handshake_feed(&hs, data, len, &used, &port);

		require(used > 0 && used <= len && hs.len < VSOCK_HANDSHAKE_MAX);
		if (r != VSOCK_HANDSHAKE_MORE)
			vsock_handshake_init(&hs);
		data += used;
		len -= used;
	}
}

/* Muxer mode: ports come from a small space so packets hit connections. */
static void fuzz_muxer(const uint8_t *data, size_t size)
{
	struct vsock_muxer_config cfg = {
		.guest_cid = GUEST_CID, .max_conns = 4, .buf_alloc = 65536,
		.timeout_ns = 1000, .seqpacket = data[1] & 1,
	};
	struct vsock_muxer mx;
	uint64_t now = 1;
	unsigned int steps = 0;

	if (vsock_muxer_init(&mx, &cfg))
		return;
	for (data += 4, size -= 4; size >= 45 && steps < MAX_STEPS;
	     data += 45, size -= 45, steps++) {
		struct vsock_hdr h, out;
		struct vsock_mconn *mc;
		struct vsock_rx rx;
		const char *why;
		uint8_t ev = data[0];

		vsock_hdr_decode(&h, data + 1);
		h.src_port %= 4;
		h.dst_port = h.dst_port & 1 ? VSOCK_HOST_PORT_BASE + h.dst_port % 4
					    : h.dst_port % 4;
		/* The connection an event is about, looked up afresh: the
		 * muxer may have freed any earlier one. */
		mc = vsock_muxer_find(&mx, h.dst_port, h.src_port);
		switch (ev & 7) {
		case 0:
		case 1: /* a guest packet */
			switch (vsock_hdr_check_tx(&h, GUEST_CID,
						   cfg.seqpacket, h.len,
						   &why)) {
			case VSOCK_ACCEPT:
				vsock_muxer_tx(&mx, &h, now);
				break;
			case VSOCK_REPLY_RST:
				vsock_muxer_reply_rst(&mx, &h);
				break;
			case VSOCK_DROP:
				break;
			}
			break;
		case 2: /* a host client connects to a guest port */
			vsock_muxer_connect(&mx, h.src_port, h.type % 3, now);
			break;
		case 3: /* the guest side drains one packet */
			rx = vsock_muxer_next_rx(&mx, h.len % 70000);
			if (rx.kind == VSOCK_RX_PAYLOAD) {
				require(rx.max_len <= VSOCK_MAX_PKT_DATA);
				vsock_muxer_rx_data(&mx, rx.mc,
						    h.fwd_cnt %
							    ((uint64_t)rx.max_len +
							     1),
						    &out);
			}
			break;
		case 4: /* host events on a connection */
			if (!mc)
				break;
			switch ((ev >> 3) & 7) {
			case 0:
				vsock_muxer_host_connected(&mx, mc, ev & 64);
				break;
			case 1:
				vsock_muxer_delivered(
					&mx, mc,
					(uint32_t)(h.fwd_cnt %
						   ((uint64_t)(uint32_t)(
							    mc->conn.recv_cnt -
							    mc->conn.fwd_cnt) +
						    1)));
				break;
			case 2:
				vsock_muxer_readable(&mx, mc, ev & 64);
				break;
			case 3:
				vsock_muxer_host_eof(&mx, mc, now);
				break;
			case 4:
				vsock_muxer_host_error(&mx, mc);
				break;
			default:
				/* The backend lets go once it is closed. */
				if (mc->conn.state == VSOCK_CONN_CLOSED)
					vsock_muxer_release(&mx, mc);
				break;
			}
			break;
		default: /* time passes */
			now += h.src_cid % 2000;
			vsock_muxer_tick(&mx, now, NULL, NULL);
			break;
		}
		require(mx.nr_conns <= cfg.max_conns);
		require(mx.orphan_count <= VSOCK_MUXER_ORPHANS);
	}
	vsock_muxer_destroy(&mx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsock_conn c;
	uint64_t now = 1;
	unsigned int steps = 0;
	bool seqpacket;

	if (size < 4)
		return 0;
	if (data[0] & 2) {
		fuzz_muxer(data, size);
		return 0;
	}
	seqpacket = data[1] & 1;
	vsock_conn_init(&c, GUEST_CID, 1u << 30, 1234,
			seqpacket ? VSOCK_TYPE_SEQPACKET : VSOCK_TYPE_STREAM,
			data[0] & 1, (uint32_t)(data[2] | data[3] << 8) << 4,
			1000, now);
	data += 4;
	size -= 4;
	for (; size >= 45 && steps < MAX_STEPS; data += 45, size -= 45,
	     steps++) {
		struct vsock_hdr h, out;
		const char *why;
		uint8_t ev = data[0];

		vsock_hdr_decode(&h, data + 1);
		switch (ev & 7) {
		case 0:
		case 1:
		case 2: /* a guest packet, through TX validation */
			if (vsock_hdr_check_tx(&h, GUEST_CID, seqpacket, h.len,
					       &why) == VSOCK_ACCEPT)
				vsock_conn_recv(&c, &h, now);
			break;
		case 3: /* the host took some of what the guest sent */
			vsock_conn_delivered(
				&c, (uint32_t)(h.fwd_cnt %
					       ((uint64_t)(uint32_t)(c.recv_cnt -
								     c.fwd_cnt) +
						1)));
			break;
		case 4: /* we send the guest data within its credit */
			vsock_conn_sent(&c, (uint32_t)(h.len %
						       ((uint64_t)vsock_conn_peer_credit(
								&c) +
							1)));
			break;
		case 5: /* the muxer sends what the connection wants */
			if (c.want)
				vsock_conn_fill_hdr(&c, &out,
						    (enum vsock_op)(h.op % 8),
						    0);
			break;
		case 6: /* host events */
			if (ev & 8)
				vsock_conn_host_connected(&c, ev & 16);
			else if (ev & 16)
				vsock_conn_host_eof(&c, now);
			else
				vsock_conn_host_error(&c);
			break;
		default: /* time passes */
			now += h.src_port;
			vsock_conn_tick(&c, now);
			break;
		}
		check_invariants(&c);
	}
	feed_handshake(data, size);
	return 0;
}
