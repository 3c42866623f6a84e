/*
 * bench_host: the data loops of tools/bench-vsock-guest's host half,
 * loaded with ctypes. The same loops serve every peer (hybrid AF_UNIX for
 * our VMM, AF_VSOCK for vhost-vsock). In Python each send and recv also
 * ran the interpreter and, with 16 connections, waited for the global
 * interpreter lock (stalls of milliseconds were traced); a ctypes call
 * releases that lock for its whole duration, so what is timed is the
 * sockets and the VMM behind them. Blocking sockets; the caller bounds
 * each call with SO_SNDTIMEO and SO_RCVTIMEO. Each function returns 0 or
 * a byte count on success and -errno on failure.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BH_CHUNK 65536

static unsigned char bh_buf[BH_CHUNK]; /* contents never matter */

/* Read to end of stream: the bytes read. */
long long bh_drain(int fd);
/* Send `size` bytes in writes of `wsize` (at most 64 KiB). */
int bh_send(int fd, long long size, int wsize);
/* `n` one-byte round trips (send, then read the echo); out[i] seconds. */
int bh_rtt(int fd, int n, double *out);
/* Accept `n` connections on `lfd`, one byte to each, then close it:
 * the count served. */
int bh_serve_byte(int lfd, int n);

long long bh_drain(int fd)
{
	static __thread unsigned char in[BH_CHUNK];
	long long got = 0;
	ssize_t n;

	while ((n = recv(fd, in, sizeof(in), 0)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += n;
	}
	return got;
}

static int send_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int bh_send(int fd, long long size, int wsize)
{
	if (wsize <= 0 || wsize > BH_CHUNK || size < 0)
		return -EINVAL;
	while (size) {
		size_t k = size < wsize ? (size_t)size : (size_t)wsize;
		int r = send_all(fd, bh_buf, k);

		if (r)
			return r;
		size -= (long long)k;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bh_rtt(int fd, int n, double *out)
{
	const unsigned char x = 'x';
	int i;

	for (i = 0; i < n; i++) {
		double t0 = now_s();
		unsigned char c;
		ssize_t r;
		int e = send_all(fd, &x, 1);

		if (e)
			return e;
		while ((r = recv(fd, &c, 1, 0)) < 0 && errno == EINTR)
			;
		if (r < 0)
			return -errno;
		if (r == 0 || c != x)
			return -EPROTO; /* the echo was lost or wrong */
		out[i] = now_s() - t0;
	}
	return 0;
}

int bh_serve_byte(int lfd, int n)
{
	const unsigned char x = 'x';
	int i;

	for (i = 0; i < n; i++) {
		int fd, e;

		while ((fd = accept(lfd, NULL, NULL)) < 0 && errno == EINTR)
			;
		if (fd < 0)
			return -errno;
		e = send_all(fd, &x, 1);
		close(fd);
		if (e)
			return e;
	}
	return n;
}
