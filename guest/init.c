/*
 * init: PID 1 of the bundled guest.
 *
 * Mounts /proc, /sys and /dev, prints a marker with the time since boot,
 * then either runs the test named by `vmm.test=NAME` on the kernel command
 * line (the guest half of the end-to-end tests) and reports through the
 * debug-exit port, or offers a small interactive prompt on the console.
 *
 * Conventions shared with the host side (tests/e2e):
 *   "vmm-init: started uptime=<seconds>"   once init runs
 *   "vmm-test: <key>=<value>"              facts a test reports
 *   "vmm-test: <name> PASS|FAIL"           each test's verdict
 *   debug-exit port 0x501                  the byte written is the VMM's
 *                                          exit status: vmm.code=N (default
 *                                          0) if every test passed, else 1
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#define DEBUG_EXIT_PORT 0x501

static char cmdline[4096];

static void read_file(const char *path, char *buf, size_t size)
{
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf[0] = 0;
	if (fd >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = 0;
}

/* Value of `key=` on the kernel command line, copied into out. */
static int cmdline_get(const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	const char *p = cmdline;

	while ((p = strstr(p, key))) {
		if ((p == cmdline || p[-1] == ' ') && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, " \n");

			if (n >= size)
				n = size - 1;
			memcpy(out, p + klen + 1, n);
			out[n] = 0;
			return 0;
		}
		p += klen;
	}
	return -1;
}

static double uptime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_cpus(void)
{
	static char buf[16384];
	const char *p = buf;
	int n = 0;

	read_file("/proc/cpuinfo", buf, sizeof(buf));
	while ((p = strstr(p, "processor\t"))) {
		n++;
		p++;
	}
	return n;
}

static unsigned long mem_total_kib(void)
{
	char buf[2048];
	unsigned long kib = 0;
	const char *p;

	read_file("/proc/meminfo", buf, sizeof(buf));
	p = strstr(buf, "MemTotal:");
	if (p)
		sscanf(p, "MemTotal: %lu kB", &kib);
	return kib;
}

static void restart(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

/* PID 1 exits: the kernel panics ("Attempted to kill init!"). */
static void init_exit(void)
{
	printf("vmm-test: init exiting on purpose\n");
	fflush(stdout);
	exit(1);
}

/* End the VM with `code` as the VMM's exit status. */
static void debug_exit(int code)
{
	fflush(stdout);
	/* The UART sends from a kernel buffer: let our last lines out
	 * before the VM ends, or the host may never see the verdict. */
	tcdrain(STDOUT_FILENO);
	if (ioperm(DEBUG_EXIT_PORT, 1, 1) == 0) {
		outb((unsigned char)code, DEBUG_EXIT_PORT);
	} else {
		printf("vmm-init: ioperm failed (%s); rebooting instead\n",
		       strerror(errno));
		fflush(stdout);
	}
	restart();
}

static void print_info(void)
{
	char up[64];

	read_file("/proc/uptime", up, sizeof(up));
	printf("vmm-test: cpus=%d\n", count_cpus());
	printf("vmm-test: mem_kib=%lu\n", mem_total_kib());
	printf("vmm-test: uptime=%.3f\n", uptime_s());
	fflush(stdout);
}

/* Each test prints "vmm-test: <name> PASS|FAIL ..." and returns 0 on pass. */

static int test_sysinfo(void)
{
	print_info();
	return 0;
}

/* The virtio-rng device is bound, and /dev/hwrng gives varied bytes. */
static int test_rng(void)
{
	static unsigned char buf[65536];
	char path[128], id[32];
	int found = 0, fd, i, counts[256] = { 0 }, distinct = 0;
	size_t got = 0;

	for (i = 0; i < 8 && !found; i++) {
		snprintf(path, sizeof(path),
			 "/sys/bus/virtio/devices/virtio%d/device", i);
		read_file(path, id, sizeof(id));
		found = strncmp(id, "0x0004", 6) == 0;
	}
	printf("vmm-test: rng device %s in /sys/bus/virtio/devices\n",
	       found ? "found" : "NOT found");
	fd = open("/dev/hwrng", O_RDONLY);
	while (fd >= 0 && got < sizeof(buf)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	for (i = 0; i < (int)got; i++)
		if (counts[buf[i]]++ == 0)
			distinct++;
	printf("vmm-test: rng read %zu bytes, %d distinct values\n", got,
	       distinct);
	return !(found && got == sizeof(buf) && distinct > 200);
}

/*
 * vsock: the guest half of tests/e2e/e2e.py's "vsock" case (vmm.test=vsock)
 * and of tools/bench-vsock-guest (vmm.test=vsockbench). The guest drives;
 * the host half answers. Ports on the host (CID 2) map to "<uds>_<port>".
 *
 * Control: the guest connects to host port 5000 and sends one-line
 * commands; the host answers each with one line ("OK", "DONE OK",
 * "DONE FAIL <why>"). For host -> guest steps the guest listens first,
 * then asks the host to connect.
 *
 * Transfer ("xfer"), either way: the sender writes a 32-byte header
 * "X <seed> <size> <reply>" (space padded, '\n' last), <size> bytes of
 * stream(seed) in random-sized writes, then shuts down its write side.
 * The receiver reads to EOF, checks length and content, answers with a
 * 64-byte status "OK <size> <crc32>" or "BAD <why>", then <reply> bytes of
 * stream(seed + 1), and closes; the sender checks the status against its
 * own CRC-32 and reads the reply to EOF. Byte i of stream(seed) is byte
 * i % 8 (little endian) of splitmix64 output number i / 8.
 *
 * Parameters: vmm.vsock_size=BYTES (bulk transfers, default 1 MiB),
 * vmm.vsock_conns=N (concurrent connections, default 16),
 * vmm.vsock_steps=a,b (default: all), vmm.vsock_timeout=S (per step),
 * vmm.vsock_rtt=N, vmm.vsock_cps=N (benchmark round trips, connects).
 */
#define VSOCK_HOST_CID 2
#define VT_PORT_CTL 5000 /* host: control */
#define VT_PORT_SINK 5001 /* host: xfer receiver */
#define VT_PORT_ONEBYTE 5002 /* host: sends one byte, closes */
#define VT_PORT_SEQ 5003 /* host: SEQPACKET echo */
#define VT_PORT_KILL 5005 /* host: a peer killed mid-transfer */
#define VT_PORT_RULE_UNIX 5006 /* --vsock-port 5006=unix:... -> xfer rx */
#define VT_PORT_RULE_TCP 5007 /* --vsock-port 5007=tcp:... -> xfer rx */
#define VT_PORT_NONE 5999 /* nothing listens on the host */
#define VT_GPORT_TCP 6006 /* --vsock-listen tcp:...=6006 */
#define XFER_HDR 32
#define XFER_STATUS 64
#define SO_VM_CONNECT_TIMEOUT 6 /* SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD */

struct sockaddr_vm {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_flags;
	unsigned char svm_zero[3];
};

struct vt {
	int ctl; /* control connection, -1 if none */
	unsigned long long size; /* bulk transfer size */
	unsigned int conns;
	unsigned int timeout_s;
	char steps[256];
	char why[256]; /* the failing step's reason */
};

/* For the SIGALRM handler: the step running now. */
static const char *volatile vt_step = "";

static int vt_fail(struct vt *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int vt_fail(struct vt *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	return -1;
}

static void vt_alarm(int sig)
{
	char msg[160];
	int n;

	(void)sig;
	n = snprintf(msg, sizeof(msg), "vmm-test: vsock %s FAIL timed out "
		     "(vmm.vsock_timeout)\n", vt_step);
	/* Best effort: the verdict is the exit status anyway. */
	(void)!write(1, msg, (size_t)n);
	if (getpid() != 1)
		_exit(1);
	debug_exit(1);
}

static unsigned long long cmdline_ull(const char *key, unsigned long long def)
{
	char v[32];

	return cmdline_get(key, v, sizeof(v)) ? def : strtoull(v, NULL, 0);
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* splitmix64 output number k of a generator seeded with seed. */
static uint64_t stream_word(uint64_t seed, uint64_t k)
{
	return mix64(seed + (k + 1) * 0x9e3779b97f4a7c15ULL);
}

/* Bytes [off, off + n) of stream(seed). */
static void stream_fill(uint64_t seed, uint64_t off, unsigned char *buf,
			size_t n)
{
	uint64_t k = off / 8, w = stream_word(seed, k);
	size_t i;

	for (i = 0; i < n; i++, off++) {
		if (off / 8 != k) {
			k = off / 8;
			w = stream_word(seed, k);
		}
		buf[i] = (unsigned char)(w >> (8 * (off % 8)));
	}
}

/* CRC-32 (IEEE), composable like zlib's crc32(). */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	int k;

	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320U & -(crc & 1));
	}
	return ~crc;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read up to n bytes; fewer only at EOF. Returns the count or -errno. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static const char *err_str(ssize_t r)
{
	return r < 0 ? strerror((int)-r) : "early EOF";
}

/* Connect to the host; returns the fd or -errno. */
static int vsock_connect(unsigned int port, int type)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_cid = VSOCK_HOST_CID,
				 .svm_port = port };
	/* The default 2 s can pass while an emulated guest is busy. */
	struct timeval tv = { .tv_sec = 60 };
	int fd = socket(AF_VSOCK, type | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	setsockopt(fd, AF_VSOCK, SO_VM_CONNECT_TIMEOUT, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int vsock_listen(unsigned int port, int type, int backlog)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_cid = -1U, /* VMADDR_CID_ANY */
				 .svm_port = port };
	int fd = socket(AF_VSOCK, type | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, backlog) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Send a control line, read the host's one-line answer into reply. */
static int ctl_cmd(struct vt *t, char *reply, size_t size, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
static int ctl_cmd(struct vt *t, char *reply, size_t size, const char *fmt,
		   ...)
{
	char line[256];
	size_t n = 0;
	va_list ap;
	int r;

	if (t->ctl < 0)
		return vt_fail(t, "no control connection");
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	r = write_all(t->ctl, line, strlen(line));
	if (r < 0)
		return vt_fail(t, "control send: %s", strerror(-r));
	while (n + 1 < size) {
		ssize_t k = read_full(t->ctl, reply + n, 1);

		if (k != 1)
			return vt_fail(t, "control reply: %s", err_str(k));
		if (reply[n] == '\n')
			break;
		n++;
	}
	reply[n] = 0;
	return 0;
}

/* A host action that ends with "DONE OK" or "DONE FAIL <why>". */
static int ctl_expect_done(struct vt *t, const char *reply)
{
	if (!strcmp(reply, "DONE OK"))
		return 0;
	return vt_fail(t, "host: %s", reply);
}

/* A command the host answers with "OK" before it acts. */
static int ctl_start(struct vt *t, const char *cmd)
{
	char reply[256];

	if (ctl_cmd(t, reply, sizeof(reply), "%s", cmd))
		return -1;
	return strcmp(reply, "OK") ? vt_fail(t, "host: %s", reply) : 0;
}

static void xfer_pad(char *buf, size_t len, const char *text)
{
	size_t n = strlen(text);

	memset(buf, ' ', len);
	memcpy(buf, text, n < len - 1 ? n : len - 1);
	buf[len - 1] = '\n';
}

/* Sender side, in phases so a step can interleave other work. */
struct xfer {
	int fd;
	uint64_t seed, size, reply, sent, rng;
	uint32_t crc;
};

static int xfer_start(struct vt *t, struct xfer *x, int fd, uint64_t seed,
		      uint64_t size, uint64_t reply)
{
	char text[XFER_HDR], hdr[XFER_HDR];
	int r;

	*x = (struct xfer){ .fd = fd, .seed = seed, .size = size,
			    .reply = reply, .rng = seed ^ 0x5eed };
	snprintf(text, sizeof(text), "X %llu %llu %llu",
		 (unsigned long long)seed, (unsigned long long)size,
		 (unsigned long long)reply);
	xfer_pad(hdr, sizeof(hdr), text);
	r = write_all(fd, hdr, sizeof(hdr));
	return r < 0 ? vt_fail(t, "send header: %s", strerror(-r)) : 0;
}

/* Send stream bytes up to offset `to`, in writes of 1 B to 64 KiB. */
static int xfer_data(struct vt *t, struct xfer *x, uint64_t to)
{
	static unsigned char buf[65536];

	while (x->sent < to) {
		uint64_t r = stream_word(x->rng, x->sent);
		size_t n = 1 + (size_t)(r % (2ULL << (r >> 60)));
		int e;

		if (n > to - x->sent)
			n = (size_t)(to - x->sent);
		stream_fill(x->seed, x->sent, buf, n);
		x->crc = crc32_update(x->crc, buf, n);
		e = write_all(x->fd, buf, n);
		if (e < 0)
			return vt_fail(t, "send at byte %llu: %s",
				       (unsigned long long)x->sent,
				       strerror(-e));
		x->sent += n;
	}
	return 0;
}

/* Half-close, then check the receiver's status and reply to EOF. */
static int xfer_finish(struct vt *t, struct xfer *x)
{
	static unsigned char buf[65536], want[65536];
	char st[XFER_STATUS + 1];
	unsigned long long len;
	unsigned int crc;
	uint64_t got = 0;
	ssize_t n;

	if (shutdown(x->fd, SHUT_WR) < 0)
		return vt_fail(t, "shutdown(SHUT_WR): %s", strerror(errno));
	n = read_full(x->fd, st, XFER_STATUS);
	if (n != XFER_STATUS)
		return vt_fail(t, "status after half-close: %s", err_str(n));
	st[XFER_STATUS - 1] = 0;
	if (sscanf(st, "OK %llu %u", &len, &crc) != 2)
		return vt_fail(t, "receiver: %.60s", st);
	if (len != x->size || crc != x->crc)
		return vt_fail(t, "receiver got %llu bytes crc %08x, sent %llu "
			       "crc %08x", len, crc,
			       (unsigned long long)x->size, x->crc);
	while ((n = recv(x->fd, buf, sizeof(buf), 0)) > 0) {
		stream_fill(x->seed + 1, got, want, (size_t)n);
		if (memcmp(buf, want, (size_t)n))
			return vt_fail(t, "reply differs near byte %llu",
				       (unsigned long long)got);
		got += (uint64_t)n;
	}
	if (n < 0)
		return vt_fail(t, "reply recv: %s", strerror(errno));
	if (got != x->reply)
		return vt_fail(t, "reply: %llu bytes to EOF, want %llu",
			       (unsigned long long)got,
			       (unsigned long long)x->reply);
	return 0;
}

/* One whole transfer to a host port. */
static int xfer_to_host(struct vt *t, unsigned int port, uint64_t seed,
			uint64_t size, uint64_t reply)
{
	struct xfer x;
	int fd = vsock_connect(port, SOCK_STREAM), r;

	if (fd < 0)
		return vt_fail(t, "connect port %u: %s", port, strerror(-fd));
	r = xfer_start(t, &x, fd, seed, size, reply);
	if (!r)
		r = xfer_data(t, &x, size);
	if (!r)
		r = xfer_finish(t, &x);
	close(fd);
	return r;
}

/* Receiver side of one transfer on fd. */
static int xfer_recv(struct vt *t, int fd)
{
	static unsigned char buf[65536], want[65536];
	char hdr[XFER_HDR + 1], st[XFER_STATUS], text[XFER_STATUS];
	unsigned long long seed, size, reply, got = 0, bad = -1ULL;
	uint32_t crc = 0;
	ssize_t n;
	size_t i;
	int r;

	n = read_full(fd, hdr, XFER_HDR);
	if (n != XFER_HDR)
		return vt_fail(t, "header: %s", err_str(n));
	hdr[XFER_HDR] = 0;
	if (sscanf(hdr, "X %llu %llu %llu", &seed, &size, &reply) != 3)
		return vt_fail(t, "bad header '%.31s'", hdr);
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		stream_fill(seed, got, want, (size_t)n);
		for (i = 0; bad == -1ULL && i < (size_t)n; i++)
			if (buf[i] != want[i])
				bad = got + i;
		crc = crc32_update(crc, buf, (size_t)n);
		got += (unsigned long long)n;
	}
	if (n < 0)
		return vt_fail(t, "recv after %llu bytes: %s", got,
			       strerror(errno));
	if (got != size || bad != -1ULL) {
		snprintf(text, sizeof(text), "BAD got %llu of %llu bytes, "
			 "first wrong byte %lld", got, size, (long long)bad);
		xfer_pad(st, sizeof(st), text);
		write_all(fd, st, sizeof(st));
		return vt_fail(t, "%s", text + 4);
	}
	snprintf(text, sizeof(text), "OK %llu %u", got, crc);
	xfer_pad(st, sizeof(st), text);
	r = write_all(fd, st, sizeof(st));
	for (got = 0; !r && got < reply; got += (unsigned long long)n) {
		n = reply - got < sizeof(buf) ? (ssize_t)(reply - got)
					      : (ssize_t)sizeof(buf);
		stream_fill(seed + 1, got, buf, (size_t)n);
		r = write_all(fd, buf, (size_t)n);
	}
	return r < 0 ? vt_fail(t, "status/reply send: %s", strerror(-r)) : 0;
}

/* Wait for children; each printed its own reason. Returns how many failed. */
static int wait_children(int n)
{
	int failed = 0, status;

	while (n-- > 0)
		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed++;
	return failed;
}

/* In a child: end with the verdict, printing the reason on failure. */
static void child_exit(struct vt *t, int r, int i)
{
	if (r)
		printf("vmm-test: vsock %s conn %d: %s\n", vt_step, i, t->why);
	fflush(stdout);
	_exit(r ? 1 : 0);
}

/* Accept n connections on lfd, each handled by xfer_recv in a child. */
static int serve_xfers(struct vt *t, int lfd, int n)
{
	int i, started = 0, failed;

	fflush(stdout);
	for (i = 0; i < n; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pid_t pid;

		if (fd < 0) {
			vt_fail(t, "accept %d: %s", i, strerror(errno));
			break;
		}
		pid = fork();
		if (pid == 0) {
			alarm(t->timeout_s);
			child_exit(t, xfer_recv(t, fd), i);
		}
		close(fd);
		if (pid < 0) {
			vt_fail(t, "fork: %s", strerror(errno));
			break;
		}
		started++;
	}
	failed = wait_children(started);
	if (started < n)
		return -1;
	return failed ? vt_fail(t, "%d of %d connections failed", failed, n)
		      : 0;
}

/*
 * Listen on port, ask the host to run `cmd` against it ("OK": it started),
 * serve n xfers, then collect the host's verdict ("WAIT" -> "DONE ...").
 */
static int host_to_guest(struct vt *t, unsigned int port, int n,
			 const char *cmd)
{
	char reply[256], why[sizeof(t->why)];
	int lfd = vsock_listen(port, SOCK_STREAM, n + 4), r, h;

	if (lfd < 0)
		return vt_fail(t, "listen on port %u: %s", port,
			       strerror(-lfd));
	if (ctl_start(t, cmd)) {
		close(lfd);
		return -1;
	}
	r = serve_xfers(t, lfd, n);
	close(lfd);
	strcpy(why, t->why);
	h = ctl_cmd(t, reply, sizeof(reply), "WAIT");
	if (!r)
		return h ? h : ctl_expect_done(t, reply);
	/* Our own reason first; the host's too if it has one. */
	if (!h && strcmp(reply, "DONE OK"))
		snprintf(t->why, sizeof(t->why), "%.120s; host: %.120s", why,
			 reply);
	else
		strcpy(t->why, why);
	return -1;
}

static int vt_hello(struct vt *t)
{
	char reply[64];

	t->ctl = vsock_connect(VT_PORT_CTL, SOCK_STREAM);
	if (t->ctl < 0) {
		int e = -t->ctl;

		t->ctl = -1;
		return vt_fail(t, "connect to host port %d: %s", VT_PORT_CTL,
			       strerror(e));
	}
	/* The host checks refused hybrid handshakes before answering. */
	if (ctl_cmd(t, reply, sizeof(reply), "HELLO"))
		return -1;
	return ctl_expect_done(t, reply);
}

static int vt_rst(struct vt *t)
{
	int fd = vsock_connect(VT_PORT_NONE, SOCK_STREAM);

	if (fd >= 0) {
		close(fd);
		return vt_fail(t, "connect to port %d (no host listener) "
			       "succeeded", VT_PORT_NONE);
	}
	if (fd != -ECONNRESET)
		return vt_fail(t, "connect to port %d: %s, want ECONNRESET",
			       VT_PORT_NONE, strerror(-fd));
	return 0;
}

static int vt_g2h(struct vt *t)
{
	return xfer_to_host(t, VT_PORT_SINK, 1, t->size, 0);
}

static int vt_h2g(struct vt *t)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "H2G 6001 1 %llu 2 0", t->size);
	return host_to_guest(t, 6001, 1, cmd);
}

static int vt_g2h_conns(struct vt *t)
{
	unsigned int i, started = 0;
	int failed;

	fflush(stdout);
	for (i = 0; i < t->conns; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			alarm(t->timeout_s);
			child_exit(t, xfer_to_host(t, VT_PORT_SINK, 100 + i,
						   t->size / t->conns, 0),
				   (int)i);
		}
		if (pid < 0)
			break;
		started++;
	}
	failed = wait_children((int)started);
	if (started < t->conns)
		return vt_fail(t, "fork: %s", strerror(errno));
	return failed ? vt_fail(t, "%d of %u connections failed", failed,
				t->conns) : 0;
}

static int vt_h2g_conns(struct vt *t)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "H2G 6002 %u %llu 200 0", t->conns,
		 t->size / t->conns);
	return host_to_guest(t, 6002, (int)t->conns, cmd);
}

/* SHUT_WR, then the peer answers with 64 KiB read to EOF: both ways. */
static int vt_half(struct vt *t)
{
	if (xfer_to_host(t, VT_PORT_SINK, 300, 1000, 65536))
		return -1;
	return host_to_guest(t, 6003, 1, "H2G 6003 1 1000 301 65536");
}

static const unsigned int seq_sizes[] = {
	1, 2, 3, 64, 1000, 4095, 4096, 4097, 16384, 32767, 32768, 65535, 65536,
};
#define SEQ_SEED 7000

/* One SEQPACKET message: length, truncation and content. */
static int seq_check(struct vt *t, int fd, unsigned int i, int echo)
{
	static unsigned char buf[65536 + 64], want[65536];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	unsigned int size = seq_sizes[i];
	ssize_t n = recvmsg(fd, &mh, 0);
	int r;

	if (n < 0)
		return vt_fail(t, "message %u (%u B): recv: %s", i, size,
			       strerror(errno));
	if ((size_t)n != size || (mh.msg_flags & MSG_TRUNC))
		return vt_fail(t, "message %u: %zd B%s, want %u B", i, n,
			       mh.msg_flags & MSG_TRUNC ? " (truncated)" : "",
			       size);
	stream_fill(SEQ_SEED + i, 0, want, size);
	if (memcmp(buf, want, size))
		return vt_fail(t, "message %u (%u B): content differs", i,
			       size);
	if (!echo)
		return 0;
	r = write_all(fd, buf, size);
	return r < 0 ? vt_fail(t, "message %u: echo: %s", i, strerror(-r)) : 0;
}

static int vt_seq(struct vt *t)
{
	static unsigned char msg[65536];
	unsigned int i, n = sizeof(seq_sizes) / sizeof(seq_sizes[0]);
	char reply[256];
	int fd, lfd, r = 0;
	ssize_t k;

	/* Guest -> host: each message echoed by the host. */
	fd = vsock_connect(VT_PORT_SEQ, SOCK_SEQPACKET);
	if (fd < 0)
		return vt_fail(t, "SEQPACKET connect to port %d: %s",
			       VT_PORT_SEQ, strerror(-fd));
	for (i = 0; !r && i < n; i++) {
		stream_fill(SEQ_SEED + i, 0, msg, seq_sizes[i]);
		k = send(fd, msg, seq_sizes[i], MSG_NOSIGNAL);
		if (k != (ssize_t)seq_sizes[i])
			r = vt_fail(t, "send message %u (%u B): %s", i,
				    seq_sizes[i],
				    k < 0 ? strerror(errno) : "short");
		else
			r = seq_check(t, fd, i, 0);
	}
	close(fd);
	if (r)
		return r;
	/* Host -> guest through "<uds>_seqpacket": the guest echoes. */
	lfd = vsock_listen(6004, SOCK_SEQPACKET, 4);
	if (lfd < 0)
		return vt_fail(t, "SEQPACKET listen: %s", strerror(-lfd));
	if (ctl_start(t, "SEQ 6004")) {
		close(lfd);
		return -1;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	if (fd < 0)
		return vt_fail(t, "SEQPACKET accept: %s", strerror(errno));
	for (i = 0; !r && i < n; i++)
		r = seq_check(t, fd, i, 1);
	if (!r) {
		k = recv(fd, msg, sizeof(msg), 0);
		if (k != 0)
			r = vt_fail(t, "after the last message: %zd, want EOF",
				    k);
	}
	close(fd);
	if (r) {
		ctl_cmd(t, reply, sizeof(reply), "WAIT");
		return r;
	}
	r = ctl_cmd(t, reply, sizeof(reply), "WAIT");
	return r ? r : ctl_expect_done(t, reply);
}

/*
 * The host peer of port 5005 reads 64 KiB and is then killed: the guest's
 * writes must fail (EPIPE or ECONNRESET) while a transfer on another
 * connection, open across the kill, completes intact.
 */
static int vt_kill(struct vt *t)
{
	static unsigned char buf[4096];
	unsigned long long sent = 0, size = t->size / 4;
	struct xfer x;
	int a, b, r;

	a = vsock_connect(VT_PORT_SINK, SOCK_STREAM);
	if (a < 0)
		return vt_fail(t, "connect port %d: %s", VT_PORT_SINK,
			       strerror(-a));
	if (xfer_start(t, &x, a, 400, size, 0) ||
	    xfer_data(t, &x, size / 2)) {
		close(a);
		return -1;
	}
	b = vsock_connect(VT_PORT_KILL, SOCK_STREAM);
	if (b < 0) {
		close(a);
		return vt_fail(t, "connect port %d: %s", VT_PORT_KILL,
			       strerror(-b));
	}
	while (!(r = write_all(b, buf, sizeof(buf))) && sent < (64ULL << 20))
		sent += sizeof(buf);
	close(b);
	if (r != -EPIPE && r != -ECONNRESET) {
		close(a);
		return vt_fail(t, "writes to the killed peer: %s after %llu "
			       "bytes, want EPIPE or ECONNRESET",
			       r ? strerror(-r) : "no error", sent);
	}
	printf("vmm-test: vsock kill: %s after %llu bytes\n",
	       r == -EPIPE ? "EPIPE" : "ECONNRESET", sent);
	r = xfer_data(t, &x, size);
	if (!r)
		r = xfer_finish(t, &x);
	close(a);
	if (r)
		return vt_fail(t, "parallel connection: %.200s", t->why);
	return 0;
}

static int vt_socat(struct vt *t)
{
	return host_to_guest(t, 6005, 1, "SOCAT 6005 1 65536 500 0");
}

static int vt_tcp(struct vt *t)
{
	return host_to_guest(t, VT_GPORT_TCP, 1, "TCP 6006 1 65536 600 0");
}

static int vt_rules(struct vt *t)
{
	if (xfer_to_host(t, VT_PORT_RULE_UNIX, 700, 65536, 0))
		return -1;
	return xfer_to_host(t, VT_PORT_RULE_TCP, 701, 65536, 0);
}

static int vt_bye(struct vt *t)
{
	char reply[64];
	int r;

	r = ctl_cmd(t, reply, sizeof(reply), "BYE");
	close(t->ctl);
	t->ctl = -1;
	return r ? r : ctl_expect_done(t, reply);
}

static const struct {
	const char *name;
	int (*fn)(struct vt *t);
} vt_steps[] = {
	{ "hello", vt_hello },	 { "rst", vt_rst },
	{ "g2h", vt_g2h },	 { "h2g", vt_h2g },
	{ "g2h_conns", vt_g2h_conns }, { "h2g_conns", vt_h2g_conns },
	{ "half", vt_half },	 { "seq", vt_seq },
	{ "kill", vt_kill },	 { "socat", vt_socat },
	{ "tcp", vt_tcp },	 { "rules", vt_rules },
	{ "bye", vt_bye },
};

static int vt_selected(const struct vt *t, const char *name)
{
	size_t n = strlen(name);
	const char *p = t->steps;

	if (!strcmp(name, "hello") || !strcmp(name, "bye") || !*t->steps)
		return 1;
	while ((p = strstr(p, name))) {
		if ((p == t->steps || p[-1] == ',') &&
		    (p[n] == ',' || !p[n]))
			return 1;
		p += n;
	}
	return 0;
}

static void vt_init(struct vt *t)
{
	memset(t, 0, sizeof(*t));
	t->ctl = -1;
	t->size = cmdline_ull("vmm.vsock_size", 1 << 20);
	t->conns = (unsigned int)cmdline_ull("vmm.vsock_conns", 16);
	t->timeout_s = (unsigned int)cmdline_ull("vmm.vsock_timeout", 300);
	if (!t->conns)
		t->conns = 1;
	if (cmdline_get("vmm.vsock_steps", t->steps, sizeof(t->steps)))
		t->steps[0] = 0;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, vt_alarm);
}

/* Prints "vmm-test: vsock <step> ok <ms> ms" or "... FAIL <why>". */
static int test_vsock(void)
{
	struct vt t;
	unsigned int i;
	int failed = 0;

	vt_init(&t);
	for (i = 0; i < sizeof(vt_steps) / sizeof(vt_steps[0]); i++) {
		double t0 = now_ms();

		if (!vt_selected(&t, vt_steps[i].name))
			continue;
		vt_step = vt_steps[i].name;
		alarm(t.timeout_s);
		if (vt_steps[i].fn(&t)) {
			printf("vmm-test: vsock %s FAIL %s\n", vt_step, t.why);
			failed++;
		} else {
			printf("vmm-test: vsock %s ok %.0f ms\n", vt_step,
			       now_ms() - t0);
		}
		alarm(0);
	}
	if (t.ctl >= 0)
		close(t.ctl);
	return failed;
}

/*
 * vmm.test=vsockbench: the guest half of tools/bench-vsock-guest. The host
 * times everything; the guest only runs the workloads:
 *   G2H <size>      the guest sends <size> bytes to port 5001, half-closes,
 *                   reads the host's count to EOF
 *   H2G 6001 <size> the host sends to the guest, which answers its count
 *   RTT 6002 <n>    the guest echoes one byte at a time until EOF
 *   CPS <n>         the guest connects to port 5002 n times, reads to EOF
 */
static int bench_sink(struct vt *t, int fd)
{
	static unsigned char buf[65536];
	unsigned long long got = 0;
	char line[32];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		got += (unsigned long long)n;
	if (n < 0)
		return vt_fail(t, "recv: %s", strerror(errno));
	snprintf(line, sizeof(line), "%llu\n", got);
	return write_all(fd, line, strlen(line)) ? vt_fail(t, "send") : 0;
}

static int bench_accept(struct vt *t, unsigned int port, const char *cmd,
			int *lfd)
{
	int fd;

	*lfd = vsock_listen(port, SOCK_STREAM, 4);
	if (*lfd < 0)
		return vt_fail(t, "listen: %s", strerror(-*lfd));
	if (ctl_start(t, cmd)) {
		close(*lfd);
		return -1;
	}
	fd = accept4(*lfd, NULL, NULL, SOCK_CLOEXEC);
	close(*lfd);
	return fd < 0 ? vt_fail(t, "accept: %s", strerror(errno)) : fd;
}

static int test_vsockbench(void)
{
	static unsigned char buf[65536];
	unsigned long long sent, size;
	unsigned int i, n_rtt, n_cps;
	char cmd[64], reply[64];
	struct vt t;
	int fd, lfd, r;

	vt_init(&t);
	size = cmdline_ull("vmm.vsock_size", 4 << 20);
	n_rtt = (unsigned int)cmdline_ull("vmm.vsock_rtt", 200);
	n_cps = (unsigned int)cmdline_ull("vmm.vsock_cps", 100);
	alarm(t.timeout_s);
	vt_step = "bench-g2h";
	if (vt_hello(&t))
		goto fail;
	snprintf(cmd, sizeof(cmd), "G2H %llu", size);
	if (ctl_start(&t, cmd))
		goto fail;
	fd = vsock_connect(VT_PORT_SINK, SOCK_STREAM);
	if (fd < 0) {
		vt_fail(&t, "connect: %s", strerror(-fd));
		goto fail;
	}
	for (sent = 0, r = 0; !r && sent < size; sent += sizeof(buf))
		r = write_all(fd, buf, sizeof(buf));
	shutdown(fd, SHUT_WR);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	if (r) {
		vt_fail(&t, "send: %s", strerror(-r));
		goto fail;
	}

	vt_step = "bench-h2g";
	snprintf(cmd, sizeof(cmd), "H2G 6001 %llu", size);
	fd = bench_accept(&t, 6001, cmd, &lfd);
	if (fd < 0 || bench_sink(&t, fd))
		goto fail;
	close(fd);
	if (ctl_cmd(&t, reply, sizeof(reply), "WAIT"))
		goto fail;

	vt_step = "bench-rtt";
	snprintf(cmd, sizeof(cmd), "RTT 6002 %u", n_rtt);
	fd = bench_accept(&t, 6002, cmd, &lfd);
	if (fd < 0)
		goto fail;
	while (recv(fd, buf, 1, 0) == 1)
		if (write_all(fd, buf, 1))
			break;
	close(fd);
	if (ctl_cmd(&t, reply, sizeof(reply), "WAIT"))
		goto fail;

	vt_step = "bench-cps";
	snprintf(cmd, sizeof(cmd), "CPS %u", n_cps);
	if (ctl_start(&t, cmd))
		goto fail;
	for (i = 0; i < n_cps; i++) {
		fd = vsock_connect(VT_PORT_ONEBYTE, SOCK_STREAM);
		if (fd < 0) {
			vt_fail(&t, "connect %u: %s", i, strerror(-fd));
			goto fail;
		}
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		close(fd);
	}
	if (ctl_start(&t, "CPSEND"))
		goto fail;
	vt_step = "bench-bye";
	if (vt_bye(&t))
		goto fail;
	alarm(0);
	return 0;
fail:
	printf("vmm-test: vsockbench %s FAIL %s\n", vt_step, t.why);
	alarm(0);
	return 1;
}

/*
 * vmm.test=soak: the guest half of the e2e soak (tests/e2e/e2e.py soak),
 * which repeats, round after round in one boot, the traffic shape that
 * once stalled a real guest for good. Each round, on connections of its
 * own to host AF_UNIX servers at <uds>_7001..7005:
 *   g2h  7001  send vmm.soak_size bytes (64 KiB writes), half-close, read
 *              the host's verdict line ("OK" after checking every byte)
 *   h2g  7002  send the size as 8 bytes; the host sends that much; check
 *   rtt  7003  vmm.soak_rtt one-byte round trips
 *   cps  7004  vmm.soak_cps connects, each closed after the host's accept
 *   seq  7005  SEQPACKET: vmm.soak_seq messages of 1 B to 32 KiB, echoed
 * Odd rounds run the five at once, each in a child process. After each
 * round: "vmm-soak: round N ok T ms". vmm.soak_rounds (0: forever). If a
 * round takes longer than vmm.soak_deadline seconds, the guest prints
 * what it was doing and its /proc/interrupts and keeps waiting: the host
 * decides (it asks the VMM for a state dump, then stops it).
 * Data: byte k of a transfer in round r is (k % 65521 * 31 + r) & 0xff.
 */
#define SOAK_PORT 7001
#define SOAK_PERIOD 65521u

static unsigned char soak_buf[65536 + SOAK_PERIOD];
static const char *volatile soak_step = "";
static volatile unsigned long long soak_progress;
static volatile unsigned int soak_round;

static void soak_fill(unsigned int round)
{
	size_t k;

	for (k = 0; k < sizeof(soak_buf); k++)
		soak_buf[k] = (unsigned char)((k % SOAK_PERIOD) * 31 + round);
}

/* Async-signal-safe: write(2) only. */
static void soak_say(const char *s)
{
	(void)!write(1, s, strlen(s));
}

static void soak_alarm(int sig)
{
	char msg[200], buf[2048];
	ssize_t n;
	int fd;

	(void)sig;
	snprintf(msg, sizeof(msg), "vmm-soak: round %u STUCK in %s after %llu "
		 "(pid %d); /proc/interrupts:\n", soak_round, soak_step,
		 soak_progress, getpid());
	soak_say(msg);
	fd = open("/proc/interrupts", O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		(void)!write(1, buf, (size_t)n);
	if (fd >= 0)
		close(fd);
}

static int soak_g2h(struct vt *t, unsigned long long size)
{
	unsigned long long sent = 0;
	char line[64];
	ssize_t n;
	int fd = vsock_connect(SOAK_PORT, SOCK_STREAM), r = 0;

	if (fd < 0)
		return vt_fail(t, "connect: %s", strerror(-fd));
	while (!r && sent < size) {
		size_t k = size - sent < 65536 ? (size_t)(size - sent) : 65536;

		r = write_all(fd, soak_buf + sent % SOAK_PERIOD, k);
		sent += k;
		soak_progress = sent;
	}
	shutdown(fd, SHUT_WR);
	n = r ? 0 : read_full(fd, line, sizeof(line) - 1);
	close(fd);
	if (r)
		return vt_fail(t, "send at %llu: %s", sent, strerror(-r));
	line[n > 0 ? n : 0] = 0;
	return strncmp(line, "OK", 2) ? vt_fail(t, "host: %s", line) : 0;
}

static int soak_h2g(struct vt *t, unsigned long long size)
{
	static unsigned char in[65536];
	unsigned long long got = 0;
	uint64_t want = htole64(size);
	int fd = vsock_connect(SOAK_PORT + 1, SOCK_STREAM), r;
	ssize_t n;

	if (fd < 0)
		return vt_fail(t, "connect: %s", strerror(-fd));
	r = write_all(fd, &want, sizeof(want));
	while (!r && (n = recv(fd, in, sizeof(in), 0)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = vt_fail(t, "recv at %llu: %s", got, strerror(errno));
			break;
		}
		if (got + (unsigned long long)n > size ||
		    memcmp(in, soak_buf + got % SOAK_PERIOD, (size_t)n)) {
			r = vt_fail(t, "wrong bytes at %llu", got);
			break;
		}
		got += (unsigned long long)n;
		soak_progress = got;
	}
	close(fd);
	if (!r && got != size)
		r = vt_fail(t, "got %llu of %llu bytes", got, size);
	return r;
}

static int soak_rtt(struct vt *t, unsigned int n)
{
	unsigned char c;
	unsigned int i;
	int fd = vsock_connect(SOAK_PORT + 2, SOCK_STREAM);

	if (fd < 0)
		return vt_fail(t, "connect: %s", strerror(-fd));
	for (i = 0; i < n; i++) {
		unsigned char b = (unsigned char)i;
		ssize_t r;

		if (write_all(fd, &b, 1) ||
		    (r = read_full(fd, &c, 1)) != 1 || c != b) {
			close(fd);
			return vt_fail(t, "round trip %u failed", i);
		}
		soak_progress = i + 1;
	}
	close(fd);
	return 0;
}

static int soak_cps(struct vt *t, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		int fd = vsock_connect(SOAK_PORT + 3, SOCK_STREAM);

		if (fd < 0)
			return vt_fail(t, "connect %u: %s", i, strerror(-fd));
		close(fd);
		soak_progress = i + 1;
	}
	return 0;
}

static int soak_seq(struct vt *t, unsigned int n)
{
	static unsigned char in[32768 + 1];
	unsigned int i;
	int fd = vsock_connect(SOAK_PORT + 4, SOCK_SEQPACKET);

	if (fd < 0)
		return vt_fail(t, "connect: %s", strerror(-fd));
	for (i = 0; i < n; i++) {
		size_t len = 1 + (size_t)(mix64(i) % 32768);
		ssize_t r;

		if (write_all(fd, soak_buf + i, len)) {
			close(fd);
			return vt_fail(t, "message %u: send failed", i);
		}
		do
			r = recv(fd, in, sizeof(in), 0);
		while (r < 0 && errno == EINTR);
		if (r != (ssize_t)len || memcmp(in, soak_buf + i, len)) {
			close(fd);
			return vt_fail(t, "message %u: echo of %zd bytes, "
				       "want %zu", i, r, len);
		}
		soak_progress = i + 1;
	}
	close(fd);
	return 0;
}

static const char *const soak_steps[] = { "g2h", "h2g", "rtt", "cps", "seq" };

static int soak_one(struct vt *t, unsigned int step, unsigned long long size,
		    unsigned int rtt, unsigned int cps, unsigned int seq)
{
	soak_step = soak_steps[step];
	soak_progress = 0;
	switch (step) {
	case 0:
		return soak_g2h(t, size);
	case 1:
		return soak_h2g(t, size);
	case 2:
		return soak_rtt(t, rtt);
	case 3:
		return soak_cps(t, cps);
	default:
		return soak_seq(t, seq);
	}
}

static int test_soak(void)
{
	unsigned long long size = cmdline_ull("vmm.soak_size", 32 << 20);
	unsigned int rounds = (unsigned int)cmdline_ull("vmm.soak_rounds", 10);
	unsigned int rtt = (unsigned int)cmdline_ull("vmm.soak_rtt", 1000);
	unsigned int cps = (unsigned int)cmdline_ull("vmm.soak_cps", 200);
	unsigned int seq = (unsigned int)cmdline_ull("vmm.soak_seq", 100);
	unsigned int deadline =
		(unsigned int)cmdline_ull("vmm.soak_deadline", 120);
	struct sigaction sa = { .sa_handler = soak_alarm };
	unsigned int r, s;
	struct vt t;

	vt_init(&t);
	sigaction(SIGALRM, &sa, NULL);
	for (r = 1; !rounds || r <= rounds; r++) {
		double t0 = now_ms();
		int failed = 0;

		soak_round = r;
		soak_fill(r);
		alarm(deadline);
		if (r % 2) {
			int started = 0;

			for (s = 0; s < 5; s++) {
				pid_t pid = fork();

				if (pid == 0) {
					alarm(deadline);
					if (soak_one(&t, s, size, rtt, cps, seq)) {
						printf("vmm-soak: round %u %s "
						       "FAIL %s\n", r,
						       soak_steps[s], t.why);
						fflush(stdout);
						_exit(1);
					}
					_exit(0);
				}
				if (pid < 0)
					failed++;
				else
					started++;
			}
			failed += wait_children(started);
		} else {
			for (s = 0; s < 5; s++) {
				if (soak_one(&t, s, size, rtt, cps, seq)) {
					printf("vmm-soak: round %u %s FAIL %s\n",
					       r, soak_steps[s], t.why);
					failed++;
				}
			}
		}
		alarm(0);
		if (failed)
			return 1;
		printf("vmm-soak: round %u ok %.0f ms\n", r, now_ms() - t0);
		fflush(stdout);
	}
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "sysinfo", test_sysinfo },
	{ "rng", test_rng },
	{ "vsock", test_vsock },
	{ "vsockbench", test_vsockbench },
	{ "soak", test_soak },
};

/*
 * vmm.test=a,b,c runs the tests in order. The exit status is vmm.code
 * (default 0) when all pass, else 1. "panic" and "reboot" end the VM.
 */
static int run_tests(char *list)
{
	char code[16], *name, *save = NULL;
	int failed = 0;
	unsigned int i;

	for (name = strtok_r(list, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		int found = 0;

		if (!strcmp(name, "panic"))
			init_exit();
		if (!strcmp(name, "reboot"))
			restart();
		for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
			if (strcmp(name, tests[i].name))
				continue;
			found = 1;
			if (tests[i].fn()) {
				failed++;
				printf("vmm-test: %s FAIL\n", name);
			} else {
				printf("vmm-test: %s PASS\n", name);
			}
		}
		if (!found) {
			printf("vmm-test: unknown test '%s'\n", name);
			failed++;
		}
	}
	if (cmdline_get("vmm.code", code, sizeof(code)))
		strcpy(code, "0");
	debug_exit(failed ? 1 : atoi(code));
	return 1;
}

static void cat_file(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		printf("%s: %s\n", path, strerror(errno));
		return;
	}
	fflush(stdout);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)n) < 0)
			break;
	close(fd);
}

static void shell(void)
{
	char line[256];

	printf("vmm-init: commands: info, uptime, cpus, mem, rng, cat FILE, "
	       "reboot, panic, exit N\n");
	for (;;) {
		char *cmd;

		printf("vmm> ");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			break;
		cmd = line + strspn(line, " \t");
		cmd[strcspn(cmd, "\r\n")] = 0;
		if (!*cmd)
			continue;
		if (!strcmp(cmd, "info"))
			print_info();
		else if (!strcmp(cmd, "uptime"))
			printf("%.3f s\n", uptime_s());
		else if (!strcmp(cmd, "cpus"))
			printf("%d\n", count_cpus());
		else if (!strcmp(cmd, "mem"))
			printf("%lu KiB\n", mem_total_kib());
		else if (!strcmp(cmd, "rng"))
			test_rng();
		else if (!strncmp(cmd, "cat ", 4))
			cat_file(cmd + 4);
		else if (!strcmp(cmd, "panic"))
			init_exit();
		else if (!strcmp(cmd, "reboot") || !strcmp(cmd, "poweroff"))
			break;
		else if (!strncmp(cmd, "exit", 4))
			debug_exit(atoi(cmd + 4));
		else
			printf("unknown command '%s'\n", cmd);
	}
	printf("vmm-init: rebooting\n");
	fflush(stdout);
	restart();
}

int main(void)
{
	char test[256];
	int fd;

	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	/* The kernel may have found no console in the initramfs. */
	if (fcntl(1, F_GETFD) < 0) {
		fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	read_file("/proc/cmdline", cmdline, sizeof(cmdline));
	printf("vmm-init: started uptime=%.3f\n", uptime_s());
	if (!cmdline_get("vmm.test", test, sizeof(test)))
		return run_tests(test);
	shell();
	return 0;
}
