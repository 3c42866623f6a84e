/*
 * bench.c: vmm.test=vsockbench, the guest half of tools/bench-vsock-guest.
 * The host times everything; the guest only runs the workloads, each
 * started on the control connection (ports in protocol.h):
 *   G2H <size>       the guest sends <size> bytes to BENCH_PORT_SINK,
 *                    half-closes, reads the host's count to EOF
 *   H2G <port> <size> the host sends to the guest, which answers its count
 *   RTT <port> <n>   the guest echoes one byte at a time until EOF
 *   CPS <n>          the guest connects to BENCH_PORT_ONEBYTE n times,
 *                    reads each to EOF; CPSEND when done
 * Parameters: vmm.vsock_size (default 4 MiB), vmm.vsock_rtt (200),
 * vmm.vsock_cps (100), vmm.vsock_timeout (seconds for the whole run).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"
#include "vt.h"

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

/* Have the host connect to port with "<word> <port> <arg>". */
static int bench_accept(struct vt *t, const char *word, unsigned int port,
			unsigned long long arg)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "%s %u %llu", word, port, arg);
	return vt_accept_from_host(t, port, SOCK_STREAM, cmd);
}

int bench_main(void)
{
	static unsigned char buf[65536];
	unsigned long long sent, size;
	unsigned int i, n_rtt, n_cps;
	char cmd[64], reply[64];
	struct vt t;
	int fd, r;

	vt_init(&t);
	size = cmdline_ull("vmm.vsock_size", 4 << 20);
	n_rtt = (unsigned int)cmdline_ull("vmm.vsock_rtt", 200);
	n_cps = (unsigned int)cmdline_ull("vmm.vsock_cps", 100);
	alarm(t.timeout_s);
	vt_step = "bench-g2h";
	if (vt_hello(&t))
		goto fail;
	snprintf(cmd, sizeof(cmd), CTL_G2H " %llu", size);
	if (ctl_start(&t, cmd))
		goto fail;
	fd = vsock_connect(BENCH_PORT_SINK, SOCK_STREAM);
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
	fd = bench_accept(&t, CTL_H2G, BENCH_GPORT_H2G, size);
	if (fd < 0 || bench_sink(&t, fd))
		goto fail;
	close(fd);
	if (ctl_cmd(&t, reply, sizeof(reply), CTL_WAIT))
		goto fail;

	vt_step = "bench-rtt";
	fd = bench_accept(&t, CTL_RTT, BENCH_GPORT_RTT, n_rtt);
	if (fd < 0)
		goto fail;
	while (recv(fd, buf, 1, 0) == 1)
		if (write_all(fd, buf, 1))
			break;
	close(fd);
	if (ctl_cmd(&t, reply, sizeof(reply), CTL_WAIT))
		goto fail;

	vt_step = "bench-cps";
	snprintf(cmd, sizeof(cmd), CTL_CPS " %u", n_cps);
	if (ctl_start(&t, cmd))
		goto fail;
	for (i = 0; i < n_cps; i++) {
		fd = vsock_connect(BENCH_PORT_ONEBYTE, SOCK_STREAM);
		if (fd < 0) {
			vt_fail(&t, "connect %u: %s", i, strerror(-fd));
			goto fail;
		}
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		close(fd);
	}
	if (ctl_start(&t, CTL_CPSEND))
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

