/*
 * bench.c: vmm.test=vsockbench, the guest half of tools/bench-vsock-guest.
 * The host times everything and chooses the workloads; the guest asks for
 * the next one on the control connection and runs it (protocol.h has the
 * words). The same guest half runs under our VMM and under the peer VMM,
 * so only the VMM differs between the two.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"
#include "vt.h"

#define BENCH_MAX_CONNS 64
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static unsigned char buf[65536];

/* Read to EOF, answer the count. */
static int bench_sink(int fd)
{
	unsigned long long got = 0;
	char line[32];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		got += (unsigned long long)n;
	if (n < 0)
		return -1;
	snprintf(line, sizeof(line), "%llu\n", got);
	return write_all(fd, line, strlen(line)) ? -1 : 0;
}

/* One G2H connection: size bytes in wsize writes, then the host's count. */
static int bench_send(unsigned long long size, size_t wsize)
{
	unsigned long long sent = 0;
	int fd = vsock_connect(BENCH_PORT_SINK, SOCK_STREAM), r = 0;

	if (fd < 0)
		return -1;
	while (!r && sent < size) {
		size_t n = (size_t)MIN((unsigned long long)wsize, size - sent);

		r = write_all(fd, buf, n);
		sent += n;
	}
	shutdown(fd, SHUT_WR);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	return r;
}

static int run_g2h(struct vt *t, unsigned long long size, size_t wsize,
		   unsigned int conns)
{
	unsigned int i;

	for (i = 0; i < conns; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(bench_send(size / conns, wsize) ? 1 : 0);
		if (pid < 0) {
			vt_fail(t, "fork: %s", strerror(errno));
			wait_children((int)i);
			return -1;
		}
	}
	return wait_children((int)conns) ?
		vt_fail(t, "a sending connection failed") : 0;
}

static int run_h2g(struct vt *t, unsigned int conns)
{
	int lfd = vsock_listen(BENCH_GPORT_H2G, SOCK_STREAM, (int)conns);
	unsigned int i;

	if (lfd < 0)
		return vt_fail(t, "listen: %s", strerror(-lfd));
	if (ctl_start(t, CTL_READY)) {
		close(lfd);
		return -1;
	}
	for (i = 0; i < conns; i++) {
		int fd = vt_accept(t, lfd);
		pid_t pid;

		if (fd < 0) {
			vt_fail(t, "accept: %s", strerror(-fd));
			break;
		}
		pid = fork();
		if (pid == 0)
			_exit(bench_sink(fd) ? 1 : 0);
		close(fd);
		if (pid < 0) {
			vt_fail(t, "fork: %s", strerror(errno));
			break;
		}
	}
	close(lfd);
	if (wait_children((int)i) && i == conns)
		return vt_fail(t, "a receiving connection failed");
	return i == conns ? 0 : -1;
}

static int run_rtt(struct vt *t)
{
	int fd = vt_accept_from_host(t, BENCH_GPORT_RTT, SOCK_STREAM,
				     CTL_READY);

	if (fd < 0)
		return -1;
	while (recv(fd, buf, 1, 0) == 1)
		if (write_all(fd, buf, 1))
			break;
	close(fd);
	return 0;
}

static int run_cps(struct vt *t, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		int fd = vsock_connect(BENCH_PORT_ONEBYTE, SOCK_STREAM);

		if (fd < 0)
			return vt_fail(t, "connect %u: %s", i, strerror(-fd));
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		close(fd);
	}
	return 0;
}

/* One workload line from the host; 1 at CTL_END. */
static int run_one(struct vt *t, const char *line)
{
	unsigned long long size, wsize;
	unsigned int conns, n;

	if (!strcmp(line, CTL_END))
		return 1;
	if (sscanf(line, CTL_G2H " %llu %llu %u", &size, &wsize, &conns) == 3 &&
	    wsize >= 1 && wsize <= sizeof(buf) && conns >= 1 &&
	    conns <= BENCH_MAX_CONNS)
		return run_g2h(t, size, (size_t)wsize, conns);
	if (sscanf(line, CTL_H2G " %llu %u", &size, &conns) == 2 &&
	    conns >= 1 && conns <= BENCH_MAX_CONNS)
		return run_h2g(t, conns);
	if (sscanf(line, CTL_RTT " %u", &n) == 1)
		return run_rtt(t);
	if (sscanf(line, CTL_CPS " %u", &n) == 1)
		return run_cps(t, n);
	return vt_fail(t, "unknown workload '%s'", line);
}

int bench_main(void)
{
	char line[128];
	struct vt t;
	int r = 0;

	vt_init(&t);
	alarm(t.timeout_s);
	vt_step = "bench-hello";
	if (vt_hello(&t))
		goto fail;
	for (;;) {
		vt_step = "bench-next";
		if (ctl_cmd(&t, line, sizeof(line), CTL_NEXT))
			goto fail;
		vt_step = "bench-run";
		r = run_one(&t, line);
		if (r < 0)
			goto fail;
		if (r > 0)
			break;
	}
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
