/*
 * fuzz_vsock_dev: the whole vsock device (device.c and everything below
 * it, on the real virtio-mmio transport) driven by a guest the input
 * plays, with the fake backend (tests/helpers/vsock_fake_backend.h) as
 * the host side, so no real socket is touched.
 *
 * One driver harness (tests/helpers/vsock_driver.h) per process; every
 * input starts with a device reset and a new probe, with features,
 * buffer sizes and layouts taken from the input. Then a sequence of
 * operations:
 * - guest sockets through the harness: connect, send, recv, shutdown,
 *   close, abort, credit request; the device's answers are checked by
 *   the harness;
 * - raw connections the target plays itself (the harness's rx_hook hands
 *   their packets here): REQUEST, RW, credit and shutdown packets in
 *   chains of any well-formed layout, and "wild" packets with any header
 *   field;
 * - host events through the fake: writes, partial sends, EAGAIN, failed
 *   submits, refused connects;
 * - lost interrupts and notifications, notifications on any queue,
 *   resets and re-probes, transport resets into event buffers of any
 *   layout, credit updates and responses held back (fault modes);
 * - ring corruption: raw descriptors (any address, length, flags, next),
 *   indirect tables, avail slots and index moves, a reset behind the
 *   harness's back.
 *
 * Checks: ASan/UBSan; every byte either way against its pattern stream;
 * guest -> host: bytes the fake holds never exceed the credit the device
 * advertised; device -> guest: the harness checks its sockets, and for
 * raw connections the target keeps its own ledger against the buf_alloc
 * and fwd_cnt it sent. An input that corrupts the rings (or sends wild
 * packets) is "dirty": a protocol violation the harness reports then ends
 * the input, and the data and ledger checks are off. In a clean input a
 * violation aborts (a device bug).
 *
 * Input: 3 or 4 bytes of probe configuration (features and poll mode,
 * RX buffer size, count and layout, TX layout and packet shaping, then a
 * segment size if bit 5 of the third byte asks for one); then operations,
 * each an opcode byte (run_ops() maps it) and the argument bytes it
 * reads. Reads past the end give zeros. At most MAX_OPS operations and
 * DATA_BUDGET payload bytes per input keep each run short.
 *
 * The harness, and so the device, is process state (libFuzzer gives no
 * other place for it); every input ends with a reset and a new probe, so
 * none depends on the one before, and what an input allocated is freed
 * by the time it returns.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vsock/buffers.h"
#include "tests/helpers/mmio_driver.h"
#include "tests/helpers/pattern.h"
#include "tests/helpers/vsock_driver.h"
#include "tests/helpers/vsock_fake_backend.h"
#include "vmm/log.h"

#define QUEUE_SIZE 64u
#define RX_BUF_MAX (4096u + VSOCK_HDR_SIZE)
#define DEV_BUF_ALLOC (32u * 1024)
#define DEV_MAX_CONNS 8u
#define GUEST_CID 3u
#define NR_SOCKS 8u
#define NR_FLOWS 8u
#define FLOW_PORT 40000u /* raw connections' guest ports start here */
#define MAX_OPS 512u
#define DATA_BUDGET (512u * 1024) /* payload bytes per input, both ways */
#define SCRATCH_TABLES (64u * 1024) /* scratch tail: indirect tables */
#define MAX_PIECES 6u
#define HOLD_NS (200u * 1000) /* a held packet's delay (set_holding) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p;
	size_t left;
};

struct gsock {
	struct vsock_sock *s; /* NULL: free */
	uint64_t read; /* stream offset of the next byte recv returns */
};

/* A connection the target plays itself, below the harness's sockets. */
struct flow {
	bool used, open, closed, shut_send, wild;
	uint16_t type;
	uint32_t gport, hport;
	uint32_t buf_alloc, fwd; /* what we advertise; fwd only grows */
	uint32_t rx_cnt; /* RW payload the device sent us */
	uint32_t tx_cnt; /* RW payload we sent */
};

/* What the data check has seen of each fake host connection. */
struct fake_seen {
	uint64_t pair;
	size_t checked;
};

struct fuzz {
	struct vsock_driver d;
	jmp_buf fail_jmp;
	bool in_input, dirty;
	struct gsock socks[NR_SOCKS];
	struct flow flows[NR_FLOWS];
	unsigned int nr_flows;
	struct fake_seen seen[VSOCK_FAKE_CONNS];
	uint8_t config[4]; /* the probe's, as read_config() gave it */
	uint64_t scratch_gpa, scratch_next;
	uint8_t *scratch;
	size_t budget;
	uint8_t buf[VSOCK_MAX_PKT_DATA];
};

static struct fuzz *fz;

static void require(bool cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_vsock_dev: %s\n", what);
		abort();
	}
}

static uint8_t get8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t get16(struct input *in)
{
	return (uint16_t)(get8(in) | get8(in) << 8);
}

static uint32_t get32(struct input *in)
{
	return (uint32_t)get16(in) | (uint32_t)get16(in) << 16;
}

/* Payload allowed for this input from now on, at most `want`. */
static uint32_t take_budget(uint32_t want)
{
	uint32_t n = want < fz->budget ? want : (uint32_t)fz->budget;

	fz->budget -= n;
	return n;
}

/* Pattern streams, one per direction of a (guest port, host port) pair. */
static uint64_t pair_of(uint32_t gport, uint32_t hport)
{
	return (uint64_t)gport << 32 | hport;
}

static uint64_t to_host_stream(uint64_t pair)
{
	return pair * 2 + 1;
}

static uint64_t to_guest_stream(uint64_t pair)
{
	return pair * 2 + 2;
}

/* A protocol violation: expected once the input broke the rules. */
static void on_fail(const char *msg)
{
	if (!fz->in_input || !fz->dirty) {
		fprintf(stderr, "fuzz_vsock_dev: violation in a clean input: "
			"%s\n", msg);
		abort();
	}
	longjmp(fz->fail_jmp, 1);
}

/* The device warns about every malformed thing an input does. */
static void quiet_log(enum log_level level, const char *tag, const char *msg,
		      void *opaque)
{
	(void)level;
	(void)tag;
	(void)msg;
	(void)opaque;
}

/* ---- raw connections ---- */

static struct flow *flow_by_port(uint32_t gport)
{
	unsigned int i;

	for (i = 0; i < fz->nr_flows; i++)
		if (fz->flows[i].gport == gport)
			return &fz->flows[i];
	return NULL;
}

/* The harness's rx_hook: packets for our guest ports are ours. */
static bool flow_rx(struct vsock_driver *d, const struct vsock_hdr *h,
		    const uint8_t *data)
{
	struct flow *f;

	if (h->dst_port < FLOW_PORT || h->dst_port >= FLOW_PORT + NR_FLOWS)
		return false;
	f = flow_by_port(h->dst_port);
	if (!f || f->hport != h->src_port || f->wild || fz->dirty)
		return true; /* stray or unchecked: nothing to keep */
	if (f->closed)
		return true; /* sent before it saw our RST */
	require(h->src_cid == VSOCK_HOST_CID && h->dst_cid == d->cfg.dev.guest_cid,
		"raw connection: bad addresses");
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		f->open = true;
		break;
	case VSOCK_OP_RST:
		f->closed = true;
		break;
	case VSOCK_OP_RW:
		require(f->open, "raw connection: RW before RESPONSE");
		/* Never beyond the last window we advertised: our fwd only
		 * grows, so any window the device knows ends before it. */
		require((uint64_t)(uint32_t)(f->rx_cnt - f->fwd) + h->len <=
				f->buf_alloc,
			"raw connection: device exceeded our credit");
		require(pattern_check(to_guest_stream(pair_of(f->gport,
							      f->hport)),
				      f->rx_cnt, data, h->len) < 0,
			"raw connection: wrong bytes from the host");
		f->rx_cnt += h->len;
		break;
	default:
		break;
	}
	return true;
}

/* Scratch memory for raw chains: bump-allocated, never reused within an
 * input (the fake may hold a payload until the input says send). */
static uint64_t scratch_alloc(uint32_t len)
{
	uint64_t gpa;

	if (fz->scratch_next + len > (1u << 20) - SCRATCH_TABLES)
		fz->scratch_next = 0;
	gpa = fz->scratch_gpa + fz->scratch_next;
	fz->scratch_next += (len + 15) & ~15u;
	return gpa;
}

static uint8_t *scratch_host(uint64_t gpa)
{
	return fz->scratch + (gpa - fz->scratch_gpa);
}

/* Room for `ndesc` descriptors after the harness's own queued packets. */
static bool tx_room(unsigned int ndesc)
{
	struct vsock_driver *d = &fz->d;

	return d->tx_nr_free > d->ctrlq_len &&
	       vq_driver_nr_free(&d->q[VSOCK_QUEUE_TX]) >=
		       d->ctrlq_len + ndesc;
}

static void pump(unsigned int rounds)
{
	while (rounds--)
		vsock_driver_pump(&fz->d, 0);
}

/*
 * Send header `h` and `len` payload bytes from `payload` as one raw TX
 * chain, split by the input: header in one or two pieces, payload in up
 * to MAX_PIECES non-empty pieces, maybe through an indirect table.
 * Returns false when the queue had no room.
 */
static bool raw_send(struct input *in, const struct vsock_hdr *h,
		     const uint8_t *payload, uint32_t len)
{
	struct vq_driver_buf bufs[2 + MAX_PIECES];
	uint8_t shape = get8(in), wire[VSOCK_HDR_SIZE];
	unsigned int n = 0, pieces = 1 + (shape >> 4) % MAX_PIECES;
	uint32_t cut = get8(in) % VSOCK_HDR_SIZE, off = 0;
	/* The harness puts every raw indirect table in one place: only
	 * when no other raw chain could still be waiting to be read. */
	bool indirect = (shape & 1) && !fz->d.cfg.no_indirect &&
			vsock_driver_raw_outstanding(&fz->d) == 0;
	uint64_t at;

	if (!len)
		pieces = 0;
	if (pieces > len)
		pieces = len;
	vsock_hdr_encode(wire, h);
	if (shape & 2 && cut) { /* header in two pieces */
		at = scratch_alloc(cut);
		memcpy(scratch_host(at), wire, cut);
		bufs[n++] = (struct vq_driver_buf){ at, cut, false };
		at = scratch_alloc(VSOCK_HDR_SIZE - cut);
		memcpy(scratch_host(at), wire + cut, VSOCK_HDR_SIZE - cut);
		bufs[n++] = (struct vq_driver_buf){ at, VSOCK_HDR_SIZE - cut,
						    false };
	} else if (shape & 4 && len) { /* header and first piece together */
		uint32_t first = len / (pieces ? pieces : 1);

		at = scratch_alloc(VSOCK_HDR_SIZE + first);
		memcpy(scratch_host(at), wire, VSOCK_HDR_SIZE);
		memcpy(scratch_host(at) + VSOCK_HDR_SIZE, payload, first);
		bufs[n++] = (struct vq_driver_buf){ at, VSOCK_HDR_SIZE + first,
						    false };
		off = first;
		pieces--;
	} else {
		at = scratch_alloc(VSOCK_HDR_SIZE);
		memcpy(scratch_host(at), wire, VSOCK_HDR_SIZE);
		bufs[n++] = (struct vq_driver_buf){ at, VSOCK_HDR_SIZE, false };
	}
	while (off < len) {
		uint32_t k = pieces > 1 ? (len - off) / pieces : len - off;

		if (!k)
			k = 1;
		at = scratch_alloc(k);
		memcpy(scratch_host(at), payload + off, k);
		bufs[n++] = (struct vq_driver_buf){ at, k, false };
		off += k;
		if (pieces > 1)
			pieces--;
	}
	if (!tx_room(indirect ? 1 : n)) {
		pump(2);
		if (!tx_room(indirect ? 1 : n))
			return false;
	}
	vsock_driver_tx_raw(&fz->d, bufs, n, indirect);
	return true;
}

static struct vsock_hdr flow_hdr(const struct flow *f, uint16_t op,
				 uint32_t len)
{
	struct vsock_hdr h = vsock_driver_hdr(&fz->d, op, f->gport, f->hport,
					      len);

	h.type = f->type;
	h.buf_alloc = f->buf_alloc;
	h.fwd_cnt = f->fwd;
	return h;
}

static void flow_connect(struct input *in)
{
	uint8_t b = get8(in);
	struct flow *f;
	struct vsock_hdr h;

	if (fz->nr_flows == NR_FLOWS)
		return;
	f = &fz->flows[fz->nr_flows];
	memset(f, 0, sizeof(*f));
	f->used = true;
	f->gport = FLOW_PORT + fz->nr_flows++;
	f->hport = 1 + b % 4;
	f->type = (b & 4) && fz->d.cfg.seqpacket ? VSOCK_TYPE_SEQPACKET
						 : VSOCK_TYPE_STREAM;
	f->buf_alloc = get16(in) * ((b >> 3) % 4 + 1);
	h = flow_hdr(f, VSOCK_OP_REQUEST, 0);
	if (!raw_send(in, &h, NULL, 0))
		f->closed = true;
}

/* Advance our fwd_cnt by what the input says, never past what came. */
static void flow_forward(struct flow *f, uint16_t by)
{
	uint32_t unread = f->rx_cnt - f->fwd;

	f->fwd += by < unread ? by : unread;
}

static void flow_send(struct input *in)
{
	struct flow *f = &fz->flows[get8(in) % NR_FLOWS];
	uint32_t len = take_budget(1 + get16(in) % VSOCK_MAX_PKT_DATA);
	struct vsock_hdr h;

	flow_forward(f, get16(in));
	if (!f->used || !f->open || f->closed || f->shut_send || f->wild ||
	    !len)
		return;
	h = flow_hdr(f, VSOCK_OP_RW, len);
	pattern_fill(to_host_stream(pair_of(f->gport, f->hport)), f->tx_cnt,
		     fz->buf, len);
	if (raw_send(in, &h, fz->buf, len))
		f->tx_cnt += len;
}

static void flow_ctrl(struct input *in)
{
	struct flow *f = &fz->flows[get8(in) % NR_FLOWS];
	uint8_t b = get8(in);
	struct vsock_hdr h;

	flow_forward(f, get16(in));
	if (!f->used || f->closed)
		return;
	switch (b % 4) {
	case 0:
		h = flow_hdr(f, VSOCK_OP_CREDIT_UPDATE, 0);
		break;
	case 1:
		h = flow_hdr(f, VSOCK_OP_CREDIT_REQUEST, 0);
		break;
	case 2:
		h = flow_hdr(f, VSOCK_OP_SHUTDOWN, 0);
		h.flags = 1 + (b >> 2) % 3;
		break;
	default:
		h = flow_hdr(f, VSOCK_OP_RST, 0);
		break;
	}
	if (!raw_send(in, &h, NULL, 0))
		return;
	if (h.op == VSOCK_OP_SHUTDOWN && (h.flags & VSOCK_SHUTDOWN_SEND))
		f->shut_send = true;
	if (h.op == VSOCK_OP_RST)
		f->closed = true;
}

/* Any header, any payload bytes from the input. On one of our raw
 * connections (then unchecked from here on), or anywhere: dirty. */
static void flow_wild(struct input *in)
{
	uint8_t wire[VSOCK_HDR_SIZE];
	struct vsock_hdr h;
	uint8_t b = get8(in);
	uint32_t len, i;

	for (i = 0; i < VSOCK_HDR_SIZE; i++)
		wire[i] = get8(in);
	vsock_hdr_decode(&h, wire);
	if (b & 1) {
		struct flow *f = &fz->flows[(b >> 1) % NR_FLOWS];

		if (!f->used)
			return;
		f->wild = true;
		h.src_port = f->gport;
		if (b & 16) {
			h.src_cid = GUEST_CID;
			h.dst_cid = VSOCK_HOST_CID;
			h.dst_port = f->hport;
		}
	} else {
		fz->dirty = true;
	}
	len = take_budget(get16(in) % 4096);
	for (i = 0; i < len; i++)
		fz->buf[i] = get8(in);
	raw_send(in, &h, fz->buf, len);
}

/* ---- guest sockets ---- */

static struct gsock *gsock_at(struct input *in)
{
	struct gsock *g = &fz->socks[get8(in) % NR_SOCKS];

	return g->s ? g : NULL;
}

static void sock_connect(struct input *in)
{
	uint8_t b = get8(in);
	struct gsock *g = &fz->socks[b % NR_SOCKS];
	uint16_t type = (b & 8) && fz->d.cfg.seqpacket ? VSOCK_TYPE_SEQPACKET
						       : VSOCK_TYPE_STREAM;

	if (g->s)
		return;
	g->s = vsock_driver_connect_start(&fz->d, 1 + (b >> 4) % 4, type);
	g->read = 0;
}

static void sock_send(struct input *in)
{
	struct gsock *g = gsock_at(in);
	uint32_t len = get16(in) + 1;
	struct vsock_sock *s;
	ssize_t n;

	if (!g)
		return;
	s = g->s;
	len = take_budget(len);
	pattern_fill(to_host_stream(pair_of(s->local_port, s->peer_port)),
		     s->tx_bytes, fz->buf, len);
	n = vsock_driver_send_some(s, fz->buf, len);
	/* What was not queued goes back to the budget. */
	fz->budget += len - (n > 0 ? (uint32_t)n : 0);
}

static void sock_recv(struct input *in)
{
	struct gsock *g = gsock_at(in);
	uint32_t len = get16(in) + 1;
	ssize_t n;

	if (!g)
		return;
	n = vsock_driver_recv_some(g->s, fz->buf, len);
	if (n <= 0)
		return;
	if (!fz->dirty)
		require(pattern_check(to_guest_stream(pair_of(
					      g->s->local_port,
					      g->s->peer_port)),
				      g->read, fz->buf, (size_t)n) < 0,
			"guest socket: wrong bytes from the host");
	g->read += (uint64_t)n;
}

static void sock_misc(struct input *in)
{
	struct gsock *g = gsock_at(in);
	uint8_t b = get8(in);

	if (!g)
		return;
	switch (b % 4) {
	case 0:
		vsock_driver_shutdown(g->s, 1 + (b >> 2) % 3);
		break;
	case 1:
		vsock_driver_credit_request(g->s);
		break;
	case 2: /* freed by the harness when the RST comes */
		vsock_driver_close(g->s, false);
		g->s = NULL;
		break;
	default:
		vsock_driver_abort(g->s);
		g->s = NULL;
		break;
	}
}

/* Sockets the harness no longer lists are ours to free; the rest go with
 * the next probe. */
static void socks_drop(void)
{
	unsigned int i;

	for (i = 0; i < NR_SOCKS; i++) {
		struct vsock_sock *s = fz->socks[i].s;

		if (s && !s->in_table)
			vsock_driver_close(s, false);
		fz->socks[i].s = NULL;
	}
}

/* ---- host side ---- */

static struct vsock_fake_conn *fake_at(struct input *in)
{
	struct vsock_fake_conn *c = &vsock_fake.conns[get8(in) %
						      VSOCK_FAKE_CONNS];

	return c->used ? c : NULL;
}

static void host_write(struct input *in)
{
	struct vsock_fake_conn *c = fake_at(in);
	uint32_t len = get16(in) % 16384 + 1;
	uint64_t pair;

	if (!c)
		return;
	len = take_budget(len);
	if (!len)
		return; /* budget spent: a write of nothing is no host event */
	pair = pair_of(c->mc->conn.peer_port, c->mc->conn.local_port);
	pattern_fill(to_guest_stream(pair), c->in_len, fz->buf, len);
	vsock_fake_write(c, fz->buf, len);
}

static void host_event(struct input *in)
{
	uint8_t b = get8(in);
	struct vsock_fake_conn *c = fake_at(in);
	uint16_t arg = get16(in);

	switch (b % 8) {
	case 0:
		if (c)
			vsock_fake_send(c, arg);
		break;
	case 1:
		if (c)
			vsock_fake_poll(c);
		break;
	case 2:
		vsock_fake.eagain = arg % 4;
		break;
	case 3:
		vsock_fake.submit_fails = true;
		break;
	case 4:
		vsock_fake.connect_err = 111;
		break;
	case 5:
		vsock_fake.manual_send = arg & 1;
		break;
	case 6:
		fz->d.drop_irqs = arg % 3;
		break;
	default:
		fz->d.drop_notifies = arg % 3;
		break;
	}
}

/*
 * Every fake host connection: what it holds is within the credit the
 * device advertised, and (clean inputs) what it was sent is exactly the
 * guest's stream.
 */
static void check_host_side(void)
{
	unsigned int i, k;

	for (i = 0; i < VSOCK_FAKE_CONNS; i++) {
		struct vsock_fake_conn *c = &vsock_fake.conns[i];
		struct fake_seen *seen = &fz->seen[i];
		uint64_t held = 0, pair;
		struct flow *f;

		if (!c->used)
			continue;
		for (k = 0; k < c->nr_held; k++)
			held += c->held[k]->len - c->held[k]->off;
		require(held <= c->mc->conn.buf_alloc,
			"host side holds more than the device's credit");
		require((uint32_t)(c->mc->conn.recv_cnt - c->mc->conn.fwd_cnt) <=
				c->mc->conn.buf_alloc,
			"guest bytes in flight beyond the device's credit");
		pair = pair_of(c->mc->conn.peer_port, c->mc->conn.local_port);
		if (seen->pair != pair || seen->checked > c->sent_len) {
			seen->pair = pair;
			seen->checked = 0;
		}
		f = flow_by_port(c->mc->conn.peer_port);
		if (fz->dirty || (f && f->wild) ||
		    seen->checked == c->sent_len)
			continue;
		require(pattern_check(to_host_stream(pair), seen->checked,
				      c->sent + seen->checked,
				      c->sent_len - seen->checked) < 0,
			"host side: wrong bytes from the guest");
		seen->checked = c->sent_len;
	}
}

/* ---- rings, raw ---- */

static uint64_t any_gpa(struct input *in)
{
	uint8_t b = get8(in);
	uint32_t off = get32(in);
	struct vq_driver *q = &fz->d.q[b % 3];

	switch ((b >> 2) % 5) {
	case 0:
		return fz->scratch_gpa + off % (1u << 20);
	case 1:
		return q->desc_gpa + off % 4096;
	case 2:
		return q->ram_size - off % 256;
	case 3:
		return (uint64_t)off << 12;
	default:
		return ~(uint64_t)0 - off % 64;
	}
}

static struct vq_driver_desc any_desc(struct input *in)
{
	struct vq_driver_desc d;

	d.addr = any_gpa(in);
	d.len = get32(in) % 3 ? get16(in) : get32(in);
	d.flags = get8(in) % 8;
	d.next = get16(in) % (QUEUE_SIZE + 4);
	return d;
}

static void ring_poke(struct input *in)
{
	uint8_t b = get8(in);
	struct vq_driver *q = &fz->d.q[b % 3];
	struct vq_driver_desc desc;
	uint16_t v;

	fz->dirty = true;
	switch ((b >> 2) % 6) {
	case 0:
		v = get16(in);
		desc = any_desc(in);
		vq_driver_set_desc(q, v % q->size, &desc);
		break;
	case 1: /* an indirect table entry in scratch */
		v = get16(in);
		desc = any_desc(in);
		vq_driver_poke_desc(q, fz->scratch_gpa + (v % 64) * 16ull,
				    (uint32_t)(v >> 6) % 16, &desc);
		break;
	case 2:
		vq_driver_publish(q, get16(in) % (q->size + 2));
		break;
	case 3:
		vq_driver_set_avail_idx(q, get16(in));
		break;
	case 4:
		v = get16(in);
		vq_driver_set_avail_slot(q, v, get16(in) % (q->size + 2));
		break;
	default:
		if (get8(in) & 1)
			vq_driver_set_avail_flags(q, get16(in));
		else
			vq_driver_set_used_event(q, get16(in));
		break;
	}
}

/* ---- device ---- */

static const uint32_t rx_sizes[] = {
	VSOCK_HDR_SIZE, VSOCK_HDR_SIZE + 1, VSOCK_HDR_SIZE + 7, 128, 1024,
	1500, 4096, RX_BUF_MAX,
};
static const uint32_t guest_bufs[] = {
	1, 7, 1000, 4096, 65536, 100000, 256 * 1024, 3,
};

/* Features, buffers and layouts for the next probe, from the input. */
static void read_config(struct input *in, uint8_t cfg[4])
{
	cfg[0] = get8(in);
	cfg[1] = get8(in);
	cfg[2] = get8(in);
	cfg[3] = cfg[2] & 32 ? get8(in) : 0;
}

static void configure(const uint8_t raw[4])
{
	struct vsock_driver_config *cfg = &fz->d.cfg;
	uint8_t feat = raw[0], rx = raw[1], tx = raw[2];

	cfg->no_event_idx = feat & 1;
	cfg->no_indirect = feat & 2;
	cfg->seqpacket = feat & 4;
	cfg->poll_used = feat & 8;
	cfg->rx_layout = (enum vsock_driver_rx_layout)((feat >> 4) % 3);
	if (cfg->no_indirect && cfg->rx_layout == VSOCK_DRV_RX_INDIRECT)
		cfg->rx_layout = VSOCK_DRV_RX_SPLIT;
	cfg->rx_buf_size = rx_sizes[rx % 8];
	if (cfg->rx_layout != VSOCK_DRV_RX_LINEAR &&
	    cfg->rx_buf_size == VSOCK_HDR_SIZE)
		cfg->rx_buf_size++; /* no empty data descriptor */
	cfg->rx_bufs = 1 + (rx >> 3) % QUEUE_SIZE;
	cfg->buf_alloc = guest_bufs[(feat >> 6) | (tx & 4)];
	fz->d.tx.layout = (enum vsock_driver_tx_layout)(tx % 8 %
							VSOCK_DRV_TX_NR_LAYOUTS);
	if (cfg->no_indirect && (fz->d.tx.layout == VSOCK_DRV_TX_INDIRECT ||
				 fz->d.tx.layout == VSOCK_DRV_TX_MIXED))
		fz->d.tx.layout = VSOCK_DRV_TX_SCATTER;
	fz->d.tx.random_sizes = tx & 8;
	fz->d.tx.max_pkt = (tx & 16) ? 1u << (tx >> 5) * 2 : 0;
	fz->d.tx.seg_size = (tx & 32) ? 1 + raw[3] * 16u : 0;
	fz->d.tx.seed = 1;
	memcpy(fz->config, raw, 4);
}

/*
 * Held packets (the slow-credit and late-response fault modes) on or off
 * for the rest of the input: the device was created with both delays
 * (setup), so its timer for them is armed; the muxer holds only while
 * its own delays are set.
 */
static void set_holding(bool credit, bool response)
{
	struct vsock_muxer *mx = vsock_fake.env.mx;

	mx->cfg.credit_delay_ns = credit ? HOLD_NS : 0;
	mx->cfg.response_delay_ns = response ? HOLD_NS : 0;
}

/*
 * Device reset (status 0) and a new probe: nothing survives it, and what
 * the last input allocated is freed again (sockets, the fake's buffers),
 * so libFuzzer sees no growth to hunt for leaks in.
 */
static void restart(void)
{
	struct vsock_driver *d = &fz->d;

	socks_drop();
	memset(fz->flows, 0, sizeof(fz->flows));
	fz->nr_flows = 0;
	memset(fz->seen, 0, sizeof(fz->seen));
	mmio_driver_write(d->m, VIRTIO_MMIO_STATUS, 0);
	memset(&d->st, 0, sizeof(d->st));
	d->drop_irqs = d->drop_notifies = 0;
	d->broken = false;
	/* Same ports and choices as any other run of this input. */
	d->next_port = 49152;
	d->rng = 0x5eed;
	vsock_fake.connect_err = 0;
	vsock_fake.submit_fails = false;
	vsock_fake.eagain = 0;
	vsock_fake.manual_send = false;
	set_holding(false, false);
	d->ev_layout = d->cfg.ev_layout;
	vsock_driver_reprobe(d);
	pump(2);
}

static void reprobe(struct input *in)
{
	uint8_t raw[4];

	read_config(in, raw);
	configure(raw);
	restart();
}

static void setup(void)
{
	struct vsock_driver_config cfg = {
		.dev = { .guest_cid = GUEST_CID, .max_conns = DEV_MAX_CONNS,
			 .buf_alloc = DEV_BUF_ALLOC,
			 .fault = { .credit_delay_ns = HOLD_NS,
				    .response_delay_ns = HOLD_NS },
			 .backend = &vsock_fake_backend },
		.queue_size = QUEUE_SIZE,
		.rx_buf_size = RX_BUF_MAX,
		.fail = on_fail,
		.rx_hook = flow_rx,
	};
	void *scratch;

	log_set_sink(quiet_log, NULL);
	fz = calloc(1, sizeof(*fz));
	require(fz != NULL, "out of memory");
	vsock_driver_create(&fz->d, &cfg);
	fz->scratch_gpa = vsock_driver_scratch(&fz->d, &scratch);
	fz->scratch = scratch;
	configure(fz->config);
	restart();
}

static void device_event(struct input *in)
{
	uint8_t b = get8(in);

	switch (b % 4) {
	case 0:
		/* Reset behind the harness's back. */
		fz->dirty = true;
		mmio_driver_write(fz->d.m, VIRTIO_MMIO_STATUS, 0);
		break;
	case 1:
		/* A transport reset (SIGUSR2), into whatever event buffers
		 * the driver posts from now on, usable or not. */
		fz->d.ev_layout = (enum vsock_driver_ev_layout)((b >> 2) % 5);
		vsock_dev_transport_reset(fz->d.dev);
		break;
	case 2:
		set_holding(b & 4, b & 8);
		break;
	default:
		reprobe(in);
		break;
	}
}

static void run_ops(struct input *in)
{
	unsigned int ops = 0;

	while (in->left && ops++ < MAX_OPS) {
		uint8_t op = get8(in);

		switch (op % 20) {
		case 0:
		case 1:
			sock_connect(in);
			break;
		case 2:
		case 3:
			sock_send(in);
			break;
		case 4:
		case 5:
			sock_recv(in);
			break;
		case 6:
			sock_misc(in);
			break;
		case 7:
		case 8:
			pump(1 + get8(in) % 4);
			break;
		case 9:
		case 10:
			host_write(in);
			break;
		case 11:
			host_event(in);
			break;
		case 12:
			flow_connect(in);
			break;
		case 13:
			flow_send(in);
			break;
		case 14:
			flow_ctrl(in);
			break;
		case 15:
			flow_wild(in);
			break;
		case 16:
			/* A notification on any queue, valid or not. */
			mmio_driver_write(fz->d.m, VIRTIO_MMIO_QUEUE_NOTIFY,
					  get8(in) % 5);
			break;
		case 17:
			device_event(in);
			break;
		default:
			if (op & 0x80)
				ring_poke(in);
			else
				pump(1);
			break;
		}
		check_host_side();
	}
	pump(4);
	check_host_side();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t raw[4];

	if (!fz)
		setup();
	fz->dirty = false;
	fz->budget = DATA_BUDGET;
	fz->scratch_next = 0;
	/* The last input ended with a reset: probe again only if this one
	 * wants other features or buffers. */
	read_config(&in, raw);
	if (memcmp(raw, fz->config, sizeof(raw))) {
		configure(raw);
		restart();
	}
	fz->in_input = true;
	if (!setjmp(fz->fail_jmp))
		run_ops(&in);
	fz->in_input = false;
	/* The device's connections never outnumber its limit. */
	require(vsock_fake.env.mx->nr_conns <= DEV_MAX_CONNS,
		"more connections than the limit");
	restart();
	return 0;
}
