/* vsock_host: see vsock_host.h. */
#include "tests/helpers/vsock_host.h"

#include "tests/helpers/pattern.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void die_errno(const char *what)
{
	fprintf(stderr, "vsock_host: %s: %s\n", what, strerror(errno));
	abort();
}

static void ioctl_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

void vsock_host_dir_create(struct vsock_host_dir *hd)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(hd->dir, sizeof(hd->dir), "%s/vsock-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(hd->dir))
		die_errno("mkdtemp");
	snprintf(hd->uds, sizeof(hd->uds), "%s/v.sock", hd->dir);
}

void vsock_host_dir_destroy(struct vsock_host_dir *hd)
{
	DIR *dir = opendir(hd->dir);
	struct dirent *e;
	char path[600];

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", hd->dir, e->d_name);
		unlink(path);
	}
	closedir(dir);
	rmdir(hd->dir);
}

void vsock_host_port_path(const struct vsock_host_dir *hd, uint32_t port,
			  char *buf, size_t size)
{
	snprintf(buf, size, "%s_%u", hd->uds, port);
}

static socklen_t unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		fprintf(stderr, "vsock_host: path too long: %s\n", path);
		abort();
	}
	strcpy(sa->sun_path, path);
	return (socklen_t)sizeof(*sa);
}

int vsock_host_listen_unix(const char *path, int backlog)
{
	struct sockaddr_un sa;
	socklen_t len = unix_addr(&sa, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die_errno("socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, len) ||
	    listen(fd, backlog))
		die_errno("bind/listen unix");
	return fd;
}

int vsock_host_connect_unix(const char *path)
{
	struct sockaddr_un sa;
	socklen_t len = unix_addr(&sa, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

int vsock_host_listen_tcp(uint16_t *port)
{
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		die_errno("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		die_errno("bind/listen tcp");
	*port = ntohs(sa.sin_port);
	return fd;
}

int vsock_host_connect_tcp(uint16_t port)
{
	struct sockaddr_in sa = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

uint16_t vsock_host_free_tcp_port(void)
{
	uint16_t port;
	int fd = vsock_host_listen_tcp(&port);

	close(fd);
	return port;
}

int vsock_host_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 ||
	    fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int vsock_host_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vsock_host_read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t vsock_host_read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;

	/* A byte at a time: nothing after the newline is consumed. */
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		if (buf[len++] == '\n')
			break;
	}
	buf[len] = 0;
	return (ssize_t)len;
}

int vsock_host_hybrid_connect(const char *uds, uint32_t port, size_t split,
			      const void *extra, size_t extra_len,
			      uint32_t *host_port)
{
	char line[64], reply[64];
	uint8_t msg[64 + 4096];
	size_t len, off = 0;
	unsigned long hp;
	char *end;
	ssize_t r;
	int fd = vsock_host_connect_unix(uds);

	if (fd < 0)
		return fd;
	len = (size_t)snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (extra_len > sizeof(msg) - len)
		abort();
	memcpy(msg, line, len);
	if (extra_len)
		memcpy(msg + len, extra, extra_len);
	len += extra_len;
	while (off < len) {
		size_t n = split && split < len - off ? split : len - off;

		if (vsock_host_write_all(fd, msg + off, n))
			break;
		off += n;
	}
	r = vsock_host_read_line(fd, reply, sizeof(reply));
	if (r <= 0 || strncmp(reply, "OK ", 3)) {
		close(fd);
		return -ECONNRESET;
	}
	hp = strtoul(reply + 3, &end, 10);
	if (*end != '\n') {
		close(fd);
		return -EPROTO;
	}
	*host_port = (uint32_t)hp;
	return fd;
}

unsigned int vsock_host_count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	unsigned int n = 0;

	if (!dir)
		return 0;
	while (readdir(dir))
		n++;
	closedir(dir);
	return n - 3; /* ".", ".." and the directory itself */
}

void vsock_host_raise_nofile(unsigned int n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= n)
		return;
	rl.rlim_cur = rl.rlim_max < n ? rl.rlim_max : n;
	setrlimit(RLIMIT_NOFILE, &rl);
}

pthread_t vsock_host_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, fn, arg);

	if (err) {
		errno = err;
		die_errno("pthread_create");
	}
	return t;
}

void *vsock_host_join(pthread_t t)
{
	void *ret = NULL;

	pthread_join(t, &ret);
	return ret;
}

/* ---- the host peer ---- */

#define PEER_BUF 65536

static void peer_add(struct vsock_host_peer *p, int fd)
{
	struct vsock_host_peer_conn *c;
	struct epoll_event ev;
	unsigned int i = p->nr_conns++;
	int fl = 1;

	p->conns = realloc(p->conns, p->nr_conns * sizeof(*p->conns));
	if (!p->conns)
		abort();
	c = &p->conns[i];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->bad_at = -1;
	ioctl_nonblock(fd, fl);
	ev.events = c->events = EPOLLIN | EPOLLRDHUP;
	ev.data.u32 = i;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev))
		die_errno("epoll_ctl");
}

static void peer_close(struct vsock_host_peer *p,
		       struct vsock_host_peer_conn *c)
{
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->closed = true;
	free(c->echo_buf);
	c->echo_buf = NULL;
}

static void peer_error(struct vsock_host_peer *p,
		       struct vsock_host_peer_conn *c, int err)
{
	if (!c->err)
		c->err = err;
	peer_close(p, c);
}

static uint64_t get_id(const uint8_t *b)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* Bytes received after the id: check them against the guest's stream. */
static void peer_got(struct vsock_host_peer *p, struct vsock_host_peer_conn *c,
		     const uint8_t *buf, size_t len)
{
	long bad;

	if (c->bad_at < 0) {
		bad = pattern_check(2 * c->id + 1, c->received, buf, len);
		if (bad >= 0)
			c->bad_at = (long)c->received + bad;
	}
	c->received += len;
	p->bytes_in += len;
}

static void peer_read(struct vsock_host_peer *p,
		      struct vsock_host_peer_conn *c, uint8_t *buf)
{
	for (;;) {
		size_t room = PEER_BUF;
		ssize_t n;
		size_t off = 0;

		if (p->echo && c->echo_len)
			return; /* send back what we have first */
		if (!p->echo && c->idlen == 8 && p->vanish_at) {
			uint64_t v = p->vanish_at(c->id);

			if (c->received >= v) {
				c->vanished = true;
				peer_close(p, c);
				return;
			}
			if (v - c->received < room)
				room = (size_t)(v - c->received);
		}
		n = read(c->fd, buf, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				peer_error(p, c, -errno);
			return;
		}
		if (n == 0) {
			c->eof = true;
			return;
		}
		if (p->echo) {
			c->echo_buf = c->echo_buf ? c->echo_buf
						  : malloc(PEER_BUF);
			if (!c->echo_buf)
				abort();
			memcpy(c->echo_buf, buf, (size_t)n);
			c->echo_len = (size_t)n;
			c->echo_off = 0;
			c->received += (uint64_t)n;
			p->bytes_in += (uint64_t)n;
			return;
		}
		if (c->idlen < 8) {
			while (c->idlen < 8 && off < (size_t)n)
				c->idbuf[c->idlen++] = buf[off++];
			if (c->idlen == 8) {
				c->id = get_id(c->idbuf);
				c->to_send = p->host_len ? p->host_len(c->id)
							 : 0;
				c->expect = p->guest_len ? p->guest_len(c->id)
							 : 0;
			}
		}
		if (off < (size_t)n)
			peer_got(p, c, buf + off, (size_t)n - off);
	}
}

static void peer_write(struct vsock_host_peer *p,
		       struct vsock_host_peer_conn *c, uint8_t *buf)
{
	uint32_t max = p->max_write ? p->max_write : PEER_BUF;

	if (max > PEER_BUF)
		max = PEER_BUF;
	for (;;) {
		size_t len;
		ssize_t n;

		if (p->echo) {
			if (!c->echo_len)
				return;
			n = send(c->fd, c->echo_buf + c->echo_off, c->echo_len,
				 MSG_NOSIGNAL);
		} else {
			if (c->idlen < 8 || c->wr_done)
				return;
			if (c->sent == c->to_send) {
				shutdown(c->fd, SHUT_WR);
				c->wr_done = true;
				return;
			}
			len = max;
			if (p->random_writes)
				len = 1 + (size_t)(pattern_rand(&p->seed) % max);
			if (len > c->to_send - c->sent)
				len = (size_t)(c->to_send - c->sent);
			pattern_fill(2 * c->id + 2, c->sent, buf, len);
			n = send(c->fd, buf, len, MSG_NOSIGNAL);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				peer_error(p, c, -errno);
			return;
		}
		p->bytes_out += (uint64_t)n;
		if (p->echo) {
			c->echo_off += (size_t)n;
			c->echo_len -= (size_t)n;
			c->sent += (uint64_t)n;
		} else {
			c->sent += (uint64_t)n;
		}
	}
}

/* Level-triggered: ask only for what we can act on. */
static void peer_events(struct vsock_host_peer *p,
			struct vsock_host_peer_conn *c, uint32_t k)
{
	struct epoll_event ev = { .data.u32 = k };
	bool want_out = p->echo ? c->echo_len > 0
				: c->idlen == 8 && !c->wr_done;
	bool want_in = !c->eof && !(p->echo && c->echo_len);

	ev.events = (want_in ? EPOLLIN | EPOLLRDHUP : 0) |
		    (want_out ? EPOLLOUT : 0);
	if (ev.events != c->events) {
		c->events = ev.events;
		epoll_ctl(p->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static void *peer_main(void *arg)
{
	struct vsock_host_peer *p = arg;
	uint8_t *buf = malloc(PEER_BUF);
	struct epoll_event evs[64];
	unsigned int accepted = 0, open = 0, i;

	if (!buf)
		abort();
	open = p->nr_conns;
	while (accepted < p->accept_n || open) {
		int n = epoll_wait(p->epfd, evs, 64, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_errno("epoll_wait");
		for (i = 0; i < (unsigned int)n; i++) {
			struct vsock_host_peer_conn *c;
			uint32_t k = evs[i].data.u32;

			if (k == UINT32_MAX) {
				int fd = accept4(p->lfd, NULL, NULL,
						 SOCK_CLOEXEC | SOCK_NONBLOCK);

				if (fd < 0)
					continue;
				peer_add(p, fd);
				open++;
				if (++accepted == p->accept_n)
					epoll_ctl(p->epfd, EPOLL_CTL_DEL,
						  p->lfd, NULL);
				continue;
			}
			c = &p->conns[k];
			if (c->closed)
				continue;
			peer_read(p, c, buf);
			if (!c->closed)
				peer_write(p, c, buf);
			/* Echo: once the guest finished and all went back. */
			if (!c->closed && p->echo && c->eof && !c->echo_len &&
			    !c->wr_done) {
				shutdown(c->fd, SHUT_WR);
				c->wr_done = true;
			}
			if (!c->closed && c->eof && c->wr_done)
				peer_close(p, c);
			if (!c->closed && c->eof && (evs[i].events & EPOLLERR))
				peer_error(p, c, -EIO);
			if (c->closed)
				open--;
			else
				peer_events(p, c, k);
		}
	}
	free(buf);
	__atomic_store_n(&p->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

bool vsock_host_peer_done(const struct vsock_host_peer *p)
{
	return __atomic_load_n(&p->finished, __ATOMIC_ACQUIRE);
}

void vsock_host_peer_start(struct vsock_host_peer *p)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	unsigned int i;

	p->conns = NULL;
	p->nr_conns = 0;
	p->bytes_in = p->bytes_out = 0;
	p->finished = 0;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0)
		die_errno("epoll_create1");
	if (!p->seed)
		p->seed = 1;
	for (i = 0; i < p->nr_fds; i++)
		peer_add(p, p->fds[i]);
	if (p->accept_n) {
		ioctl_nonblock(p->lfd, 1);
		if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->lfd, &ev))
			die_errno("epoll_ctl listen");
	}
	p->thread = vsock_host_thread(peer_main, p);
}

void vsock_host_peer_join(struct vsock_host_peer *p)
{
	vsock_host_join(p->thread);
	close(p->epfd);
	p->epfd = -1;
}

struct vsock_host_peer_conn *vsock_host_peer_find(struct vsock_host_peer *p,
						  uint64_t id)
{
	unsigned int i;

	for (i = 0; i < p->nr_conns; i++)
		if (p->conns[i].idlen == 8 && p->conns[i].id == id)
			return &p->conns[i];
	return NULL;
}

void vsock_host_peer_free(struct vsock_host_peer *p)
{
	unsigned int i;

	for (i = 0; i < p->nr_conns; i++) {
		if (p->conns[i].fd >= 0 && !p->conns[i].closed)
			close(p->conns[i].fd);
		free(p->conns[i].echo_buf);
	}
	free(p->conns);
	p->conns = NULL;
	p->nr_conns = 0;
}
