/*
 * Unit tests: the virtio-vsock device behind the real transport, driven
 * by the guest-side driver harness (tests/helpers/vsock_driver), with host
 * peers in threads on real AF_UNIX and TCP sockets in a temp directory.
 *
 * Cases: device basics (config, features), every TX and RX descriptor
 * layout, malformed chains and headers, connection setup both ways
 * (including the hybrid handshake and TCP rules), credit, and device
 * reset, the transport reset and its event buffers, and the fault modes
 * (--vsock-fault). The harness fails a test on any protocol violation it
 * sees.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/vsock/host.h" /* VSOCK_HANDSHAKE_PENDING_MAX */

#include "devices/vsock/muxer.h"
#include "tests/helpers/mmio_driver.h"
#include "tests/helpers/pattern.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "tests/helpers/vsock_driver.h"
#include "tests/helpers/vsock_flow.h"
#include "tests/helpers/vsock_host.h"
#include "vmm/util.h"

#define PORT 1234u
#define GUEST_PORT 5000u
#define CID 42u

static struct vsock_driver d;
static struct vsock_host_dir hd;
static bool up;

static void fail_test(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void setup(void)
{
	test_log_install();
	vsock_host_dir_create(&hd);
	up = false;
}

static void teardown(void)
{
	if (up)
		vsock_driver_destroy(&d);
	vsock_host_dir_destroy(&hd);
}

static struct vsock_driver_config base_cfg(void)
{
	return (struct vsock_driver_config){
		.dev = { .guest_cid = CID, .uds_path = hd.uds },
		.fail = fail_test,
	};
}

static void start(const struct vsock_driver_config *cfg)
{
	vsock_driver_create(&d, cfg);
	up = true;
}

static void start_default(void)
{
	struct vsock_driver_config cfg = base_cfg();

	start(&cfg);
}

/* The default device, with the driver posting `ev` event buffers first. */
static void start_with_events(enum vsock_driver_ev_layout ev)
{
	struct vsock_driver_config cfg = base_cfg();

	cfg.ev_layout = ev;
	start(&cfg);
}

static int listen_port(uint32_t port)
{
	char path[400];

	vsock_host_port_path(&hd, port, path, sizeof(path));
	return vsock_host_listen_unix(path, 16);
}

static uint64_t len_4k(uint64_t id)
{
	(void)id;
	return 4096;
}

static uint64_t len_300k(uint64_t id)
{
	return 300 * 1024 + id * 7;
}

/* Conversations with `n` guest connections to host port PORT, served by
 * `p`; checks every byte both ways. */
static void converse(struct vsock_host_peer *p, unsigned int n,
		     uint64_t (*glen)(uint64_t), uint64_t (*hlen)(uint64_t))
{
	struct vsock_flow f;
	unsigned int i;

	p->guest_len = glen;
	p->host_len = hlen;
	vsock_host_peer_start(p);
	vsock_flow_init(&f, &d, n);
	f.random_writes = true;
	for (i = 0; i < n; i++) {
		struct vsock_sock *s = vsock_driver_connect_start(
			&d, PORT, VSOCK_TYPE_STREAM);

		vsock_flow_set(&f, i, s, i + 1, glen(i + 1), hlen(i + 1));
	}
	vsock_flow_run(&f);
	vsock_flow_join_peer(&d, p);
	for (i = 0; i < n; i++) {
		struct vsock_flow_conn *c = &f.c[i];
		struct vsock_host_peer_conn *hc =
			vsock_host_peer_find(p, c->id);

		ck_assert_int_eq(c->err, 0);
		ck_assert_uint_eq(c->received, hlen(c->id));
		ck_assert_int_eq(c->bad_at, -1);
		ck_assert_ptr_nonnull(hc);
		ck_assert_int_eq(hc->err, 0);
		ck_assert_uint_eq(hc->received, glen(c->id));
		ck_assert_int_eq(hc->bad_at, -1);
		ck_assert(hc->eof);
	}
	vsock_flow_free(&f);
	vsock_driver_settle(&d, 3);
	ck_assert_uint_eq(vsock_driver_nr_socks(&d), 0);
}

/* One connection's conversation with a fresh host listener at PORT;
 * `random_writes`: the host writes in random sizes. */
static void converse_one(bool random_writes, uint64_t (*glen)(uint64_t),
			 uint64_t (*hlen)(uint64_t))
{
	struct vsock_host_peer p = { .lfd = listen_port(PORT), .accept_n = 1,
				     .random_writes = random_writes };

	converse(&p, 1, glen, hlen);
	vsock_host_peer_free(&p);
	close(p.lfd);
}

/* ---- basics ---- */

/* A connection to an echoing host peer, for the lost-signal tests. */
static struct vsock_sock *echo_open(struct vsock_host_peer *p)
{
	struct vsock_sock *s;

	*p = (struct vsock_host_peer){ .lfd = listen_port(PORT),
				       .accept_n = 1, .echo = true };
	start_default();
	vsock_host_peer_start(p);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	vsock_driver_settle(&d, 3);
	return s;
}

/* Pump until `s` has received something, failing with `why` after 5 s. */
static void pump_until_received(struct vsock_sock *s, const char *why)
{
	uint64_t t0 = util_now_ns();

	while (!s->rxq_len) {
		vsock_driver_pump(&d, 10000);
		ck_assert_msg(util_now_ns() - t0 < 5000000000ull, "%s", why);
	}
}

/* The echo of `c` arrives; then an orderly close. */
static void echo_close(struct vsock_host_peer *p, struct vsock_sock *s,
		       uint8_t c)
{
	uint8_t in = 0;

	ck_assert_int_eq(vsock_driver_recv_all(s, &in, 1), 0);
	ck_assert_uint_eq(in, c);
	vsock_driver_close(s, true);
	vsock_flow_join_peer(&d, p);
	vsock_driver_settle(&d, 3);
	vsock_host_peer_free(p);
	close(p->lfd);
}

/*
 * The guest's TX notification is lost on its way to the device (and the
 * guest, past avail_event, sends no other). The device's periodic pass
 * takes the packet anyway.
 */
START_TEST(lost_notification_is_caught_up)
{
	struct vsock_host_peer p;
	struct vsock_sock *s = echo_open(&p);

	d.drop_notifies = 1;
	ck_assert_int_eq(vsock_driver_send(s, "y", 1), 0);
	ck_assert_uint_eq(d.st.notifies_lost, 1);
	pump_until_received(s, "the packet sat in the TX ring for 5 s");
	echo_close(&p, s, 'y');
}
END_TEST

/*
 * The device published the echo and raised its interrupt; the edge is
 * lost on its way to the guest, and the driver (which only looks when
 * interrupted) would wait forever with the status bit still set. The
 * device must send the interrupt again while it stays unacknowledged.
 */
START_TEST(lost_interrupt_is_sent_again)
{
	struct vsock_host_peer p;
	struct vsock_sock *s = echo_open(&p);
	uint64_t t0;

	d.drop_irqs = UINT_MAX;
	ck_assert_int_eq(vsock_driver_send(s, "x", 1), 0);
	/* Wait for the echo in the RX used ring; its interrupt was lost. */
	t0 = util_now_ns();
	while (vq_driver_used_idx(&d.q[0]) == d.q[0].last_used) {
		vsock_driver_pump(&d, 1000);
		ck_assert_msg(util_now_ns() - t0 < 5000000000ull,
			      "the echo never reached the RX ring");
	}
	d.drop_irqs = 0;
	ck_assert_uint_gt(d.st.irqs_lost, 0);
	ck_assert_uint_ne(d.m->interrupt_status, 0);
	/* From here on interrupts arrive: the device has to send it again. */
	pump_until_received(s, "no interrupt for 5 s: the driver waits forever");
	ck_assert_uint_ge(d.m->irqs_resent, 1);
	echo_close(&p, s, 'x');
}
END_TEST

START_TEST(config_and_features)
{
	uint32_t lo, hi;

	start_default();
	ck_assert_uint_eq(mmio_driver_read(d.m, VIRTIO_MMIO_DEVICE_ID),
			  VIRTIO_ID_VSOCK);
	lo = mmio_driver_read(d.m, VIRTIO_MMIO_CONFIG);
	hi = mmio_driver_read(d.m, VIRTIO_MMIO_CONFIG + 4);
	ck_assert_uint_eq(lo, CID);
	ck_assert_uint_eq(hi, 0);
	mmio_driver_write(d.m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = mmio_driver_read(d.m, VIRTIO_MMIO_DEVICE_FEATURES);
	mmio_driver_write(d.m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = mmio_driver_read(d.m, VIRTIO_MMIO_DEVICE_FEATURES);
	ck_assert_uint_ne(lo & (1u << VIRTIO_VSOCK_F_SEQPACKET), 0);
	ck_assert_uint_ne(lo & (1u << VIRTIO_F_EVENT_IDX), 0);
	ck_assert_uint_ne(hi & (1u << (VIRTIO_F_VERSION_1 - 32)), 0);
	/* Config writes are ignored: the CID is the device's. */
	mmio_driver_write(d.m, VIRTIO_MMIO_CONFIG, 77);
	ck_assert_uint_eq(mmio_driver_read(d.m, VIRTIO_MMIO_CONFIG), CID);
	/* Three queues, nothing beyond. */
	mmio_driver_write(d.m, VIRTIO_MMIO_QUEUE_SEL, 2);
	ck_assert_uint_gt(mmio_driver_read(d.m, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	mmio_driver_write(d.m, VIRTIO_MMIO_QUEUE_SEL, 3);
	ck_assert_uint_eq(mmio_driver_read(d.m, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
}
END_TEST

START_TEST(large_cid_in_config)
{
	struct vsock_driver_config cfg = base_cfg();

	cfg.dev.guest_cid = 0x123456789ull;
	start(&cfg);
	ck_assert_uint_eq(mmio_driver_read(d.m, VIRTIO_MMIO_CONFIG),
			  0x23456789u);
	ck_assert_uint_eq(mmio_driver_read(d.m, VIRTIO_MMIO_CONFIG + 4), 1);
	/* And the device uses it: a full connection works. */
	converse_one(false, len_4k, len_4k);
}
END_TEST

/* ---- connections ---- */

START_TEST(no_listener_is_refused)
{
	struct vsock_sock *s;
	struct vsock_dev_stats st;

	start_default();
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), -ECONNREFUSED);
	ck_assert(s->got_rst);
	vsock_driver_close(s, false);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.conns_live, 0);
}
END_TEST

START_TEST(no_uds_is_refused)
{
	struct vsock_driver_config cfg = base_cfg();
	struct vsock_sock *s;

	cfg.dev.uds_path = NULL;
	start(&cfg);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), -ECONNREFUSED);
	vsock_driver_close(s, false);
}
END_TEST

START_TEST(echo_through_unix_listener)
{
	struct vsock_host_peer p = { .lfd = listen_port(PORT), .accept_n = 1,
				     .echo = true };
	uint8_t out[100000], in[sizeof(out)];
	struct vsock_sock *s;
	struct vsock_dev_stats st;

	start_default();
	vsock_host_peer_start(&p);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	ck_assert_uint_eq(s->peer_buf_alloc, VSOCK_MUXER_BUF_ALLOC);
	pattern_fill(9, 0, out, sizeof(out));
	ck_assert_int_eq(vsock_driver_send(s, out, sizeof(out)), 0);
	ck_assert_int_eq(vsock_driver_recv_all(s, in, sizeof(in)), 0);
	ck_assert_int_eq(pattern_check(9, 0, in, sizeof(in)), -1);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.conns_live, 1);
	ck_assert_uint_eq(st.tx_bytes, sizeof(out));
	ck_assert_uint_eq(st.rx_bytes, sizeof(in));
	/* Orderly close: SHUTDOWN both ways, the device answers RST. */
	vsock_driver_close(s, true);
	vsock_flow_join_peer(&d, &p);
	ck_assert(p.conns[0].eof);
	ck_assert_uint_eq(p.conns[0].received, sizeof(out));
	vsock_driver_settle(&d, 3);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.conns_live, 0);
	vsock_host_peer_free(&p);
	close(p.lfd);
}
END_TEST

START_TEST(many_conversations)
{
	struct vsock_host_peer p = { .lfd = listen_port(PORT), .accept_n = 8,
				     .random_writes = true };

	start_default();
	converse(&p, 8, len_300k, len_300k);
	vsock_host_peer_free(&p);
	close(p.lfd);
}
END_TEST

START_TEST(host_closes_first)
{
	int lfd = listen_port(PORT), fd;
	struct vsock_sock *s;
	uint8_t buf[16];

	start_default();
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vsock_host_write_all(fd, "bye", 3), 0);
	close(fd);
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, 3), 0);
	ck_assert_int_eq(memcmp(buf, "bye", 3), 0);
	/* End of stream: SHUTDOWN(SEND) from the device, then EOF. */
	ck_assert_int_eq(vsock_driver_recv(s, buf, sizeof(buf)), 0);
	ck_assert_uint_ne(s->peer_shutdown & VSOCK_SHUTDOWN_SEND, 0);
	vsock_driver_close(s, true);
	close(lfd);
}
END_TEST

START_TEST(guest_rst_closes_host_socket)
{
	int lfd = listen_port(PORT), fd;
	struct vsock_sock *s;
	uint8_t buf[16];
	struct vsock_dev_stats st;

	start_default();
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	vsock_driver_abort(s);
	vsock_driver_settle(&d, 3);
	ck_assert_int_le(read(fd, buf, sizeof(buf)), 0);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.conns_live, 0);
	close(fd);
	close(lfd);
}
END_TEST

/* ---- hybrid handshake (host -> guest) ---- */

struct hybrid_client {
	const char *uds;
	uint32_t port;
	size_t split;
	int fd;
	uint32_t host_port;
	char reply[64];
};

static void *hybrid_thread(void *arg)
{
	struct hybrid_client *hc = arg;
	static const char extra[] = "early bytes";

	hc->fd = vsock_host_hybrid_connect(hc->uds, hc->port, hc->split, extra,
					   sizeof(extra) - 1, &hc->host_port);
	return NULL;
}

/* The guest (listening on GUEST_PORT) serves client `hc` running in `t`:
 * the early bytes, OK, data both ways, the client's close. */
static void hybrid_serve(struct hybrid_client *hc, pthread_t t)
{
	struct vsock_sock *s;
	char buf[64];

	s = vsock_driver_accept(&d);
	ck_assert_uint_eq(s->local_port, GUEST_PORT);
	ck_assert_uint_ge(s->peer_port, VSOCK_HOST_PORT_BASE);
	/* The payload after the line is for the guest. */
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, 11), 0);
	ck_assert_int_eq(memcmp(buf, "early bytes", 11), 0);
	/* "OK <port>" arrives once the guest accepted; run the loop until
	 * the client has it. */
	while (pthread_tryjoin_np(t, NULL))
		vsock_driver_pump(&d, 1000);
	ck_assert_int_ge(hc->fd, 0);
	ck_assert_uint_eq(hc->host_port, s->peer_port);
	ck_assert_int_eq(vsock_driver_send(s, "pong", 4), 0);
	vsock_driver_settle(&d, 2);
	ck_assert_int_eq(vsock_host_read_all(hc->fd, buf, 4), 0);
	ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
	ck_assert_int_eq(vsock_host_write_all(hc->fd, "ping", 4), 0);
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, 4), 0);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	close(hc->fd);
	ck_assert_int_eq(vsock_driver_recv(s, buf, sizeof(buf)), 0);
	vsock_driver_close(s, true);
}

static void hybrid_case(size_t split)
{
	struct hybrid_client hc = { .uds = hd.uds, .port = GUEST_PORT,
				    .split = split };

	start_default();
	vsock_driver_listen(&d, GUEST_PORT);
	hybrid_serve(&hc, vsock_host_thread(hybrid_thread, &hc));
}

/* ---- hostile host clients ---- */

#define FLOOD 2000u
#define NS_PER_MS 1000000ull

/* Run the loop for `ms` of wall time; the device's CPU time meanwhile. */
static uint64_t idle_cpu_ns(unsigned int ms)
{
	uint64_t end = util_now_ns() + ms * NS_PER_MS, cpu = d.st.dev_cpu_ns;

	while (util_now_ns() < end)
		vsock_driver_pump(&d, 10000);
	return d.st.dev_cpu_ns - cpu;
}

START_TEST(hybrid_silent_client_times_out)
{
	struct vsock_driver_config cfg = base_cfg();
	uint64_t t0;
	char buf[8];
	ssize_t n;
	int fd;

	cfg.dev.timeout_ns = 300 * NS_PER_MS;
	start(&cfg);
	fd = vsock_host_connect_unix(hd.uds);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vsock_host_write_all(fd, "CONN", 4), 0);
	ck_assert_int_eq(vsock_host_set_nonblock(fd, true), 0);
	t0 = util_now_ns();
	while ((n = read(fd, buf, sizeof(buf))) < 0 && errno == EAGAIN) {
		vsock_driver_pump(&d, 10000);
		ck_assert_msg(util_now_ns() - t0 < 10000 * NS_PER_MS,
			      "a client that never finished its line stays");
	}
	ck_assert_int_eq(n, 0);
	close(fd);
}
END_TEST

START_TEST(hybrid_flood_leaves_room)
{
	struct vsock_driver_config cfg = base_cfg();
	struct hybrid_client hc = { .uds = hd.uds, .port = GUEST_PORT };
	int lfd = listen_port(PORT), afd, *fds = calloc(FLOOD, sizeof(int));
	struct vsock_sock *s;
	unsigned int base, i;
	char c = 0;

	ck_assert_ptr_nonnull(fds);
	vsock_host_raise_nofile(2 * FLOOD + 256);
	cfg.measure_cpu = true;
	start(&cfg);
	vsock_driver_listen(&d, GUEST_PORT);
	base = vsock_host_count_fds();
	/* Silent clients and clients that stop in the middle of the line. */
	for (i = 0; i < FLOOD; i++) {
		fds[i] = vsock_host_connect_unix(hd.uds);
		ck_assert_int_ge(fds[i], 0);
		if (i % 2)
			ck_assert_int_eq(vsock_host_write_all(fds[i],
							      "CONNECT 50", 10),
					 0);
	}
	/* Behind all of them, a proper client gets through, */
	hybrid_serve(&hc, vsock_host_thread(hybrid_thread, &hc));
	/* the VMM holding at most the handshake cap of the flood, */
	ck_assert_uint_le(vsock_host_count_fds() - base,
			  FLOOD + VSOCK_HANDSHAKE_PENDING_MAX + 4);
	/* a guest connection goes out, */
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	afd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(afd, 0);
	ck_assert_int_eq(vsock_driver_send(s, "x", 1), 0);
	vsock_driver_settle(&d, 3);
	ck_assert_int_eq(vsock_host_read_all(afd, &c, 1), 0);
	ck_assert_int_eq(c, 'x');
	/* and the idle flood costs next to nothing (a spinning loop would
	 * take all of it). */
	ck_assert_uint_lt(idle_cpu_ns(1000), 100 * NS_PER_MS);
	vsock_driver_close(s, false);
	for (i = 0; i < FLOOD; i++)
		close(fds[i]);
	free(fds);
	close(afd);
	close(lfd);
}
END_TEST

START_TEST(accept_backs_off_without_descriptors)
{
	struct vsock_driver_config cfg = base_cfg();
	struct hybrid_client hc = { .uds = hd.uds, .port = GUEST_PORT };
	struct rlimit rl, low;
	int fd, probe;

	cfg.measure_cpu = true;
	start(&cfg);
	vsock_driver_listen(&d, GUEST_PORT);
	vsock_driver_settle(&d, 3);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	fd = vsock_host_connect_unix(hd.uds);
	ck_assert_int_ge(fd, 0);
	/* No descriptor left for the accept. */
	probe = dup(0);
	ck_assert_int_ge(probe, 0);
	close(probe);
	low = rl;
	low.rlim_cur = (rlim_t)probe;
	test_log_expect(1000); /* "accept failed", rate-limited */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_uint_lt(idle_cpu_ns(1000), 100 * NS_PER_MS);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_uint_ge(test_log_count(), 1); /* it did run out */
	close(fd);
	/* Descriptors back: clients are served again. */
	hybrid_serve(&hc, vsock_host_thread(hybrid_thread, &hc));
}
END_TEST

START_TEST(hybrid_connect_whole)
{
	hybrid_case(0);
}
END_TEST

START_TEST(hybrid_connect_in_pieces)
{
	hybrid_case(3);
}
END_TEST

START_TEST(hybrid_connect_byte_by_byte)
{
	hybrid_case(1);
}
END_TEST

START_TEST(hybrid_connect_refused_by_guest)
{
	struct hybrid_client hc = { .uds = hd.uds, .port = GUEST_PORT + 1 };
	pthread_t t;

	start_default();
	vsock_driver_listen(&d, GUEST_PORT); /* not the port asked for */
	t = vsock_host_thread(hybrid_thread, &hc);
	/* The guest answers the REQUEST with RST; the client gets no OK. */
	while (pthread_tryjoin_np(t, NULL))
		vsock_driver_pump(&d, 1000);
	ck_assert_int_eq(hc.fd, -ECONNRESET);
	ck_assert_uint_ge(d.st.strays, 1);
	ck_assert_uint_eq(d.st.rx_pkts[VSOCK_OP_REQUEST], 1);
}
END_TEST

START_TEST(hybrid_bad_line_is_closed)
{
	int fd;
	char buf[8];
	pthread_t t;
	struct hybrid_client hc = { .uds = hd.uds, .port = GUEST_PORT };

	start_default();
	vsock_driver_listen(&d, GUEST_PORT);
	fd = vsock_host_connect_unix(hd.uds);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vsock_host_write_all(fd, "HELLO 5000\n", 11), 0);
	vsock_driver_settle(&d, 3);
	ck_assert_int_le(read(fd, buf, sizeof(buf)), 0);
	close(fd);
	ck_assert_uint_eq(d.st.rx_pkts[VSOCK_OP_REQUEST], 0);
	/* The listener still works. */
	t = vsock_host_thread(hybrid_thread, &hc);
	vsock_driver_close(vsock_driver_accept(&d), false);
	while (pthread_tryjoin_np(t, NULL))
		vsock_driver_pump(&d, 1000);
	if (hc.fd >= 0)
		close(hc.fd);
}
END_TEST

/* ---- internal targets (--exec's streams) ---- */

struct take_state {
	int fd; /* handed over once, then -1 */
	unsigned int calls;
};

static int take_once(void *opaque, uint32_t port)
{
	struct take_state *t = opaque;
	int fd = t->fd;

	ck_assert_uint_eq(port, PORT);
	t->calls++;
	t->fd = -1;
	return fd >= 0 ? fd : -EBUSY;
}

/* Bytes both ways through a handed-over socketpair end, end of file both
 * ways; a second stream and a SEQPACKET connection are refused. */
START_TEST(internal_target)
{
	struct vsock_driver_config cfg = base_cfg();
	struct take_state t = { .fd = -1 };
	struct vsock_port_rule rule = { .port = PORT, .take = take_once,
					.opaque = &t };
	struct vsock_sock *s, *again, *seq;
	uint8_t buf[16];
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	t.fd = sv[0];
	cfg.seqpacket = true;
	cfg.dev.ports = &rule;
	cfg.dev.nr_ports = 1;
	start(&cfg);
	seq = vsock_driver_connect_start(&d, PORT, VSOCK_TYPE_SEQPACKET);
	vsock_driver_settle(&d, 3);
	ck_assert(seq->got_rst);
	ck_assert_uint_eq(t.calls, 0); /* stream only: never asked */
	vsock_driver_close(seq, false);

	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	ck_assert_uint_eq(t.calls, 1);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &again),
			 -ECONNREFUSED);
	vsock_driver_close(again, false);
	ck_assert_int_eq(vsock_driver_send(s, "ping", 4), 0);
	vsock_driver_shutdown(s, VSOCK_SHUTDOWN_SEND);
	vsock_driver_settle(&d, 3);
	ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 4);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 0);
	ck_assert_int_eq(vsock_host_write_all(sv[1], "pong", 4), 0);
	close(sv[1]);
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, 4), 0);
	ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
	ck_assert_int_eq(vsock_driver_recv(s, buf, sizeof(buf)), 0);
	vsock_driver_close(s, true);
	ck_assert_uint_eq(vsock_driver_nr_socks(&d), 0);
}
END_TEST

/* ---- TCP ---- */

START_TEST(tcp_port_rule)
{
	struct vsock_driver_config cfg = base_cfg();
	struct vsock_port_rule rule;
	uint16_t tport;
	struct vsock_host_peer p = { .accept_n = 2, .random_writes = true };
	char spec[64];
	const char *why = NULL;

	p.lfd = vsock_host_listen_tcp(&tport);
	snprintf(spec, sizeof(spec), "%u=tcp:127.0.0.1:%u", PORT, tport);
	ck_assert_msg(vsock_parse_port_rule(spec, &rule, &why) == 0, "%s",
		      why);
	cfg.dev.ports = &rule;
	cfg.dev.nr_ports = 1;
	start(&cfg);
	converse(&p, 2, len_300k, len_300k);
	vsock_host_peer_free(&p);
	close(p.lfd);
}
END_TEST

START_TEST(tcp_listen_rule)
{
	struct vsock_driver_config cfg = base_cfg();
	struct vsock_listen_rule rule;
	uint16_t tport = vsock_host_free_tcp_port();
	char spec[64], buf[16];
	const char *why = NULL;
	struct vsock_sock *s;
	int fd;

	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u=%u", tport,
		 GUEST_PORT);
	ck_assert_msg(vsock_parse_listen_rule(spec, &rule, &why) == 0, "%s",
		      why);
	cfg.dev.listens = &rule;
	cfg.dev.nr_listens = 1;
	start(&cfg);
	vsock_driver_listen(&d, GUEST_PORT);
	fd = vsock_host_connect_tcp(tport);
	ck_assert_int_ge(fd, 0);
	s = vsock_driver_accept(&d);
	ck_assert_uint_eq(s->local_port, GUEST_PORT);
	ck_assert_int_eq(vsock_host_write_all(fd, "tcp!", 4), 0);
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, 4), 0);
	ck_assert_int_eq(memcmp(buf, "tcp!", 4), 0);
	ck_assert_int_eq(vsock_driver_send(s, "back", 4), 0);
	vsock_driver_settle(&d, 2);
	/* No handshake line on TCP: the first bytes are the guest's. */
	ck_assert_int_eq(vsock_host_read_all(fd, buf, 4), 0);
	ck_assert_int_eq(memcmp(buf, "back", 4), 0);
	vsock_driver_close(s, true);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 0);
	close(fd);
}
END_TEST

/* ---- descriptor layouts ---- */

static void layout_case(enum vsock_driver_tx_layout tx,
			enum vsock_driver_rx_layout rx, uint32_t rx_size,
			uint32_t seg)
{
	struct vsock_driver_config cfg = base_cfg();
	struct vsock_host_peer p = { .accept_n = 2, .random_writes = true };

	cfg.rx_layout = rx;
	cfg.rx_buf_size = rx_size;
	start(&cfg);
	d.tx.layout = tx;
	d.tx.random_sizes = true;
	d.tx.seg_size = seg;
	p.lfd = listen_port(PORT);
	converse(&p, 2, len_300k, len_300k);
	vsock_host_peer_free(&p);
	close(p.lfd);
}

START_TEST(tx_layouts)
{
	layout_case((enum vsock_driver_tx_layout)_i, VSOCK_DRV_RX_LINEAR,
		    4096 + 44, 4096);
}
END_TEST

START_TEST(tx_scatter_odd_pieces)
{
	layout_case(VSOCK_DRV_TX_SCATTER, VSOCK_DRV_RX_LINEAR, 4096 + 44, 999);
}
END_TEST

START_TEST(tx_indirect_odd_pieces)
{
	layout_case(VSOCK_DRV_TX_INDIRECT, VSOCK_DRV_RX_LINEAR, 4096 + 44, 777);
}
END_TEST

START_TEST(rx_layouts_4k)
{
	layout_case(VSOCK_DRV_TX_MIXED, (enum vsock_driver_rx_layout)_i,
		    4096 + 44, 4096);
}
END_TEST

START_TEST(rx_layouts_64k)
{
	layout_case(VSOCK_DRV_TX_MIXED, (enum vsock_driver_rx_layout)_i,
		    65536 + 44, 4096);
}
END_TEST

START_TEST(rx_buffer_just_a_header)
{
	/* Room for the header only: control packets fit, data never does,
	 * but the connection must still open and refuse nothing. */
	struct vsock_driver_config cfg = base_cfg();
	int lfd = listen_port(PORT);
	struct vsock_sock *s;

	cfg.rx_buf_size = 44;
	start(&cfg);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	vsock_driver_close(s, true);
	close(lfd);
}
END_TEST

/* ---- malformed chains and headers ---- */

/* A guest packet in scratch memory: header, then `len` data bytes. */
static uint64_t raw_pkt(const struct vsock_hdr *h, uint32_t data_len,
			uint8_t **data)
{
	uint8_t *mem;
	uint64_t gpa = vsock_driver_scratch(&d, (void **)&mem);

	vsock_hdr_encode(mem, h);
	if (data)
		*data = mem + VSOCK_HDR_SIZE;
	memset(mem + VSOCK_HDR_SIZE, 0x5a, data_len);
	return gpa;
}

/* Send a raw chain, let the device run, expect it back used. */
static void raw_send(const struct vq_driver_buf *bufs, unsigned int n,
		     bool indirect)
{
	vsock_driver_tx_raw(&d, bufs, n, indirect);
	vsock_driver_settle(&d, 3);
	ck_assert_uint_eq(vsock_driver_raw_outstanding(&d), 0);
}

static uint64_t rsts(void)
{
	return d.st.rx_pkts[VSOCK_OP_RST];
}

/* After the abuse, a real connection still works. */
static void still_works(void)
{
	struct vsock_host_peer p = { .lfd = listen_port(PORT + 1),
				     .accept_n = 1, .echo = true };
	struct vsock_sock *s;
	char buf[5];

	vsock_host_peer_start(&p);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT + 1, &s), 0);
	ck_assert_int_eq(vsock_driver_send(s, "alive", 5), 0);
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, 5), 0);
	ck_assert_int_eq(memcmp(buf, "alive", 5), 0);
	vsock_driver_close(s, true);
	vsock_flow_join_peer(&d, &p);
	vsock_host_peer_free(&p);
	close(p.lfd);
	ck_assert_uint_eq(mmio_driver_read(d.m, VIRTIO_MMIO_STATUS) &
				  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
			  0);
}

START_TEST(tx_writable_descriptor_dropped)
{
	struct vsock_hdr h;
	uint64_t gpa, r;
	struct vsock_dev_stats st;

	start_default();
	test_log_expect(100);
	h = vsock_driver_hdr(&d, VSOCK_OP_REQUEST, 1000, PORT, 0);
	gpa = raw_pkt(&h, 0, NULL);
	r = rsts();
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE, true } }, 1,
		 false);
	/* Header then a writable data descriptor. */
	h = vsock_driver_hdr(&d, VSOCK_OP_RW, 1000, PORT, 16);
	gpa = raw_pkt(&h, 16, NULL);
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE, false },
					   { gpa + VSOCK_HDR_SIZE, 16, true } },
		 2, false);
	ck_assert_uint_eq(rsts(), r); /* dropped, not answered */
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_ge(st.tx_dropped, 2);
	still_works();
}
END_TEST

START_TEST(tx_short_header_dropped)
{
	struct vsock_hdr h;
	uint64_t gpa, r;

	start_default();
	test_log_expect(100);
	h = vsock_driver_hdr(&d, VSOCK_OP_REQUEST, 1000, PORT, 0);
	gpa = raw_pkt(&h, 0, NULL);
	r = rsts();
	raw_send((struct vq_driver_buf[]){ { gpa, 43, false } }, 1, false);
	raw_send((struct vq_driver_buf[]){ { gpa, 20, false },
					   { gpa + 20, 20, false } },
		 2, false);
	raw_send((struct vq_driver_buf[]){ { gpa, 0, false } }, 1, false);
	ck_assert_uint_eq(rsts(), r);
	still_works();
}
END_TEST

START_TEST(tx_len_mismatch_dropped)
{
	struct vsock_hdr h;
	uint64_t gpa, r;
	int lfd = listen_port(PORT), fd;
	struct vsock_sock *s;
	char buf[8];

	start_default();
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	fd = accept(lfd, NULL, NULL);
	test_log_expect(100);
	r = rsts();
	/* Header says 100, 50 present; header says 10, 50 present. */
	h = vsock_driver_hdr(&d, VSOCK_OP_RW, s->local_port, PORT, 100);
	gpa = raw_pkt(&h, 50, NULL);
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE + 50,
					     false } },
		 1, false);
	h.len = 10;
	gpa = raw_pkt(&h, 50, NULL);
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE + 50,
					     false } },
		 1, false);
	ck_assert_uint_eq(rsts(), r);
	/* None of it reached the host; the connection is intact. */
	ck_assert_int_eq(vsock_driver_send(s, "ok", 2), 0);
	vsock_driver_settle(&d, 2);
	ck_assert_int_eq(vsock_host_read_all(fd, buf, 2), 0);
	ck_assert_int_eq(memcmp(buf, "ok", 2), 0);
	ck_assert_int_eq(s->state, VSOCK_SOCK_ESTABLISHED);
	vsock_driver_close(s, true);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(tx_bad_addresses_dropped)
{
	struct vsock_hdr h;
	uint64_t gpa, r;

	start_default();
	test_log_expect(100);
	r = rsts();
	h = vsock_driver_hdr(&d, VSOCK_OP_REQUEST, 1000, PORT, 0);
	h.src_cid = CID + 1; /* spoofed source */
	gpa = raw_pkt(&h, 0, NULL);
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE, false } }, 1,
		 false);
	h.src_cid = CID;
	h.dst_cid = 7; /* not the host */
	gpa = raw_pkt(&h, 0, NULL);
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE, false } }, 1,
		 false);
	ck_assert_uint_eq(rsts(), r);
	still_works();
}
END_TEST

START_TEST(tx_bad_op_or_type_answered_with_rst)
{
	static const struct {
		uint16_t op, type;
		uint32_t len;
	} cases[] = {
		{ 0, VSOCK_TYPE_STREAM, 0 }, /* INVALID */
		{ 8, VSOCK_TYPE_STREAM, 0 }, /* unknown op */
		{ VSOCK_OP_REQUEST, VSOCK_TYPE_SEQPACKET, 0 }, /* unnegotiated */
		{ VSOCK_OP_REQUEST, VSOCK_TYPE_STREAM, 8 }, /* data on REQUEST */
	};
	unsigned int i;

	start_default();
	test_log_expect(100);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vsock_hdr h = vsock_driver_hdr(&d, cases[i].op,
						      2000 + i, PORT,
						      cases[i].len);
		uint64_t gpa, r = rsts();

		h.type = cases[i].type;
		gpa = raw_pkt(&h, cases[i].len, NULL);
		raw_send((struct vq_driver_buf[]){
				 { gpa, VSOCK_HDR_SIZE + cases[i].len, false } },
			 1, false);
		ck_assert_msg(rsts() == r + 1, "case %u: no RST", i);
	}
	/* An RST is never answered, even a bad one. */
	{
		struct vsock_hdr h = vsock_driver_hdr(&d, VSOCK_OP_RST, 3000,
						      PORT, 0);
		uint64_t gpa, r = rsts();

		h.type = 9;
		gpa = raw_pkt(&h, 0, NULL);
		raw_send((struct vq_driver_buf[]){
				 { gpa, VSOCK_HDR_SIZE, false } },
			 1, false);
		ck_assert_uint_eq(rsts(), r);
	}
	still_works();
}
END_TEST

START_TEST(tx_unknown_type_answered_with_valid_rst)
{
	/* The RST must itself be a packet a guest accepts: its type cannot
	 * be the unknown one the guest sent (Linux drops such packets). */
	struct vsock_hdr h;
	uint64_t gpa, r;

	start_default();
	test_log_expect(100);
	h = vsock_driver_hdr(&d, VSOCK_OP_REQUEST, 2100, PORT, 0);
	h.type = 9;
	r = rsts();
	gpa = raw_pkt(&h, 0, NULL);
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE, false } }, 1,
		 false);
	ck_assert_uint_eq(rsts(), r + 1);
	still_works();
}
END_TEST

START_TEST(tx_oversized_and_unmatched)
{
	struct vsock_hdr h;
	uint64_t gpa, r;

	start_default();
	test_log_expect(100);
	r = rsts();
	/* 64 KiB + 1 of data, consistent length: dropped. */
	h = vsock_driver_hdr(&d, VSOCK_OP_RW, 1000, PORT, 65537);
	gpa = raw_pkt(&h, 65537, NULL);
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE + 65537,
					     false } },
		 1, false);
	ck_assert_uint_eq(rsts(), r);
	/* A well-formed RW for no connection: RST. */
	h = vsock_driver_hdr(&d, VSOCK_OP_RW, 1000, PORT, 5);
	gpa = raw_pkt(&h, 5, NULL);
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE + 5, false } },
		 1, false);
	ck_assert_uint_eq(rsts(), r + 1);
	still_works();
}
END_TEST

START_TEST(tx_bad_buffers_do_not_break_the_device)
{
	struct vsock_hdr h;
	uint64_t gpa, ram;
	unsigned int i;
	struct vq_driver_buf many[40];

	start_default();
	ram = d.q[0].ram_size;
	test_log_expect(1000);
	h = vsock_driver_hdr(&d, VSOCK_OP_REQUEST, 1000, PORT, 0);
	gpa = raw_pkt(&h, 0, NULL);
	/* Outside guest RAM, straddling its end, through indirect. */
	raw_send((struct vq_driver_buf[]){ { ram + 4096, VSOCK_HDR_SIZE,
					     false } },
		 1, false);
	raw_send((struct vq_driver_buf[]){ { ram - 20, VSOCK_HDR_SIZE,
					     false } },
		 1, false);
	raw_send((struct vq_driver_buf[]){ { gpa, VSOCK_HDR_SIZE, false },
					   { ram - 8, 64, false } },
		 2, true);
	/* More data pieces than the device takes: 40 x 1 byte. */
	h = vsock_driver_hdr(&d, VSOCK_OP_RW, 1000, PORT, 39);
	gpa = raw_pkt(&h, 39, NULL);
	many[0] = (struct vq_driver_buf){ gpa, VSOCK_HDR_SIZE, false };
	for (i = 1; i < 40; i++)
		many[i] = (struct vq_driver_buf){ gpa + VSOCK_HDR_SIZE + i - 1,
						  1, false };
	raw_send(many, 40, false);
	raw_send(many, 40, true);
	still_works();
}
END_TEST

START_TEST(tx_flood_of_unmatched_packets)
{
	/* Many RST-worthy packets at once: the device must answer or drop,
	 * never stall; replies are bounded by back-pressure. */
	struct vsock_hdr h;
	uint64_t gpa;
	unsigned int i;

	start_default();
	test_log_expect(10000);
	for (i = 0; i < 2000; i++) {
		h = vsock_driver_hdr(&d, VSOCK_OP_RW, 10000 + i, PORT, 1);
		gpa = raw_pkt(&h, 1, NULL);
		vsock_driver_tx_raw(&d, (struct vq_driver_buf[]){
					    { gpa, VSOCK_HDR_SIZE + 1, false } },
				    1, false);
		vsock_driver_pump(&d, 0);
	}
	vsock_driver_settle(&d, 3);
	ck_assert_uint_eq(vsock_driver_raw_outstanding(&d), 0);
	ck_assert_uint_eq(rsts(), 2000);
	still_works();
}
END_TEST

/* ---- credit ---- */

START_TEST(device_respects_small_guest_credit)
{
	struct vsock_driver_config cfg = base_cfg();

	cfg.buf_alloc = 5000; /* odd and small */
	cfg.rx_buf_size = 65536 + 44;
	start(&cfg);
	converse_one(true, len_300k, len_300k);
}
END_TEST

struct blast {
	int fd;
	uint64_t written;
};

START_TEST(stalled_guest_reader_blocks_host_sender)
{
	struct vsock_driver_config cfg = base_cfg();
	int lfd = listen_port(PORT), fd, sndbuf;
	socklen_t sl = sizeof(sndbuf);
	struct vsock_sock *s;
	uint8_t *buf = malloc(65536);
	uint64_t written = 0, got = 0, before;
	unsigned int idle = 0;

	cfg.buf_alloc = 64 * 1024;
	start(&cfg);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vsock_host_set_nonblock(fd, true), 0);
	getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl);
	/* The guest reads nothing: write until neither the socket nor the
	 * device takes more, with the device running in between. */
	while (idle < 5) {
		ssize_t n;
		bool moved = false;

		for (;;) {
			pattern_fill(5, written, buf, 65536);
			n = write(fd, buf, 65536);
			if (n <= 0)
				break;
			written += (uint64_t)n;
			moved = true;
		}
		before = s->rx_bytes;
		moved |= vsock_driver_pump(&d, 2000) > 0 &&
			 s->rx_bytes != before;
		idle = moved ? 0 : idle + 1;
	}
	/* The guest got exactly its credit, not a byte more... */
	ck_assert_uint_eq(s->rxq_len, cfg.buf_alloc);
	/* ...and the rest waits in the host socket and the device's
	 * bounded buffers: the sender is blocked, not absorbed. */
	ck_assert_uint_le(written, (uint64_t)cfg.buf_alloc + 4ull * sndbuf +
					   VSOCK_MAX_PKT_DATA * 4ull);
	/* Reading resumes the flow; everything arrives in order. */
	ck_assert_int_eq(vsock_host_set_nonblock(fd, false), 0);
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = vsock_driver_recv(s, buf, 65536);

		ck_assert_int_ge(n, 0);
		if (!n)
			break;
		ck_assert_int_eq(pattern_check(5, got, buf, (size_t)n), -1);
		got += (uint64_t)n;
	}
	ck_assert_uint_eq(got, written);
	vsock_driver_close(s, true);
	close(fd);
	close(lfd);
	free(buf);
}
END_TEST

/*
 * While host data flows to the guest, the guest's TX packets (its credit
 * updates as it reads) are taken by the device's passes without a TX
 * notification each; once the flow stops, notifications are on again and
 * the guest's next packet notifies. The bound on how long notifications
 * stay off is a minute here, not 1 ms: the count must not depend on how
 * fast this process runs (under ASan on a busy machine, 17 of 31 packets
 * notified with 1 ms).
 */
START_TEST(tx_notifications_rest_while_host_data_flows)
{
	struct vsock_driver_config cfg = base_cfg();
	int lfd = listen_port(PORT), fd;
	struct vsock_sock *s;
	const uint64_t total = 4u << 20;
	uint8_t *buf = malloc(65536);
	uint64_t written = 0, got = 0, tx0, kicks0, kicks;
	char c;

	cfg.dev.tx_quiet_ns = 60ull * 1000 * 1000 * 1000;
	start(&cfg);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vsock_host_set_nonblock(fd, true), 0);
	tx0 = d.st.tx_pkts;
	kicks0 = d.st.notifies_q[VSOCK_QUEUE_TX];
	while (got < total) {
		ssize_t n;

		while (written < total) {
			pattern_fill(7, written, buf,
				     (size_t)MIN(65536, total - written));
			n = write(fd, buf, (size_t)MIN(65536, total - written));
			if (n <= 0)
				break;
			written += (uint64_t)n;
		}
		/* Small reads: a credit update whenever the queue empties. */
		n = vsock_driver_recv_some(s, buf, 4096);
		ck_assert(n > 0 || n == -EAGAIN);
		if (n > 0) {
			ck_assert_int_eq(pattern_check(7, got, buf, (size_t)n),
					 -1);
			got += (uint64_t)n;
		} else {
			vsock_driver_pump(&d, 2000);
		}
	}
	kicks = d.st.notifies_q[VSOCK_QUEUE_TX] - kicks0;
	/* Dozens of credit updates went out, most without a notification
	 * (each one notified before: 31 of 31 when this was written; 1 of
	 * 31 since). */
	ck_assert_uint_ge(d.st.tx_pkts - tx0, 16);
	ck_assert_uint_le(kicks * 2, d.st.tx_pkts - tx0);
	/* The flow is over: the next TX packet notifies, and arrives. */
	vsock_driver_settle(&d, 3);
	kicks0 = d.st.notifies_q[VSOCK_QUEUE_TX];
	ck_assert_int_eq(vsock_driver_send(s, "z", 1), 0);
	ck_assert_uint_eq(d.st.notifies_q[VSOCK_QUEUE_TX] - kicks0, 1);
	ck_assert_int_eq(vsock_host_set_nonblock(fd, false), 0);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	ck_assert_int_eq(c, 'z');
	vsock_driver_close(s, true);
	close(fd);
	close(lfd);
	free(buf);
}
END_TEST

/* A guest connection to `port` (host listener `lfd`) that has sent 1000
 * bytes the host has read; the host's end. */
static int connected_after_1000(uint32_t port, int lfd, struct vsock_sock **s)
{
	uint8_t buf[1000];
	int fd;

	ck_assert_int_eq(vsock_driver_connect(&d, port, s), 0);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	pattern_fill(1, 0, buf, sizeof(buf));
	ck_assert_int_eq(vsock_driver_send(*s, buf, sizeof(buf)), 0);
	ck_assert_int_eq(vsock_host_read_all(fd, buf, sizeof(buf)), 0);
	return fd;
}

START_TEST(credit_request_answered)
{
	int lfd = listen_port(PORT), fd;
	struct vsock_sock *s;
	uint64_t before;

	start_default();
	fd = connected_after_1000(PORT, lfd, &s);
	before = s->credit_updates_rx;
	vsock_driver_credit_request(s);
	while (s->credit_updates_rx == before)
		vsock_driver_pump(&d, 2000);
	ck_assert_uint_eq(s->peer_buf_alloc, VSOCK_MUXER_BUF_ALLOC);
	/* The host read all 1000 bytes: the device forwarded them. */
	ck_assert_uint_eq(s->peer_fwd_cnt, 1000);
	vsock_driver_close(s, true);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(guest_exceeding_credit_is_reset)
{
	struct vsock_driver_config cfg = base_cfg();
	int lfd = listen_port(PORT), fd;
	struct vsock_sock *s;
	struct vsock_hdr h;
	uint64_t gpa;
	uint8_t *data;

	start(&cfg);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	/* The device's whole credit and one packet more, in one batch it
	 * sees before any byte reaches the host: raw, since the harness
	 * itself never exceeds credit. */
	test_log_expect(100);
	h = vsock_driver_hdr(&d, VSOCK_OP_RW, s->local_port, PORT, 65536);
	gpa = raw_pkt(&h, 65536, &data);
	while (s->tx_cnt < s->peer_buf_alloc + 65536) {
		vsock_driver_tx_raw(&d, (struct vq_driver_buf[]){
					    { gpa, VSOCK_HDR_SIZE + 65536,
					      false } },
				    1, false);
		s->tx_cnt += 65536;
	}
	while (s->state != VSOCK_SOCK_CLOSED)
		vsock_driver_pump(&d, 2000);
	ck_assert(s->got_rst);
	ck_assert_int_eq(s->err, -ECONNRESET);
	vsock_driver_close(s, false);
	close(fd);
	close(lfd);
}
END_TEST

/* ---- reset ---- */

START_TEST(device_reset_closes_host_connections)
{
	struct hybrid_client hc = { .uds = hd.uds, .port = GUEST_PORT };
	int lfd = listen_port(PORT), fd;
	struct vsock_sock *s, *a;
	struct vsock_dev_stats st;
	pthread_t t;
	char buf[8];

	start_default();
	vsock_driver_listen(&d, GUEST_PORT);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	t = vsock_host_thread(hybrid_thread, &hc);
	a = vsock_driver_accept(&d);
	while (pthread_tryjoin_np(t, NULL))
		vsock_driver_pump(&d, 1000);
	ck_assert_int_ge(hc.fd, 0);
	(void)a;
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.conns_live, 2);

	mmio_driver_write(d.m, VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(mmio_driver_read(d.m, VIRTIO_MMIO_STATUS), 0);
	/* The loop thread finishes the reset: both host sockets close. */
	vsock_driver_settle(&d, 3);
	ck_assert_int_le(read(fd, buf, sizeof(buf)), 0);
	ck_assert_int_le(read(hc.fd, buf, sizeof(buf)), 0);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.conns_live, 0);
	close(fd);
	close(hc.fd);

	/* Probe again: the device works as new. */
	vsock_driver_reprobe(&d);
	{
		struct vsock_host_peer p = { .lfd = lfd, .accept_n = 1 };

		converse(&p, 1, len_4k, len_4k);
		vsock_host_peer_free(&p);
	}
	close(lfd);
}
END_TEST

/* Four conversations with `p` (started here) on PORT, traffic both ways
 * under way: host receives hold lent RX buffers, host sends TX chains. */
static void traffic_in_flight(struct vsock_host_peer *p, struct vsock_sock **s)
{
	unsigned int i, rounds;
	uint8_t buf[4096];

	p->lfd = listen_port(PORT);
	p->guest_len = len_300k;
	p->host_len = len_300k;
	vsock_host_peer_start(p);
	for (i = 0; i < 4; i++) {
		uint64_t id = i + 1;

		ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s[i]), 0);
		ck_assert_int_eq(vsock_driver_send(s[i], &id, 8), 0);
	}
	for (rounds = 0; rounds < 50; rounds++) {
		for (i = 0; i < 4; i++) {
			pattern_fill(2 * (i + 1) + 1, s[i]->tx_bytes - 8, buf,
				     sizeof(buf));
			vsock_driver_send_some(s[i], buf, sizeof(buf));
			vsock_driver_recv_some(s[i], buf, sizeof(buf));
		}
		vsock_driver_pump(&d, 0);
	}
}

START_TEST(reset_with_data_in_flight)
{
	struct vsock_host_peer p = { .accept_n = 4, .random_writes = true };
	struct vsock_sock *s[4];

	start_default();
	/* Traffic both ways, then pull the plug. */
	traffic_in_flight(&p, s);
	mmio_driver_write(d.m, VIRTIO_MMIO_STATUS, 0);
	vsock_driver_settle(&d, 3);
	vsock_flow_join_peer(&d, &p); /* every host connection ended */
	vsock_driver_reprobe(&d);
	still_works();
	vsock_host_peer_free(&p);
	close(p.lfd);
}
END_TEST

/* ---- transport reset ---- */

#define NS_PER_S 1000000000ull

/* Pump until the driver handled `n` TRANSPORT_RESET events in all. */
static void pump_until_resets(uint64_t n)
{
	uint64_t t0 = util_now_ns();

	while (d.st.transport_resets < n) {
		vsock_driver_pump(&d, 10000);
		ck_assert_msg(util_now_ns() - t0 < 5 * NS_PER_S,
			      "no TRANSPORT_RESET event for 5 s");
	}
}

/* The host end `fd` sees the close within 5 s (EOF or a reset, no data),
 * and is closed. */
static void host_sees_close(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[64];

	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_le(read(fd, buf, sizeof(buf)), 0);
	close(fd);
}

/* A guest connection to PORT and a host one to the guest's GUEST_PORT. */
struct both_ways {
	int lfd, fd; /* the host listener of PORT, the accepted end */
	struct hybrid_client hc; /* its fd: the host end of h2g */
	struct vsock_sock *g2h, *h2g;
};

static void open_both_ways(struct both_ways *c)
{
	pthread_t t;

	c->lfd = listen_port(PORT);
	vsock_driver_listen(&d, GUEST_PORT);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &c->g2h), 0);
	c->fd = accept(c->lfd, NULL, NULL);
	ck_assert_int_ge(c->fd, 0);
	c->hc = (struct hybrid_client){ .uds = hd.uds, .port = GUEST_PORT };
	t = vsock_host_thread(hybrid_thread, &c->hc);
	c->h2g = vsock_driver_accept(&d);
	while (pthread_tryjoin_np(t, NULL))
		vsock_driver_pump(&d, 1000);
	ck_assert_int_ge(c->hc.fd, 0);
}

/* Guest socket `s` was reset by the event, not by an RST; freed. */
static void reset_by_event(struct vsock_sock *s)
{
	ck_assert_int_eq(s->state, VSOCK_SOCK_CLOSED);
	ck_assert_int_eq(s->err, -ECONNRESET);
	ck_assert(!s->got_rst);
	ck_assert_int_eq(vsock_driver_send(s, "x", 1), -ECONNRESET);
	vsock_driver_close(s, false);
}

/* A transport reset: both host ends see the close at once. */
static void reset_host_side(struct both_ways *c)
{
	ck_assert_int_eq(vsock_dev_transport_reset(d.dev), 0);
	host_sees_close(c->fd);
	host_sees_close(c->hc.fd);
}

static void reset_by_event_both(struct both_ways *c)
{
	reset_by_event(c->g2h);
	reset_by_event(c->h2g);
}

/* The device's state dump contains `needle`. */
static bool dump_has(const char *needle)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool found;

	ck_assert_ptr_nonnull(f);
	virtio_mmio_dump(d.m, f);
	fclose(f);
	found = strstr(buf, needle) != NULL;
	if (!found)
		fprintf(stderr, "dump has no '%s':\n%s", needle, buf);
	free(buf);
	return found;
}

/* Nothing of the old connections is left in the device. */
static void device_holds_nothing(void)
{
	struct vsock_dev_stats st;

	vsock_driver_settle(&d, 3);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.conns_live, 0);
	ck_assert(dump_has(" lent 0 | tx chains held 0 "));
	ck_assert(dump_has("dump: vsock backend tx chains queued 0 buffered "
			   "0 B\n"));
}

/* After the reset: the guest's listener takes a new host connection,
 * and a new guest connection works. */
static void works_both_ways_again(void)
{
	struct hybrid_client hc = { .uds = hd.uds, .port = GUEST_PORT };

	hybrid_serve(&hc, vsock_host_thread(hybrid_thread, &hc));
	still_works();
}

START_TEST(transport_reset_drops_every_connection)
{
	struct vsock_dev_stats st;
	struct both_ways c;

	/* Linux posts 4-byte event buffers; larger ones are fine too. */
	start_with_events(_i ? VSOCK_DRV_EV_EXACT : VSOCK_DRV_EV_ROOMY);
	open_both_ways(&c);
	/* The host side goes at once, the guest's when the event comes. */
	reset_host_side(&c);
	pump_until_resets(1);
	reset_by_event_both(&c);
	ck_assert_uint_eq(d.cfg.dev.guest_cid, CID); /* read again */
	device_holds_nothing();
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.transport_resets, 1);
	ck_assert_uint_eq(d.st.strays, 0);
	works_both_ways_again();
	close(c.lfd);
}
END_TEST

START_TEST(transport_reset_with_data_in_flight)
{
	struct vsock_host_peer p = { .accept_n = 4, .random_writes = true };
	struct vsock_sock *s[4];
	unsigned int i;

	start_default();
	traffic_in_flight(&p, s);
	ck_assert_int_eq(vsock_dev_transport_reset(d.dev), 0);
	pump_until_resets(1);
	vsock_flow_join_peer(&d, &p); /* every host connection ended */
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(s[i]->err, -ECONNRESET);
		vsock_driver_close(s[i], false);
	}
	/* Every chain came back, nothing is buffered: no leak. */
	device_holds_nothing();
	still_works();
	vsock_host_peer_free(&p);
	close(p.lfd);
}
END_TEST

/*
 * Malformed event buffers (too short for an event, read-only) go back
 * unused and counted; the reset still happens on the host side, and the
 * event goes out in the first good buffer the driver posts.
 */
START_TEST(bad_event_buffers_are_rejected)
{
	struct vsock_dev_stats st;
	struct both_ways c;

	start_with_events(_i ? VSOCK_DRV_EV_READONLY : VSOCK_DRV_EV_SHORT);
	d.ev_layout = VSOCK_DRV_EV_NONE; /* no more of them */
	open_both_ways(&c);
	test_log_expect(8);
	reset_host_side(&c);
	vsock_driver_settle(&d, 3);
	ck_assert_uint_eq(d.st.events_rejected, 8);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.events_rejected, 8);
	ck_assert_uint_eq(d.st.transport_resets, 0);
	ck_assert_uint_eq(mmio_driver_read(d.m, VIRTIO_MMIO_STATUS) &
				  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
			  0);
	d.ev_layout = VSOCK_DRV_EV_EXACT;
	pump_until_resets(1);
	reset_by_event_both(&c);
	works_both_ways_again();
	close(c.lfd);
}
END_TEST

/*
 * No event buffer posted: the host side is reset at once, and the event
 * waits for a buffer. The guest, not told yet, may open connections
 * meanwhile; it drops them when the event comes, and so does the device.
 */
START_TEST(event_waits_for_a_buffer)
{
	struct vsock_sock *meanwhile;
	struct vsock_dev_stats st;
	struct both_ways c;
	int fd;

	start_with_events(VSOCK_DRV_EV_NONE);
	open_both_ways(&c);
	reset_host_side(&c);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &meanwhile), 0);
	fd = accept(c.lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	vsock_driver_settle(&d, 3);
	ck_assert_uint_eq(d.st.events, 0);
	d.ev_layout = VSOCK_DRV_EV_ROOMY;
	pump_until_resets(1);
	host_sees_close(fd);
	reset_by_event_both(&c);
	reset_by_event(meanwhile);
	device_holds_nothing();
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.transport_resets, 1); /* one reset, one event */
	ck_assert_uint_eq(d.st.events, 1);
	works_both_ways_again();
	close(c.lfd);
}
END_TEST

START_TEST(transport_reset_without_driver)
{
	start_default();
	mmio_driver_write(d.m, VIRTIO_MMIO_STATUS, 0);
	vsock_driver_settle(&d, 3);
	ck_assert_int_eq(vsock_dev_transport_reset(d.dev), -ENODEV);
	vsock_driver_reprobe(&d);
	still_works();
}
END_TEST

/* ---- fault modes ---- */

#define MS_NS 1000000ull

/* Every second from DRIVER_OK; connections opened between two resets
 * go with the second. */
START_TEST(fault_transport_reset_repeats)
{
	struct vsock_driver_config cfg = base_cfg();
	struct vsock_dev_stats st;
	uint64_t t0, t1;
	struct both_ways c;

	cfg.dev.fault.reset_period_ns = NS_PER_S;
	t0 = util_now_ns();
	start(&cfg);
	pump_until_resets(1);
	t1 = util_now_ns();
	ck_assert_uint_ge(t1 - t0, NS_PER_S);
	open_both_ways(&c);
	pump_until_resets(2);
	ck_assert_uint_ge(util_now_ns() - t1, 900 * MS_NS);
	host_sees_close(c.fd);
	host_sees_close(c.hc.fd);
	reset_by_event_both(&c);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.transport_resets, 2);
	close(c.lfd);
}
END_TEST

static uint32_t rw_max; /* largest RW payload seen */
static unsigned int rw_count, eom_count;
static bool eom_last; /* the last RW packet seen ended a message */

static bool record_rw(struct vsock_driver *drv, const struct vsock_hdr *h,
		      const uint8_t *data)
{
	(void)drv;
	(void)data;
	if (h->op != VSOCK_OP_RW)
		return false;
	rw_max = h->len > rw_max ? h->len : rw_max;
	rw_count++;
	eom_last = h->flags & VSOCK_SEQ_EOM;
	eom_count += eom_last;
	return false; /* the sockets take it as usual */
}

static struct vsock_driver_config tiny_rx_cfg(void)
{
	struct vsock_driver_config cfg = base_cfg();

	cfg.dev.fault.tiny_rx = 64;
	cfg.rx_buf_size = 65536 + VSOCK_HDR_SIZE; /* room is not the limit */
	cfg.rx_hook = record_rw;
	rw_max = rw_count = eom_count = 0;
	return cfg;
}

START_TEST(fault_tiny_rx_stream)
{
	struct vsock_driver_config cfg = tiny_rx_cfg();
	struct vsock_host_peer p = { .accept_n = 2, .random_writes = true };

	start(&cfg);
	p.lfd = listen_port(PORT);
	converse(&p, 2, len_4k, len_300k); /* every byte checked, in order */
	ck_assert_uint_eq(rw_max, 64);
	ck_assert_uint_ge(rw_count, 2 * 300 * 1024 / 64);
	vsock_host_peer_free(&p);
	close(p.lfd);
}
END_TEST

/* A SEQPACKET message arrives in 64-byte pieces, EOM on the last only. */
START_TEST(fault_tiny_rx_seqpacket)
{
	struct vsock_driver_config cfg = tiny_rx_cfg();
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0), fd;
	struct vsock_sock *s;
	uint8_t msg[1000], got[1000];

	cfg.seqpacket = true;
	start(&cfg);
	vsock_host_port_path(&hd, PORT, sun.sun_path, sizeof(sun.sun_path));
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	s = vsock_driver_connect_start(&d, PORT, VSOCK_TYPE_SEQPACKET);
	while (s->state == VSOCK_SOCK_CONNECTING)
		vsock_driver_pump(&d, 1000);
	ck_assert_int_eq(s->state, VSOCK_SOCK_ESTABLISHED);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	pattern_fill(3, 0, msg, sizeof(msg));
	ck_assert_int_eq(send(fd, msg, sizeof(msg), 0), (int)sizeof(msg));
	ck_assert_int_eq(vsock_driver_recv_all(s, got, sizeof(got)), 0);
	ck_assert_int_eq(memcmp(got, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(rw_max, 64);
	ck_assert_uint_eq(rw_count, (sizeof(msg) + 63) / 64);
	ck_assert_uint_eq(eom_count, 1);
	ck_assert(eom_last);
	vsock_driver_close(s, true);
	close(fd);
	close(lfd);
}
END_TEST

/* Held CREDIT_UPDATEs: late, carrying the credit of when they leave, and
 * never lost (a transfer beyond the credit needs every one). */
START_TEST(fault_slow_credit)
{
	struct vsock_driver_config cfg = base_cfg();
	int lfd = listen_port(PORT + 2), fd;
	struct vsock_sock *s;
	uint64_t before, t0, took;

	cfg.dev.fault.credit_delay_ns = 300 * MS_NS;
	start(&cfg);
	fd = connected_after_1000(PORT + 2, lfd, &s);
	before = s->credit_updates_rx;
	t0 = util_now_ns();
	vsock_driver_credit_request(s);
	vsock_driver_credit_request(s); /* one update answers both */
	while (s->credit_updates_rx == before)
		vsock_driver_pump(&d, 2000);
	took = util_now_ns() - t0;
	ck_assert_uint_ge(took, 300 * MS_NS);
	ck_assert_uint_lt(took, 2 * NS_PER_S);
	ck_assert_uint_eq(s->peer_fwd_cnt, 1000);
	vsock_driver_close(s, true);
	close(fd);
	close(lfd);
	/* 600 KiB through a 256 KiB credit. */
	converse_one(true, len_300k, len_4k);
}
END_TEST

struct early_writer {
	int lfd, fd;
};

/* Accept and write at once: nothing may reach the guest before the
 * device's RESPONSE. */
static void *early_writer_thread(void *arg)
{
	struct early_writer *w = arg;

	w->fd = accept(w->lfd, NULL, NULL);
	if (w->fd >= 0)
		vsock_host_write_all(w->fd, "early", 5);
	return NULL;
}

START_TEST(fault_late_response)
{
	struct vsock_driver_config cfg = base_cfg();
	struct early_writer w = { .lfd = listen_port(PORT) };
	pthread_t t = vsock_host_thread(early_writer_thread, &w);
	struct vsock_sock *s;
	uint64_t t0, took;
	char buf[5];

	cfg.dev.fault.response_delay_ns = 300 * MS_NS;
	start(&cfg);
	t0 = util_now_ns();
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	took = util_now_ns() - t0;
	ck_assert_uint_ge(took, 300 * MS_NS);
	ck_assert_uint_lt(took, 2 * NS_PER_S);
	vsock_host_join(t);
	ck_assert_int_ge(w.fd, 0);
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, 5), 0);
	ck_assert_int_eq(memcmp(buf, "early", 5), 0);
	vsock_driver_close(s, true);
	close(w.fd);
	close(w.lfd);
}
END_TEST

/* A test case of this suite, with its fixture and a timeout for the slow
 * machines the tests also run on. */
static TCase *add_case(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_dev");
	TCase *tc;

	tc = add_case(s, "basics");
	tcase_add_test(tc, config_and_features);
	tcase_add_test(tc, large_cid_in_config);

	tc = add_case(s, "connections");
	tcase_add_test(tc, no_listener_is_refused);
	tcase_add_test(tc, no_uds_is_refused);
	tcase_add_test(tc, echo_through_unix_listener);
	tcase_add_test(tc, lost_interrupt_is_sent_again);
	tcase_add_test(tc, lost_notification_is_caught_up);
	tcase_add_test(tc, tx_notifications_rest_while_host_data_flows);
	tcase_add_test(tc, many_conversations);
	tcase_add_test(tc, host_closes_first);
	tcase_add_test(tc, guest_rst_closes_host_socket);
	tcase_add_test(tc, hybrid_connect_whole);
	tcase_add_test(tc, hybrid_connect_in_pieces);
	tcase_add_test(tc, hybrid_connect_byte_by_byte);
	tcase_add_test(tc, hybrid_connect_refused_by_guest);
	tcase_add_test(tc, hybrid_bad_line_is_closed);
	tcase_add_test(tc, tcp_port_rule);
	tcase_add_test(tc, tcp_listen_rule);
	tcase_add_test(tc, internal_target);

	tc = add_case(s, "hostile host clients");
	tcase_add_test(tc, hybrid_silent_client_times_out);
	tcase_add_test(tc, hybrid_flood_leaves_room);
	tcase_add_test(tc, accept_backs_off_without_descriptors);

	tc = add_case(s, "layouts");
	tcase_add_loop_test(tc, tx_layouts, 0, VSOCK_DRV_TX_NR_LAYOUTS);
	tcase_add_test(tc, tx_scatter_odd_pieces);
	tcase_add_test(tc, tx_indirect_odd_pieces);
	tcase_add_loop_test(tc, rx_layouts_4k, 0, VSOCK_DRV_RX_NR_LAYOUTS);
	tcase_add_loop_test(tc, rx_layouts_64k, 0, VSOCK_DRV_RX_NR_LAYOUTS);
	tcase_add_test(tc, rx_buffer_just_a_header);

	tc = add_case(s, "malformed");
	tcase_add_test(tc, tx_writable_descriptor_dropped);
	tcase_add_test(tc, tx_short_header_dropped);
	tcase_add_test(tc, tx_len_mismatch_dropped);
	tcase_add_test(tc, tx_bad_addresses_dropped);
	tcase_add_test(tc, tx_bad_op_or_type_answered_with_rst);
	tcase_add_test(tc, tx_unknown_type_answered_with_valid_rst);
	tcase_add_test(tc, tx_oversized_and_unmatched);
	tcase_add_test(tc, tx_bad_buffers_do_not_break_the_device);
	tcase_add_test(tc, tx_flood_of_unmatched_packets);

	tc = add_case(s, "credit");
	tcase_add_test(tc, device_respects_small_guest_credit);
	tcase_add_test(tc, stalled_guest_reader_blocks_host_sender);
	tcase_add_test(tc, credit_request_answered);
	tcase_add_test(tc, guest_exceeding_credit_is_reset);

	tc = add_case(s, "reset");
	tcase_add_test(tc, device_reset_closes_host_connections);
	tcase_add_test(tc, reset_with_data_in_flight);

	tc = add_case(s, "transport reset");
	tcase_add_loop_test(tc, transport_reset_drops_every_connection, 0, 2);
	tcase_add_test(tc, transport_reset_with_data_in_flight);
	tcase_add_loop_test(tc, bad_event_buffers_are_rejected, 0, 2);
	tcase_add_test(tc, event_waits_for_a_buffer);
	tcase_add_test(tc, transport_reset_without_driver);

	tc = add_case(s, "fault modes");
	tcase_add_test(tc, fault_transport_reset_repeats);
	tcase_add_test(tc, fault_tiny_rx_stream);
	tcase_add_test(tc, fault_tiny_rx_seqpacket);
	tcase_add_test(tc, fault_slow_credit);
	tcase_add_test(tc, fault_late_response);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
