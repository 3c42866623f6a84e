/* vsock_flow: see vsock_flow.h. */
#include "tests/helpers/vsock_flow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/pattern.h"

#define FLOW_BUF 65536u

void vsock_flow_init(struct vsock_flow *f, struct vsock_driver *d,
		     unsigned int n)
{
	memset(f, 0, sizeof(*f));
	f->d = d;
	f->n = n;
	f->seed = 7;
	f->c = calloc(n, sizeof(*f->c));
	f->buf = malloc(FLOW_BUF);
	if (!f->c || !f->buf)
		abort();
}

void vsock_flow_set(struct vsock_flow *f, unsigned int i, struct vsock_sock *s,
		    uint64_t id, uint64_t guest_len, uint64_t host_len)
{
	struct vsock_flow_conn *c = &f->c[i];

	memset(c, 0, sizeof(*c));
	c->s = s;
	c->id = id;
	c->to_send = guest_len;
	c->expect = host_len;
	c->bad_at = -1;
}

static uint32_t io_size(struct vsock_flow *f)
{
	uint32_t max = f->max_write ? f->max_write : FLOW_BUF;

	if (max > FLOW_BUF)
		max = FLOW_BUF;
	return f->random_writes ? 1 + (uint32_t)(pattern_rand(&f->seed) % max)
				: max;
}

static void finish(struct vsock_flow_conn *c, int err)
{
	if (err && !c->err)
		c->err = err;
	c->done = true;
	vsock_driver_close(c->s, false);
	c->s = NULL;
}

/* Push what fits now; returns bytes queued. */
static uint64_t flow_send(struct vsock_flow *f, struct vsock_flow_conn *c)
{
	uint64_t total = 0;

	while (!c->send_done) {
		uint8_t id[8];
		ssize_t n;
		size_t len;
		int i;

		if (c->id_sent < 8) {
			for (i = 0; i < 8; i++)
				id[i] = (uint8_t)(c->id >> (8 * i));
			n = vsock_driver_send_some(c->s, id + c->id_sent,
						   8 - c->id_sent);
			if (n > 0)
				c->id_sent += (unsigned int)n;
		} else if (c->sent < c->to_send) {
			len = io_size(f);
			if (len > c->to_send - c->sent)
				len = (size_t)(c->to_send - c->sent);
			pattern_fill(2 * c->id + 1, c->sent, f->buf, len);
			n = vsock_driver_send_some(c->s, f->buf, len);
			if (n > 0)
				c->sent += (uint64_t)n;
		} else {
			vsock_driver_shutdown(c->s, VSOCK_SHUTDOWN_SEND);
			c->send_done = true;
			break;
		}
		if (n < 0) {
			finish(c, (int)n);
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		f->bytes_out += (uint64_t)n;
	}
	return total;
}

static uint64_t flow_recv(struct vsock_flow *f, struct vsock_flow_conn *c)
{
	uint64_t total = 0;

	while (!c->done && !c->eof) {
		ssize_t n = vsock_driver_recv_some(c->s, f->buf, io_size(f));
		long bad;

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			finish(c, (int)n);
			break;
		}
		if (n == 0) {
			c->eof = true;
			break;
		}
		if (c->bad_at < 0) {
			bad = pattern_check(2 * c->id + 2, c->received, f->buf,
					    (size_t)n);
			if (bad >= 0)
				c->bad_at = (long)c->received + bad;
		}
		c->received += (uint64_t)n;
		total += (uint64_t)n;
		f->bytes_in += (uint64_t)n;
	}
	return total;
}

void vsock_flow_run(struct vsock_flow *f)
{
	unsigned int left, i;

	do {
		uint64_t moved = 0;

		left = 0;
		for (i = 0; i < f->n; i++) {
			struct vsock_flow_conn *c = &f->c[i];

			if (c->done)
				continue;
			if (c->s->state == VSOCK_SOCK_CONNECTING) {
				left++;
				continue;
			}
			moved += flow_send(f, c);
			if (!c->done)
				moved += flow_recv(f, c);
			if (!c->done && c->eof && c->send_done)
				finish(c, 0);
			if (!c->done)
				left++;
		}
		if (left)
			vsock_driver_pump(f->d,
					  moved ? 0 : f->d->cfg.loop_timeout_us);
	} while (left);
}

void vsock_flow_free(struct vsock_flow *f)
{
	free(f->c);
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

void vsock_flow_join_peer(struct vsock_driver *d, struct vsock_host_peer *p)
{
	while (!vsock_host_peer_done(p))
		vsock_driver_pump(d, d->cfg.loop_timeout_us);
	vsock_host_peer_join(p);
}
