/*
 * soak.c: vmm.test=soak, the guest half of the e2e soak (tests/e2e/e2e.py
 * soak), which repeats, round after round in one boot, the traffic shape
 * that once stalled a real guest for good. Each round, on connections of
 * its own to the host AF_UNIX servers at the SOAK_PORT_* of protocol.h:
 *   g2h  send vmm.soak_size bytes (64 KiB writes), half-close, read the
 *        host's verdict line (SOAK_OK after checking every byte)
 *   h2g  send the size as 8 bytes; the host sends that much; check
 *   rtt  vmm.soak_rtt one-byte round trips
 *   cps  vmm.soak_cps connects, each closed after the host's accept
 *   seq  SEQPACKET: vmm.soak_seq messages of 1 B to 32 KiB, echoed
 * Odd rounds run the five at once, each in a child process. After each
 * round: "vmm-soak: round N ok T ms". vmm.soak_rounds (0: forever). If a
 * round takes longer than vmm.soak_deadline seconds, the guest prints
 * what it was doing and its /proc/interrupts and keeps waiting: the host
 * decides (it asks the VMM for a state dump, then stops it).
 * The data of round r is the soak pattern of protocol.h.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"
#include "vt.h"

static unsigned char soak_buf[65536 + SOAK_PERIOD];
static const char *volatile soak_step = "";
static volatile unsigned long long soak_progress;
static volatile unsigned int soak_round;

static void soak_fill(unsigned int round)
{
	size_t k;

	for (k = 0; k < sizeof(soak_buf); k++)
		soak_buf[k] = (unsigned char)((k % SOAK_PERIOD) * SOAK_MULT +
					     round);
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
	int fd = vsock_connect(SOAK_PORT_G2H, SOCK_STREAM), r = 0;

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
	if (strncmp(line, SOAK_OK, strlen(SOAK_OK)))
		return vt_fail(t, "host: %s", line);
	return 0;
}

static int soak_h2g(struct vt *t, unsigned long long size)
{
	static unsigned char in[65536];
	unsigned long long got = 0;
	uint64_t want = htole64(size);
	int fd = vsock_connect(SOAK_PORT_H2G, SOCK_STREAM), r;
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
	int fd = vsock_connect(SOAK_PORT_RTT, SOCK_STREAM);

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
		int fd = vsock_connect(SOAK_PORT_CPS, SOCK_STREAM);

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
	int fd = vsock_connect(SOAK_PORT_SEQ, SOCK_SEQPACKET);

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

int soak_main(void)
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
