/*
 * vsock_fake_backend: see vsock_fake_backend.h.
 */
#include "tests/helpers/vsock_fake_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/util.h"

struct vsock_fake vsock_fake;

static void enter(void)
{
	vsock_fake.env.enter(vsock_fake.env.dev);
}

static void leave(void)
{
	vsock_fake.env.leave(vsock_fake.env.dev);
}

static void tx_done(struct vsock_txbuf *tb)
{
	vsock_fake.env.tx_done(vsock_fake.env.dev, tb);
}

static void rx_return(struct vsock_rxbuf *rb, const struct vsock_hdr *h,
		      uint32_t n)
{
	vsock_fake.env.rx_return(vsock_fake.env.dev, rb, h, n);
}

/* Held buffers go back unsent; the connection is forgotten. */
static void conn_release(struct vsock_fake_conn *c)
{
	unsigned int i;

	for (i = 0; i < c->nr_held; i++)
		tx_done(c->held[i]);
	c->nr_held = 0;
	if (c->mc) {
		c->mc->backend = NULL;
		vsock_muxer_release(vsock_fake.env.mx, c->mc);
	}
	free(c->sent);
	free(c->in);
	memset(c, 0, sizeof(*c));
}

/* The host side failed, as a real socket's would: the guest gets RST. */
static void conn_fail(struct vsock_fake_conn *c)
{
	if (c->mc && c->mc->conn.state != VSOCK_CONN_CLOSED)
		vsock_muxer_host_error(vsock_fake.env.mx, c->mc);
	vsock_fake.failed++;
	conn_release(c);
}

static void flushed(struct vsock_fake_conn *c)
{
	if (c->nr_held)
		return;
	if (c->close_after_flush) {
		if (c->mc->conn.state != VSOCK_CONN_CLOSED)
			vsock_muxer_host_error(vsock_fake.env.mx, c->mc);
		conn_release(c);
	}
}

static size_t send_some(struct vsock_fake_conn *c, size_t max)
{
	size_t done = 0;

	while (c->nr_held && done < max) {
		struct vsock_txbuf *tb = c->held[0];
		uint32_t skip = tb->off, k = 0;
		unsigned int i;

		for (i = 0; i < tb->nseg && done < max; i++) {
			size_t len = tb->iov[i].iov_len, n;

			if (skip >= len) {
				skip -= (uint32_t)len;
				continue;
			}
			n = MIN(len - skip, max - done);
			if (c->sent_len + n > c->sent_cap) {
				c->sent_cap = (c->sent_len + n) * 2;
				c->sent = realloc(c->sent, c->sent_cap);
				if (!c->sent)
					abort();
			}
			memcpy(c->sent + c->sent_len,
			       (uint8_t *)tb->iov[i].iov_base + skip, n);
			c->sent_len += n;
			done += n;
			k += (uint32_t)n;
			skip = 0;
		}
		tb->off += k;
		if (tb->off < tb->len)
			break;
		memmove(c->held, c->held + 1,
			--c->nr_held * sizeof(c->held[0]));
		tx_done(tb);
	}
	if (done)
		vsock_muxer_delivered(vsock_fake.env.mx, c->mc,
				      (uint32_t)done);
	flushed(c);
	return done;
}

static int fake_create(struct vsock_backend **out,
		       const struct vsock_backend_env *env,
		       const struct vsock_config *cfg)
{
	(void)cfg;
	memset(&vsock_fake, 0, sizeof(vsock_fake));
	vsock_fake.env = *env;
	*out = (struct vsock_backend *)&vsock_fake;
	return 0;
}

static int fake_start(struct vsock_backend *be)
{
	(void)be;
	return 0;
}

static void fake_activate(struct vsock_backend *be, unsigned int tx_chains)
{
	(void)be;
	(void)tx_chains;
}

static void fake_reset(struct vsock_backend *be)
{
	unsigned int i;

	(void)be;
	for (i = 0; i < VSOCK_FAKE_CONNS; i++) {
		struct vsock_fake_conn *c = &vsock_fake.conns[i];

		if (!c->used)
			continue;
		c->mc->backend = NULL; /* the table is rebuilt */
		c->mc = NULL;
		conn_release(c);
	}
}

static void fake_destroy(struct vsock_backend *be)
{
	unsigned int i;

	(void)be;
	for (i = 0; i < VSOCK_FAKE_CONNS; i++) {
		free(vsock_fake.conns[i].sent);
		free(vsock_fake.conns[i].in);
	}
	memset(&vsock_fake, 0, sizeof(vsock_fake));
}

static void fake_connect(struct vsock_backend *be, struct vsock_mconn *mc)
{
	struct vsock_fake_conn *c = NULL;
	unsigned int i;

	(void)be;
	for (i = 0; i < VSOCK_FAKE_CONNS && !c; i++)
		if (!vsock_fake.conns[i].used)
			c = &vsock_fake.conns[i];
	if (vsock_fake.connect_err || !c) {
		vsock_fake.connect_err = 0;
		vsock_fake.env.stats->conns_refused++;
		vsock_muxer_host_connected(vsock_fake.env.mx, mc, false);
		vsock_muxer_release(vsock_fake.env.mx, mc);
		return;
	}
	c->used = true;
	c->mc = mc;
	c->port = mc->conn.local_port;
	mc->backend = c;
	vsock_fake.env.stats->conns_opened++;
	vsock_muxer_host_connected(vsock_fake.env.mx, mc, true);
}

static void fake_action(struct vsock_backend *be, struct vsock_mconn *mc,
			enum vsock_conn_action act, struct vsock_txbuf *tb)
{
	struct vsock_fake_conn *c = mc->backend;

	(void)be;
	switch (act) {
	case VSOCK_ACT_NONE:
	case VSOCK_ACT_ACCEPTED:
		break;
	case VSOCK_ACT_DELIVER:
		if (!c) {
			tx_done(tb);
			break;
		}
		if (vsock_fake.submit_fails || c->nr_held == VSOCK_FAKE_HELD) {
			vsock_fake.submit_fails = false;
			tx_done(tb);
			conn_fail(c);
			break;
		}
		c->held[c->nr_held++] = tb;
		if (!vsock_fake.manual_send)
			send_some(c, SIZE_MAX);
		break;
	case VSOCK_ACT_SHUT_WR:
		if (c)
			c->shut_wr = true;
		break;
	case VSOCK_ACT_CLOSE:
		if (!c)
			break;
		c->close_after_flush = true;
		flushed(c);
		break;
	case VSOCK_ACT_ABORT:
		if (mc->conn.state != VSOCK_CONN_CLOSED)
			vsock_muxer_host_error(vsock_fake.env.mx, mc);
		if (c)
			conn_release(c);
		break;
	}
}

static bool fake_rx(struct vsock_backend *be, struct vsock_mconn *mc,
		    struct vsock_rxbuf **rbs, const uint32_t *max,
		    unsigned int nr)
{
	struct vsock_fake_conn *c = mc->backend;
	struct vsock_muxer *mx = vsock_fake.env.mx;
	unsigned int i = 0;

	(void)be;
	if (!c)
		return false;
	if (vsock_fake.rx_calls < ARRAY_SIZE(vsock_fake.rx_lent))
		vsock_fake.rx_lent[vsock_fake.rx_calls] = nr;
	vsock_fake.rx_calls++;
	if (vsock_fake.submit_fails) {
		/* As a recv the ring refused: nothing lent, the host side
		 * fails. */
		vsock_fake.submit_fails = false;
		conn_fail(c);
		return false;
	}
	if (vsock_fake.eagain) {
		/* As a recv that found nothing: the buffers come back and
		 * the socket waits for a poll. */
		vsock_fake.eagain--;
		for (i = 0; i < nr; i++)
			rx_return(rbs[i], NULL, 0);
		vsock_muxer_rx_data(mx, mc, 0, NULL);
		return true;
	}
	mc->readable = false; /* as a recv in flight: the poll re-arms */
	if (vsock_fake.hold_recv) {
		vsock_fake.hold_recv = false;
		memcpy(vsock_fake.held_rx, rbs, nr * sizeof(*rbs));
		vsock_fake.nr_held_rx = nr;
		return true;
	}
	for (; i < nr && c->in_off < c->in_len; i++) {
		uint32_t k = (uint32_t)MIN((size_t)max[i],
					   c->in_len - c->in_off);
		struct vsock_hdr hdr;

		k = vsock_rxbuf_copy(rbs[i], c->in + c->in_off, k);
		c->in_off += k;
		vsock_muxer_rx_data(mx, mc, k, &hdr);
		rx_return(rbs[i], &hdr, k);
	}
	if (!i)
		vsock_muxer_rx_data(mx, mc, 0, NULL);
	for (; i < nr; i++)
		rx_return(rbs[i], NULL, 0);
	if (c->in_off < c->in_len)
		vsock_muxer_readable(mx, mc, true);
	return true;
}

static void fake_expired(struct vsock_backend *be, struct vsock_mconn *mc)
{
	(void)be;
	if (mc->backend)
		conn_release(mc->backend);
}

static void fake_tick(struct vsock_backend *be)
{
	(void)be;
}

static void fake_dump(struct vsock_backend *be, FILE *f)
{
	(void)be;
	fprintf(f, "dump: fake backend failed %u\n", vsock_fake.failed);
}

const struct vsock_backend_ops vsock_fake_backend = {
	.create = fake_create,
	.start = fake_start,
	.activate = fake_activate,
	.reset = fake_reset,
	.destroy = fake_destroy,
	.connect = fake_connect,
	.action = fake_action,
	.rx = fake_rx,
	.expired = fake_expired,
	.tick = fake_tick,
	.dump = fake_dump,
};

struct vsock_fake_conn *vsock_fake_find(uint32_t port)
{
	unsigned int i;

	for (i = 0; i < VSOCK_FAKE_CONNS; i++)
		if (vsock_fake.conns[i].used && vsock_fake.conns[i].port == port)
			return &vsock_fake.conns[i];
	return NULL;
}

size_t vsock_fake_send(struct vsock_fake_conn *c, size_t max)
{
	size_t n;

	enter();
	n = send_some(c, max);
	leave();
	return n;
}

void vsock_fake_finish_recv(const void *buf, size_t len)
{
	unsigned int i;

	enter();
	for (i = 0; i < vsock_fake.nr_held_rx; i++) {
		vsock_rxbuf_copy(vsock_fake.held_rx[i], buf,
				 (uint32_t)MIN(len, UINT32_MAX));
		rx_return(vsock_fake.held_rx[i], NULL, 0);
	}
	vsock_fake.nr_held_rx = 0;
	leave();
}

void vsock_fake_write(struct vsock_fake_conn *c, const void *buf,
		      size_t len)
{
	enter();
	if (!c->used) {
		/* The entry finished a device reset, which closed it. */
		leave();
		return;
	}
	c->in = realloc(c->in, c->in_len + len);
	if (!c->in)
		abort();
	memcpy(c->in + c->in_len, buf, len);
	c->in_len += len;
	vsock_muxer_readable(vsock_fake.env.mx, c->mc, true);
	leave();
}

void vsock_fake_poll(struct vsock_fake_conn *c)
{
	enter();
	if (c->mc && c->in_off < c->in_len)
		vsock_muxer_readable(vsock_fake.env.mx, c->mc, true);
	leave();
}
