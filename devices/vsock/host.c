/*
 * host: the io_uring vsock backend (see backend.h for the contract):
 * every host socket's I/O on the VMM's one io_uring (accept, connect,
 * recv, send, poll), no thread and no blocking call per connection.
 * AF_UNIX and TCP differ only in the address, so one backend serves both.
 *
 * This file: the backend itself, each host socket's lifetime (host.h has
 * the deferred-free rule), and connections the guest opens. Data goes
 * through host_send.c (guest -> host) and host_recv.c (host -> guest);
 * listen.c accepts host clients.
 */
#define LOG_TAG "vsock"
#include "devices/vsock/host.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vmm/util.h"

struct io_uring_sqe *host_sqe(struct host_socket *s)
{
	struct io_uring_sqe *sqe = evloop_sqe(s->be->env.loop);

	if (sqe)
		s->sqes++;
	return sqe;
}

/* Free the socket once closing, with nothing in flight or on the stack. */
static void host_maybe_free(struct host_socket *s)
{
	struct vsock_backend *be = s->be;

	if (!s->closing || s->sqes || s->pins)
		return;
	host_send_drop(s);
	host_copy_free(s);
	host_stage_free(s);
	if (s->fd >= 0)
		close(s->fd);
	if (s->mc) {
		struct vsock_mconn *mc = s->mc;

		mc->backend = NULL;
		s->mc = NULL;
		/* The host side is gone: the guest side must end too. */
		if (mc->conn.state != VSOCK_CONN_CLOSED)
			vsock_muxer_host_error(be->env.mx, mc);
		vsock_muxer_release(be->env.mx, mc);
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		be->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

void host_op_begin(struct host_socket *s)
{
	s->be->env.enter(s->be->env.dev);
}

void host_op_end(struct host_socket *s)
{
	struct vsock_backend *be = s->be;

	s->sqes--;
	host_maybe_free(s);
	be->env.leave(be->env.dev);
}

struct host_socket *host_new(struct vsock_backend *be, enum host_kind kind,
			     int fd, bool seqpacket)
{
	struct host_socket *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->be = be;
	s->fd = fd;
	s->kind = kind;
	s->seqpacket = seqpacket;
	s->poll_op.handler = host_on_poll;
	s->send_op.handler = host_on_send;
	/* connect_op and recv_op: set by whoever submits them */
	s->next = be->socks;
	if (be->socks)
		be->socks->prev = s;
	be->socks = s;
	return s;
}

void host_attach(struct host_socket *s, struct vsock_mconn *mc)
{
	s->mc = mc;
	mc->backend = s;
}

static void cancel(struct host_socket *s, struct evloop_op *op)
{
	struct io_uring_sqe *sqe = evloop_sqe(s->be->env.loop);

	if (!sqe)
		return;
	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

void host_close(struct host_socket *s)
{
	if (s->closing)
		return;
	s->closing = true;
	if (s->phase == PH_HANDSHAKE)
		s->be->nr_handshaking--;
	host_send_drop(s);
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR); /* wakes blocked operations */
	if (s->phase == PH_CONNECTING && s->sqes)
		cancel(s, &s->connect_op);
	if (s->polling)
		cancel(s, &s->poll_op);
	if (s->receiving)
		cancel(s, &s->recv_op);
	if (s->sending)
		cancel(s, &s->send_op);
	host_maybe_free(s);
}

void host_fail(struct host_socket *s, int err)
{
	log_debug_rl(s->be->env.rl, "host socket failed: %s", strerror(err));
	if (s->mc)
		vsock_muxer_host_error(s->be->env.mx, s->mc);
	host_close(s);
}

void host_opened(struct host_socket *s)
{
	struct vsock_backend *be = s->be;

	s->phase = PH_OPEN;
	be->env.stats->conns_opened++;
	if (s->kind == HOST_HYBRID) {
		int n = snprintf(s->ctl, sizeof(s->ctl), "OK %u\n",
				 s->mc->conn.local_port);

		s->ctl_len = (uint32_t)n;
		s->ctl_off = 0;
	}
	if (host_stage_left(s))
		vsock_muxer_readable(be->env.mx, s->mc, true);
	else
		host_arm_poll(s);
	host_send_kick(s);
}

/* Connections the guest opens ------------------------------------------ */

/* The guest's REQUEST cannot be served: RST, nothing on the host. */
static void refuse(struct vsock_backend *be, struct vsock_mconn *mc)
{
	be->env.stats->conns_refused++;
	vsock_muxer_host_connected(be->env.mx, mc, false);
	vsock_muxer_release(be->env.mx, mc);
}

/* The host side of a guest connection is up: tell the guest. */
static void connected(struct host_socket *s)
{
	struct vsock_backend *be = s->be;

	s->phase = PH_OPEN;
	be->env.stats->conns_opened++;
	vsock_muxer_host_connected(be->env.mx, s->mc, true);
	host_arm_poll(s);
	host_send_kick(s);
}

static void on_connect(struct evloop_op *op, int res, uint32_t flags)
{
	struct host_socket *s =
		container_of(op, struct host_socket, connect_op);
	struct vsock_backend *be = s->be;

	(void)flags;
	host_op_begin(s);
	if (s->closing || !s->mc)
		goto out;
	if (res < 0) {
		log_debug_rl(be->env.rl, "connect for guest port %u failed: %s",
			     s->mc->conn.peer_port, strerror(-res));
		be->env.stats->conns_refused++;
		host_close(s); /* the guest gets an RST */
		goto out;
	}
	connected(s);
out:
	host_op_end(s);
}

/* An internal target hands over a connected socket: no connect needed.
 * Stream only, as its contract says. */
static void connect_internal(struct vsock_backend *be, struct vsock_mconn *mc,
			     const struct vsock_port_rule *rule)
{
	struct host_socket *s;
	int fd = -1;

	if (mc->conn.type != VSOCK_TYPE_SEQPACKET)
		fd = rule->take(rule->opaque, mc->conn.local_port);
	s = fd < 0 ? NULL : host_new(be, HOST_OUT, fd, false);
	if (!s) {
		if (fd >= 0)
			close(fd);
		refuse(be, mc);
		return;
	}
	host_attach(s, mc);
	s->pins++; /* connected() may fail it: free it only below */
	connected(s);
	s->pins--;
	host_maybe_free(s);
}

static void be_connect(struct vsock_backend *be, struct vsock_mconn *mc)
{
	bool seq = mc->conn.type == VSOCK_TYPE_SEQPACKET;
	struct sockaddr_storage ss;
	struct io_uring_sqe *sqe;
	const struct vsock_port_rule *rule =
		vsock_rules_find(be->ports, be->nr_ports, mc->conn.local_port);
	struct host_socket *s;
	socklen_t len;
	int fd;

	if (rule && rule->take) {
		connect_internal(be, mc, rule);
		return;
	}
	if (!vsock_rules_endpoint(be->uds_path, be->ports, be->nr_ports,
				  mc->conn.local_port, seq, &ss, &len)) {
		refuse(be, mc);
		return;
	}
	fd = socket(ss.ss_family,
		    (seq ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn_rl(be->env.rl, "cannot create a host socket: %s",
			    strerror(errno));
		refuse(be, mc);
		return;
	}
	if (ss.ss_family != AF_UNIX) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	s = host_new(be, HOST_OUT, fd, seq);
	if (!s) {
		close(fd);
		refuse(be, mc);
		return;
	}
	host_attach(s, mc);
	s->addr = ss;
	s->addrlen = len;
	s->phase = PH_CONNECTING;
	s->connect_op.handler = on_connect;
	sqe = host_sqe(s);
	if (!sqe) {
		host_close(s);
		return;
	}
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&s->addr,
			      s->addrlen);
	io_uring_sqe_set_data(sqe, &s->connect_op);
}

/* What the muxer decided ------------------------------------------------ */

static void be_action(struct vsock_backend *be, struct vsock_mconn *mc,
		      enum vsock_conn_action act, struct vsock_txbuf *tb)
{
	struct host_socket *s = mc->backend;

	/* Pin it: a failure below must not free it under us. */
	if (s)
		s->pins++;
	switch (act) {
	case VSOCK_ACT_NONE:
		break;
	case VSOCK_ACT_DELIVER:
		if (!s || s->closing) {
			/* Nowhere to go: the connection is being reset. */
			be->env.tx_done(be->env.dev, tb);
			break;
		}
		host_send_queue(s, tb);
		break;
	case VSOCK_ACT_ACCEPTED:
		if (s && !s->closing)
			host_opened(s);
		break;
	case VSOCK_ACT_SHUT_WR:
		if (!s)
			break;
		s->shut_wr_pending = true;
		host_after_flush(s);
		break;
	case VSOCK_ACT_CLOSE:
		if (!s)
			break;
		s->close_after_flush = true;
		s->deadline = util_now_ns() + be->env.timeout_ns;
		host_after_flush(s);
		break;
	case VSOCK_ACT_ABORT:
		if (mc->conn.state != VSOCK_CONN_CLOSED)
			vsock_muxer_host_error(be->env.mx, mc);
		if (s)
			host_close(s);
		break;
	}
	if (s) {
		s->pins--;
		host_maybe_free(s);
	}
}

static void be_expired(struct vsock_backend *be, struct vsock_mconn *mc)
{
	struct host_socket *s = mc->backend;

	(void)be;
	if (s)
		host_close(s);
}

static void be_tick(struct vsock_backend *be)
{
	uint64_t now = util_now_ns();
	struct host_socket *s, *next;

	for (s = be->socks; s; s = next) {
		next = s->next;
		if ((s->close_after_flush || s->phase == PH_HANDSHAKE) &&
		    !s->closing && now >= s->deadline)
			host_close(s);
	}
	listeners_arm(be);
}

/* Lifecycle ------------------------------------------------------------- */

/*
 * Every connection may hold a host socket, and so may each client still
 * in the handshake: raise the descriptor soft limit to cover them, or,
 * where the hard limit is lower, lower the connection limit and say so.
 */
static void fit_descriptor_limit(struct vsock_backend *be)
{
	struct vsock_muxer_config *mc = &be->env.mx->cfg;
	rlim_t other = VSOCK_HANDSHAKE_PENDING_MAX + be->nr_listeners +
		       VSOCK_FD_RESERVE;
	rlim_t need = mc->max_conns + other;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need
						     : MIN(need, rl.rlim_max);
	if (setrlimit(RLIMIT_NOFILE, &rl) && getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= need)
		return;
	mc->max_conns = rl.rlim_cur > other + 1 ? (uint32_t)(rl.rlim_cur - other)
						: 1;
	log_warn("the descriptor limit (%llu) allows %u vsock connections: "
		 "--vsock-max-conns lowered to that",
		 (unsigned long long)rl.rlim_cur, mc->max_conns);
}

static void be_destroy(struct vsock_backend *be);

static int be_create(struct vsock_backend **out,
		     const struct vsock_backend_env *env,
		     const struct vsock_config *cfg)
{
	struct vsock_backend *be = calloc(1, sizeof(*be));
	int ret = -ENOMEM;

	if (!be)
		return -ENOMEM;
	be->env = *env;
	if (cfg->uds_path && !(be->uds_path = strdup(cfg->uds_path)))
		goto err;
	if (cfg->nr_ports) {
		be->ports = calloc(cfg->nr_ports, sizeof(*be->ports));
		if (!be->ports)
			goto err;
		memcpy(be->ports, cfg->ports, cfg->nr_ports * sizeof(*be->ports));
		be->nr_ports = cfg->nr_ports;
	}
	ret = listeners_open(be, cfg);
	if (ret)
		goto err;
	fit_descriptor_limit(be);
	*out = be;
	return 0;
err:
	be_destroy(be);
	return ret;
}

static int be_start(struct vsock_backend *be)
{
	listeners_arm(be);
	return 0;
}

static void be_activate(struct vsock_backend *be, unsigned int tx_chains)
{
	be->hold_total = tx_chains / 4;
}

/* Every socket closes; with `final` the loop no longer runs, so nothing
 * will complete and each is freed at once. */
static void close_all(struct vsock_backend *be, bool final)
{
	struct host_socket *s, *next;

	for (s = be->socks; s; s = next) {
		next = s->next;
		if (s->mc) {
			/* The connection table is about to be rebuilt. */
			s->mc->backend = NULL;
			s->mc = NULL;
		}
		if (final) {
			/* The loop has stopped: nothing completes any more.
			 * Lent buffers go back through the device's own
			 * bookkeeping, as in an entry. */
			s->sqes = 0;
			host_rx_return_from(s, 0);
			s->closing = true;
			host_maybe_free(s);
		} else {
			host_close(s);
		}
	}
}

static void be_reset(struct vsock_backend *be)
{
	close_all(be, false);
}

static void be_destroy(struct vsock_backend *be)
{
	if (!be)
		return;
	close_all(be, true);
	listeners_close(be);
	free(be->ports);
	free(be->uds_path);
	free(be);
}

static void be_dump(struct vsock_backend *be, FILE *f)
{
	static const char *const phases[] = {
		[PH_CONNECTING] = "connecting", [PH_HANDSHAKE] = "handshake",
		[PH_WAIT_GUEST] = "wait-guest", [PH_OPEN] = "open",
	};
	const struct host_socket *s;

	fprintf(f, "dump: vsock backend tx chains queued %u buffered %llu B\n",
		be->nr_held, (unsigned long long)be->buffered);
	for (s = be->socks; s; s = s->next) {
		const struct vsock_mconn *mc = s->mc;

		fprintf(f, "dump: vsock host fd %d %s%s sqes %u polling %d "
			"sending %d recv %s held %u staged %u/%u closing %d",
			s->fd, phases[s->phase], s->seqpacket ? " seqpacket" : "",
			s->sqes, s->polling, s->sending,
			s->receiving ? s->receiving : "-", s->nr_held,
			s->stage_off, s->stage_len, s->closing);
		if (mc) {
			const struct vsock_conn *c = &mc->conn;

			fprintf(f, " | conn %u<->%u state %d want 0x%x "
				"readable %d rx_class %d | to guest: sent_cnt %u "
				"peer_buf_alloc %u peer_fwd_cnt %u credit %u | "
				"from guest: recv_cnt %u fwd_cnt %u fwd_cnt_sent "
				"%u buf_alloc %u | shutdown peer 0x%x host_eof "
				"%d", c->local_port, c->peer_port, c->state,
				c->want, mc->readable, mc->rx_class, c->sent_cnt,
				c->peer_buf_alloc, c->peer_fwd_cnt,
				vsock_conn_peer_credit(c), c->recv_cnt, c->fwd_cnt,
				c->fwd_cnt_sent, c->buf_alloc, c->peer_shutdown,
				c->host_eof);
		}
		fputc('\n', f);
	}
}

const struct vsock_backend_ops vsock_uring_backend = {
	.create = be_create,
	.start = be_start,
	.activate = be_activate,
	.reset = be_reset,
	.destroy = be_destroy,
	.connect = be_connect,
	.action = be_action,
	.rx = host_rx,
	.expired = be_expired,
	.tick = be_tick,
	.dump = be_dump,
};
