/*
 * Stress tests: the vsock device under load, driven by the guest-side
 * driver harness, with host peers on real AF_UNIX sockets in a thread.
 * Every byte is checked against its deterministic stream both ways.
 *
 * - bulk: one connection, VSOCK_STRESS_BYTES (default 1 GiB) each way, in
 *   random write sizes, random packet sizes and mixed TX layouts.
 * - many: VSOCK_STRESS_CONNS (default 1000) connections open at once,
 *   each moving VSOCK_STRESS_CONN_BYTES (default 64 KiB) each way.
 * - vanish: VSOCK_STRESS_VANISH_CONNS (default 64) connections moving
 *   VSOCK_STRESS_VANISH_BYTES (default 4 MiB) each way, where the host
 *   closes every fourth abruptly mid-transfer: those must end (reset or
 *   short), the others must be intact, and nothing may leak.
 * - soak: VSOCK_STRESS_SOAK_CONNS (default 100) connections at once, each
 *   moving VSOCK_STRESS_SOAK_BYTES (default 64 MiB; 4 MiB when CI is set)
 *   each way in random write sizes, where host peers chosen at random
 *   vanish at a random point; every surviving byte is checked, and the
 *   peak RSS may grow by at most SOAK_RSS_MAX_KIB, whatever the size.
 * Sizes accept a K, M or G suffix.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tests/helpers/pattern.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "tests/helpers/vsock_driver.h"
#include "tests/helpers/vsock_flow.h"
#include "tests/helpers/vsock_host.h"

#define PORT 4000u
/* Peak RSS growth the soak allows: the guest memory, socket buffers and
 * host peers' buffers of 100 connections, not the data moved. */
#define SOAK_RSS_MAX_KIB (256u * 1024)

static struct vsock_driver d;
static struct vsock_host_dir hd;
static uint64_t conn_bytes, vanish_bytes, soak_bytes;

static uint64_t env_size(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	uint64_t n;

	if (!v || !*v)
		return def;
	n = strtoull(v, &end, 0);
	switch (*end) {
	case 'k': case 'K': n <<= 10; break;
	case 'm': case 'M': n <<= 20; break;
	case 'g': case 'G': n <<= 30; break;
	default: break;
	}
	return n;
}

static void fail_test(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void setup(void)
{
	/* Log to stderr: under load the device may legitimately warn. */
	log_set_sink(NULL, NULL);
	vsock_host_dir_create(&hd);
}

static void teardown(void)
{
	vsock_driver_destroy(&d);
	vsock_host_dir_destroy(&hd);
}

static void start(uint32_t max_conns, uint32_t rx_buf_size)
{
	struct vsock_driver_config cfg = {
		.dev = { .guest_cid = 3, .uds_path = hd.uds,
			 .max_conns = max_conns },
		.rx_buf_size = rx_buf_size,
		.fail = fail_test,
	};

	vsock_driver_create(&d, &cfg);
}

static int listen_port(uint32_t port, int backlog)
{
	char path[400];

	vsock_host_port_path(&hd, port, path, sizeof(path));
	return vsock_host_listen_unix(path, backlog);
}

static void check_intact(struct vsock_flow_conn *c,
			 struct vsock_host_peer_conn *hc, uint64_t glen,
			 uint64_t hlen)
{
	ck_assert_msg(c->err == 0, "conn %llu: guest error %d",
		      (unsigned long long)c->id, c->err);
	ck_assert_msg(c->received == hlen && c->bad_at == -1,
		      "conn %llu: guest got %llu of %llu, bad at %ld",
		      (unsigned long long)c->id,
		      (unsigned long long)c->received,
		      (unsigned long long)hlen, c->bad_at);
	ck_assert_msg(hc != NULL, "conn %llu: host never saw it",
		      (unsigned long long)c->id);
	ck_assert_msg(hc->err == 0 && hc->eof,
		      "conn %llu: host error %d eof %d",
		      (unsigned long long)c->id, hc->err, hc->eof);
	ck_assert_msg(hc->received == glen && hc->bad_at == -1,
		      "conn %llu: host got %llu of %llu, bad at %ld",
		      (unsigned long long)c->id,
		      (unsigned long long)hc->received,
		      (unsigned long long)glen, hc->bad_at);
}

static void check_clean(void)
{
	struct vsock_dev_stats st;

	vsock_driver_settle(&d, 5);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.conns_live, 0);
	ck_assert_uint_eq(vsock_driver_nr_socks(&d), 0);
}

/* ---- bulk ---- */

static uint64_t bulk_bytes(uint64_t id)
{
	(void)id;
	return env_size("VSOCK_STRESS_BYTES", 1ull << 30);
}

START_TEST(bulk_both_ways)
{
	struct vsock_host_peer p = { .accept_n = 1, .random_writes = true,
				     .guest_len = bulk_bytes,
				     .host_len = bulk_bytes, .seed = 11 };
	struct vsock_flow f;
	uint64_t n = bulk_bytes(1);

	start(0, 0);
	d.tx.layout = VSOCK_DRV_TX_MIXED;
	d.tx.random_sizes = true;
	p.lfd = listen_port(PORT, 16);
	vsock_host_peer_start(&p);
	vsock_flow_init(&f, &d, 1);
	f.random_writes = true;
	vsock_flow_set(&f, 0,
		       vsock_driver_connect_start(&d, PORT, VSOCK_TYPE_STREAM),
		       1, n, n);
	vsock_flow_run(&f);
	vsock_flow_join_peer(&d, &p);
	check_intact(&f.c[0], vsock_host_peer_find(&p, 1), n, n);
	vsock_flow_free(&f);
	vsock_host_peer_free(&p);
	close(p.lfd);
	check_clean();
}
END_TEST

/* ---- many connections ---- */

static uint64_t many_bytes(uint64_t id)
{
	return conn_bytes + id % 1000;
}

START_TEST(many_connections_at_once)
{
	unsigned int n = (unsigned int)env_size("VSOCK_STRESS_CONNS", 1000);
	struct vsock_host_peer p = { .accept_n = n, .random_writes = true,
				     .guest_len = many_bytes,
				     .host_len = many_bytes, .seed = 12 };
	struct vsock_dev_stats st;
	struct vsock_flow f;
	unsigned int i, open;

	conn_bytes = env_size("VSOCK_STRESS_CONN_BYTES", 64 * 1024);
	/* Two descriptors per connection (device and host peer), plus. */
	vsock_host_raise_nofile(2 * n + 512);
	start(n + 16, 0);
	p.lfd = listen_port(PORT, 4096);
	vsock_host_peer_start(&p);
	vsock_flow_init(&f, &d, n);
	f.random_writes = true;
	f.max_write = 16384;
	for (i = 0; i < n; i++)
		vsock_flow_set(&f, i,
			       vsock_driver_connect_start(&d, PORT,
							  VSOCK_TYPE_STREAM),
			       i + 1, many_bytes(i + 1), many_bytes(i + 1));
	/* All of them open at the same time before any data moves. */
	do {
		vsock_driver_pump(&d, d.cfg.loop_timeout_us);
		for (i = 0, open = 0; i < n; i++) {
			ck_assert_msg(f.c[i].s->state !=
					      VSOCK_SOCK_CLOSED,
				      "conn %u refused: %d", i,
				      f.c[i].s->err);
			open += f.c[i].s->state == VSOCK_SOCK_ESTABLISHED;
		}
	} while (open < n);
	vsock_dev_get_stats(d.dev, &st);
	ck_assert_uint_eq(st.conns_live, n);
	vsock_flow_run(&f);
	vsock_flow_join_peer(&d, &p);
	ck_assert_uint_eq(p.nr_conns, n);
	for (i = 0; i < n; i++)
		check_intact(&f.c[i], vsock_host_peer_find(&p, f.c[i].id),
			     many_bytes(f.c[i].id), many_bytes(f.c[i].id));
	vsock_flow_free(&f);
	vsock_host_peer_free(&p);
	close(p.lfd);
	check_clean();
}
END_TEST

START_TEST(connection_limit_refuses_the_rest)
{
	/* One over the limit is refused, and the others are unharmed. */
	unsigned int n = 64, i;
	int lfd;
	struct vsock_sock *s[65];

	start(n, 0);
	lfd = listen_port(PORT, 256);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s[i]), 0);
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s[n]), -ECONNREFUSED);
	vsock_driver_close(s[n], false);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(s[i]->state, VSOCK_SOCK_ESTABLISHED);
	for (i = 0; i < n; i++)
		vsock_driver_close(s[i], true);
	/* Room again. */
	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s[0]), 0);
	vsock_driver_close(s[0], true);
	close(lfd);
	check_clean();
}
END_TEST

/* ---- peers vanishing ---- */

static bool vanishes(uint64_t id)
{
	return id % 4 == 0;
}

static uint64_t vanish_len(uint64_t id)
{
	return vanish_bytes + id * 4099;
}

static uint64_t vanish_at(uint64_t id)
{
	if (!vanishes(id))
		return UINT64_MAX;
	/* Anywhere from right after the id to most of the way through. */
	return (id * 2654435761u) % (vanish_len(id) * 3 / 4 + 1);
}

/*
 * `n` connections at once, each moving len(id) bytes each way in random
 * writes, sizes and layouts, where the host peer of each id that dies()
 * closes abruptly at vanish_at(id): the others must be intact, the dead
 * ones right as far as they got, and nothing may leak. Returns how many
 * of the dead ones ended short (reset or fewer bytes).
 */
static unsigned int run_dying_peers(unsigned int n, uint32_t rx_buf_size,
				    uint64_t (*len)(uint64_t),
				    bool (*dies)(uint64_t),
				    uint64_t (*at)(uint64_t), uint64_t seed)
{
	struct vsock_host_peer p = { .accept_n = n, .random_writes = true,
				     .guest_len = len, .host_len = len,
				     .vanish_at = at, .seed = seed };
	struct vsock_flow f;
	unsigned int i, fds_before, gone = 0;

	vsock_host_raise_nofile(2 * n + 512);
	start(n + 16, rx_buf_size);
	d.tx.layout = VSOCK_DRV_TX_MIXED;
	d.tx.random_sizes = true;
	p.lfd = listen_port(PORT, 1024);
	fds_before = vsock_host_count_fds();
	vsock_host_peer_start(&p);
	vsock_flow_init(&f, &d, n);
	f.random_writes = true;
	for (i = 0; i < n; i++)
		vsock_flow_set(&f, i,
			       vsock_driver_connect_start(&d, PORT,
							  VSOCK_TYPE_STREAM),
			       i + 1, len(i + 1), len(i + 1));
	vsock_flow_run(&f);
	vsock_flow_join_peer(&d, &p);
	for (i = 0; i < n; i++) {
		struct vsock_flow_conn *c = &f.c[i];
		struct vsock_host_peer_conn *hc =
			vsock_host_peer_find(&p, c->id);

		if (!dies(c->id)) {
			check_intact(c, hc, len(c->id), len(c->id));
			continue;
		}
		/* Whatever arrived before the end is right. */
		ck_assert_msg(c->bad_at == -1, "conn %llu: bad at %ld",
			      (unsigned long long)c->id, c->bad_at);
		ck_assert_ptr_nonnull(hc);
		ck_assert(hc->vanished);
		ck_assert_int_eq(hc->bad_at, -1);
		gone += c->err != 0 || c->received < len(c->id);
	}
	vsock_flow_free(&f);
	vsock_host_peer_free(&p);
	check_clean();
	/* Every host socket the device opened is closed again. */
	ck_assert_uint_eq(vsock_host_count_fds(), fds_before);
	close(p.lfd);
	return gone;
}

START_TEST(peers_vanish_mid_transfer)
{
	unsigned int n = (unsigned int)env_size("VSOCK_STRESS_VANISH_CONNS",
						64);

	vanish_bytes = env_size("VSOCK_STRESS_VANISH_BYTES", 4u << 20);
	/* Most vanished peers cut a transfer short. */
	ck_assert_uint_gt(run_dying_peers(n, 65536 + 44, vanish_len, vanishes,
					  vanish_at, 13),
			  0);
}
END_TEST

/* ---- soak ---- */

static uint64_t soak_len(uint64_t id)
{
	(void)id;
	return soak_bytes;
}

/* About one peer in five, chosen by a hash of its id. */
static bool soak_dies(uint64_t id)
{
	uint64_t st = id ^ 0x50a4;

	return pattern_rand(&st) % 5 == 0;
}

static uint64_t soak_vanish_at(uint64_t id)
{
	uint64_t st = id ^ 0xdead;

	if (!soak_dies(id))
		return UINT64_MAX;
	return pattern_rand(&st) % (soak_bytes * 3 / 4 + 1);
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

START_TEST(soak_many_connections_peers_die)
{
	unsigned int n = (unsigned int)env_size("VSOCK_STRESS_SOAK_CONNS", 100);
	unsigned int i, died = 0, cut;
	long rss_before, rss_after;

	soak_bytes = env_size("VSOCK_STRESS_SOAK_BYTES",
			      getenv("CI") ? 4u << 20 : 64u << 20);
	for (i = 1; i <= n; i++)
		died += soak_dies(i);
	rss_before = peak_rss_kib();
	cut = run_dying_peers(n, 0, soak_len, soak_dies, soak_vanish_at, 14);
	rss_after = peak_rss_kib();
	fprintf(stderr, "soak: %u connections x %llu bytes each way, %u peers "
		"vanished (%u cut short); peak RSS %ld KiB before, %ld KiB "
		"after (+%ld KiB, bound %u KiB)\n",
		n, (unsigned long long)soak_bytes, died, cut, rss_before,
		rss_after, rss_after - rss_before, SOAK_RSS_MAX_KIB);
	ck_assert_uint_gt(cut, 0);
	ck_assert_int_le(rss_after - rss_before, SOAK_RSS_MAX_KIB);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_stress");
	TCase *tc;

	tc = tcase_create("bulk");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, bulk_both_ways);
	suite_add_tcase(s, tc);

	tc = tcase_create("many");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, many_connections_at_once);
	tcase_add_test(tc, connection_limit_refuses_the_rest);
	suite_add_tcase(s, tc);

	tc = tcase_create("vanish");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, peers_vanish_mid_transfer);
	suite_add_tcase(s, tc);

	tc = tcase_create("soak");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, soak_many_connections_peers_die);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
