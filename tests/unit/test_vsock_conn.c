/*
 * Unit tests: the vsock connection state machine. Every op in every
 * state (table-driven), credit arithmetic across 32-bit wrap-around, a
 * lying guest, shutdown sequences and timeouts.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vsock/conn.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"

#define GUEST 3u
#define LOCAL 1073741824u
#define PEER 5000u
#define BUF (256u * 1024)
#define T0 1000u
#define TMO VSOCK_CONN_TIMEOUT_NS

static struct vsock_conn c;

static struct vsock_hdr hdr(uint16_t op, uint32_t len, uint32_t flags)
{
	struct vsock_hdr h = {
		.src_cid = GUEST, .dst_cid = VSOCK_HOST_CID,
		.src_port = PEER, .dst_port = LOCAL, .len = len,
		.type = VSOCK_TYPE_STREAM, .op = op, .flags = flags,
		.buf_alloc = 65536, .fwd_cnt = 0,
	};

	return h;
}

static enum vsock_conn_action rx(uint16_t op, uint32_t len, uint32_t flags)
{
	struct vsock_hdr h = hdr(op, len, flags);

	return vsock_conn_recv(&c, &h, T0);
}

enum start {
	S_GUEST_CONNECTING, /* guest REQUEST, host connect under way */
	S_HOST_CONNECTING, /* our REQUEST sent, awaiting the guest */
	S_ESTABLISHED,
	S_CLOSING,
	S_CLOSED,
	S_NR,
};

static void enter(enum start s)
{
	struct vsock_hdr h;

	switch (s) {
	case S_GUEST_CONNECTING:
		vsock_conn_init(&c, GUEST, LOCAL, PEER, VSOCK_TYPE_STREAM,
				false, BUF, TMO, T0);
		break;
	case S_HOST_CONNECTING:
		vsock_conn_init(&c, GUEST, LOCAL, PEER, VSOCK_TYPE_STREAM,
				true, BUF, TMO, T0);
		vsock_conn_fill_hdr(&c, &h, VSOCK_OP_REQUEST, 0);
		c.want &= ~VSOCK_WANT_REQUEST;
		break;
	case S_ESTABLISHED:
		enter(S_GUEST_CONNECTING);
		vsock_conn_host_connected(&c, true);
		c.want = 0;
		break;
	case S_CLOSING:
		enter(S_ESTABLISHED);
		vsock_conn_host_eof(&c, T0);
		ck_assert_int_eq(rx(VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_SEND),
				 VSOCK_ACT_SHUT_WR);
		ck_assert_int_eq(c.state, VSOCK_CONN_CLOSING);
		c.want = 0;
		break;
	case S_CLOSED:
		enter(S_ESTABLISHED);
		rx(VSOCK_OP_RST, 0, 0);
		break;
	case S_NR:
		break;
	}
}

#define A(x) VSOCK_ACT_##x
#define ST(x) VSOCK_CONN_##x
#define RST VSOCK_WANT_RST

/* Every op in every state: resulting action, state and whether we RST. */
static const struct {
	enum start from;
	uint16_t op;
	uint32_t len, flags;
	enum vsock_conn_action act;
	enum vsock_conn_state to;
	uint32_t want;
} op_table[] = {
	{ S_GUEST_CONNECTING, VSOCK_OP_REQUEST, 0, 0, A(ABORT), ST(CLOSED), RST },
	{ S_GUEST_CONNECTING, VSOCK_OP_RESPONSE, 0, 0, A(ABORT), ST(CLOSED), RST },
	{ S_GUEST_CONNECTING, VSOCK_OP_RST, 0, 0, A(ABORT), ST(CLOSED), 0 },
	{ S_GUEST_CONNECTING, VSOCK_OP_SHUTDOWN, 0, 3, A(ABORT), ST(CLOSED), RST },
	{ S_GUEST_CONNECTING, VSOCK_OP_RW, 10, 0, A(ABORT), ST(CLOSED), RST },
	{ S_GUEST_CONNECTING, VSOCK_OP_CREDIT_UPDATE, 0, 0, A(NONE), ST(CONNECTING), 0 },
	{ S_GUEST_CONNECTING, VSOCK_OP_CREDIT_REQUEST, 0, 0, A(NONE), ST(CONNECTING), 0 },

	{ S_HOST_CONNECTING, VSOCK_OP_REQUEST, 0, 0, A(ABORT), ST(CLOSED), RST },
	{ S_HOST_CONNECTING, VSOCK_OP_RESPONSE, 0, 0, A(ACCEPTED), ST(ESTABLISHED), 0 },
	{ S_HOST_CONNECTING, VSOCK_OP_RST, 0, 0, A(ABORT), ST(CLOSED), 0 },
	{ S_HOST_CONNECTING, VSOCK_OP_SHUTDOWN, 0, 3, A(ABORT), ST(CLOSED), RST },
	{ S_HOST_CONNECTING, VSOCK_OP_RW, 10, 0, A(ABORT), ST(CLOSED), RST },
	{ S_HOST_CONNECTING, VSOCK_OP_CREDIT_UPDATE, 0, 0, A(NONE), ST(CONNECTING), 0 },
	{ S_HOST_CONNECTING, VSOCK_OP_CREDIT_REQUEST, 0, 0, A(NONE), ST(CONNECTING), 0 },

	{ S_ESTABLISHED, VSOCK_OP_REQUEST, 0, 0, A(ABORT), ST(CLOSED), RST },
	{ S_ESTABLISHED, VSOCK_OP_RESPONSE, 0, 0, A(ABORT), ST(CLOSED), RST },
	{ S_ESTABLISHED, VSOCK_OP_RST, 0, 0, A(ABORT), ST(CLOSED), 0 },
	{ S_ESTABLISHED, VSOCK_OP_SHUTDOWN, 0, 1, A(NONE), ST(ESTABLISHED), 0 },
	{ S_ESTABLISHED, VSOCK_OP_SHUTDOWN, 0, 2, A(SHUT_WR), ST(ESTABLISHED), 0 },
	{ S_ESTABLISHED, VSOCK_OP_SHUTDOWN, 0, 3, A(CLOSE), ST(CLOSED), RST },
	{ S_ESTABLISHED, VSOCK_OP_RW, 10, 0, A(DELIVER), ST(ESTABLISHED), 0 },
	{ S_ESTABLISHED, VSOCK_OP_RW, 0, 0, A(NONE), ST(ESTABLISHED), 0 },
	{ S_ESTABLISHED, VSOCK_OP_CREDIT_UPDATE, 0, 0, A(NONE), ST(ESTABLISHED), 0 },
	{ S_ESTABLISHED, VSOCK_OP_CREDIT_REQUEST, 0, 0, A(NONE), ST(ESTABLISHED),
	  VSOCK_WANT_CREDIT_UPDATE },

	{ S_CLOSING, VSOCK_OP_REQUEST, 0, 0, A(NONE), ST(CLOSING), 0 },
	{ S_CLOSING, VSOCK_OP_RESPONSE, 0, 0, A(NONE), ST(CLOSING), 0 },
	{ S_CLOSING, VSOCK_OP_RST, 0, 0, A(CLOSE), ST(CLOSED), 0 },
	{ S_CLOSING, VSOCK_OP_SHUTDOWN, 0, 3, A(CLOSE), ST(CLOSED), RST },
	{ S_CLOSING, VSOCK_OP_RW, 10, 0, A(NONE), ST(CLOSING), 0 },
	{ S_CLOSING, VSOCK_OP_CREDIT_UPDATE, 0, 0, A(NONE), ST(CLOSING), 0 },
	{ S_CLOSING, VSOCK_OP_CREDIT_REQUEST, 0, 0, A(NONE), ST(CLOSING), 0 },

	{ S_CLOSED, VSOCK_OP_REQUEST, 0, 0, A(NONE), ST(CLOSED), 0 },
	{ S_CLOSED, VSOCK_OP_RESPONSE, 0, 0, A(NONE), ST(CLOSED), 0 },
	{ S_CLOSED, VSOCK_OP_RST, 0, 0, A(NONE), ST(CLOSED), 0 },
	{ S_CLOSED, VSOCK_OP_SHUTDOWN, 0, 3, A(NONE), ST(CLOSED), 0 },
	{ S_CLOSED, VSOCK_OP_RW, 10, 0, A(NONE), ST(CLOSED), 0 },
	{ S_CLOSED, VSOCK_OP_CREDIT_UPDATE, 0, 0, A(NONE), ST(CLOSED), 0 },
	{ S_CLOSED, VSOCK_OP_CREDIT_REQUEST, 0, 0, A(NONE), ST(CLOSED), 0 },
};

START_TEST(every_op_in_every_state)
{
	enum vsock_conn_action act;

	test_log_install();
	enter(op_table[_i].from);
	act = rx(op_table[_i].op, op_table[_i].len, op_table[_i].flags);
	ck_assert_msg(act == op_table[_i].act && c.state == op_table[_i].to &&
			      c.want == op_table[_i].want,
		      "row %d (%s in state %d): action %d state %d want %#x",
		      _i, vsock_op_name(op_table[_i].op), op_table[_i].from,
		      act, c.state, c.want);
}
END_TEST

START_TEST(guest_connect_accepted_or_refused)
{
	struct vsock_hdr h;

	enter(S_GUEST_CONNECTING);
	vsock_conn_host_connected(&c, true);
	ck_assert_int_eq(c.state, VSOCK_CONN_ESTABLISHED);
	ck_assert_uint_eq(c.want, VSOCK_WANT_RESPONSE);
	vsock_conn_fill_hdr(&c, &h, VSOCK_OP_RESPONSE, 0);
	ck_assert_uint_eq(h.src_cid, VSOCK_HOST_CID);
	ck_assert_uint_eq(h.dst_cid, GUEST);
	ck_assert_uint_eq(h.src_port, LOCAL);
	ck_assert_uint_eq(h.dst_port, PEER);
	ck_assert_uint_eq(h.buf_alloc, BUF);

	enter(S_GUEST_CONNECTING);
	vsock_conn_host_connected(&c, false); /* nobody listening */
	ck_assert_int_eq(c.state, VSOCK_CONN_CLOSED);
	ck_assert_uint_eq(c.want, VSOCK_WANT_RST);
}
END_TEST

START_TEST(host_connect_needs_request_first)
{
	vsock_conn_init(&c, GUEST, LOCAL, PEER, VSOCK_TYPE_STREAM, true, BUF,
			TMO, T0);
	ck_assert_uint_eq(c.want, VSOCK_WANT_REQUEST);
	/* A RESPONSE before our REQUEST went out is bogus. */
	ck_assert_int_eq(rx(VSOCK_OP_RESPONSE, 0, 0), VSOCK_ACT_ABORT);
}
END_TEST

START_TEST(peer_credit_tracks_headers_and_wraps)
{
	struct vsock_hdr h;

	enter(S_ESTABLISHED);
	h = hdr(VSOCK_OP_CREDIT_UPDATE, 0, 0);
	h.buf_alloc = 1000;
	h.fwd_cnt = 0;
	vsock_conn_recv(&c, &h, T0);
	ck_assert_uint_eq(vsock_conn_peer_credit(&c), 1000);
	vsock_conn_sent(&c, 600);
	ck_assert_uint_eq(vsock_conn_peer_credit(&c), 400);
	vsock_conn_sent(&c, 400);
	ck_assert_uint_eq(vsock_conn_peer_credit(&c), 0);
	/* Counters near 2^32: differences still right after the wrap. */
	c.sent_cnt = 0xfffffff0u;
	h.fwd_cnt = 0xffffff00u;
	vsock_conn_recv(&c, &h, T0);
	ck_assert_uint_eq(vsock_conn_peer_credit(&c), 1000 - 0xf0);
	vsock_conn_sent(&c, 0x20); /* sent_cnt wraps to 0x10 */
	ck_assert_uint_eq(c.sent_cnt, 0x10);
	ck_assert_uint_eq(vsock_conn_peer_credit(&c), 1000 - 0x110);
	h.fwd_cnt = 0x10; /* everything consumed, after its wrap */
	vsock_conn_recv(&c, &h, T0);
	ck_assert_uint_eq(vsock_conn_peer_credit(&c), 1000);
}
END_TEST

START_TEST(lying_peer_credit_gives_nothing)
{
	struct vsock_hdr h;

	enter(S_ESTABLISHED);
	vsock_conn_sent(&c, 100);
	h = hdr(VSOCK_OP_CREDIT_UPDATE, 0, 0);
	h.buf_alloc = 1000;
	h.fwd_cnt = 500; /* claims to have consumed more than we sent */
	vsock_conn_recv(&c, &h, T0);
	ck_assert_uint_eq(vsock_conn_peer_credit(&c), 0);
	h.buf_alloc = 0;
	h.fwd_cnt = 100;
	vsock_conn_recv(&c, &h, T0);
	ck_assert_uint_eq(vsock_conn_peer_credit(&c), 0);
}
END_TEST

START_TEST(guest_overrun_resets)
{
	enter(S_ESTABLISHED);
	ck_assert_int_eq(rx(VSOCK_OP_RW, 65536, 0), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(rx(VSOCK_OP_RW, 65536, 0), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(rx(VSOCK_OP_RW, 65536, 0), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(rx(VSOCK_OP_RW, 65536, 0), VSOCK_ACT_DELIVER);
	/* 256 KiB in flight to the host: exactly the credit; one more byte
	 * is a lie. */
	ck_assert_int_eq(rx(VSOCK_OP_RW, 1, 0), VSOCK_ACT_ABORT);
	ck_assert_uint_eq(c.want, VSOCK_WANT_RST);
}
END_TEST

/* The guest's RW packet of `len` bytes, its own buffer `buf_alloc`. */
static enum vsock_conn_action rx_rw(uint32_t len, uint32_t buf_alloc)
{
	struct vsock_hdr h = hdr(VSOCK_OP_RW, len, 0);

	h.buf_alloc = buf_alloc;
	return vsock_conn_recv(&c, &h, T0);
}

START_TEST(delivery_frees_credit_and_announces_it)
{
	struct vsock_hdr h;

	enter(S_ESTABLISHED);
	c.recv_cnt = c.fwd_cnt = c.fwd_cnt_sent = 0xfffff000u; /* wrap soon */
	/* A guest buffer as big as ours (Linux's default): half of ours. */
	ck_assert_int_eq(rx_rw(65536, BUF), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(rx_rw(65536, BUF), VSOCK_ACT_DELIVER);
	vsock_conn_delivered(&c, 131071);
	ck_assert_uint_eq(c.want & VSOCK_WANT_CREDIT_UPDATE, 0);
	vsock_conn_delivered(&c, 1); /* half of 256 KiB */
	ck_assert_uint_ne(c.want & VSOCK_WANT_CREDIT_UPDATE, 0);
	vsock_conn_fill_hdr(&c, &h, VSOCK_OP_CREDIT_UPDATE, 0);
	ck_assert_uint_eq(h.fwd_cnt, 0xfffff000u + 131072);
	ck_assert_uint_eq(c.want & VSOCK_WANT_CREDIT_UPDATE, 0);
	/* After the wrap the guest may fill the buffer again, no more. */
	ck_assert_int_eq(rx(VSOCK_OP_RW, 65536, 0), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(rx(VSOCK_OP_RW, 65536, 0), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(rx(VSOCK_OP_RW, 65536, 0), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(rx(VSOCK_OP_RW, 65536, 0), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(rx(VSOCK_OP_RW, 1, 0), VSOCK_ACT_ABORT);
}
END_TEST

/*
 * Linux keeps no more than its own buffer unacknowledged, so the
 * announcement is due at half of the smaller buffer, and when the guest
 * shrinks its buffer after the deliveries, at once.
 */
START_TEST(small_guest_buffer_gets_credit_at_half_of_it)
{
	enter(S_ESTABLISHED);
	ck_assert_int_eq(rx_rw(65536, 65536), VSOCK_ACT_DELIVER);
	vsock_conn_delivered(&c, 32767);
	ck_assert_uint_eq(c.want & VSOCK_WANT_CREDIT_UPDATE, 0);
	vsock_conn_delivered(&c, 1);
	ck_assert_uint_ne(c.want & VSOCK_WANT_CREDIT_UPDATE, 0);

	enter(S_ESTABLISHED);
	ck_assert_int_eq(rx_rw(40000, BUF), VSOCK_ACT_DELIVER);
	vsock_conn_delivered(&c, 40000);
	ck_assert_uint_eq(c.want & VSOCK_WANT_CREDIT_UPDATE, 0);
	/* SO_VM_SOCKETS_BUFFER_SIZE on the connected socket: Linux says
	 * so in a CREDIT_UPDATE. */
	ck_assert_int_eq(rx(VSOCK_OP_CREDIT_UPDATE, 0, 0), VSOCK_ACT_NONE);
	ck_assert_uint_ne(c.want & VSOCK_WANT_CREDIT_UPDATE, 0);

	/* A guest buffer of 0 makes every delivery due, nothing else. */
	enter(S_ESTABLISHED);
	ck_assert_int_eq(rx_rw(0, 0), VSOCK_ACT_NONE);
	ck_assert_uint_eq(c.want & VSOCK_WANT_CREDIT_UPDATE, 0);
}
END_TEST

/* Whatever a sender keeps back, the tick announces freed space. */
START_TEST(tick_announces_freed_space)
{
	struct vsock_hdr h;

	enter(S_ESTABLISHED);
	ck_assert(!vsock_conn_tick(&c, T0 + 1));
	ck_assert_uint_eq(c.want, 0); /* nothing to announce */
	ck_assert_int_eq(rx_rw(1000, BUF), VSOCK_ACT_DELIVER);
	ck_assert(!vsock_conn_tick(&c, T0 + 2));
	ck_assert_uint_eq(c.want, 0); /* nothing freed yet */
	vsock_conn_delivered(&c, 1000);
	ck_assert_uint_eq(c.want, 0);
	ck_assert(!vsock_conn_tick(&c, T0 + 3));
	ck_assert_uint_eq(c.want, VSOCK_WANT_CREDIT_UPDATE);
	vsock_conn_fill_hdr(&c, &h, VSOCK_OP_CREDIT_UPDATE, 0);
	ck_assert_uint_eq(h.fwd_cnt, 1000);
	ck_assert(!vsock_conn_tick(&c, T0 + 4));
	ck_assert_uint_eq(c.want, 0); /* told once */

	/* Not after the connection is over. */
	enter(S_CLOSING);
	c.fwd_cnt++;
	ck_assert(!vsock_conn_tick(&c, T0 + 1));
	ck_assert_uint_eq(c.want & VSOCK_WANT_CREDIT_UPDATE, 0);
}
END_TEST

START_TEST(half_close_both_ways)
{
	struct vsock_hdr h;

	/* Host finishes first, guest keeps sending, then finishes. */
	enter(S_ESTABLISHED);
	vsock_conn_host_eof(&c, T0);
	ck_assert_uint_eq(c.want, VSOCK_WANT_SHUTDOWN);
	vsock_conn_fill_hdr(&c, &h, VSOCK_OP_SHUTDOWN, 0);
	ck_assert_uint_eq(h.flags, VSOCK_SHUTDOWN_SEND);
	ck_assert(!vsock_conn_can_send(&c));
	ck_assert_int_eq(rx(VSOCK_OP_RW, 100, 0), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(rx(VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_SEND),
			 VSOCK_ACT_SHUT_WR);
	ck_assert_int_eq(c.state, VSOCK_CONN_CLOSING);
	vsock_conn_fill_hdr(&c, &h, VSOCK_OP_SHUTDOWN, 0);
	ck_assert_uint_eq(h.flags, VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV);
	ck_assert_int_eq(rx(VSOCK_OP_RST, 0, 0), VSOCK_ACT_CLOSE);
	ck_assert_int_eq(c.state, VSOCK_CONN_CLOSED);
	ck_assert_uint_eq(c.want & VSOCK_WANT_RST, 0);

	/* Guest finishes sending first; the host keeps sending. */
	enter(S_ESTABLISHED);
	ck_assert_int_eq(rx(VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_SEND),
			 VSOCK_ACT_SHUT_WR);
	ck_assert(vsock_conn_can_send(&c));
	ck_assert_int_eq(rx(VSOCK_OP_RW, 1, 0), VSOCK_ACT_ABORT); /* liar */
	enter(S_ESTABLISHED);
	rx(VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_SEND);
	vsock_conn_host_eof(&c, T0);
	ck_assert_int_eq(c.state, VSOCK_CONN_CLOSING);
	ck_assert_uint_eq(c.shutdown_flags,
			  VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV);
}
END_TEST

START_TEST(guest_stops_receiving)
{
	enter(S_ESTABLISHED);
	rx(VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_RCV);
	ck_assert(!vsock_conn_can_send(&c));
	ck_assert_int_eq(c.state, VSOCK_CONN_ESTABLISHED);
}
END_TEST

START_TEST(timeouts)
{
	/* An unanswered REQUEST. */
	vsock_conn_init(&c, GUEST, LOCAL, PEER, VSOCK_TYPE_STREAM, true, BUF,
			TMO, T0);
	ck_assert(!vsock_conn_tick(&c, T0 + TMO - 1));
	ck_assert(vsock_conn_tick(&c, T0 + TMO));
	ck_assert_int_eq(c.state, VSOCK_CONN_CLOSED);
	ck_assert_uint_eq(c.want, VSOCK_WANT_RST);
	ck_assert(!vsock_conn_tick(&c, T0 + 10 * TMO)); /* once only */

	/* A SHUTDOWN the guest never completes. */
	enter(S_CLOSING);
	ck_assert(!vsock_conn_tick(&c, T0 + TMO - 1));
	ck_assert(vsock_conn_tick(&c, T0 + TMO));
	ck_assert_uint_eq(c.want, VSOCK_WANT_RST);

	/* Established connections have no timer. */
	enter(S_ESTABLISHED);
	ck_assert(!vsock_conn_tick(&c, ~0ull));
}
END_TEST

START_TEST(type_mismatch_resets)
{
	struct vsock_hdr h;

	enter(S_ESTABLISHED);
	h = hdr(VSOCK_OP_RW, 4, 0);
	h.type = VSOCK_TYPE_SEQPACKET;
	ck_assert_int_eq(vsock_conn_recv(&c, &h, T0), VSOCK_ACT_ABORT);
	ck_assert_uint_eq(c.want, VSOCK_WANT_RST);
}
END_TEST

START_TEST(empty_rw_only_ends_messages)
{
	struct vsock_hdr h;

	enter(S_ESTABLISHED);
	ck_assert_int_eq(rx(VSOCK_OP_RW, 0, VSOCK_SEQ_EOM), VSOCK_ACT_NONE);
	vsock_conn_init(&c, GUEST, LOCAL, PEER, VSOCK_TYPE_SEQPACKET, false,
			BUF, TMO, T0);
	vsock_conn_host_connected(&c, true);
	h = hdr(VSOCK_OP_RW, 0, 0);
	h.type = VSOCK_TYPE_SEQPACKET;
	ck_assert_int_eq(vsock_conn_recv(&c, &h, T0), VSOCK_ACT_NONE);
	h.flags = VSOCK_SEQ_EOM;
	ck_assert_int_eq(vsock_conn_recv(&c, &h, T0), VSOCK_ACT_DELIVER);
	ck_assert_int_eq(c.state, VSOCK_CONN_ESTABLISHED);
}
END_TEST

START_TEST(host_error_resets_once)
{
	enter(S_ESTABLISHED);
	vsock_conn_host_error(&c);
	ck_assert_int_eq(c.state, VSOCK_CONN_CLOSED);
	ck_assert_uint_eq(c.want, VSOCK_WANT_RST);
	c.want = 0;
	vsock_conn_host_error(&c);
	ck_assert_uint_eq(c.want, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_conn");
	TCase *ops = tcase_create("ops");
	TCase *credit = tcase_create("credit");
	TCase *life = tcase_create("lifecycle");

	tcase_add_checked_fixture(ops, test_log_install, NULL);
	tcase_add_loop_test(ops, every_op_in_every_state, 0,
			    sizeof(op_table) / sizeof(op_table[0]));
	tcase_add_test(ops, type_mismatch_resets);
	tcase_add_test(ops, empty_rw_only_ends_messages);
	suite_add_tcase(s, ops);

	tcase_add_checked_fixture(credit, test_log_install, NULL);
	tcase_add_test(credit, peer_credit_tracks_headers_and_wraps);
	tcase_add_test(credit, lying_peer_credit_gives_nothing);
	tcase_add_test(credit, guest_overrun_resets);
	tcase_add_test(credit, delivery_frees_credit_and_announces_it);
	tcase_add_test(credit, small_guest_buffer_gets_credit_at_half_of_it);
	tcase_add_test(credit, tick_announces_freed_space);
	suite_add_tcase(s, credit);

	tcase_add_checked_fixture(life, test_log_install, NULL);
	tcase_add_test(life, guest_connect_accepted_or_refused);
	tcase_add_test(life, host_connect_needs_request_first);
	tcase_add_test(life, half_close_both_ways);
	tcase_add_test(life, guest_stops_receiving);
	tcase_add_test(life, timeouts);
	tcase_add_test(life, host_error_resets_once);
	suite_add_tcase(s, life);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
