/*
 * listen: host clients coming in. The hybrid socket <uds> (and its
 * <uds>_seqpacket twin) and --vsock-listen TCP listeners accept on the
 * io_uring; a hybrid client first names its guest port with
 * "CONNECT <port>\n" (handshake.c parses it), a TCP client goes straight
 * to the listener's guest port. Either way the guest is asked with a
 * REQUEST, and the socket opens when it answers (host_opened).
 *
 * The handshake reads at most VSOCK_HANDSHAKE_MAX bytes; payload that
 * followed the CONNECT line in the same read is staged and goes to the
 * guest first.
 */
#define LOG_TAG "vsock"
#include "devices/vsock/host.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/util.h"

/* A host client named its guest port: ask the guest. */
static void handshake_done(struct host_socket *s, uint32_t port)
{
	struct vsock_backend *be = s->be;
	struct vsock_mconn *mc = NULL;

	/* A guest that did not negotiate SEQPACKET would only reset it. */
	if (!s->seqpacket || be->env.mx->cfg.seqpacket)
		mc = vsock_muxer_connect(be->env.mx, port,
					 s->seqpacket ? VSOCK_TYPE_SEQPACKET
						      : VSOCK_TYPE_STREAM,
					 util_now_ns());
	if (!mc) {
		log_debug_rl(be->env.rl,
			     "host connection to guest port %u refused", port);
		be->env.stats->conns_refused++;
		host_close(s);
		return;
	}
	host_attach(s, mc);
	if (s->phase == PH_HANDSHAKE)
		be->nr_handshaking--;
	s->phase = PH_WAIT_GUEST;
}

static void recv_handshake(struct host_socket *s, int res)
{
	size_t used = 0;
	uint32_t port = 0;
	enum vsock_handshake_result r;

	if (res <= 0 || (s->seqpacket && (s->rmsg.msg_flags & MSG_TRUNC))) {
		host_close(s);
		return;
	}
	r = vsock_handshake_feed(&s->hshake, s->hsbuf, (size_t)res, &used,
				 &port);
	if (r == VSOCK_HANDSHAKE_MORE && !s->seqpacket) {
		s->riov[0].iov_base = s->hsbuf;
		s->riov[0].iov_len = VSOCK_HANDSHAKE_MAX - s->hshake.len;
		if (!host_submit_recv(s, "handshake", recv_handshake, s->riov,
				      1, 0))
			host_close(s);
		return;
	}
	/* On SEQPACKET the first message must be exactly the line. */
	if (r != VSOCK_HANDSHAKE_DONE || (s->seqpacket && used != (size_t)res)) {
		log_debug_rl(s->be->env.rl, "bad hybrid handshake: closed");
		host_close(s);
		return;
	}
	if (used < (size_t)res) {
		s->stage = s->stage_small;
		s->stage_len = (uint32_t)((size_t)res - used);
		memcpy(s->stage_small, s->hsbuf + used, s->stage_len);
	}
	handshake_done(s, port);
}

static void listener_arm(struct listener *l)
{
	struct io_uring_sqe *sqe;

	if (l->accepting || l->fd < 0)
		return;
	sqe = evloop_sqe(l->be->env.loop);
	if (!sqe)
		return; /* retried from the tick */
	io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &l->op);
	l->accepting = true;
}

void listeners_arm(struct vsock_backend *be)
{
	unsigned int i;

	for (i = 0; i < be->nr_listeners; i++)
		listener_arm(&be->listeners[i]);
}

/* At the cap, the client longest in the handshake makes room: a flood
 * of silent clients pushes out its own, while a client that sends its
 * line at once gets through. */
static void make_handshake_room(struct vsock_backend *be)
{
	struct host_socket *s, *oldest = NULL;

	if (be->nr_handshaking < VSOCK_HANDSHAKE_PENDING_MAX)
		return;
	for (s = be->socks; s; s = s->next)
		if (s->phase == PH_HANDSHAKE && !s->closing)
			oldest = s;
	if (!oldest)
		return;
	log_debug_rl(be->env.rl, "%u hybrid clients in the handshake: "
		     "closing the oldest", be->nr_handshaking);
	host_close(oldest);
}

static void accepted(struct listener *l, int fd)
{
	struct host_socket *s;

	if (l->kind != LISTEN_TCP)
		make_handshake_room(l->be);

	s = host_new(l->be, l->kind == LISTEN_TCP ? HOST_TCP_IN : HOST_HYBRID,
		     fd, l->kind == LISTEN_HYBRID_SEQ);
	if (!s) {
		close(fd);
		return;
	}
	if (l->kind == LISTEN_TCP) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		handshake_done(s, l->guest_port);
		return;
	}
	s->phase = PH_HANDSHAKE;
	l->be->nr_handshaking++;
	s->deadline = util_now_ns() + l->be->env.timeout_ns;
	vsock_handshake_init(&s->hshake);
	s->riov[0].iov_base = s->hsbuf;
	/* Stream: never read past the longest line; SEQPACKET: one message,
	 * with room to notice one that is too long. */
	s->riov[0].iov_len = s->seqpacket ? sizeof(s->hsbuf)
					  : VSOCK_HANDSHAKE_MAX;
	if (!host_submit_recv(s, "handshake", recv_handshake, s->riov, 1, 0))
		host_close(s);
}

static void on_accept(struct evloop_op *op, int res, uint32_t flags)
{
	struct listener *l = container_of(op, struct listener, op);
	struct vsock_backend *be = l->be;

	(void)flags;
	be->env.enter(be->env.dev);
	l->accepting = false;
	if (res >= 0) {
		accepted(l, res);
		listener_arm(l);
	} else if (res == -EINTR || res == -EAGAIN || res == -ECONNABORTED) {
		listener_arm(l);
	} else if (res != -ECANCELED) {
		/* E.g. out of file descriptors: try again from the tick. */
		log_warn_rl(be->env.rl, "accept failed: %s", strerror(-res));
	}
	be->env.leave(be->env.dev);
}

/* Bind an AF_UNIX listener, replacing a stale socket file but never a
 * live one or anything that is not a socket. */
static int listen_unix(const char *path, int type, int *out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("vsock socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			log_err("%s exists and is not a socket", path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sun,
					  sizeof(sun)) == 0) {
			close(probe);
			log_err("%s is in use by another process", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    listen(fd, SOMAXCONN)) {
		ret = -errno;
		log_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

static int listen_tcp(const struct vsock_endpoint *e, int *out)
{
	char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
	int fd, one = 1, ret;

	getnameinfo((const struct sockaddr *)&e->addr, e->addrlen, host,
		    sizeof(host), serv, sizeof(serv),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	fd = socket(e->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&e->addr, e->addrlen) ||
	    listen(fd, SOMAXCONN)) {
		ret = -errno;
		log_err("cannot listen on tcp:%s:%s: %s", host, serv,
			strerror(errno));
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

int listeners_open(struct vsock_backend *be, const struct vsock_config *cfg)
{
	unsigned int n = cfg->nr_listens + (cfg->uds_path ? 2 : 0), i;
	int ret;

	if (!n)
		return 0;
	be->listeners = calloc(n, sizeof(*be->listeners));
	if (!be->listeners)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct listener *l = &be->listeners[i];

		l->be = be;
		l->fd = -1;
		l->op.handler = on_accept;
	}
	for (i = 0; i < n; i++) {
		struct listener *l = &be->listeners[i];

		be->nr_listeners = i + 1;
		if (cfg->uds_path && i < 2) {
			size_t len = strlen(cfg->uds_path) + sizeof("_seqpacket");

			l->kind = i ? LISTEN_HYBRID_SEQ
				    : LISTEN_HYBRID;
			l->path = malloc(len);
			if (!l->path)
				return -ENOMEM;
			snprintf(l->path, len, "%s%s", cfg->uds_path,
				 i ? "_seqpacket" : "");
			ret = listen_unix(l->path,
					  i ? SOCK_SEQPACKET : SOCK_STREAM,
					  &l->fd);
			if (ret) {
				free(l->path);
				l->path = NULL;
				return ret;
			}
		} else {
			const struct vsock_listen_rule *r =
				&cfg->listens[i - (cfg->uds_path ? 2 : 0)];

			l->kind = LISTEN_TCP;
			l->guest_port = r->guest_port;
			ret = listen_tcp(&r->at, &l->fd);
			if (ret)
				return ret;
		}
	}
	return 0;
}

void listeners_close(struct vsock_backend *be)
{
	unsigned int i;

	for (i = 0; i < be->nr_listeners; i++) {
		struct listener *l = &be->listeners[i];

		if (l->fd >= 0)
			close(l->fd);
		if (l->path) {
			unlink(l->path);
			free(l->path);
		}
	}
	free(be->listeners);
	be->listeners = NULL;
	be->nr_listeners = 0;
}
