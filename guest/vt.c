/*
 * vt.c: the part of the guest's vsock programs they share. The guest
 * drives, the host half answers; see protocol.h for what is said. A run's
 * state is its struct vt; the one file-scope variable, vt_step, names the
 * running step for the SIGALRM handler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"
#include "vt.h"

#define SO_VM_CONNECT_TIMEOUT 6 /* SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD */
#define SO_VM_BUFFER_SIZE 0 /* SO_VM_SOCKETS_BUFFER_SIZE, a u64 */

struct sockaddr_vm {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_flags;
	unsigned char svm_zero[3];
};

const char *volatile vt_step = "";

int vt_fail(struct vt *t, const char *fmt, ...)
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

uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> STREAM_S1)) * STREAM_M1;
	z = (z ^ (z >> STREAM_S2)) * STREAM_M2;
	return z ^ (z >> STREAM_S3);
}

uint64_t stream_word(uint64_t seed, uint64_t k)
{
	return mix64(seed + (k + 1) * STREAM_GAMMA);
}

void stream_fill(uint64_t seed, uint64_t off, unsigned char *buf, size_t n)
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

uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
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

int write_all(int fd, const void *buf, size_t n)
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

ssize_t read_full(int fd, void *buf, size_t n)
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

const char *err_str(ssize_t r)
{
	return r < 0 ? strerror((int)-r) : "early EOF";
}

int vsock_connect(unsigned int port, int type)
{
	return vsock_connect_buf(port, type, 0);
}

int vsock_connect_buf(unsigned int port, int type, uint64_t buf)
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
	if (buf && setsockopt(fd, AF_VSOCK, SO_VM_BUFFER_SIZE, &buf,
			      sizeof(buf)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int vsock_listen(unsigned int port, int type, int backlog)
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

int ctl_cmd(struct vt *t, char *reply, size_t size, const char *fmt, ...)
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

int ctl_expect_done(struct vt *t, const char *reply)
{
	if (!strcmp(reply, CTL_DONE_OK))
		return 0;
	return vt_fail(t, "host: %s", reply);
}

int ctl_start(struct vt *t, const char *cmd)
{
	char reply[256];

	if (ctl_cmd(t, reply, sizeof(reply), "%s", cmd))
		return -1;
	return strcmp(reply, CTL_OK) ? vt_fail(t, "host: %s", reply) : 0;
}

int vt_accept(struct vt *t, int lfd)
{
	/* No events asked of the control connection: only an error or a
	 * hang-up shows there. */
	struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
			       { .fd = t->ctl } };
	int fd;

	for (;;) {
		int n = poll(p, t->ctl >= 0 ? 2 : 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (t->ctl >= 0 && p[1].revents)
			return -ECONNRESET;
		if (p[0].revents)
			break;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int vt_ctl_lost(struct vt *t)
{
	char reply[256], why[sizeof(t->why)];
	int r;

	if (t->ctl < 0)
		return 1;
	strcpy(why, t->why);
	r = ctl_cmd(t, reply, sizeof(reply), CTL_WAIT);
	strcpy(t->why, why);
	return r < 0;
}

int vt_accept_from_host(struct vt *t, unsigned int port, int type,
			const char *cmd)
{
	int fd, lfd = vsock_listen(port, type, 4);

	if (lfd < 0)
		return vt_fail(t, "listen on port %u: %s", port,
			       strerror(-lfd));
	if (ctl_start(t, cmd)) {
		close(lfd);
		return -1;
	}
	fd = vt_accept(t, lfd);
	close(lfd);
	return fd < 0 ? vt_fail(t, "accept on port %u: %s", port,
				strerror(-fd)) : fd;
}

int wait_children(int n)
{
	int failed = 0, status;

	while (n-- > 0)
		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed++;
	return failed;
}

int vt_ctl_connect(struct vt *t)
{
	t->ctl = vsock_connect(VT_PORT_CTL, SOCK_STREAM);
	if (t->ctl < 0) {
		int e = -t->ctl;

		t->ctl = -1;
		return vt_fail(t, "connect to host port %d: %s", VT_PORT_CTL,
			       strerror(e));
	}
	return 0;
}

int vt_hello(struct vt *t)
{
	char reply[64];

	if (vt_ctl_connect(t))
		return -1;
	/* The host checks refused hybrid handshakes before answering. */
	if (ctl_cmd(t, reply, sizeof(reply), CTL_HELLO))
		return -1;
	return ctl_expect_done(t, reply);
}

int vt_bye(struct vt *t)
{
	char reply[64];
	int r;

	r = ctl_cmd(t, reply, sizeof(reply), CTL_BYE);
	close(t->ctl);
	t->ctl = -1;
	return r ? r : ctl_expect_done(t, reply);
}

void vt_init(struct vt *t)
{
	memset(t, 0, sizeof(*t));
	t->ctl = -1;
	t->size = cmdline_ull("vmm.vsock_size", 1 << 20);
	t->conns = (unsigned int)cmdline_ull("vmm.vsock_conns", 16);
	t->timeout_s = (unsigned int)cmdline_ull("vmm.vsock_timeout", 300);
	t->retries = (unsigned int)cmdline_ull("vmm.vsock_retries", 0);
	if (!t->conns)
		t->conns = 1;
	if (cmdline_get("vmm.vsock_steps", t->steps, sizeof(t->steps)))
		t->steps[0] = 0;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, vt_alarm);
}
