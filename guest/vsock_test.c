/*
 * vsock_test.c: vmm.test=vsock, the guest half of tests/e2e/e2e.py's
 * "vsock" case. The guest drives; the host half answers. Ports, control
 * words, steps and the transfer ("xfer") are described in protocol.h.
 *
 * For host -> guest steps the guest listens first, then asks the host to
 * connect. The sender of an xfer writes its bytes in random-sized writes
 * and checks the receiver's status against its own CRC-32, then reads
 * the reply to EOF.
 *
 * vmm.test=vsockreset (at the end) is the guest half of the "vsock-reset"
 * case: connections both ways and the control connection all reset by a
 * transport reset, then the same listener and new connections at work.
 *
 * Parameters: vmm.vsock_size=BYTES (bulk transfers, default 1 MiB),
 * vmm.vsock_conns=N (concurrent connections, default 16),
 * vmm.vsock_steps=a,b (default: all), vmm.vsock_timeout=S (per step),
 * vmm.vsock_retries=N (attempts more for a step a transport reset broke,
 * default 0: for runs under --vsock-fault transport-reset@SECONDS),
 * vmm.vsock_rounds=N (the steps N times over, default 1) and
 * vmm.vsock_min_ms=MS (then more rounds, while less than MS ms have passed
 * since the first step began; at most VT_ROUNDS_MAX rounds in all): so
 * that such a run sees a few resets, however fast its steps turn out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"
#include "vt.h"

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
	char text[VT_XFER_HDR], hdr[VT_XFER_HDR];
	int r;

	*x = (struct xfer){ .fd = fd, .seed = seed, .size = size,
			    .reply = reply, .rng = seed ^ 0x5eed };
	snprintf(text, sizeof(text), VT_XFER_MAGIC " %llu %llu %llu",
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
	char st[VT_XFER_STATUS + 1];
	unsigned long long len;
	unsigned int crc;
	uint64_t got = 0;
	ssize_t n;

	if (shutdown(x->fd, SHUT_WR) < 0)
		return vt_fail(t, "shutdown(SHUT_WR): %s", strerror(errno));
	n = read_full(x->fd, st, VT_XFER_STATUS);
	if (n != VT_XFER_STATUS)
		return vt_fail(t, "status after half-close: %s", err_str(n));
	st[VT_XFER_STATUS - 1] = 0;
	if (sscanf(st, VT_XFER_OK " %llu %u", &len, &crc) != 2)
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

/* One whole transfer on fd, a connection to host port `port` or the
 * -errno of making it. */
static int xfer_on(struct vt *t, int fd, unsigned int port, uint64_t seed,
		   uint64_t size, uint64_t reply)
{
	struct xfer x;
	int r;

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

/* One whole transfer to a host port (vt.h). */
int xfer_to_host(struct vt *t, unsigned int port, uint64_t seed,
		 uint64_t size, uint64_t reply)
{
	return xfer_on(t, vsock_connect(port, SOCK_STREAM), port, seed, size,
		       reply);
}

/* Receiver side of one transfer on fd. */
static int xfer_recv(struct vt *t, int fd)
{
	static unsigned char buf[65536], want[65536];
	char hdr[VT_XFER_HDR + 1], st[VT_XFER_STATUS], text[VT_XFER_STATUS];
	unsigned long long seed, size, reply, got = 0, bad = -1ULL;
	uint32_t crc = 0;
	ssize_t n;
	size_t i;
	int r;

	n = read_full(fd, hdr, VT_XFER_HDR);
	if (n != VT_XFER_HDR)
		return vt_fail(t, "header: %s", err_str(n));
	hdr[VT_XFER_HDR] = 0;
	if (sscanf(hdr, VT_XFER_MAGIC " %llu %llu %llu", &seed, &size, &reply) != 3)
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
		snprintf(text, sizeof(text), VT_XFER_BAD " got %llu of %llu bytes, "
			 "first wrong byte %lld", got, size, (long long)bad);
		xfer_pad(st, sizeof(st), text);
		write_all(fd, st, sizeof(st));
		return vt_fail(t, "%s", text + sizeof(VT_XFER_BAD));
	}
	snprintf(text, sizeof(text), VT_XFER_OK " %llu %u", got, crc);
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
		int fd = vt_accept(t, lfd);
		pid_t pid;

		if (fd < 0) {
			vt_fail(t, "accept %d: %s", i, strerror(-fd));
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
 * On listener lfd of port, ask the host to make n xfers of size bytes to it, with
 * seeds seed, seed + 1, ..., each wanting a reply of `reply` bytes
 * ("<word> <port> <n> <size> <seed> <reply>", answered CTL_OK once it
 * started), serve them, then collect the host's verdict (CTL_WAIT ->
 * CTL_DONE_OK or CTL_DONE_FAIL).
 */
static int host_to_guest_on(struct vt *t, int lfd, const char *word,
			    unsigned int port, unsigned int n,
			    unsigned long long size, unsigned long long seed,
			    unsigned long long reply_size)
{
	char cmd[96], reply[256], why[sizeof(t->why)];
	int r, h;

	snprintf(cmd, sizeof(cmd), "%s %u %u %llu %llu %llu", word, port, n,
		 size, seed, reply_size);
	if (ctl_start(t, cmd))
		return -1;
	r = serve_xfers(t, lfd, (int)n);
	strcpy(why, t->why);
	h = ctl_cmd(t, reply, sizeof(reply), CTL_WAIT);
	if (!r)
		return h ? h : ctl_expect_done(t, reply);
	/* Our own reason first; the host's too if it has one. */
	if (!h && strcmp(reply, CTL_DONE_OK))
		snprintf(t->why, sizeof(t->why), "%.120s; host: %.120s", why,
			 reply);
	else
		strcpy(t->why, why);
	return -1;
}

/* The same on a listener of its own. */
static int host_to_guest(struct vt *t, const char *word, unsigned int port,
			 unsigned int n, unsigned long long size,
			 unsigned long long seed, unsigned long long reply_size)
{
	int lfd = vsock_listen(port, SOCK_STREAM, (int)n + 4), r;

	if (lfd < 0)
		return vt_fail(t, "listen on port %u: %s", port,
			       strerror(-lfd));
	r = host_to_guest_on(t, lfd, word, port, n, size, seed, reply_size);
	close(lfd);
	return r;
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
	return host_to_guest(t, CTL_H2G, VT_GPORT_H2G, 1, t->size, 2, 0);
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
	return host_to_guest(t, CTL_H2G, VT_GPORT_H2G_CONNS, t->conns,
			     t->size / t->conns, 200, 0);
}

/* SHUT_WR, then the peer answers with 64 KiB read to EOF: both ways. */
static int vt_half(struct vt *t)
{
	if (xfer_to_host(t, VT_PORT_SINK, 300, 1000, 65536))
		return -1;
	return host_to_guest(t, CTL_H2G, VT_GPORT_HALF, 1, 1000, 301, 65536);
}

/*
 * A guest socket with a small buffer sends: Linux keeps at most its own
 * buffer's worth unacknowledged, however much credit the device
 * advertises, so the device must announce credit before that much has
 * gone out, or the sender waits for good.
 */
static int vt_smallbuf(struct vt *t)
{
	return xfer_on(t,
		       vsock_connect_buf(VT_PORT_SINK, SOCK_STREAM,
					 VT_SMALL_BUF),
		       VT_PORT_SINK, 400, t->size, 0);
}

static const unsigned int seq_sizes[] = { VT_SEQ_SIZES };

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
	stream_fill(VT_SEQ_SEED + i, 0, want, size);
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
	char cmd[32], reply[256];
	int fd, r = 0;
	ssize_t k;

	/* Guest -> host: each message echoed by the host. */
	fd = vsock_connect(VT_PORT_SEQ, SOCK_SEQPACKET);
	if (fd < 0)
		return vt_fail(t, "SEQPACKET connect to port %d: %s",
			       VT_PORT_SEQ, strerror(-fd));
	for (i = 0; !r && i < n; i++) {
		stream_fill(VT_SEQ_SEED + i, 0, msg, seq_sizes[i]);
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
	snprintf(cmd, sizeof(cmd), CTL_SEQ " %u", VT_GPORT_SEQ);
	fd = vt_accept_from_host(t, VT_GPORT_SEQ, SOCK_SEQPACKET, cmd);
	if (fd < 0)
		return -1;
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
		ctl_cmd(t, reply, sizeof(reply), CTL_WAIT);
		return r;
	}
	r = ctl_cmd(t, reply, sizeof(reply), CTL_WAIT);
	return r ? r : ctl_expect_done(t, reply);
}

/*
 * The host peer of VT_PORT_KILL reads VT_KILL_AFTER bytes and is then
 * killed: the guest's writes must fail (EPIPE or ECONNRESET) while a
 * transfer on another connection, open across the kill, completes intact.
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
	return host_to_guest(t, CTL_SOCAT, VT_GPORT_SOCAT, 1, 65536, 500, 0);
}

static int vt_tcp(struct vt *t)
{
	return host_to_guest(t, CTL_TCP, VT_GPORT_TCP, 1, 65536, 600, 0);
}

static int vt_rules(struct vt *t)
{
	if (xfer_to_host(t, VT_PORT_RULE_UNIX, 700, 65536, 0))
		return -1;
	return xfer_to_host(t, VT_PORT_RULE_TCP, 701, 65536, 0);
}

static const struct {
	const char *name;
	int (*fn)(struct vt *t);
} vt_steps[] = {
	{ VT_STEP_HELLO, vt_hello },
	{ VT_STEP_RST, vt_rst },
	{ VT_STEP_G2H, vt_g2h },
	{ VT_STEP_H2G, vt_h2g },
	{ VT_STEP_G2H_CONNS, vt_g2h_conns },
	{ VT_STEP_H2G_CONNS, vt_h2g_conns },
	{ VT_STEP_HALF, vt_half },
	{ VT_STEP_SMALLBUF, vt_smallbuf },
	{ VT_STEP_SEQ, vt_seq },
	{ VT_STEP_KILL, vt_kill },
	{ VT_STEP_SOCAT, vt_socat },
	{ VT_STEP_TCP, vt_tcp },
	{ VT_STEP_RULES, vt_rules },
	{ VT_STEP_BYE, vt_bye },
};

static int vt_selected(const struct vt *t, const char *name)
{
	size_t n = strlen(name);
	const char *p = t->steps;

	if (!strcmp(name, VT_STEP_HELLO) || !strcmp(name, VT_STEP_BYE) ||
	    !*t->steps)
		return 1;
	while ((p = strstr(p, name))) {
		if ((p == t->steps || p[-1] == ',') &&
		    (p[n] == ',' || !p[n]))
			return 1;
		p += n;
	}
	return 0;
}

/*
 * What the kernel offers for vsock, before any step, as one line the host
 * half reads (tools/vsock-conformance names the missing kernel options
 * from it): "vmm-test: vsock probe kernel=<release> acpi=<yes|no>
 * socket=<ok|error> virtio_devices=<n> vsock_device=<found|missing>
 * driver=<bound|none>".
 * socket(AF_VSOCK) fails without CONFIG_VSOCKETS; no virtio device at all
 * means none was discovered (virtio-mmio, ACPI or command-line devices);
 * a vsock device (id 19) with no driver means no virtio transport.
 * Returns 0 if vsock can work.
 */
static int vt_probe(void)
{
	char path[96], id[32], err[64] = "ok";
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int i, devices = 0, found = 0, bound = 0;
	struct utsname u;

	if (fd < 0)
		snprintf(err, sizeof(err), "%s", strerror(errno));
	else
		close(fd);
	for (i = 0; i < 64; i++) {
		snprintf(path, sizeof(path),
			 "/sys/bus/virtio/devices/virtio%d/device", i);
		if (!read_file(path, id, sizeof(id)))
			continue;
		devices++;
		if (strncmp(id, "0x0013", 6) || found)
			continue;
		found = 1;
		snprintf(path, sizeof(path),
			 "/sys/bus/virtio/devices/virtio%d/driver", i);
		bound = access(path, F_OK) == 0;
	}
	if (uname(&u) < 0)
		strcpy(u.release, "?");
	printf("vmm-test: vsock probe kernel=%s acpi=%s socket=%s "
	       "virtio_devices=%d vsock_device=%s driver=%s\n", u.release,
	       access("/sys/firmware/acpi/tables", F_OK) ? "no" : "yes", err,
	       devices, found ? "found" : "missing", bound ? "bound" : "none");
	return fd >= 0 && bound ? 0 : -1;
}

/*
 * One step, with t->retries more attempts when an attempt failed and the
 * control connection shows that a transport reset came meanwhile (the
 * reset dropped the step's connections, as it must): the control
 * connection is opened again and the step starts over. Prints "vmm-test:
 * vsock <step> retry <why>" for each such attempt, then "vmm-test: vsock
 * <step> ok <ms> ms" (", <n> tries" if more than one) or "... FAIL <why>".
 */
static int vt_attempt(struct vt *t, int (*fn)(struct vt *t), int again)
{
	/* Again: on a new control connection (hello opens its own). */
	if (again && fn != vt_hello && vt_ctl_connect(t))
		return -1;
	return fn(t);
}

static int vt_run_step(struct vt *t, int (*fn)(struct vt *t))
{
	double t0 = now_ms();
	unsigned int tries = 1;
	int r;

	alarm(t->timeout_s);
	while ((r = vt_attempt(t, fn, tries > 1)) && tries <= t->retries &&
	       vt_ctl_lost(t)) {
		printf("vmm-test: vsock %s retry %s\n", vt_step, t->why);
		if (t->ctl >= 0)
			close(t->ctl);
		t->ctl = -1;
		tries++;
	}
	alarm(0);
	if (r)
		printf("vmm-test: vsock %s FAIL %s\n", vt_step, t->why);
	else if (tries > 1)
		printf("vmm-test: vsock %s ok %.0f ms, %u tries\n", vt_step,
		       now_ms() - t0, tries);
	else
		printf("vmm-test: vsock %s ok %.0f ms\n", vt_step,
		       now_ms() - t0);
	return r;
}

/* The most rounds vmm.vsock_min_ms may add up to. */
#define VT_ROUNDS_MAX 64

/* The probe, then every selected step in order (vt_run_step), in
 * vmm.vsock_rounds rounds, and more while vmm.vsock_min_ms has not passed
 * (at most VT_ROUNDS_MAX in all). */
int vsock_test_main(void)
{
	unsigned int i, round, rounds;
	double t0, min_ms;
	struct vt t;
	int failed = 0;

	vt_init(&t);
	rounds = (unsigned int)cmdline_ull("vmm.vsock_rounds", 1);
	min_ms = (double)cmdline_ull("vmm.vsock_min_ms", 0);
	if (vt_probe())
		return 1;
	t0 = now_ms();
	for (round = 0; round < rounds ||
	     (round < VT_ROUNDS_MAX && now_ms() - t0 < min_ms); round++) {
		for (i = 0; i < sizeof(vt_steps) / sizeof(vt_steps[0]); i++) {
			if (!vt_selected(&t, vt_steps[i].name))
				continue;
			vt_step = vt_steps[i].name;
			if (vt_run_step(&t, vt_steps[i].fn))
				failed++;
		}
	}
	if (t.ctl >= 0)
		close(t.ctl);
	return failed;
}

/* vmm.test=vsockreset --------------------------------------------------- */

/*
 * The transport reset's marks on `fd`, once it shows them: an error
 * (SO_ERROR) of ECONNRESET, and a send that fails.
 */
static int expect_reset(struct vt *t, int fd, const char *what)
{
	struct pollfd p = { .fd = fd };
	socklen_t len = sizeof(int);
	int err = 0;

	/* No events asked: only an error or a hang-up wakes us. */
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return vt_fail(t, "%s: poll: %s", what,
				       strerror(errno));
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return vt_fail(t, "%s: SO_ERROR: %s", what, strerror(errno));
	if (err != ECONNRESET)
		return vt_fail(t, "%s: ended with %s (revents %#x), want "
			       "ECONNRESET", what, err ? strerror(err) : "no error",
			       p.revents);
	if (send(fd, "x", 1, MSG_NOSIGNAL) >= 0)
		return vt_fail(t, "%s: a send after the reset succeeded", what);
	printf("vmm-test: vsockreset %s: ECONNRESET, then send: %s\n", what,
	       strerror(errno));
	return 0;
}

/* The control connection, one to VT_PORT_HOLD (*hold) and one the host
 * holds to listener lfd (*held), each seen alive. */
static int reset_prepare(struct vt *t, int lfd, int *hold, int *held)
{
	const size_t n = sizeof(VT_HOLD_HELLO) - 1;
	char cmd[32], buf[sizeof(VT_HOLD_HELLO)];
	ssize_t k;
	int r;

	if (vt_ctl_connect(t))
		return -1;
	*hold = vsock_connect(VT_PORT_HOLD, SOCK_STREAM);
	if (*hold < 0)
		return vt_fail(t, "connect port %d: %s", VT_PORT_HOLD,
			       strerror(-*hold));
	r = write_all(*hold, VT_HOLD_HELLO, n);
	if (r < 0)
		return vt_fail(t, "send on the held connection: %s",
			       strerror(-r));
	snprintf(cmd, sizeof(cmd), CTL_HOLD " %u", VT_GPORT_RESET);
	if (ctl_start(t, cmd))
		return -1;
	*held = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*held < 0)
		return vt_fail(t, "accept on port %u: %s", VT_GPORT_RESET,
			       strerror(errno));
	k = read_full(*held, buf, n);
	if (k != (ssize_t)n || memcmp(buf, VT_HOLD_HELLO, n))
		return vt_fail(t, "the host's hello: %s",
			       k < 0 ? err_str(k) : "wrong bytes");
	return 0;
}

/* Ask for the reset; every connection shows it, the control one too. */
static int reset_check(struct vt *t, int hold, int held)
{
	int r = write_all(t->ctl, CTL_RESET "\n", sizeof(CTL_RESET));

	if (r < 0)
		return vt_fail(t, "control send: %s", strerror(-r));
	if (expect_reset(t, t->ctl, "control") ||
	    expect_reset(t, hold, "guest connection") ||
	    expect_reset(t, held, "host connection"))
		return -1;
	return 0;
}

/* After it: a new control connection, the old listener takes a host
 * connection, and a transfer of the guest's own goes both ways. */
static int reset_after(struct vt *t, int lfd)
{
	if (vt_ctl_connect(t) ||
	    host_to_guest_on(t, lfd, CTL_H2G, VT_GPORT_RESET, 1, t->size, 800,
			     0) ||
	    xfer_to_host(t, VT_PORT_SINK, 801, t->size, 65536))
		return -1;
	return vt_bye(t);
}

/* Prints "vmm-test: vsockreset ok <ms> ms" or "... FAIL <why>". */
int vsock_reset_main(void)
{
	int lfd, hold = -1, held = -1, r;
	double t0 = now_ms();
	struct vt t;

	vt_init(&t);
	vt_step = "reset";
	alarm(t.timeout_s);
	lfd = vsock_listen(VT_GPORT_RESET, SOCK_STREAM, 4);
	r = lfd < 0 ? vt_fail(&t, "listen on port %u: %s", VT_GPORT_RESET,
			      strerror(-lfd))
		    : reset_prepare(&t, lfd, &hold, &held);
	if (!r)
		r = reset_check(&t, hold, held);
	close(hold);
	close(held);
	close(t.ctl);
	t.ctl = -1;
	if (!r)
		r = reset_after(&t, lfd);
	if (t.ctl >= 0)
		close(t.ctl);
	close(lfd);
	alarm(0);
	if (r)
		printf("vmm-test: vsockreset FAIL %s\n", t.why);
	else
		printf("vmm-test: vsockreset ok %.0f ms\n", now_ms() - t0);
	return r ? 1 : 0;
}
