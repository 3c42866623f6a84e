/*
 * Unit tests: the vsock muxer. Connection setup both ways, RSTs for
 * unmatched packets, the connection limit, RX priority, the data path
 * within credit, host port allocation, timeouts and freeing, and packets
 * held by the fault modes on an injected clock.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vsock/muxer.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"

#define GUEST 3u
#define TMO 1000u

static struct vsock_muxer mx;
static uint32_t guest_buf; /* the guest's buffer, in every header */

static void setup_n(uint32_t max_conns)
{
	struct vsock_muxer_config cfg = {
		.guest_cid = GUEST, .max_conns = max_conns,
		.buf_alloc = VSOCK_MUXER_BUF_ALLOC, .timeout_ns = TMO,
	};

	test_log_install();
	guest_buf = 65536;
	ck_assert_int_eq(vsock_muxer_init(&mx, &cfg), 0);
}

static void setup(void)
{
	setup_n(8);
}

static void teardown(void)
{
	vsock_muxer_destroy(&mx);
}

static struct vsock_tx_result tx(uint16_t op, uint32_t src_port,
				 uint32_t dst_port, uint32_t len)
{
	struct vsock_hdr h = {
		.src_cid = GUEST, .dst_cid = VSOCK_HOST_CID,
		.src_port = src_port, .dst_port = dst_port, .len = len,
		.type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = guest_buf,
	};

	return vsock_muxer_tx(&mx, &h, 0);
}

static struct vsock_rx next(void)
{
	return vsock_muxer_next_rx(&mx, 4096);
}

static void expect_packet(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	struct vsock_rx rx = next();

	ck_assert_int_eq(rx.kind, VSOCK_RX_PACKET);
	ck_assert_msg(rx.hdr.op == op, "got %s, want %s",
		      vsock_op_name(rx.hdr.op), vsock_op_name(op));
	ck_assert_uint_eq(rx.hdr.src_cid, VSOCK_HOST_CID);
	ck_assert_uint_eq(rx.hdr.dst_cid, GUEST);
	ck_assert_uint_eq(rx.hdr.src_port, src_port);
	ck_assert_uint_eq(rx.hdr.dst_port, dst_port);
}

/* A guest-initiated connection from guest port 5000 to host port 52. */
static struct vsock_mconn *established(void)
{
	struct vsock_tx_result r = tx(VSOCK_OP_REQUEST, 5000, 52, 0);

	ck_assert_int_eq(r.kind, VSOCK_TX_CONNECT);
	vsock_muxer_host_connected(&mx, r.mc, true);
	expect_packet(VSOCK_OP_RESPONSE, 52, 5000);
	return r.mc;
}

START_TEST(guest_connects)
{
	struct vsock_mconn *mc = established();

	ck_assert_ptr_eq(vsock_muxer_find(&mx, 52, 5000), mc);
	ck_assert_int_eq(mc->conn.state, VSOCK_CONN_ESTABLISHED);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	ck_assert_uint_eq(mx.nr_conns, 1);
}
END_TEST

START_TEST(no_listener_gets_rst_and_is_freed)
{
	struct vsock_tx_result r = tx(VSOCK_OP_REQUEST, 5000, 52, 0);

	vsock_muxer_host_connected(&mx, r.mc, false);
	vsock_muxer_release(&mx, r.mc); /* backend done; RST still owed */
	ck_assert_uint_eq(mx.nr_conns, 1);
	expect_packet(VSOCK_OP_RST, 52, 5000);
	ck_assert_uint_eq(mx.nr_conns, 0);
	ck_assert_ptr_null(vsock_muxer_find(&mx, 52, 5000));
}
END_TEST

START_TEST(unmatched_packets_get_rst_but_rst_does_not)
{
	ck_assert_int_eq(tx(VSOCK_OP_RW, 7000, 80, 10).kind, VSOCK_TX_NONE);
	ck_assert_int_eq(tx(VSOCK_OP_RST, 7001, 81, 0).kind, VSOCK_TX_NONE);
	ck_assert_int_eq(tx(VSOCK_OP_SHUTDOWN, 7002, 82, 0).kind,
			 VSOCK_TX_NONE);
	expect_packet(VSOCK_OP_RST, 80, 7000);
	expect_packet(VSOCK_OP_RST, 82, 7002);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	ck_assert_uint_eq(mx.nr_conns, 0);
}
END_TEST

START_TEST(connection_limit)
{
	uint32_t i;

	teardown();
	setup_n(2);
	ck_assert_int_eq(tx(VSOCK_OP_REQUEST, 1, 52, 0).kind, VSOCK_TX_CONNECT);
	ck_assert_int_eq(tx(VSOCK_OP_REQUEST, 2, 52, 0).kind, VSOCK_TX_CONNECT);
	ck_assert_int_eq(tx(VSOCK_OP_REQUEST, 3, 52, 0).kind, VSOCK_TX_NONE);
	expect_packet(VSOCK_OP_RST, 52, 3);
	ck_assert_ptr_null(vsock_muxer_connect(&mx, 99, VSOCK_TYPE_STREAM, 0));
	ck_assert_uint_eq(mx.nr_conns, 2);
	/* Many refusals: the reply ring is bounded and throttles TX. */
	for (i = 0; i < 1000; i++)
		tx(VSOCK_OP_REQUEST, 100 + i, 52, 0);
	ck_assert_uint_eq(mx.orphan_count, VSOCK_MUXER_ORPHANS);
	ck_assert(vsock_muxer_tx_paused(&mx));
	for (i = 0; i < VSOCK_MUXER_ORPHANS; i++)
		ck_assert_int_eq(next().kind, VSOCK_RX_PACKET);
	ck_assert(!vsock_muxer_tx_paused(&mx));
}
END_TEST

START_TEST(rx_priority)
{
	struct vsock_mconn *credit, *data, *rst;

	credit = established();
	data = vsock_muxer_connect(&mx, 6000, VSOCK_TYPE_STREAM, 0);
	rst = vsock_muxer_connect(&mx, 6001, VSOCK_TYPE_STREAM, 0);
	expect_packet(VSOCK_OP_REQUEST, data->conn.local_port, 6000);
	expect_packet(VSOCK_OP_REQUEST, rst->conn.local_port, 6001);
	tx(VSOCK_OP_RESPONSE, 6000, data->conn.local_port, 0);
	tx(VSOCK_OP_RESPONSE, 6001, rst->conn.local_port, 0);

	tx(VSOCK_OP_CREDIT_REQUEST, 5000, 52, 0); /* credit update wanted */
	vsock_muxer_readable(&mx, data, true); /* data ready */
	vsock_muxer_host_error(&mx, rst); /* RST wanted */
	tx(VSOCK_OP_RW, 9999, 9999, 1); /* an unmatched packet */

	expect_packet(VSOCK_OP_RST, 9999, 9999);
	expect_packet(VSOCK_OP_RST, rst->conn.local_port, 6001);
	ck_assert_int_eq(next().kind, VSOCK_RX_PAYLOAD);
	expect_packet(VSOCK_OP_CREDIT_UPDATE, 52, 5000);
	(void)credit;
}
END_TEST

START_TEST(data_within_credit)
{
	struct vsock_mconn *mc = established();
	struct vsock_hdr h = {
		.src_cid = GUEST, .dst_cid = VSOCK_HOST_CID, .src_port = 5000,
		.dst_port = 52, .type = VSOCK_TYPE_STREAM,
		.op = VSOCK_OP_CREDIT_UPDATE, .buf_alloc = 10000,
	};
	struct vsock_hdr rw;
	struct vsock_rx rx;

	vsock_muxer_tx(&mx, &h, 0); /* guest can take 10000 bytes */
	vsock_muxer_readable(&mx, mc, true);
	rx = vsock_muxer_next_rx(&mx, 4096);
	ck_assert_int_eq(rx.kind, VSOCK_RX_PAYLOAD);
	ck_assert_ptr_eq(rx.mc, mc);
	ck_assert_uint_eq(rx.max_len, 4096); /* the buffer is the limit */
	vsock_muxer_rx_data(&mx, mc, 4096, &rw);
	ck_assert_uint_eq(rw.op, VSOCK_OP_RW);
	ck_assert_uint_eq(rw.len, 4096);
	ck_assert_uint_eq(rw.src_port, 52);
	rx = vsock_muxer_next_rx(&mx, 65536);
	ck_assert_uint_eq(rx.max_len, 10000 - 4096); /* credit is the limit */
	vsock_muxer_rx_data(&mx, mc, 10000 - 4096, &rw);
	/* No credit left: readable, but nothing to send. */
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	h.fwd_cnt = 10000; /* the guest consumed it all */
	vsock_muxer_tx(&mx, &h, 0);
	rx = next();
	ck_assert_int_eq(rx.kind, VSOCK_RX_PAYLOAD);
	vsock_muxer_rx_data(&mx, mc, 0, &rw); /* nothing there after all */
	ck_assert(!mc->readable);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	/* A zero-room buffer never gets a payload. */
	vsock_muxer_readable(&mx, mc, true);
	ck_assert_int_eq(vsock_muxer_next_rx(&mx, 0).kind, VSOCK_RX_EMPTY);
}
END_TEST

/*
 * The guest has read all we sent, on every connection, until data goes
 * out; it has again once each connection's next header says so; a
 * connection freed with data unread no longer counts.
 */
START_TEST(guest_drained_counts_every_connection)
{
	struct vsock_mconn *a = established(), *b;
	struct vsock_tx_result r;
	struct vsock_hdr h = {
		.src_cid = GUEST, .dst_cid = VSOCK_HOST_CID, .src_port = 5000,
		.dst_port = 52, .type = VSOCK_TYPE_STREAM,
		.op = VSOCK_OP_CREDIT_UPDATE, .buf_alloc = 65536,
	};
	struct vsock_hdr rw;

	r = tx(VSOCK_OP_REQUEST, 5001, 52, 0);
	b = r.mc;
	vsock_muxer_host_connected(&mx, b, true);
	expect_packet(VSOCK_OP_RESPONSE, 52, 5001);
	ck_assert(vsock_muxer_guest_drained(&mx));

	vsock_muxer_readable(&mx, a, true);
	ck_assert_ptr_eq(next().mc, a);
	vsock_muxer_rx_data(&mx, a, 4096, &rw);
	vsock_muxer_readable(&mx, a, false);
	ck_assert(!vsock_muxer_guest_drained(&mx));
	vsock_muxer_readable(&mx, b, true);
	ck_assert_ptr_eq(next().mc, b);
	vsock_muxer_rx_data(&mx, b, 100, &rw);
	ck_assert_uint_eq(mx.nr_unread, 2);

	h.fwd_cnt = 4000; /* a: not all of it */
	vsock_muxer_tx(&mx, &h, 0);
	ck_assert_uint_eq(mx.nr_unread, 2);
	h.fwd_cnt = 5000; /* a: more than we sent, a lie: not drained */
	vsock_muxer_tx(&mx, &h, 0);
	ck_assert_uint_eq(mx.nr_unread, 2);
	h.fwd_cnt = 4096; /* a: all of it */
	vsock_muxer_tx(&mx, &h, 0);
	ck_assert_uint_eq(mx.nr_unread, 1);
	ck_assert(!vsock_muxer_guest_drained(&mx));

	/* b goes with 100 bytes unread. */
	ck_assert_int_eq(tx(VSOCK_OP_RST, 5001, 52, 0).action, VSOCK_ACT_ABORT);
	vsock_muxer_release(&mx, b);
	ck_assert_uint_eq(mx.nr_conns, 1);
	ck_assert(vsock_muxer_guest_drained(&mx));
}
END_TEST

START_TEST(guest_data_delivery_and_credit_updates)
{
	struct vsock_mconn *mc = established();
	struct vsock_tx_result r;
	unsigned int i;

	/* The whole credit in 64 KiB packets from a guest buffer as big as
	 * ours; half of it delivered is announced. */
	guest_buf = VSOCK_MUXER_BUF_ALLOC;
	for (i = 0; i < VSOCK_MUXER_BUF_ALLOC / 65536; i++) {
		r = tx(VSOCK_OP_RW, 5000, 52, 65536);
		ck_assert_int_eq(r.kind, VSOCK_TX_CONN);
		ck_assert_int_eq(r.action, VSOCK_ACT_DELIVER);
	}
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	vsock_muxer_delivered(&mx, mc, VSOCK_MUXER_BUF_ALLOC / 2 - 1);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	vsock_muxer_delivered(&mx, mc, 1);
	expect_packet(VSOCK_OP_CREDIT_UPDATE, 52, 5000);
	/* beyond the credit */
	r = tx(VSOCK_OP_RW, 5000, 52, VSOCK_MUXER_BUF_ALLOC / 2 + 1);
	ck_assert_int_eq(r.action, VSOCK_ACT_ABORT);
	expect_packet(VSOCK_OP_RST, 52, 5000);
}
END_TEST

/* A guest socket's smaller buffer is the window (Linux sends no more),
 * and the tick announces what a sender holding back further waits for. */
START_TEST(credit_for_small_windows_and_on_the_tick)
{
	struct vsock_mconn *mc = established();
	struct vsock_rx rx;

	ck_assert_int_eq(tx(VSOCK_OP_RW, 5000, 52, 65536).action,
			 VSOCK_ACT_DELIVER);
	vsock_muxer_delivered(&mx, mc, 32767);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	vsock_muxer_delivered(&mx, mc, 1);
	expect_packet(VSOCK_OP_CREDIT_UPDATE, 52, 5000);

	ck_assert_int_eq(tx(VSOCK_OP_RW, 5000, 52, 100).action,
			 VSOCK_ACT_DELIVER);
	vsock_muxer_delivered(&mx, mc, 100);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	ck_assert_uint_eq(vsock_muxer_tick(&mx, 1, NULL, NULL), 0);
	rx = next();
	ck_assert_int_eq(rx.kind, VSOCK_RX_PACKET);
	ck_assert_uint_eq(rx.hdr.op, VSOCK_OP_CREDIT_UPDATE);
	ck_assert_uint_eq(rx.hdr.fwd_cnt, 32768 + 100);
	ck_assert_uint_eq(vsock_muxer_tick(&mx, 2, NULL, NULL), 0);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
}
END_TEST

START_TEST(host_ports_are_allocated_and_unique)
{
	struct vsock_mconn *a, *b, *c;
	struct vsock_tx_result r;

	a = vsock_muxer_connect(&mx, 7000, VSOCK_TYPE_STREAM, 0);
	b = vsock_muxer_connect(&mx, 7000, VSOCK_TYPE_STREAM, 0);
	ck_assert_uint_eq(a->conn.local_port, VSOCK_HOST_PORT_BASE);
	ck_assert_uint_eq(b->conn.local_port, VSOCK_HOST_PORT_BASE + 1);
	mx.next_host_port = UINT32_MAX;
	c = vsock_muxer_connect(&mx, 7000, VSOCK_TYPE_STREAM, 0);
	ck_assert_uint_eq(c->conn.local_port, UINT32_MAX);
	c = vsock_muxer_connect(&mx, 7000, VSOCK_TYPE_STREAM, 0);
	/* Wrapped, skipping the ports still in use. */
	ck_assert_uint_eq(c->conn.local_port, VSOCK_HOST_PORT_BASE + 2);
	/* A search that runs past 2^32 - 1 also wraps to the base. */
	mx.next_host_port = UINT32_MAX;
	c = vsock_muxer_connect(&mx, 7000, VSOCK_TYPE_STREAM, 0);
	ck_assert_uint_eq(c->conn.local_port, VSOCK_HOST_PORT_BASE + 3);
	expect_packet(VSOCK_OP_REQUEST, VSOCK_HOST_PORT_BASE, 7000);
	r = tx(VSOCK_OP_RESPONSE, 7000, VSOCK_HOST_PORT_BASE, 0);
	ck_assert_int_eq(r.action, VSOCK_ACT_ACCEPTED);
	ck_assert_ptr_eq(r.mc, a);
}
END_TEST

static struct vsock_mconn *expired_conn;

static void on_expired(void *opaque, struct vsock_mconn *mc)
{
	ck_assert_ptr_eq(opaque, &mx);
	ck_assert_ptr_null(expired_conn);
	expired_conn = mc;
}

START_TEST(unanswered_request_times_out)
{
	struct vsock_mconn *mc;

	expired_conn = NULL;
	established(); /* an established connection has no timer */
	mc = vsock_muxer_connect(&mx, 7000, VSOCK_TYPE_STREAM, 0);
	expect_packet(VSOCK_OP_REQUEST, mc->conn.local_port, 7000);
	ck_assert_uint_eq(vsock_muxer_tick(&mx, TMO - 1, on_expired, &mx), 0);
	ck_assert_ptr_null(expired_conn);
	ck_assert_uint_eq(vsock_muxer_tick(&mx, TMO, on_expired, &mx), 1);
	ck_assert_ptr_eq(expired_conn, mc); /* the backend must close it */
	expect_packet(VSOCK_OP_RST, mc->conn.local_port, 7000);
	vsock_muxer_release(&mx, mc);
	ck_assert_uint_eq(mx.nr_conns, 1);
	ck_assert_uint_eq(vsock_muxer_tick(&mx, 10 * TMO, NULL, NULL), 0);
}
END_TEST

START_TEST(closed_by_guest_frees_after_release)
{
	struct vsock_mconn *mc = established();
	struct vsock_tx_result r;

	r = tx(VSOCK_OP_RST, 5000, 52, 0);
	ck_assert_int_eq(r.action, VSOCK_ACT_ABORT);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY); /* RST not answered */
	ck_assert_uint_eq(mx.nr_conns, 1); /* backend still holds it */
	vsock_muxer_release(&mx, mc);
	ck_assert_uint_eq(mx.nr_conns, 0);
	/* The same ports can connect again. */
	ck_assert_int_eq(tx(VSOCK_OP_REQUEST, 5000, 52, 0).kind,
			 VSOCK_TX_CONNECT);
}
END_TEST

START_TEST(reply_rst_for_invalid_packets)
{
	struct vsock_hdr h = {
		.src_cid = GUEST, .dst_cid = VSOCK_HOST_CID, .src_port = 11,
		.dst_port = 22, .type = 9, .op = VSOCK_OP_REQUEST,
	};

	vsock_muxer_reply_rst(&mx, &h);
	h.op = VSOCK_OP_RST;
	vsock_muxer_reply_rst(&mx, &h); /* never answered */
	expect_packet(VSOCK_OP_RST, 22, 11);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
}
END_TEST

START_TEST(init_validates)
{
	struct vsock_muxer m2;
	struct vsock_muxer_config cfg = { .guest_cid = GUEST, .max_conns = 0,
					  .buf_alloc = 1 };

	ck_assert_int_lt(vsock_muxer_init(&m2, &cfg), 0);
	cfg.max_conns = 1;
	cfg.buf_alloc = 0;
	ck_assert_int_lt(vsock_muxer_init(&m2, &cfg), 0);
}
END_TEST

/* ---- held packets (--vsock-fault slow-credit, late-response) ---- */

#define CREDIT_DELAY 100u
#define RESPONSE_DELAY 300u

static void setup_held(void)
{
	struct vsock_muxer_config cfg = {
		.guest_cid = GUEST, .max_conns = 8,
		.buf_alloc = VSOCK_MUXER_BUF_ALLOC, .timeout_ns = TMO,
		.credit_delay_ns = CREDIT_DELAY,
		.response_delay_ns = RESPONSE_DELAY,
	};

	test_log_install();
	guest_buf = 65536;
	ck_assert_int_eq(vsock_muxer_init(&mx, &cfg), 0);
}

START_TEST(held_response_goes_first_when_due)
{
	struct vsock_tx_result r;

	vsock_muxer_advance(&mx, 1000);
	r = tx(VSOCK_OP_REQUEST, 5000, 52, 0);
	vsock_muxer_host_connected(&mx, r.mc, true);
	vsock_muxer_readable(&mx, r.mc, true); /* host data waits too */
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	ck_assert(vsock_muxer_pending(&mx, VSOCK_RX_HELD));
	ck_assert_uint_eq(vsock_muxer_held_next(&mx), 1000 + RESPONSE_DELAY);
	vsock_muxer_advance(&mx, 1000 + RESPONSE_DELAY - 1);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	vsock_muxer_advance(&mx, 1000 + RESPONSE_DELAY);
	expect_packet(VSOCK_OP_RESPONSE, 52, 5000);
	ck_assert_int_eq(next().kind, VSOCK_RX_PAYLOAD);
	ck_assert_uint_eq(vsock_muxer_held_next(&mx), 0);
}
END_TEST

/* The guest at 5000 <-> host 52, established at time `now`. */
static struct vsock_mconn *established_at(uint64_t now)
{
	struct vsock_tx_result r;

	vsock_muxer_advance(&mx, now);
	r = tx(VSOCK_OP_REQUEST, 5000, 52, 0);
	vsock_muxer_host_connected(&mx, r.mc, true);
	vsock_muxer_advance(&mx, now + RESPONSE_DELAY);
	expect_packet(VSOCK_OP_RESPONSE, 52, 5000);
	return r.mc;
}

START_TEST(held_credit_update_once_per_connection)
{
	uint64_t t = 2000;

	established_at(t - RESPONSE_DELAY);
	tx(VSOCK_OP_CREDIT_REQUEST, 5000, 52, 0);
	vsock_muxer_advance(&mx, t + 50);
	tx(VSOCK_OP_CREDIT_REQUEST, 5000, 52, 0); /* the same one answers */
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	ck_assert_uint_eq(vsock_muxer_held_next(&mx), t + CREDIT_DELAY);
	vsock_muxer_advance(&mx, t + CREDIT_DELAY);
	expect_packet(VSOCK_OP_CREDIT_UPDATE, 52, 5000);
	ck_assert_int_eq(next().kind, VSOCK_RX_EMPTY);
	ck_assert(!vsock_muxer_pending(&mx, VSOCK_RX_HELD));
}
END_TEST

START_TEST(held_credit_update_carried_by_data)
{
	struct vsock_mconn *mc = established_at(0);
	struct vsock_hdr h;
	struct vsock_rx rx;

	vsock_muxer_delivered(&mx, mc, 0); /* nothing to announce */
	tx(VSOCK_OP_CREDIT_REQUEST, 5000, 52, 0);
	ck_assert_uint_ne(vsock_muxer_held_next(&mx), 0);
	/* Host data goes out at once, its header carrying our credit. */
	vsock_muxer_readable(&mx, mc, true);
	rx = next();
	ck_assert_int_eq(rx.kind, VSOCK_RX_PAYLOAD);
	vsock_muxer_rx_data(&mx, mc, 10, &h);
	ck_assert_uint_eq(h.buf_alloc, VSOCK_MUXER_BUF_ALLOC);
	ck_assert_uint_eq(vsock_muxer_held_next(&mx), 0);
	vsock_muxer_advance(&mx, 10 * CREDIT_DELAY);
	ck_assert_int_ne(next().hdr.op, VSOCK_OP_CREDIT_UPDATE);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_muxer");
	TCase *tc = tcase_create("muxer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, guest_connects);
	tcase_add_test(tc, no_listener_gets_rst_and_is_freed);
	tcase_add_test(tc, unmatched_packets_get_rst_but_rst_does_not);
	tcase_add_test(tc, connection_limit);
	tcase_add_test(tc, rx_priority);
	tcase_add_test(tc, data_within_credit);
	tcase_add_test(tc, guest_drained_counts_every_connection);
	tcase_add_test(tc, guest_data_delivery_and_credit_updates);
	tcase_add_test(tc, credit_for_small_windows_and_on_the_tick);
	tcase_add_test(tc, host_ports_are_allocated_and_unique);
	tcase_add_test(tc, unanswered_request_times_out);
	tcase_add_test(tc, closed_by_guest_frees_after_release);
	tcase_add_test(tc, reply_rst_for_invalid_packets);
	tcase_add_test(tc, init_validates);
	suite_add_tcase(s, tc);

	tc = tcase_create("held packets");
	tcase_add_checked_fixture(tc, setup_held, teardown);
	tcase_add_test(tc, held_response_goes_first_when_due);
	tcase_add_test(tc, held_credit_update_once_per_connection);
	tcase_add_test(tc, held_credit_update_carried_by_data);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
