/*
 * vsock_host: the host side of vsock tests: temporary socket directories,
 * blocking AF_UNIX/TCP helpers, the hybrid "CONNECT <port>" client, and
 * small thread helpers. Everything here uses ordinary blocking sockets and
 * runs in threads other than the device's.
 */
#ifndef TESTS_VSOCK_HOST_H
#define TESTS_VSOCK_HOST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A fresh directory under $TMPDIR; `uds` gets "<dir>/v.sock". */
struct vsock_host_dir {
	char dir[256];
	char uds[300];
};
void vsock_host_dir_create(struct vsock_host_dir *hd);
/* Remove the directory and every file in it. */
void vsock_host_dir_destroy(struct vsock_host_dir *hd);
/* "<uds>_<port>" into buf. */
void vsock_host_port_path(const struct vsock_host_dir *hd, uint32_t port,
			  char *buf, size_t size);

/* A listening AF_UNIX socket at `path` (blocking); aborts on failure. */
int vsock_host_listen_unix(const char *path, int backlog);
/* Connect to `path`; fd or -errno. */
int vsock_host_connect_unix(const char *path);
/* A listening TCP socket on 127.0.0.1, port chosen by the kernel. */
int vsock_host_listen_tcp(uint16_t *port);
int vsock_host_connect_tcp(uint16_t port);
/* A TCP port that was free a moment ago. */
uint16_t vsock_host_free_tcp_port(void);

/* O_NONBLOCK on or off; 0 or -errno. */
int vsock_host_set_nonblock(int fd, bool on);
/* Write all of it; 0 or -errno. */
int vsock_host_write_all(int fd, const void *buf, size_t len);
/* Read exactly len bytes; 0, -EPIPE at early EOF, or -errno. */
int vsock_host_read_all(int fd, void *buf, size_t len);
/* Read one line ending in '\n' (at most size-1 bytes); length or -errno. */
ssize_t vsock_host_read_line(int fd, char *buf, size_t size);

/*
 * Hybrid connect: connect to `uds`, send "CONNECT <port>\n" in the pieces
 * `split` gives (0: at once; n: n bytes per write), followed by `extra`
 * bytes of payload in the same write as the end of the line, then read
 * "OK <host_port>\n". Returns the fd, or -ECONNRESET when the device
 * closed without OK (*host_port untouched).
 */
int vsock_host_hybrid_connect(const char *uds, uint32_t port, size_t split,
			      const void *extra, size_t extra_len,
			      uint32_t *host_port);

/* Open file descriptors of this process. */
unsigned int vsock_host_count_fds(void);
/* Raise RLIMIT_NOFILE's soft limit to at least `n` (up to the hard one). */
void vsock_host_raise_nofile(unsigned int n);

/*
 * A host peer: one thread serving many connections over epoll, each
 * speaking the "conversation" of vsock_flow.h: the guest sends an 8-byte
 * little-endian id, then guest_len(id) bytes of stream 2*id+1 and a
 * SHUTDOWN(SEND); the host sends host_len(id) bytes of stream 2*id+2 in
 * random-sized writes, then shuts down its write side, reads to the end,
 * and closes. A connection whose vanish_at(id) is reached (bytes received
 * after the id) is closed abruptly instead, unread data and all.
 * In echo mode the host sends back whatever it receives instead.
 */
struct vsock_host_peer_conn {
	int fd;
	uint64_t id;
	unsigned int idlen;
	uint8_t idbuf[8];
	uint64_t received, sent, to_send, expect;
	long bad_at; /* first wrong byte received, or -1 */
	bool eof, wr_done, closed, vanished;
	int err; /* first socket error */
	uint8_t *echo_buf;
	size_t echo_len, echo_off;
	uint32_t events; /* epoll interest */
};

struct vsock_host_peer {
	/* Setup. */
	int lfd; /* accept from here (-1: only `fds`) */
	unsigned int accept_n; /* how many to accept */
	int *fds; /* already connected sockets (hybrid clients) */
	unsigned int nr_fds;
	bool echo;
	uint32_t max_write; /* 0: 65536 */
	bool random_writes;
	uint64_t (*host_len)(uint64_t id);
	uint64_t (*guest_len)(uint64_t id);
	uint64_t (*vanish_at)(uint64_t id); /* NULL: never */
	uint64_t seed;
	/* Results, valid after vsock_host_peer_join(). */
	struct vsock_host_peer_conn *conns;
	unsigned int nr_conns;
	uint64_t bytes_in, bytes_out;
	/* private */
	pthread_t thread;
	int epfd;
	volatile int finished; /* set by the thread as it ends */
};

void vsock_host_peer_start(struct vsock_host_peer *p);
/* Has every connection ended? (Keep the device running until then.) */
bool vsock_host_peer_done(const struct vsock_host_peer *p);
/* Wait until every connection ended. */
void vsock_host_peer_join(struct vsock_host_peer *p);
/* Find the result for conversation `id`, or NULL. */
struct vsock_host_peer_conn *vsock_host_peer_find(struct vsock_host_peer *p,
						  uint64_t id);
void vsock_host_peer_free(struct vsock_host_peer *p);

/* Run fn(arg) in a thread; join returns its result. */
pthread_t vsock_host_thread(void *(*fn)(void *), void *arg);
void *vsock_host_join(pthread_t t);

#endif
