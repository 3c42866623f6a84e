/*
 * bench_vsock: the guestless vsock benchmark. The guest is the driver
 * harness (tests/helpers/vsock_driver) in this process, the device is the
 * real one on the real transport, host peers are threads on AF_UNIX
 * sockets. Each workload runs beside the same workload between two
 * threads over plain AF_UNIX, in the same run, and is reported as a ratio;
 * medians over --runs runs.
 *
 * Workloads: guest->host and host->guest throughput (64 KiB writes),
 * 1-byte round trip latency, connections per second (open + close), and
 * the VMM's CPU time per GiB moved: this thread's CPU inside device entry
 * points (notifications and the event loop) plus io_uring worker threads,
 * beside the CPU both AF_UNIX endpoints spend per GiB.
 *
 * Runs inside a Check test in no-fork mode only because the harness's
 * helpers use Check assertions.
 */
#include <check.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/helpers/vsock_driver.h"
#include "tests/helpers/vsock_host.h"

#define PORT 7000u
#define IO 65536u
#define MAX_RUNS 64

static struct {
	unsigned int runs;
	uint64_t bytes;
	unsigned int rtt_iters;
	unsigned int conns;
	unsigned int window;
	uint32_t rx_buf;
	uint32_t dev_buf_alloc, guest_buf_alloc; /* 0: defaults */
} opt = { 5, 1ull << 30, 20000, 20000, 64, 65536 + 44, 0, 0 };

static struct vsock_host_dir hd;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double process_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void fail_bench(const char *msg)
{
	fprintf(stderr, "bench_vsock: protocol violation: %s\n", msg);
	exit(1);
}

static void driver_up(struct vsock_driver *d, uint32_t rx_buf,
		      uint32_t max_conns)
{
	struct vsock_driver_config cfg = {
		.dev = { .guest_cid = 3, .uds_path = hd.uds,
			 .max_conns = max_conns,
			 .buf_alloc = opt.dev_buf_alloc },
		.rx_buf_size = rx_buf,
		.buf_alloc = opt.guest_buf_alloc,
		.fail = fail_bench,
		.measure_cpu = true,
		.loop_timeout_us = 1000,
	};

	vsock_driver_create(d, &cfg);
}

static int listen_port(uint32_t port)
{
	char path[400];

	vsock_host_port_path(&hd, port, path, sizeof(path));
	return vsock_host_listen_unix(path, 4096);
}

/* ---- host threads ---- */

struct host_job {
	int lfd; /* accept one connection from here, or */
	int fd; /* use this one */
	uint64_t bytes;
	atomic_uint_fast64_t done; /* bytes moved so far */
	atomic_int go;
	double cpu; /* this thread's CPU seconds */
	unsigned int iters;
};

static int job_fd(struct host_job *j)
{
	if (j->fd < 0)
		j->fd = accept(j->lfd, NULL, NULL);
	return j->fd;
}

static void *sink_thread(void *arg)
{
	struct host_job *j = arg;
	uint8_t *buf = malloc(IO);
	double c0;
	int fd = job_fd(j);

	c0 = thread_cpu_s();
	while (atomic_load(&j->done) < j->bytes) {
		ssize_t n = read(fd, buf, IO);

		if (n <= 0)
			break;
		atomic_fetch_add(&j->done, (uint64_t)n);
	}
	j->cpu = thread_cpu_s() - c0;
	free(buf);
	return NULL;
}

static void *source_thread(void *arg)
{
	struct host_job *j = arg;
	uint8_t *buf = calloc(1, IO);
	uint64_t sent = 0;
	double c0;
	int fd = job_fd(j);

	while (!atomic_load(&j->go))
		;
	c0 = thread_cpu_s();
	while (sent < j->bytes) {
		size_t len = j->bytes - sent < IO ? (size_t)(j->bytes - sent)
						  : IO;

		if (vsock_host_write_all(fd, buf, len))
			break;
		sent += len;
	}
	j->cpu = thread_cpu_s() - c0;
	free(buf);
	return NULL;
}

static void *echo_thread(void *arg)
{
	struct host_job *j = arg;
	uint8_t b;
	unsigned int i;
	int fd = job_fd(j);

	for (i = 0; i < j->iters; i++) {
		if (read(fd, &b, 1) != 1 || write(fd, &b, 1) != 1)
			break;
	}
	return NULL;
}

static void *acceptor_thread(void *arg)
{
	struct host_job *j = arg;
	unsigned int i;

	for (i = 0; i < j->iters; i++) {
		int fd = accept(j->lfd, NULL, NULL);

		if (fd < 0)
			break;
		close(fd);
	}
	return NULL;
}

/* ---- AF_UNIX baselines ---- */

static void unix_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("socketpair");
		exit(1);
	}
}

/* Bytes/s and CPU s/GiB (both ends). */
static void unix_throughput(double *rate, double *cpu_per_gib)
{
	struct host_job src = { .fd = -1, .bytes = opt.bytes };
	struct host_job snk = { .fd = -1, .bytes = opt.bytes };
	pthread_t a, b;
	int sv[2];
	double t0;

	unix_pair(sv);
	src.fd = sv[0];
	snk.fd = sv[1];
	b = vsock_host_thread(sink_thread, &snk);
	a = vsock_host_thread(source_thread, &src);
	t0 = now_s();
	atomic_store(&src.go, 1);
	vsock_host_join(a);
	vsock_host_join(b);
	*rate = (double)opt.bytes / (now_s() - t0);
	*cpu_per_gib = (src.cpu + snk.cpu) / ((double)opt.bytes / (1 << 30));
	close(sv[0]);
	close(sv[1]);
}

static double unix_rtt(void)
{
	struct host_job e = { .iters = opt.rtt_iters };
	pthread_t t;
	unsigned int i;
	uint8_t b = 1;
	int sv[2];
	double t0, dt;

	unix_pair(sv);
	e.fd = sv[1];
	t = vsock_host_thread(echo_thread, &e);
	t0 = now_s();
	for (i = 0; i < opt.rtt_iters; i++)
		if (write(sv[0], &b, 1) != 1 || read(sv[0], &b, 1) != 1)
			break;
	dt = now_s() - t0;
	vsock_host_join(t);
	close(sv[0]);
	close(sv[1]);
	return dt / opt.rtt_iters;
}

static double unix_conn_rate(void)
{
	char path[400];
	struct host_job a = { .iters = opt.conns };
	pthread_t t;
	unsigned int i;
	double t0, dt;

	vsock_host_port_path(&hd, PORT + 99, path, sizeof(path));
	a.lfd = vsock_host_listen_unix(path, 4096);
	t = vsock_host_thread(acceptor_thread, &a);
	t0 = now_s();
	for (i = 0; i < opt.conns; i++) {
		int fd = vsock_host_connect_unix(path);

		if (fd < 0) {
			fprintf(stderr, "connect: %s\n", strerror(-fd));
			exit(1);
		}
		close(fd);
	}
	vsock_host_join(t);
	dt = now_s() - t0;
	close(a.lfd);
	unlink(path);
	return opt.conns / dt;
}

/* ---- vsock workloads ---- */

struct cpu_mark {
	double proc, self, dev;
};

static struct cpu_mark cpu_mark(struct vsock_driver *d)
{
	return (struct cpu_mark){ process_cpu_s(), thread_cpu_s(),
				  (double)d->st.dev_cpu_ns * 1e-9 };
}

/* VMM CPU: ours inside the device, plus threads that are neither this
 * one nor the host peer (io_uring workers). */
static double vmm_cpu(struct vsock_driver *d, struct cpu_mark m,
		      double host_cpu)
{
	struct cpu_mark e = cpu_mark(d);
	double others = (e.proc - m.proc) - (e.self - m.self) - host_cpu;

	return (e.dev - m.dev) + (others > 0 ? others : 0);
}

static void vsock_g2h(double *rate, double *cpu_per_gib)
{
	struct vsock_driver d;
	struct host_job snk = { .fd = -1, .bytes = opt.bytes };
	struct vsock_sock *s;
	uint8_t *buf = calloc(1, IO);
	struct cpu_mark m;
	uint64_t sent = 0;
	pthread_t t;
	double t0;

	driver_up(&d, opt.rx_buf, 0);
	snk.lfd = listen_port(PORT);
	t = vsock_host_thread(sink_thread, &snk);
	if (vsock_driver_connect(&d, PORT, &s)) {
		fprintf(stderr, "connect failed: %d\n", s->err);
		exit(1);
	}
	m = cpu_mark(&d);
	t0 = now_s();
	while (atomic_load(&snk.done) < opt.bytes) {
		ssize_t n = 0;

		if (sent < opt.bytes)
			n = vsock_driver_send_some(
				s, buf, opt.bytes - sent < IO
						? (size_t)(opt.bytes - sent)
						: IO);
		if (n < 0) {
			fprintf(stderr, "send: %zd\n", n);
			exit(1);
		}
		sent += (uint64_t)n;
		vsock_driver_pump(&d, n ? 0 : d.cfg.loop_timeout_us);
	}
	*rate = (double)opt.bytes / (now_s() - t0);
	vsock_host_join(t);
	*cpu_per_gib = vmm_cpu(&d, m, snk.cpu) /
		       ((double)opt.bytes / (1 << 30));
	vsock_driver_close(s, false);
	vsock_driver_destroy(&d);
	close(snk.lfd);
	close(snk.fd);
	free(buf);
}

static void vsock_h2g(uint32_t rx_buf, double *rate, double *cpu_per_gib)
{
	struct vsock_driver d;
	struct host_job src = { .fd = -1, .bytes = opt.bytes };
	struct vsock_sock *s;
	uint8_t *buf = malloc(IO);
	struct cpu_mark m;
	uint64_t got = 0;
	pthread_t t;
	double t0;

	driver_up(&d, rx_buf, 0);
	src.lfd = listen_port(PORT);
	t = vsock_host_thread(source_thread, &src);
	if (vsock_driver_connect(&d, PORT, &s)) {
		fprintf(stderr, "connect failed: %d\n", s->err);
		exit(1);
	}
	m = cpu_mark(&d);
	t0 = now_s();
	atomic_store(&src.go, 1);
	while (got < opt.bytes) {
		ssize_t n = vsock_driver_recv_some(s, buf, IO);

		if (n == -EAGAIN) {
			vsock_driver_pump(&d, d.cfg.loop_timeout_us);
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "recv: %zd\n", n);
			exit(1);
		}
		got += (uint64_t)n;
	}
	*rate = (double)opt.bytes / (now_s() - t0);
	vsock_host_join(t);
	*cpu_per_gib = vmm_cpu(&d, m, src.cpu) /
		       ((double)opt.bytes / (1 << 30));
	vsock_driver_close(s, false);
	vsock_driver_destroy(&d);
	close(src.lfd);
	close(src.fd);
	free(buf);
}

static double vsock_rtt(void)
{
	struct vsock_driver d;
	struct host_job e = { .fd = -1, .iters = opt.rtt_iters };
	struct vsock_sock *s;
	unsigned int i;
	uint8_t b = 1;
	pthread_t t;
	double t0, dt;

	driver_up(&d, opt.rx_buf, 0);
	d.cfg.measure_cpu = false;
	e.lfd = listen_port(PORT);
	t = vsock_host_thread(echo_thread, &e);
	if (vsock_driver_connect(&d, PORT, &s)) {
		fprintf(stderr, "connect failed: %d\n", s->err);
		exit(1);
	}
	t0 = now_s();
	for (i = 0; i < opt.rtt_iters; i++) {
		ssize_t n;

		while (vsock_driver_send_some(s, &b, 1) != 1)
			vsock_driver_pump(&d, d.cfg.loop_timeout_us);
		vsock_driver_pump(&d, 0);
		while ((n = vsock_driver_recv_some(s, &b, 1)) == -EAGAIN)
			vsock_driver_pump(&d, d.cfg.loop_timeout_us);
		if (n != 1) {
			fprintf(stderr, "rtt recv: %zd\n", n);
			exit(1);
		}
	}
	dt = now_s() - t0;
	vsock_host_join(t);
	vsock_driver_close(s, false);
	vsock_driver_destroy(&d);
	close(e.lfd);
	close(e.fd);
	return dt / opt.rtt_iters;
}

/* Open and close opt.conns connections, opt.window at a time. */
static double vsock_conn_rate(void)
{
	struct vsock_driver d;
	struct host_job a = { .iters = opt.conns };
	struct vsock_sock **win = calloc(opt.window, sizeof(*win));
	unsigned int started = 0, closed = 0, i;
	pthread_t t;
	double t0, dt;

	vsock_host_raise_nofile(4 * opt.window + 1024);
	driver_up(&d, opt.rx_buf, opt.window * 2 + 64);
	d.cfg.measure_cpu = false;
	a.lfd = listen_port(PORT + 1);
	t = vsock_host_thread(acceptor_thread, &a);
	t0 = now_s();
	while (closed < opt.conns) {
		for (i = 0; i < opt.window; i++) {
			struct vsock_sock *s = win[i];

			if (s && s->state == VSOCK_SOCK_CONNECTING)
				continue;
			if (s) {
				if (s->state != VSOCK_SOCK_ESTABLISHED &&
				    s->err) {
					fprintf(stderr, "connect: %d\n",
						s->err);
					exit(1);
				}
				vsock_driver_close(s, false);
				win[i] = NULL;
				closed++;
			}
			if (started < opt.conns) {
				win[i] = vsock_driver_connect_start(
					&d, PORT + 1, VSOCK_TYPE_STREAM);
				started++;
			}
		}
		vsock_driver_pump(&d, d.cfg.loop_timeout_us);
	}
	/* Until every close finished (the device's RST came back). */
	while (vsock_driver_nr_socks(&d))
		vsock_driver_pump(&d, d.cfg.loop_timeout_us);
	dt = now_s() - t0;
	vsock_host_join(t);
	vsock_driver_destroy(&d);
	close(a.lfd);
	free(win);
	return opt.conns / dt;
}

/* ---- report ---- */

static void gb(char *buf, size_t n, double bytes_per_s)
{
	snprintf(buf, n, "%.2f GB/s", bytes_per_s / 1e9);
}

START_TEST(bench)
{
	double g2h[MAX_RUNS], h2g[MAX_RUNS], h2g4k[MAX_RUNS], ug[MAX_RUNS];
	double g2h_cpu[MAX_RUNS], h2g_cpu[MAX_RUNS], u_cpu[MAX_RUNS];
	double rtt[MAX_RUNS], urtt[MAX_RUNS], cps[MAX_RUNS], ucps[MAX_RUNS];
	double x, y, dummy;
	char a[32], b[32];
	unsigned int r, n = opt.runs;

	vsock_host_dir_create(&hd);
	log_set_level(LOG_ERR);
	for (r = 0; r < n; r++) {
		fprintf(stderr, "run %u/%u\n", r + 1, n);
		unix_throughput(&ug[r], &u_cpu[r]);
		vsock_g2h(&g2h[r], &g2h_cpu[r]);
		vsock_h2g(opt.rx_buf, &h2g[r], &h2g_cpu[r]);
		vsock_h2g(4096 + 44, &h2g4k[r], &dummy);
		urtt[r] = unix_rtt();
		rtt[r] = vsock_rtt();
		ucps[r] = unix_conn_rate();
		cps[r] = vsock_conn_rate();
	}
	printf("vsock guestless benchmark: medians of %u runs, %llu MiB per "
	       "transfer, 64 KiB writes, RX buffers %u bytes\n",
	       n, (unsigned long long)(opt.bytes >> 20), opt.rx_buf);
	printf("%-34s %14s %14s %8s  %s\n", "workload", "vsock",
	       "AF_UNIX", "ratio", "target");
	x = median(g2h, n);
	y = median(ug, n);
	gb(a, sizeof(a), x);
	gb(b, sizeof(b), y);
	printf("%-34s %14s %14s %8.2f  >= 0.5 %s\n", "throughput guest->host",
	       a, b, x / y, x / y >= 0.5 ? "MET" : "MISSED");
	x = median(h2g, n);
	gb(a, sizeof(a), x);
	printf("%-34s %14s %14s %8.2f  >= 0.5 %s\n", "throughput host->guest",
	       a, b, x / y, x / y >= 0.5 ? "MET" : "MISSED");
	x = median(h2g4k, n);
	gb(a, sizeof(a), x);
	printf("%-34s %14s %14s %8.2f  (info)\n",
	       "throughput host->guest, 4 KiB RX", a, b, x / y);
	x = median(rtt, n);
	y = median(urtt, n);
	snprintf(a, sizeof(a), "%.1f us", x * 1e6);
	snprintf(b, sizeof(b), "%.1f us", y * 1e6);
	printf("%-34s %14s %14s %8.2f  <= 3 %s\n", "1-byte round trip", a, b,
	       x / y, x / y <= 3 ? "MET" : "MISSED");
	x = median(cps, n);
	y = median(ucps, n);
	snprintf(a, sizeof(a), "%.0f/s", x);
	snprintf(b, sizeof(b), "%.0f/s", y);
	printf("%-34s %14s %14s %8.2f  >= 50000/s %s\n",
	       "connections (open+close)", a, b, x / y,
	       x >= 50000 ? "MET" : "MISSED");
	y = median(u_cpu, n);
	x = median(g2h_cpu, n);
	snprintf(a, sizeof(a), "%.3f s", x);
	snprintf(b, sizeof(b), "%.3f s", y);
	printf("%-34s %14s %14s %8.2f  (AF_UNIX: both ends)\n",
	       "VMM CPU per GiB, guest->host", a, b, x / y);
	x = median(h2g_cpu, n);
	snprintf(a, sizeof(a), "%.3f s", x);
	printf("%-34s %14s %14s %8.2f  (AF_UNIX: both ends)\n",
	       "VMM CPU per GiB, host->guest", a, b, x / y);
	fflush(stdout);
	vsock_host_dir_destroy(&hd);
}
END_TEST

static uint64_t parse_size(const char *v)
{
	char *end;
	uint64_t n = strtoull(v, &end, 0);

	switch (*end) {
	case 'k': case 'K': return n << 10;
	case 'm': case 'M': return n << 20;
	case 'g': case 'G': return n << 30;
	default: return n;
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_vsock [--runs N] [--bytes SIZE] [--rtt-iters N]\n"
		"                   [--conns N] [--window N] [--rx-buf BYTES]\n"
		"                   [--dev-buf-alloc BYTES] [--guest-buf-alloc BYTES]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "rtt-iters", required_argument, NULL, 'i' },
		{ "conns", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },
		{ "rx-buf", required_argument, NULL, 'x' },
		{ "dev-buf-alloc", required_argument, NULL, 'D' },
		{ "guest-buf-alloc", required_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 },
	};
	Suite *s = suite_create("bench");
	TCase *tc = tcase_create("bench");
	SRunner *sr;
	int c, failed;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r': opt.runs = (unsigned int)atoi(optarg); break;
		case 'b': opt.bytes = parse_size(optarg); break;
		case 'i': opt.rtt_iters = (unsigned int)atoi(optarg); break;
		case 'c': opt.conns = (unsigned int)atoi(optarg); break;
		case 'w': opt.window = (unsigned int)atoi(optarg); break;
		case 'x': opt.rx_buf = (uint32_t)parse_size(optarg); break;
		case 'D': opt.dev_buf_alloc = (uint32_t)parse_size(optarg);
			break;
		case 'G': opt.guest_buf_alloc = (uint32_t)parse_size(optarg);
			break;
		default: usage();
		}
	}
	if (!opt.runs || opt.runs > MAX_RUNS || !opt.bytes || !opt.window ||
	    opt.rx_buf < 45)
		usage();
	tcase_add_test(tc, bench);
	tcase_set_timeout(tc, 0);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* The harness asserts with Check; run it in this process. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	if (failed) {
		TestResult **tr = srunner_failures(sr);

		fprintf(stderr, "bench_vsock: %s:%d: %s\n",
			tr_lfile(tr[0]), tr_lno(tr[0]), tr_msg(tr[0]));
	}
	srunner_free(sr);
	return failed ? 1 : 0;
}
