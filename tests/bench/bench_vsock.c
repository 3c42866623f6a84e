/*
 * bench_vsock: the guestless vsock benchmark. The guest is the driver
 * harness (tests/helpers/vsock_driver) in this process, the device is the
 * real one on the real transport, host peers are threads on AF_UNIX
 * sockets. Each workload runs beside the same workload between two
 * threads over plain AF_UNIX, in the same run, and is reported as a ratio;
 * medians over --runs runs.
 *
 * Workloads: guest->host and host->guest throughput at each write size
 * (--write-sizes, 64 KiB, 4 KiB and 64 bytes by default; readers take up
 * to 64 KiB at a time), 1-byte round trip latency, connections per second
 * (open + close), the VMM's CPU time per GiB moved (this thread's CPU
 * inside device entry points, i.e. notifications and the event loop, plus
 * io_uring worker threads; measured in transfers of their own, since the
 * timing perturbs the loop) beside the CPU both AF_UNIX endpoints spend per
 * GiB, and the memory an idle connection costs (--idle-conns guest->host
 * connections held open; the growth of this process's RSS per connection:
 * the driver harness allocates nothing per idle socket beyond its small
 * struct, so the growth is the device's and the backend's).
 *
 * Smaller writes move fewer bytes (--bytes divided by the square root of
 * 64 KiB / size), so that each transfer takes a comparable time. The
 * harness is single-threaded, so a guest writer cannot run beside the
 * device: each round queues writes until 64 KiB are queued or the credit
 * or the TX ring is full, then lets the device run once, as a guest vCPU
 * writing while the VMM's loop thread works would.
 *
 * Counters (last run, per MiB moved): io_uring_enter calls, SQEs and CQEs
 * of the loop, loop wake-ups that found completions, used buffers the
 * driver took (TX + RX), interrupts, queue notifications, and io-wq
 * worker threads alive at the end (io_uring punts blocking work to them).
 *
 * Runs inside a Check test in no-fork mode only because the harness's
 * helpers use Check assertions.
 */
#include <check.h>
#include <dirent.h>
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
#define MAX_WSIZES 8

static struct {
	unsigned int runs;
	uint64_t bytes;
	unsigned int rtt_iters;
	unsigned int conns;
	unsigned int window;
	uint32_t rx_buf;
	uint32_t dev_buf_alloc, guest_buf_alloc; /* 0: defaults */
	unsigned int idle_conns;
	uint32_t wsizes[MAX_WSIZES];
	unsigned int nr_wsizes;
	unsigned int only; /* WL_* to run (for profiling); 0: all */
} opt = { 5, 1ull << 30, 20000, 20000, 64, 65536 + 44, 0, 0, 1000,
	  { 65536, 4096, 64 }, 3, 0 };

enum { WL_UNIX = 1, WL_G2H = 2, WL_H2G = 4, WL_RTT = 8, WL_CONN = 16,
       WL_IDLE = 32, WL_OTHER = WL_RTT | WL_CONN | WL_IDLE };

static bool run_wl(unsigned int wl)
{
	return !opt.only || (opt.only & wl);
}

/* Bytes one transfer moves with writes of `ws` bytes (see above). */
static uint64_t bytes_for(uint32_t ws)
{
	uint64_t b = opt.bytes;

	/* b / sqrt(IO / ws), by factors of two: 4 KiB 1/4, 64 bytes 1/32 */
	for (; ws < IO; ws *= 4)
		b /= 2;
	return b ? b : 1;
}

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

/* Time device entries (for CPU per GiB)? Off in timed transfers: two
 * CLOCK_THREAD_CPUTIME_ID syscalls per entry cost the loop ~10%. */
static bool measure_cpu;

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
		.measure_cpu = measure_cpu,
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
	uint32_t wsize; /* source: bytes per write */
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
		size_t len = j->bytes - sent < j->wsize
				     ? (size_t)(j->bytes - sent)
				     : j->wsize;

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

/* Bytes/s and CPU s/GiB (both ends), writes of `ws` bytes. */
static void unix_throughput(uint32_t ws, double *rate, double *cpu_per_gib)
{
	uint64_t bytes = bytes_for(ws);
	struct host_job src = { .fd = -1, .bytes = bytes, .wsize = ws };
	struct host_job snk = { .fd = -1, .bytes = bytes };
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
	*rate = (double)bytes / (now_s() - t0);
	*cpu_per_gib = (src.cpu + snk.cpu) / ((double)bytes / (1 << 30));
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

/* Counters of one transfer (see the top of the file). */
struct counters {
	struct evloop_stats loop;
	uint64_t used, irqs, notifies;
	unsigned int iowq_threads;
	uint64_t bytes;
	bool valid;
};

static struct counters counters_mark(struct vsock_driver *d)
{
	uint64_t rx = 0;
	unsigned int i;

	for (i = 0; i < 8; i++)
		rx += d->st.rx_pkts[i];
	return (struct counters){ .loop = d->loop.st,
				  .used = d->st.tx_pkts + rx,
				  .irqs = d->st.irqs,
				  .notifies = d->st.notifies };
}

/* io_uring's worker threads of this process ("iou-wrk-<tid>"). */
static unsigned int iowq_threads(void)
{
	char path[64], comm[32];
	unsigned int n = 0;
	struct dirent *e;
	DIR *dir = opendir("/proc/self/task");

	while (dir && (e = readdir(dir))) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%.20s/comm",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "iou-wrk", 7))
			n++;
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return n;
}

static void counters_end(struct vsock_driver *d, struct counters *c,
			 uint64_t bytes)
{
	struct counters e = counters_mark(d);

	c->loop.submits = e.loop.submits - c->loop.submits;
	c->loop.sqes = e.loop.sqes - c->loop.sqes;
	c->loop.cqes = e.loop.cqes - c->loop.cqes;
	c->loop.wakeups = e.loop.wakeups - c->loop.wakeups;
	c->used = e.used - c->used;
	c->irqs = e.irqs - c->irqs;
	c->notifies = e.notifies - c->notifies;
	c->iowq_threads = iowq_threads();
	c->bytes = bytes;
	c->valid = true;
}

static void vsock_g2h(uint32_t ws, double *rate, double *cpu_per_gib,
		      struct counters *ctr)
{
	uint64_t bytes = bytes_for(ws);
	struct vsock_driver d;
	struct host_job snk = { .fd = -1, .bytes = bytes };
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
	*ctr = counters_mark(&d);
	t0 = now_s();
	while (atomic_load(&snk.done) < bytes) {
		uint64_t round = 0;
		ssize_t n = 0;

		/* One round: writes of ws bytes until 64 KiB are queued or
		 * there is no room (see the top of the file). */
		while (sent < bytes && round < IO) {
			size_t len = bytes - sent < ws ? (size_t)(bytes - sent)
						       : ws;

			n = vsock_driver_send_some(s, buf, len);
			if (n < 0) {
				fprintf(stderr, "send: %zd\n", n);
				exit(1);
			}
			sent += (uint64_t)n;
			round += (uint64_t)n;
			if ((size_t)n < len)
				break;
		}
		/* Nothing queued while bytes are left: the guest waits for
		 * credit or TX buffers, which completions bring; wait for
		 * them as the VMM's loop does, with no timer. At the end,
		 * only the host reader is left: poll for it. */
		vsock_driver_pump(&d, round ? 0
				  : sent < bytes ? EVLOOP_WAIT_FOREVER
						 : d.cfg.loop_timeout_us);
	}
	*rate = (double)bytes / (now_s() - t0);
	vsock_host_join(t);
	counters_end(&d, ctr, bytes);
	*cpu_per_gib = vmm_cpu(&d, m, snk.cpu) / ((double)bytes / (1 << 30));
	vsock_driver_close(s, false);
	vsock_driver_destroy(&d);
	close(snk.lfd);
	close(snk.fd);
	free(buf);
}

static void vsock_h2g(uint32_t ws, uint32_t rx_buf, double *rate,
		      double *cpu_per_gib, struct counters *ctr)
{
	uint64_t bytes = bytes_for(ws);
	struct vsock_driver d;
	struct host_job src = { .fd = -1, .bytes = bytes, .wsize = ws };
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
	*ctr = counters_mark(&d);
	t0 = now_s();
	atomic_store(&src.go, 1);
	while (got < bytes) {
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
	*rate = (double)bytes / (now_s() - t0);
	vsock_host_join(t);
	counters_end(&d, ctr, bytes);
	*cpu_per_gib = vmm_cpu(&d, m, src.cpu) / ((double)bytes / (1 << 30));
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
	/*
	 * Every wait here ends with a completion (the send's, the echo's
	 * poll): wait as the VMM's loop does, with no timer. A timer armed
	 * and cancelled per wait cost ~15% of the round trip on this VM.
	 */
	d.cfg.loop_timeout_us = EVLOOP_WAIT_FOREVER;
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

/* ---- idle connections ---- */

struct keeper {
	int lfd;
	int *fds;
	unsigned int want;
	atomic_uint got;
};

/* Accept `want` connections and keep them open. */
static void *keeper_thread(void *arg)
{
	struct keeper *k = arg;

	while (atomic_load(&k->got) < k->want) {
		int fd = accept(k->lfd, NULL, NULL);

		if (fd < 0)
			break;
		k->fds[atomic_fetch_add(&k->got, 1)] = fd;
	}
	return NULL;
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* Open `n` guest->host connections and wait until all are established. */
static void open_conns(struct vsock_driver *d, struct vsock_sock **socks,
		       unsigned int n)
{
	unsigned int i, up = 0;

	for (i = 0; i < n; i++) {
		socks[i] = vsock_driver_connect_start(d, PORT + 2,
						      VSOCK_TYPE_STREAM);
		if (i % 64 == 63)
			vsock_driver_pump(d, 0);
	}
	while (up < n) {
		vsock_driver_pump(d, d->cfg.loop_timeout_us);
		for (up = 0, i = 0; i < n; i++) {
			if (socks[i]->state == VSOCK_SOCK_CLOSED) {
				fprintf(stderr, "idle connect: %d\n",
					socks[i]->err);
				exit(1);
			}
			up += socks[i]->state == VSOCK_SOCK_ESTABLISHED;
		}
	}
	vsock_driver_settle(d, 4);
}

/*
 * RSS growth per idle connection, KiB: a warm-up batch first (pools and
 * tables that grow once), then opt.idle_conns more, all left open.
 */
static double vsock_idle_rss(void)
{
	const unsigned int warm = 64, n = opt.idle_conns;
	struct keeper k = { .want = warm + n };
	struct vsock_driver d;
	struct vsock_sock **socks = calloc(warm + n, sizeof(*socks));
	unsigned int i;
	pthread_t t;
	long r0, r1;

	vsock_host_raise_nofile(4 * (warm + n) + 1024);
	k.fds = calloc(warm + n, sizeof(*k.fds));
	driver_up(&d, opt.rx_buf, warm + n + 64);
	d.cfg.measure_cpu = false;
	k.lfd = listen_port(PORT + 2);
	t = vsock_host_thread(keeper_thread, &k);
	open_conns(&d, socks, warm);
	r0 = rss_kib();
	open_conns(&d, socks + warm, n);
	r1 = rss_kib();
	for (i = 0; i < warm + n; i++)
		vsock_driver_close(socks[i], false);
	while (vsock_driver_nr_socks(&d))
		vsock_driver_pump(&d, d.cfg.loop_timeout_us);
	vsock_host_join(t);
	vsock_driver_destroy(&d);
	for (i = 0; i < warm + n; i++)
		close(k.fds[i]);
	close(k.lfd);
	free(k.fds);
	free(socks);
	return (double)(r1 - r0) / n;
}

/* ---- report ---- */

static void gb(char *buf, size_t n, double bytes_per_s)
{
	snprintf(buf, n, "%.2f GB/s", bytes_per_s / 1e9);
}

static const char *size_name(uint32_t ws, char *buf, size_t n)
{
	if (ws >= 1024 && !(ws % 1024))
		snprintf(buf, n, "%u KiB", ws / 1024);
	else
		snprintf(buf, n, "%u B", ws);
	return buf;
}
/* One throughput row beside AF_UNIX's (`base`, already formatted); the
 * 64 KiB rows carry the >= 0.8 target. */
static void throughput_row(const char *name, double x, double y,
			   const char *base, bool target)
{
	char a[32];

	gb(a, sizeof(a), x);
	if (target)
		printf("%-34s %14s %14s %8.2f  >= 0.8 %s\n", name, a, base,
		       x / y, x / y >= 0.8 ? "MET" : "MISSED");
	else
		printf("%-34s %14s %14s %8.2f  (info)\n", name, a, base,
		       x / y);
}


static void print_counters(const char *what, const struct counters *c)
{
	double mib = (double)c->bytes / (1 << 20);

	if (!c->valid)
		return;
	printf("%-34s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %6u\n", what,
	       (double)c->loop.submits / mib, (double)c->loop.sqes / mib,
	       (double)c->loop.cqes / mib, (double)c->loop.wakeups / mib,
	       (double)c->used / mib, (double)c->irqs / mib,
	       (double)c->notifies / mib, c->iowq_threads);
}

START_TEST(bench)
{
	static double g2h[MAX_WSIZES][MAX_RUNS], h2g[MAX_WSIZES][MAX_RUNS],
		ug[MAX_WSIZES][MAX_RUNS];
	static struct counters g2h_ctr[MAX_WSIZES], h2g_ctr[MAX_WSIZES];
	/* Zero if no 64 KiB workload runs. */
	static double h2g4k[MAX_RUNS], g2h_cpu[MAX_RUNS], h2g_cpu[MAX_RUNS],
		u_cpu[MAX_RUNS];
	double dummy;
	double rtt[MAX_RUNS], urtt[MAX_RUNS], cps[MAX_RUNS], ucps[MAX_RUNS];
	double idle[MAX_RUNS];
	static struct counters c4k, cctr;
	double x, y;
	char a[32], b[32], w[16], name[64];
	unsigned int r, i, n = opt.runs;

	vsock_host_dir_create(&hd);
	log_set_level(LOG_ERR);
	for (r = 0; r < n; r++) {
		fprintf(stderr, "run %u/%u\n", r + 1, n);
		for (i = 0; i < opt.nr_wsizes; i++) {
			uint32_t ws = opt.wsizes[i];
			double *uc = ws == IO ? &u_cpu[r] : &dummy;

			if (run_wl(WL_UNIX))
				unix_throughput(ws, &ug[i][r], uc);
			if (run_wl(WL_G2H))
				vsock_g2h(ws, &g2h[i][r], &dummy,
					  &g2h_ctr[i]);
			if (run_wl(WL_H2G))
				vsock_h2g(ws, opt.rx_buf, &h2g[i][r], &dummy,
					  &h2g_ctr[i]);
		}
		/* VMM CPU per GiB, in transfers of their own. */
		measure_cpu = true;
		if (run_wl(WL_G2H))
			vsock_g2h(IO, &dummy, &g2h_cpu[r], &cctr);
		if (run_wl(WL_H2G))
			vsock_h2g(IO, opt.rx_buf, &dummy, &h2g_cpu[r], &cctr);
		measure_cpu = false;
		if (run_wl(WL_H2G))
			vsock_h2g(IO, 4096 + 44, &h2g4k[r], &dummy, &c4k);
		if (run_wl(WL_RTT | WL_UNIX))
			urtt[r] = unix_rtt();
		if (run_wl(WL_RTT))
			rtt[r] = vsock_rtt();
		if (run_wl(WL_CONN | WL_UNIX))
			ucps[r] = unix_conn_rate();
		if (run_wl(WL_CONN))
			cps[r] = vsock_conn_rate();
		if (run_wl(WL_IDLE) && opt.idle_conns)
			idle[r] = vsock_idle_rss();
	}
	printf("vsock guestless benchmark: medians of %u runs, %llu MiB per "
	       "64 KiB-write transfer, RX buffers %u bytes\n",
	       n, (unsigned long long)(opt.bytes >> 20), opt.rx_buf);
	printf("%-34s %14s %14s %8s  %s\n", "workload", "vsock",
	       "AF_UNIX", "ratio", "target");
	for (i = 0; i < opt.nr_wsizes; i++) {
		const char *wn = size_name(opt.wsizes[i], w, sizeof(w));
		bool main_size = opt.wsizes[i] == IO;

		y = median(ug[i], n);
		gb(b, sizeof(b), y);
		snprintf(name, sizeof(name), "guest->host, %s writes", wn);
		throughput_row(name, median(g2h[i], n), y, b, main_size);
		snprintf(name, sizeof(name), "host->guest, %s writes", wn);
		throughput_row(name, median(h2g[i], n), y, b, main_size);
		if (main_size) {
			x = median(h2g4k, n);
			gb(a, sizeof(a), x);
			printf("%-34s %14s %14s %8.2f  (info)\n",
			       "host->guest, 64 KiB, 4 KiB RX bufs", a, b,
			       x / y);
		}
	}
	x = median(rtt, n);
	y = median(urtt, n);
	snprintf(a, sizeof(a), "%.1f us", x * 1e6);
	snprintf(b, sizeof(b), "%.1f us", y * 1e6);
	printf("%-34s %14s %14s %8.2f  <= 1.5 %s\n", "1-byte round trip", a, b,
	       x / y, x / y <= 1.5 ? "MET" : "MISSED");
	x = median(cps, n);
	y = median(ucps, n);
	snprintf(a, sizeof(a), "%.0f/s", x);
	snprintf(b, sizeof(b), "%.0f/s", y);
	printf("%-34s %14s %14s %8.2f  >= 50000/s %s\n",
	       "connections (open+close)", a, b, x / y,
	       x >= 50000 ? "MET" : "MISSED");
	if (opt.idle_conns) {
		x = median(idle, n);
		snprintf(a, sizeof(a), "%.1f KiB", x);
		snprintf(name, sizeof(name), "RSS per idle connection (%u)",
			 opt.idle_conns);
		printf("%-34s %14s %14s %8s  < 16 KiB %s\n", name, a, "-", "-",
		       x < 16 ? "MET" : "MISSED");
	}
	y = median(u_cpu, n);
	x = median(g2h_cpu, n);
	snprintf(a, sizeof(a), "%.3f s", x);
	snprintf(b, sizeof(b), "%.3f s", y);
	printf("%-34s %14s %14s %8.2f  (AF_UNIX: both ends)\n",
	       "VMM CPU per GiB, g->h 64 KiB", a, b, x / y);
	x = median(h2g_cpu, n);
	snprintf(a, sizeof(a), "%.3f s", x);
	printf("%-34s %14s %14s %8.2f  (AF_UNIX: both ends)\n",
	       "VMM CPU per GiB, h->g 64 KiB", a, b, x / y);
	printf("\nper MiB moved (last run)           %8s %8s %8s %8s %8s %8s "
	       "%8s %6s\n", "enters", "SQEs", "CQEs", "wakeups", "used",
	       "irqs", "notifies", "io-wq");
	for (i = 0; i < opt.nr_wsizes; i++) {
		const char *wn = size_name(opt.wsizes[i], w, sizeof(w));

		snprintf(name, sizeof(name), "guest->host, %s writes", wn);
		print_counters(name, &g2h_ctr[i]);
		snprintf(name, sizeof(name), "host->guest, %s writes", wn);
		print_counters(name, &h2g_ctr[i]);
	}
	print_counters("host->guest, 4 KiB RX bufs", &c4k);
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

static void usage(void);

static void parse_wsizes(const char *v)
{
	char *copy = strdup(v), *save = NULL, *tok;

	opt.nr_wsizes = 0;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint64_t ws = parse_size(tok);

		if (!ws || ws > IO || opt.nr_wsizes == MAX_WSIZES)
			usage();
		opt.wsizes[opt.nr_wsizes++] = (uint32_t)ws;
	}
	free(copy);
	if (!opt.nr_wsizes)
		usage();
}

/* --only unix,g2h,h2g,rtt,conn,idle,other: a subset of the workloads, for profiling
 * (a skipped workload reports zeros). */
static unsigned int parse_only(const char *v)
{
	unsigned int m = 0;

	if (strstr(v, "unix"))
		m |= WL_UNIX;
	if (strstr(v, "g2h"))
		m |= WL_G2H;
	if (strstr(v, "h2g"))
		m |= WL_H2G;
	if (strstr(v, "rtt"))
		m |= WL_RTT;
	if (strstr(v, "conn"))
		m |= WL_CONN;
	if (strstr(v, "idle"))
		m |= WL_IDLE;
	if (strstr(v, "other"))
		m |= WL_OTHER;
	if (!m)
		usage();
	return m;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_vsock [--runs N] [--bytes SIZE] [--rtt-iters N]\n"
		"                   [--conns N] [--window N] [--rx-buf BYTES]\n"
		"                   [--dev-buf-alloc BYTES] [--guest-buf-alloc BYTES]\n"
		"                   [--write-sizes SIZE,...] [--idle-conns N]\n"
		"                   [--only unix,g2h,h2g,rtt,conn,idle,other]\n");
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
		{ "write-sizes", required_argument, NULL, 's' },
		{ "idle-conns", required_argument, NULL, 'I' },
		{ "only", required_argument, NULL, 'o' },
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
		case 's': parse_wsizes(optarg); break;
		case 'I': opt.idle_conns = (unsigned int)atoi(optarg); break;
		case 'o': opt.only = parse_only(optarg); break;
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
