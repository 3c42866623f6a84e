/*
 * Unit tests: the virtio-vsock device against a fake backend
 * (tests/helpers/vsock_fake_backend), so host-side failures that real
 * sockets produce only by chance happen on cue: a host socket that cannot
 * be made, a receive that finds nothing, sends that complete a few bytes
 * at a time, submissions the ring refuses. The guest side is the driver
 * harness, which fails a test on any protocol violation.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/helpers/mmio_driver.h"
#include "tests/helpers/pattern.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "tests/helpers/vsock_driver.h"
#include "tests/helpers/vsock_fake_backend.h"
#include "vmm/util.h"

#define PORT 1234u
#define CID 42u

static struct vsock_driver d;

static void fail_test(const char *msg)
{
	ck_abort_msg("%s", msg);
}

/* The device with its TX interrupt held back up to `tx_delay_ns` (0:
 * the default). */
static void create(uint64_t tx_delay_ns)
{
	struct vsock_driver_config cfg = {
		.dev = { .guest_cid = CID, .backend = &vsock_fake_backend,
			 .signal_delay_ns = tx_delay_ns },
		.fail = fail_test,
	};

	vsock_driver_create(&d, &cfg);
}

static void setup(void)
{
	test_log_install();
	create(0);
}

static void teardown(void)
{
	vsock_driver_destroy(&d);
}

static struct vsock_dev_stats stats(void)
{
	struct vsock_dev_stats st;

	vsock_dev_get_stats(d.dev, &st);
	return st;
}

/* A guest connection to `port` and the fake's side of it. */
static struct vsock_sock *open_conn(uint32_t port,
				    struct vsock_fake_conn **c)
{
	struct vsock_sock *s;

	ck_assert_int_eq(vsock_driver_connect(&d, port, &s), 0);
	*c = vsock_fake_find(port);
	ck_assert_ptr_nonnull(*c);
	return s;
}

static void send_pattern(struct vsock_sock *s, uint64_t seed, size_t len)
{
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	pattern_fill(seed, 0, buf, len);
	ck_assert_int_eq(vsock_driver_send(s, buf, len), 0);
	free(buf);
	vsock_driver_settle(&d, 3);
}

static void recv_pattern(struct vsock_sock *s, uint64_t seed, size_t len)
{
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, len), 0);
	ck_assert_int_lt(pattern_check(seed, 0, buf, len), 0);
	free(buf);
}

static void host_write_pattern(struct vsock_fake_conn *c, uint64_t seed,
			       size_t len)
{
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	pattern_fill(seed, 0, buf, len);
	vsock_fake_write(c, buf, len);
	free(buf);
	vsock_driver_settle(&d, 3);
}

/* Our credit as the guest sees it, asked for now. */
static uint32_t guest_view_of_fwd_cnt(struct vsock_sock *s)
{
	vsock_driver_credit_request(s);
	vsock_driver_settle(&d, 3);
	return s->peer_fwd_cnt;
}

START_TEST(connect_enomem_is_refused_once)
{
	struct vsock_fake_conn *c;
	struct vsock_sock *s;

	vsock_fake.connect_err = ENOMEM;
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), -ECONNREFUSED);
	vsock_driver_close(s, false);
	ck_assert_uint_eq(stats().conns_refused, 1);
	ck_assert_ptr_null(vsock_fake_find(PORT));
	/* One failure, not a broken device. */
	s = open_conn(PORT, &c);
	ck_assert_uint_eq(stats().conns_opened, 1);
	send_pattern(s, 1, 1000);
	ck_assert_uint_eq(c->sent_len, 1000);
	ck_assert_int_lt(pattern_check(1, 0, c->sent, c->sent_len), 0);
}
END_TEST

START_TEST(short_sends_keep_order_and_credit)
{
	const size_t len = 100000;
	struct vsock_fake_conn *c;
	struct vsock_sock *s;
	size_t piece = 1;

	vsock_fake.manual_send = true;
	d.tx.max_pkt = 4096;
	s = open_conn(PORT, &c);
	send_pattern(s, 2, len);
	/* Nothing sent yet: every chain is held, nothing credited. */
	ck_assert_uint_eq(c->sent_len, 0);
	ck_assert_uint_eq(c->nr_held, (len + 4095) / 4096);
	ck_assert_uint_eq(guest_view_of_fwd_cnt(s), 0);
	while (c->sent_len < len) {
		size_t before = c->nr_held;

		/* Odd sizes, so sends end inside packets and segments. */
		ck_assert_uint_gt(vsock_fake_send(c, piece), 0);
		vsock_driver_settle(&d, 2);
		ck_assert_uint_le(c->nr_held, before);
		/* The guest is credited exactly what went out. */
		ck_assert_uint_eq(guest_view_of_fwd_cnt(s), c->sent_len);
		piece = piece * 3 + 7;
	}
	ck_assert_uint_eq(c->sent_len, len);
	ck_assert_uint_eq(c->nr_held, 0);
	ck_assert_int_lt(pattern_check(2, 0, c->sent, c->sent_len), 0);
}
END_TEST

START_TEST(recv_eagain_waits_for_the_poll)
{
	struct vsock_fake_conn *c;
	struct vsock_sock *s = open_conn(PORT, &c);

	vsock_fake.eagain = 1;
	host_write_pattern(c, 3, 5000);
	/* The receive found nothing: the buffers came back, no data, and
	 * nothing more is tried until the socket says it is readable. */
	ck_assert_uint_eq(vsock_fake.eagain, 0);
	ck_assert_uint_eq(s->rx_bytes, 0);
	ck_assert_uint_eq(c->in_off, 0);
	vsock_fake_poll(c);
	vsock_driver_settle(&d, 3);
	recv_pattern(s, 3, 5000);
	ck_assert_uint_eq(c->in_off, 5000);
}
END_TEST

/*
 * A guest that has read all we sent waits for the next data: its first
 * receive gets a few buffers, so it can start reading while the rest is
 * copied; receives while it still has data to read get full batches.
 */
START_TEST(drained_guest_gets_a_small_first_receive)
{
	struct vsock_fake_conn *c;
	struct vsock_sock *s = open_conn(PORT, &c);
	unsigned int calls;

	host_write_pattern(c, 5, 200000);
	ck_assert_uint_ge(vsock_fake.rx_calls, 2);
	ck_assert_uint_eq(vsock_fake.rx_lent[0], VSOCK_RX_FIRST);
	ck_assert_uint_gt(vsock_fake.rx_lent[1], VSOCK_RX_FIRST);
	recv_pattern(s, 5, 200000);

	/* Read, and its next header says so: a small one again. */
	vsock_driver_credit_request(s);
	vsock_driver_settle(&d, 3);
	calls = vsock_fake.rx_calls;
	ck_assert_uint_lt(calls, ARRAY_SIZE(vsock_fake.rx_lent));
	host_write_pattern(c, 6, 100000);
	ck_assert_uint_gt(vsock_fake.rx_calls, calls);
	ck_assert_uint_eq(vsock_fake.rx_lent[calls], VSOCK_RX_FIRST);
	recv_pattern(s, 6, 100000);
}
END_TEST

START_TEST(failed_send_submit_resets_only_its_connection)
{
	struct vsock_fake_conn *c1, *c2;
	struct vsock_sock *s1 = open_conn(PORT, &c1);
	struct vsock_sock *s2 = open_conn(PORT + 1, &c2);
	uint8_t byte = 1;

	vsock_fake.submit_fails = true;
	ck_assert_int_eq(vsock_driver_send(s1, &byte, 1), 0);
	vsock_driver_settle(&d, 3);
	ck_assert_int_eq(s1->state, VSOCK_SOCK_CLOSED);
	ck_assert(s1->got_rst);
	ck_assert_uint_eq(vsock_fake.failed, 1);
	ck_assert_ptr_null(vsock_fake_find(PORT));
	vsock_driver_close(s1, false);
	/* The other connection carries on both ways. */
	send_pattern(s2, 4, 70000);
	ck_assert_uint_eq(c2->sent_len, 70000);
	ck_assert_int_lt(pattern_check(4, 0, c2->sent, c2->sent_len), 0);
	host_write_pattern(c2, 5, 70000);
	recv_pattern(s2, 5, 70000);
}
END_TEST

START_TEST(failed_recv_submit_resets_and_returns_buffers)
{
	struct vsock_fake_conn *c1, *c2;
	struct vsock_sock *s1 = open_conn(PORT, &c1);
	struct vsock_sock *s2;

	vsock_fake.submit_fails = true;
	host_write_pattern(c1, 6, 1000);
	ck_assert_int_eq(s1->state, VSOCK_SOCK_CLOSED);
	ck_assert(s1->got_rst);
	ck_assert_uint_eq(s1->rx_bytes, 0);
	vsock_driver_close(s1, false);
	/* Every RX buffer is usable again: a new connection receives more
	 * than the device could hold back. */
	s2 = open_conn(PORT + 1, &c2);
	host_write_pattern(c2, 7, 200000);
	recv_pattern(s2, 7, 200000);
}
END_TEST

/* The used index the driver sees on queue `q`. */
static uint16_t used_idx(unsigned int q)
{
	return vq_driver_used_idx(&d.q[q]);
}

/* Two device passes: what they used is held back, then announced with an
 * interrupt of its own once `delay_ns` has about passed. */
static void held_then_announced(uint64_t delay_ns)
{
	uint64_t irqs = d.st.irqs, t0;

	vsock_driver_pump(&d, 0);
	vsock_driver_pump(&d, 0);
	ck_assert_uint_eq(d.st.irqs, irqs);
	t0 = util_now_ns();
	while (d.st.irqs == irqs && util_now_ns() - t0 < 5 * delay_ns)
		vsock_driver_pump(&d, 2000);
	ck_assert_uint_eq(d.st.irqs, irqs + 1);
	ck_assert_uint_ge(util_now_ns() - t0, delay_ns / 2);
}

/*
 * A round trip takes one interrupt, not two: the TX buffer the ping used
 * comes back with no interrupt of its own and is announced with the
 * reply's. Without a reply it is announced within the delay.
 */
START_TEST(tx_completion_shares_the_reply_interrupt)
{
	/* Long enough that a busy machine cannot let it pass unseen
	 * between two steps of the test. */
	const uint64_t delay_ns = 300ull * 1000 * 1000;
	struct vsock_fake_conn *c;
	struct vsock_sock *s;
	uint16_t tx_before;
	uint64_t irqs;
	char b = 'x';

	vsock_driver_destroy(&d);
	create(delay_ns);
	s = open_conn(PORT, &c);
	tx_before = used_idx(VSOCK_QUEUE_TX);
	irqs = d.st.irqs;

	ck_assert_int_eq(vsock_driver_send_some(s, &b, 1), 1);
	vsock_driver_pump(&d, 0);
	vsock_driver_pump(&d, 0);
	ck_assert_uint_eq(c->sent_len, 1);
	ck_assert_uint_eq((uint16_t)(used_idx(VSOCK_QUEUE_TX) - tx_before), 1);
	ck_assert_uint_eq(d.st.irqs, irqs); /* held back */
	vsock_fake_write(c, &b, 1);
	ck_assert_uint_eq(d.st.irqs, irqs + 1); /* one for both */
	vsock_driver_settle(&d, 3);
	ck_assert_uint_eq(d.st.irqs, irqs + 1);
	ck_assert_int_eq(vsock_driver_recv(s, &b, 1), 1);

	/* A ping with no reply: announced once the delay has passed. */
	ck_assert_int_eq(vsock_driver_send_some(s, &b, 1), 1);
	held_then_announced(delay_ns);
}
END_TEST

/*
 * The RST that ends a connection the guest closed is something nobody
 * waits for: a guest that closes one connection and opens the next takes
 * one interrupt for both; alone, it is announced within the delay. The
 * RST of a refused connect, which connect() waits for, goes at once.
 */
START_TEST(closing_rst_shares_the_next_interrupt)
{
	const uint64_t delay_ns = 300ull * 1000 * 1000;
	const uint32_t both = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	struct vsock_fake_conn *c;
	struct vsock_sock *s, *s2;
	uint16_t rx_before;
	uint64_t irqs, t0;

	vsock_driver_destroy(&d);
	create(delay_ns);
	s = open_conn(PORT, &c);
	rx_before = used_idx(VSOCK_QUEUE_RX);
	irqs = d.st.irqs;
	vsock_driver_shutdown(s, both);
	vsock_driver_pump(&d, 0);
	vsock_driver_pump(&d, 0);
	/* The RST is in the used ring, unannounced. */
	ck_assert_uint_eq((uint16_t)(used_idx(VSOCK_QUEUE_RX) - rx_before), 1);
	ck_assert_uint_eq(d.st.irqs, irqs);
	ck_assert_int_ne(s->state, VSOCK_SOCK_CLOSED);
	s2 = open_conn(PORT + 1, &c);
	ck_assert_uint_eq(d.st.irqs, irqs + 1); /* one for both */
	ck_assert_int_eq(s->state, VSOCK_SOCK_CLOSED);
	vsock_driver_close(s, false);

	/* Alone: announced once the delay has passed. */
	vsock_driver_shutdown(s2, both);
	held_then_announced(delay_ns);
	ck_assert_int_eq(s2->state, VSOCK_SOCK_CLOSED);
	vsock_driver_close(s2, false);

	/* Refused: at once. */
	irqs = d.st.irqs;
	vsock_fake.connect_err = ECONNREFUSED;
	t0 = util_now_ns();
	ck_assert_int_eq(vsock_driver_connect(&d, PORT + 2, &s),
			 -ECONNREFUSED);
	ck_assert_uint_lt(util_now_ns() - t0, delay_ns / 2);
	ck_assert_uint_eq(d.st.irqs, irqs + 1);
	vsock_driver_close(s, false);
}
END_TEST

/* The "vCPU" of the next tests: the guest resets the device. */
static atomic_bool reset_returned;
static const uint8_t late[64] = { 0xa5 }; /* for a receive held back */

static void *write_reset(void *arg)
{
	(void)arg;
	mmio_driver_write(d.m, VIRTIO_MMIO_STATUS, 0);
	atomic_store(&reset_returned, true);
	return NULL;
}

/* A connection with a host receive held in flight (RX buffers lent), and
 * a vCPU thread that resets the device: still waiting 200 ms later. */
static void reset_with_receive_held(pthread_t *vcpu)
{
	struct vsock_fake_conn *c;

	open_conn(PORT, &c);
	vsock_fake.hold_recv = true;
	vsock_fake_write(c, late, sizeof(late));
	ck_assert_uint_gt(vsock_fake.nr_held_rx, 0);
	atomic_store(&reset_returned, false);
	ck_assert_int_eq(pthread_create(vcpu, NULL, write_reset, NULL), 0);
	usleep(200 * 1000);
	ck_assert_msg(!atomic_load(&reset_returned),
		      "the reset returned with RX buffers lent");
}

/* The reset returns within a second; `why` says what should have ended
 * its wait. */
static void reset_returns(pthread_t vcpu, const char *why)
{
	int i;

	for (i = 0; i < 1000 && !atomic_load(&reset_returned); i++)
		usleep(1000);
	ck_assert_msg(atomic_load(&reset_returned), "the reset still waits %s",
		      why);
	pthread_join(vcpu, NULL);
}

/*
 * A device reset from a vCPU thread returns only once no host receive can
 * write into the guest's RX buffers any more: the guest frees them as soon
 * as its status write returns.
 */
START_TEST(reset_waits_for_receives_in_flight)
{
	pthread_t vcpu;

	reset_with_receive_held(&vcpu);
	/* The loop thread's entry finishes the reset; the late receive
	 * writes and gives its buffers back; only then the write returns. */
	vsock_fake_finish_recv(late, sizeof(late));
	reset_returns(vcpu, "with no buffer lent");
	ck_assert_uint_eq(vsock_fake.nr_held_rx, 0);
}
END_TEST

/* When the VM stops, its loop with it, nothing gives lent buffers back:
 * a vCPU in a reset stops waiting at once, not after the 2 s bound (which
 * would also log an error). */
START_TEST(reset_wait_ends_when_the_loop_stops)
{
	pthread_t vcpu;

	reset_with_receive_held(&vcpu);
	vsock_dev_stop(d.dev);
	reset_returns(vcpu, "after the loop stopped");
	vsock_fake_finish_recv(late, sizeof(late));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_fake");
	TCase *tc = tcase_create("host failures");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, connect_enomem_is_refused_once);
	tcase_add_test(tc, short_sends_keep_order_and_credit);
	tcase_add_test(tc, recv_eagain_waits_for_the_poll);
	tcase_add_test(tc, drained_guest_gets_a_small_first_receive);
	tcase_add_test(tc, failed_send_submit_resets_only_its_connection);
	tcase_add_test(tc, failed_recv_submit_resets_and_returns_buffers);
	tcase_add_test(tc, reset_waits_for_receives_in_flight);
	tcase_add_test(tc, reset_wait_ends_when_the_loop_stops);
	tcase_add_test(tc, tx_completion_shares_the_reply_interrupt);
	tcase_add_test(tc, closing_rst_shares_the_next_interrupt);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
