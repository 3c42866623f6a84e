/*
 * hostile.c: vmm.test=hostile, the guest half of tests/e2e/e2e.py's
 * "hostile" case: a guest that takes the virtio-vsock device away from its
 * kernel and attacks it from user space.
 *
 * The device's register page is mapped through /dev/mem; rings and
 * buffers live in mlock'ed pages of this process, whose guest-physical
 * addresses come from /proc/self/pagemap. Each attack starts from a reset,
 * breaks one rule of the virtio-mmio or virtio-vsock protocol, looks at
 * how the device reacted (the chain given back unused, an RST, a register
 * that kept its value, or DEVICE_NEEDS_RESET, the right answer to a
 * malformed ring), and resets the device. Then a probe drives it properly:
 * a REQUEST to a host port nobody listens on must come back as an RST, so
 * every attack is followed by proof that the device still works. Last,
 * the kernel gets the device back and an AF_VSOCK connection moves data
 * both ways (an xfer of protocol.h, checked by CRC on both sides).
 *
 * Ports, attack names and sizes: protocol.h. Each wait has a deadline, so
 * a device that stops answering fails the attack instead of hanging.
 *
 * Only our own pages are ever offered to the device as buffers the
 * device may write: the attacks aim at addresses outside RAM, across its
 * end, or in the device's own window, never at the kernel's memory.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"
#include "vt.h"

/* virtio-mmio registers (VIRTIO 1.2, 4.2.2). */
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_VENDOR 0x00c
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_DESC_LO 0x080
#define R_DESC_HI 0x084
#define R_DRIVER_LO 0x090
#define R_DRIVER_HI 0x094
#define R_DEVICE_LO 0x0a0
#define R_DEVICE_HI 0x0a4
#define R_CONFIG_GEN 0x0fc
#define R_CONFIG 0x100

#define MMIO_MAGIC 0x74726976u
#define VIRTIO_ID_VSOCK 19

#define S_ACK 1u
#define S_DRIVER 2u
#define S_DRIVER_OK 4u
#define S_FEATURES_OK 8u
#define S_NEEDS_RESET 0x40u
#define S_UP (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)

/* Feature bits: INDIRECT_DESC in the low word, VERSION_1 (32) high. */
#define F_LO_INDIRECT (1u << 28)
#define F_HI_VERSION_1 1u

#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

#define Q_RX 0
#define Q_TX 1
#define Q_EVENT 2
#define NR_QUEUES 3

/* virtio-vsock (VIRTIO 1.2, 5.10.6). */
#define OP_REQUEST 1
#define OP_RESPONSE 2
#define OP_RST 3
#define OP_RW 5
#define OP_CREDIT_UPDATE 6
#define TYPE_STREAM 1
#define HDR 44u

struct vhdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

/*
 * The DMA area: one page per ring (a 256-entry descriptor table is one
 * page), then RX buffers, TX buffers and scratch pages, each one page.
 * Pages need not be physically contiguous: nothing spans two.
 */
#define PAGE 4096u
#define QSIZE 256u
#define PG_RING(q, k) ((q) * 3 + (k)) /* k: 0 desc, 1 avail, 2 used */
#define PG_RX 9u
#define NR_RX 32u
#define PG_TX (PG_RX + NR_RX)
#define NR_TX 128u
#define PG_SCRATCH (PG_TX + NR_TX)
#define NR_SCRATCH 4u
#define NR_PAGES (PG_SCRATCH + NR_SCRATCH)
#define DATA_MAX (PAGE - HDR) /* payload of one TX or RX page */

/* Far above the guest's RAM (and any RAM it could have). */
#define FAR_GPA (1ull << 40)

#define WAIT_MS 10000.0

/* What the driver keeps of one queue. */
struct hq {
	unsigned int size;
	uint8_t *desc, *avail, *used;
	uint64_t desc_pa, avail_pa, used_pa;
	uint16_t avail_idx, used_seen;
};

struct hdev {
	volatile uint32_t *regs;
	uint64_t base, ram_end, cid;
	char name[256]; /* the platform device, as d_name */
	uint32_t features_lo; /* the device's, word 0 */
	uint8_t *dma;
	uint64_t pa[NR_PAGES];
	struct hq q[NR_QUEUES];
	uint32_t port; /* next source port of ours */
	unsigned int rx_unused; /* RX buffers given back without a packet */
	char what[160]; /* how the device reacted */
	char why[200]; /* what went wrong */
};

static int fail(struct hdev *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct hdev *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->why, sizeof(h->why), fmt, ap);
	va_end(ap);
	return -1;
}

static void note(struct hdev *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct hdev *h, const char *fmt, ...)
{
	size_t n = strlen(h->what);
	va_list ap;

	if (n + 2 >= sizeof(h->what))
		return;
	if (n)
		h->what[n++] = ' ';
	va_start(ap, fmt);
	vsnprintf(h->what + n, sizeof(h->what) - n, fmt, ap);
	va_end(ap);
}

/* Registers: aligned 32-bit accesses through the volatile mapping. */
static uint32_t rd(struct hdev *h, unsigned int off)
{
	return h->regs[off / 4];
}

static void wr(struct hdev *h, unsigned int off, uint32_t v)
{
	h->regs[off / 4] = v;
}

static uint64_t page_pa(struct hdev *h, unsigned int pg)
{
	return h->pa[pg];
}

static uint8_t *page_va(struct hdev *h, unsigned int pg)
{
	return h->dma + (size_t)pg * PAGE;
}

/* Ring fields the device reads: stored whole, published in order. */
static void put16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

static uint16_t get16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p,
			       __ATOMIC_ACQUIRE);
}

static uint32_t get32(const uint8_t *p)
{
	return __atomic_load_n((const uint32_t *)(const void *)p,
			       __ATOMIC_ACQUIRE);
}

static void desc_set(struct hq *q, unsigned int i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = q->desc + 16 * (i % QSIZE);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* The same in an indirect table at `t`. */
static void table_set(uint8_t *t, unsigned int i, uint64_t addr,
		      uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = t + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Offer chain `head`: the ring entry first, then the index (release). */
static void avail_push(struct hq *q, uint16_t head)
{
	put16(q->avail + 4 + 2 * (q->avail_idx % q->size), head);
	q->avail_idx++;
	put16(q->avail + 2, q->avail_idx);
}

static void notify(struct hdev *h, unsigned int qi)
{
	/* The index store must reach memory before the device looks. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr(h, R_QUEUE_NOTIFY, qi);
}

static void used_elem(struct hq *q, uint16_t i, uint32_t *id, uint32_t *len)
{
	const uint8_t *e = q->used + 4 + 8 * (i % q->size);

	*id = get32(e);
	*len = get32(e + 4);
}

/*
 * Until used->idx reaches `want`: 1; the device set DEVICE_NEEDS_RESET
 * first: -1; neither within `ms`: 0. The status register is read once a
 * millisecond at most: each read is an exit to the VMM.
 */
static int used_wait(struct hdev *h, struct hq *q, uint16_t want, double ms)
{
	double now = now_ms(), end = now + ms, next_status = now;

	for (;;) {
		if ((uint16_t)(get16(q->used + 2) - want) < 0x8000)
			return 1;
		now = now_ms();
		if (now >= next_status) {
			if (rd(h, R_STATUS) & S_NEEDS_RESET)
				return -1;
			next_status = now + 1;
		}
		if (now > end)
			return 0;
		sched_yield();
	}
}

/* Reset: write 0, and the device must read back 0. */
static int dev_reset(struct hdev *h)
{
	int i;

	wr(h, R_STATUS, 0);
	for (i = 0; i < 100; i++)
		if (rd(h, R_STATUS) == 0)
			return 0;
	return fail(h, "status reads 0x%x after a reset", rd(h, R_STATUS));
}

/* Lay queue qi's rings out on its own pages, zeroed. */
static void ring_layout(struct hdev *h, unsigned int qi, unsigned int size)
{
	struct hq *q = &h->q[qi];

	memset(q, 0, sizeof(*q));
	q->size = size;
	q->desc = page_va(h, PG_RING(qi, 0));
	q->avail = page_va(h, PG_RING(qi, 1));
	q->used = page_va(h, PG_RING(qi, 2));
	q->desc_pa = page_pa(h, PG_RING(qi, 0));
	q->avail_pa = page_pa(h, PG_RING(qi, 1));
	q->used_pa = page_pa(h, PG_RING(qi, 2));
	memset(q->desc, 0, PAGE);
	memset(q->avail, 0, PAGE);
	memset(q->used, 0, PAGE);
}

/* Program queue qi's registers and set it ready; no checks. */
static void queue_program(struct hdev *h, unsigned int qi, uint32_t num,
			  uint64_t desc, uint64_t avail, uint64_t used)
{
	wr(h, R_QUEUE_SEL, qi);
	wr(h, R_QUEUE_NUM, num);
	wr(h, R_DESC_LO, (uint32_t)desc);
	wr(h, R_DESC_HI, (uint32_t)(desc >> 32));
	wr(h, R_DRIVER_LO, (uint32_t)avail);
	wr(h, R_DRIVER_HI, (uint32_t)(avail >> 32));
	wr(h, R_DEVICE_LO, (uint32_t)used);
	wr(h, R_DEVICE_HI, (uint32_t)(used >> 32));
	wr(h, R_QUEUE_READY, 1);
}

/* Reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 and, if offered,
 * INDIRECT_DESC), FEATURES_OK: up to where queues are set up. */
static int dev_features(struct hdev *h)
{
	if (dev_reset(h))
		return -1;
	wr(h, R_STATUS, S_ACK);
	wr(h, R_STATUS, S_ACK | S_DRIVER);
	wr(h, R_DEV_FEATURES_SEL, 0);
	h->features_lo = rd(h, R_DEV_FEATURES);
	wr(h, R_DRV_FEATURES_SEL, 0);
	wr(h, R_DRV_FEATURES, h->features_lo & F_LO_INDIRECT);
	wr(h, R_DRV_FEATURES_SEL, 1);
	wr(h, R_DRV_FEATURES, F_HI_VERSION_1);
	wr(h, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(h, R_STATUS) & S_FEATURES_OK))
		return fail(h, "FEATURES_OK refused (status 0x%x)",
			    rd(h, R_STATUS));
	return 0;
}

static int queue_up(struct hdev *h, unsigned int qi)
{
	struct hq *q = &h->q[qi];

	queue_program(h, qi, q->size, q->desc_pa, q->avail_pa, q->used_pa);
	if (rd(h, R_QUEUE_READY) != 1)
		return fail(h, "queue %u not ready (status 0x%x)", qi,
			    rd(h, R_STATUS));
	return 0;
}

static int driver_ok(struct hdev *h)
{
	wr(h, R_STATUS, S_UP);
	if (rd(h, R_STATUS) != S_UP)
		return fail(h, "status 0x%x after DRIVER_OK", rd(h, R_STATUS));
	return 0;
}

/* The whole bring-up, every queue QSIZE entries on its own pages. */
static int dev_up(struct hdev *h)
{
	unsigned int i;

	if (dev_features(h))
		return -1;
	for (i = 0; i < NR_QUEUES; i++) {
		ring_layout(h, i, QSIZE);
		if (queue_up(h, i))
			return -1;
	}
	return driver_ok(h);
}

/* RX ------------------------------------------------------------------ */

/* Offer RX buffer `id` (descriptor id, page PG_RX + id), device-writable. */
static void rx_post(struct hdev *h, unsigned int id)
{
	struct hq *q = &h->q[Q_RX];

	desc_set(q, id, page_pa(h, PG_RX + id), PAGE, D_WRITE, 0);
	avail_push(q, (uint16_t)id);
}

static void rx_post_all(struct hdev *h)
{
	unsigned int i;

	for (i = 0; i < NR_RX; i++)
		rx_post(h, i);
	notify(h, Q_RX);
}

/*
 * The next packet the device wrote into an RX buffer: its header, and up
 * to `max` bytes of payload into `data`; the buffer is offered again.
 * Buffers given back without a packet (ours that the device refused) are
 * counted in rx_unused and skipped. 1, 0 (nothing in `ms`), -1 (needs
 * reset), -2 (the device wrote nonsense into the used ring).
 */
static int rx_get(struct hdev *h, struct vhdr *hdr, void *data, uint32_t max,
		  double ms)
{
	struct hq *q = &h->q[Q_RX];
	uint32_t id, len;
	int r;

	for (;;) {
		r = used_wait(h, q, (uint16_t)(q->used_seen + 1), ms);
		if (r <= 0)
			return r;
		used_elem(q, q->used_seen++, &id, &len);
		if (len == 0) {
			h->rx_unused++;
			if (id < NR_RX)
				rx_post(h, id);
			continue;
		}
		if (id >= NR_RX || len < HDR || len > PAGE) {
			fail(h, "RX used element id %u len %u", id, len);
			return -2;
		}
		memcpy(hdr, page_va(h, PG_RX + id), HDR);
		if (data && max)
			memcpy(data, page_va(h, PG_RX + id) + HDR,
			       len - HDR < max ? len - HDR : max);
		if (hdr->len > len - HDR) {
			fail(h, "RX packet says %u bytes in %u", hdr->len, len);
			return -2;
		}
		rx_post(h, id);
		notify(h, Q_RX);
		return 1;
	}
}

/* TX ------------------------------------------------------------------ */

static struct vhdr hdr_make(struct hdev *h, uint16_t op, uint32_t src,
			    uint32_t dst)
{
	return (struct vhdr){
		.src_cid = h->cid, .dst_cid = VSOCK_HOST_CID,
		.src_port = src, .dst_port = dst, .type = TYPE_STREAM,
		.op = op, .buf_alloc = 65536,
	};
}

/* Queue one packet, header and payload in one descriptor (no notify). */
static void tx_queue(struct hdev *h, const struct vhdr *hdr,
		     const void *data, uint32_t n)
{
	struct hq *q = &h->q[Q_TX];
	unsigned int slot = q->avail_idx % q->size;
	unsigned int pg = PG_TX + slot % NR_TX;

	memcpy(page_va(h, pg), hdr, HDR);
	if (n)
		memcpy(page_va(h, pg) + HDR, data, n);
	desc_set(q, slot, page_pa(h, pg), HDR + n, 0, 0);
	avail_push(q, (uint16_t)slot);
}

/* Every TX chain back: 1; needs reset: -1; timeout: 0. */
static int tx_drain(struct hdev *h, double ms)
{
	struct hq *q = &h->q[Q_TX];
	int r = used_wait(h, q, q->avail_idx, ms);

	if (r > 0)
		q->used_seen = q->avail_idx;
	return r;
}

static int tx_send(struct hdev *h, const struct vhdr *hdr, const void *data,
		   uint32_t n)
{
	int r;

	tx_queue(h, hdr, data, n);
	notify(h, Q_TX);
	r = tx_drain(h, WAIT_MS);
	if (r == 0)
		return fail(h, "TX packet not given back in %.0f ms", WAIT_MS);
	if (r < 0)
		return fail(h, "device needs reset after a valid TX packet");
	return 0;
}

/*
 * Wait for the device to answer the malformed TX chains offered: each is
 * given back (a dropped packet) or the device needs a reset. `strict`:
 * anything else is a failure (the device must always consume TX).
 */
static int tx_react(struct hdev *h, bool strict)
{
	int r = tx_drain(h, WAIT_MS);

	if (r > 0) {
		note(h, "returned");
		return 0;
	}
	if (r < 0) {
		note(h, "needs_reset");
		return 0;
	}
	note(h, "held");
	return strict ? fail(h, "a malformed TX chain neither given back "
			     "nor NEEDS_RESET in %.0f ms", WAIT_MS) : 0;
}

/* Offer TX chain `head` as built in the descriptor table, and notify. */
static void tx_offer(struct hdev *h, uint16_t head)
{
	avail_push(&h->q[Q_TX], head);
	notify(h, Q_TX);
}

/* Wait for an RST addressed to our port `port`, from host port `from`. */
static int expect_rst(struct hdev *h, uint32_t port, uint32_t from)
{
	struct vhdr r;
	int ret = rx_get(h, &r, NULL, 0, WAIT_MS);

	if (ret == 0)
		return fail(h, "no RST for port %u in %.0f ms", port, WAIT_MS);
	if (ret < 0)
		return ret == -1 ? fail(h, "needs reset while waiting for "
					"an RST") : -1;
	if (r.op != OP_RST || r.dst_port != port || r.src_port != from ||
	    r.src_cid != VSOCK_HOST_CID || r.dst_cid != h->cid)
		return fail(h, "wanted RST %u->%u, got op %u %u->%u cid "
			    "%llu->%llu", from, port, r.op, r.src_port,
			    r.dst_port, (unsigned long long)r.src_cid,
			    (unsigned long long)r.dst_cid);
	return 0;
}

/* Open a connection from our `port` to host port `dst`; 0 or -1. */
static int conn_open(struct hdev *h, uint32_t port, uint32_t dst,
		     struct vhdr *resp)
{
	struct vhdr req = hdr_make(h, OP_REQUEST, port, dst);
	int r;

	if (tx_send(h, &req, NULL, 0))
		return -1;
	r = rx_get(h, resp, NULL, 0, WAIT_MS);
	if (r <= 0)
		return r == 0 ? fail(h, "no answer to REQUEST") : -1;
	if (resp->op != OP_RESPONSE || resp->dst_port != port)
		return fail(h, "REQUEST to %u answered with op %u", dst,
			    resp->op);
	return 0;
}

/* The probe: the device, brought up properly, answers a REQUEST to a port
 * with no listener with an RST. */
static int probe(struct hdev *h)
{
	uint32_t port = h->port++;
	struct vhdr req;

	if (dev_up(h))
		return -1;
	rx_post_all(h);
	req = hdr_make(h, OP_REQUEST, port, HT_PORT_NONE);
	if (tx_send(h, &req, NULL, 0) || expect_rst(h, port, HT_PORT_NONE))
		return -1;
	return dev_reset(h);
}

/* Up with RX buffers posted: where most attacks start. */
static int up_rx(struct hdev *h)
{
	if (dev_up(h))
		return -1;
	rx_post_all(h);
	return 0;
}

/* Needs reset, or the queue did not go ready: both refuse the setup. */
static int expect_refused(struct hdev *h, unsigned int qi)
{
	uint32_t st = rd(h, R_STATUS);

	wr(h, R_QUEUE_SEL, qi);
	if (rd(h, R_QUEUE_READY) && !(st & S_NEEDS_RESET))
		return fail(h, "queue %u accepted (status 0x%x)", qi, st);
	note(h, st & S_NEEDS_RESET ? "needs_reset" : "not_ready");
	return 0;
}

/* Transport attacks ----------------------------------------------------- */

static int atk_ro_registers(struct hdev *h)
{
	static const unsigned int ro[] = { R_MAGIC, R_VERSION, R_DEVICE_ID,
		R_VENDOR, R_DEV_FEATURES, R_QUEUE_NUM_MAX, R_INT_STATUS,
		R_CONFIG_GEN };
	volatile uint8_t *b = (volatile uint8_t *)h->regs;
	volatile uint16_t *w = (volatile uint16_t *)h->regs;
	uint32_t before[8], lo, hi;
	unsigned int i, off;

	if (up_rx(h))
		return -1;
	for (i = 0; i < 8; i++)
		before[i] = rd(h, ro[i]);
	for (i = 0; i < 8; i++)
		wr(h, ro[i], ~before[i]);
	for (i = 0; i < 8; i++) {
		uint32_t now = rd(h, ro[i]);

		/* InterruptStatus may gain bits from the device itself. */
		if (now != before[i] && ro[i] != R_INT_STATUS)
			return fail(h, "register 0x%x: 0x%x -> 0x%x", ro[i],
				    before[i], now);
	}
	/* The config space (the guest CID) is read-only. */
	for (off = R_CONFIG; off < R_CONFIG + 64; off += 4)
		wr(h, off, 0xdeadbeef);
	for (off = R_CONFIG; off < R_CONFIG + 8; off++)
		b[off] = 0x5a;
	lo = rd(h, R_CONFIG);
	hi = rd(h, R_CONFIG + 4);
	if (((uint64_t)hi << 32 | lo) != h->cid)
		return fail(h, "guest CID %llu -> %llu after config writes",
			    (unsigned long long)h->cid,
			    (unsigned long long)((uint64_t)hi << 32 | lo));
	/* Narrow and unaligned accesses to control registers: ignored (a
	 * byte write of 0 to Status would otherwise be a reset). */
	b[R_STATUS] = 0;
	w[R_STATUS / 2] = 0;
	b[R_QUEUE_NOTIFY + 1] = 1;
	(void)b[R_MAGIC + 1];
	(void)w[R_DEVICE_ID / 2 + 1];
	for (off = 0x100 - 0x10; off < 0x100; off += 4)
		wr(h, off, 0xffffffff); /* reserved, and ConfigGeneration */
	wr(h, R_INT_ACK, 0xffffffff);
	if (rd(h, R_STATUS) != S_UP)
		return fail(h, "status 0x%x after narrow writes",
			    rd(h, R_STATUS));
	note(h, "unchanged");
	return 0;
}

static int atk_features_unoffered(struct hdev *h)
{
	if (dev_reset(h))
		return -1;
	wr(h, R_STATUS, S_ACK | S_DRIVER);
	wr(h, R_DRV_FEATURES_SEL, 0);
	wr(h, R_DRV_FEATURES, 0xffffffff);
	wr(h, R_DRV_FEATURES_SEL, 1);
	wr(h, R_DRV_FEATURES, 0xffffffff);
	wr(h, R_DRV_FEATURES_SEL, 7); /* no such word: ignored */
	wr(h, R_DRV_FEATURES, 0xffffffff);
	wr(h, R_DEV_FEATURES_SEL, 9);
	if (rd(h, R_DEV_FEATURES))
		return fail(h, "device features word 9 reads 0x%x",
			    rd(h, R_DEV_FEATURES));
	wr(h, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (rd(h, R_STATUS) & S_FEATURES_OK)
		return fail(h, "FEATURES_OK kept with unoffered features");
	note(h, "features_ok_refused");
	return 0;
}

static int atk_features_no_version_1(struct hdev *h)
{
	if (dev_reset(h))
		return -1;
	wr(h, R_STATUS, S_ACK | S_DRIVER);
	wr(h, R_DRV_FEATURES_SEL, 0);
	wr(h, R_DRV_FEATURES, 0);
	wr(h, R_DRV_FEATURES_SEL, 1);
	wr(h, R_DRV_FEATURES, 0);
	wr(h, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (rd(h, R_STATUS) & S_FEATURES_OK)
		return fail(h, "FEATURES_OK kept for a legacy driver");
	note(h, "features_ok_refused");
	return 0;
}

static int atk_driver_ok_early(struct hdev *h)
{
	struct vhdr req;

	if (dev_reset(h))
		return -1;
	wr(h, R_STATUS, S_ACK | S_DRIVER);
	/* Queues before FEATURES_OK: not taken. */
	ring_layout(h, Q_TX, QSIZE);
	queue_program(h, Q_TX, QSIZE, h->q[Q_TX].desc_pa, h->q[Q_TX].avail_pa,
		      h->q[Q_TX].used_pa);
	if (rd(h, R_QUEUE_READY))
		return fail(h, "queue ready before FEATURES_OK");
	wr(h, R_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
	if (rd(h, R_STATUS) & S_DRIVER_OK)
		return fail(h, "DRIVER_OK accepted before FEATURES_OK");
	/* A packet offered anyway goes nowhere. */
	req = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_NONE);
	tx_queue(h, &req, NULL, 0);
	notify(h, Q_TX);
	if (used_wait(h, &h->q[Q_TX], 1, 200) > 0)
		return fail(h, "a queue that never went ready was used");
	note(h, "driver_ok_refused");
	return 0;
}

static int atk_status_clear_bits(struct hdev *h)
{
	if (up_rx(h))
		return -1;
	wr(h, R_STATUS, S_ACK);
	wr(h, R_STATUS, S_UP & ~S_FEATURES_OK);
	wr(h, R_STATUS, S_NEEDS_RESET | S_UP); /* a device-only bit */
	if ((rd(h, R_STATUS) & ~S_NEEDS_RESET) != S_UP)
		return fail(h, "status 0x%x after writes clearing bits",
			    rd(h, R_STATUS));
	note(h, "status_kept");
	return 0;
}

static int atk_queue_sel_out_of_range(struct hdev *h)
{
	static const uint32_t sels[] = { NR_QUEUES, 8, 0xffff, 0xffffffff };
	unsigned int i;

	if (dev_features(h))
		return -1;
	for (i = 0; i < 4; i++) {
		ring_layout(h, Q_EVENT, QSIZE);
		queue_program(h, sels[i], QSIZE, h->q[Q_EVENT].desc_pa,
			      h->q[Q_EVENT].avail_pa, h->q[Q_EVENT].used_pa);
		if (rd(h, R_QUEUE_NUM_MAX) || rd(h, R_QUEUE_READY))
			return fail(h, "queue %u exists", sels[i]);
	}
	for (i = 0; i < NR_QUEUES; i++) {
		ring_layout(h, i, QSIZE);
		if (queue_up(h, i))
			return -1;
	}
	if (driver_ok(h))
		return -1;
	note(h, "ignored");
	return 0;
}

/* Queue qi set up with `num` entries on its own pages. */
static int bad_queue_size(struct hdev *h, unsigned int qi, uint32_t num)
{
	ring_layout(h, qi, QSIZE);
	queue_program(h, qi, num, h->q[qi].desc_pa, h->q[qi].avail_pa,
		      h->q[qi].used_pa);
	return expect_refused(h, qi);
}

static int atk_queue_size_zero(struct hdev *h)
{
	if (dev_features(h))
		return -1;
	return bad_queue_size(h, Q_TX, 0);
}

static int atk_queue_size_not_pow2(struct hdev *h)
{
	if (dev_features(h))
		return -1;
	return bad_queue_size(h, Q_TX, 100) || bad_queue_size(h, Q_RX, 3);
}

static int atk_queue_size_too_big(struct hdev *h)
{
	uint32_t max;

	if (dev_features(h))
		return -1;
	wr(h, R_QUEUE_SEL, Q_TX);
	max = rd(h, R_QUEUE_NUM_MAX);
	note(h, "max=%u", max);
	return bad_queue_size(h, Q_TX, max * 2) ||
	       bad_queue_size(h, Q_RX, 0x10000) ||
	       bad_queue_size(h, Q_EVENT, 0xffffffff);
}

static int atk_ring_unaligned(struct hdev *h)
{
	struct hq *q = &h->q[Q_TX];

	if (dev_features(h))
		return -1;
	ring_layout(h, Q_TX, QSIZE);
	queue_program(h, Q_TX, 16, q->desc_pa + 8, q->avail_pa, q->used_pa);
	if (expect_refused(h, Q_TX) || dev_features(h))
		return -1;
	queue_program(h, Q_TX, 16, q->desc_pa, q->avail_pa + 1, q->used_pa);
	if (expect_refused(h, Q_TX) || dev_features(h))
		return -1;
	queue_program(h, Q_TX, 16, q->desc_pa, q->avail_pa, q->used_pa + 2);
	return expect_refused(h, Q_TX);
}

static int atk_ring_outside_ram(struct hdev *h)
{
	struct hq *q = &h->q[Q_TX];

	if (dev_features(h))
		return -1;
	ring_layout(h, Q_TX, QSIZE);
	queue_program(h, Q_TX, QSIZE, FAR_GPA, q->avail_pa, q->used_pa);
	if (expect_refused(h, Q_TX) || dev_features(h))
		return -1;
	queue_program(h, Q_TX, QSIZE, q->desc_pa, h->ram_end, q->used_pa);
	if (expect_refused(h, Q_TX) || dev_features(h))
		return -1;
	queue_program(h, Q_TX, QSIZE, q->desc_pa, q->avail_pa,
		      0xfffffffffffff000ull);
	return expect_refused(h, Q_TX);
}

static int atk_ring_straddles_ram_end(struct hdev *h)
{
	struct hq *q = &h->q[Q_TX];

	if (dev_features(h))
		return -1;
	ring_layout(h, Q_TX, QSIZE);
	/* A used ring of 256 entries needs 2054 bytes; 64 are left. */
	queue_program(h, Q_TX, QSIZE, q->desc_pa, q->avail_pa,
		      h->ram_end - 64);
	if (expect_refused(h, Q_TX) || dev_features(h))
		return -1;
	queue_program(h, Q_TX, QSIZE, h->ram_end - 2048, q->avail_pa,
		      q->used_pa);
	return expect_refused(h, Q_TX);
}

static int atk_ring_in_mmio(struct hdev *h)
{
	struct hq *q = &h->q[Q_TX];

	if (dev_features(h))
		return -1;
	ring_layout(h, Q_TX, QSIZE);
	queue_program(h, Q_TX, 16, h->base, q->avail_pa, q->used_pa);
	if (expect_refused(h, Q_TX) || dev_features(h))
		return -1;
	queue_program(h, Q_TX, 16, q->desc_pa, q->avail_pa, h->base);
	return expect_refused(h, Q_TX);
}

/* All three TX rings on one page: the device's used entries land on our
 * descriptors and avail ring. Whatever it does, it must survive. */
static int atk_rings_overlap(struct hdev *h)
{
	struct hq *q = &h->q[Q_TX];
	struct vhdr req;
	unsigned int i;

	if (dev_features(h))
		return -1;
	for (i = 0; i < NR_QUEUES; i++)
		ring_layout(h, i, QSIZE);
	q->size = 16;
	q->avail = q->used = q->desc;
	q->avail_pa = q->used_pa = q->desc_pa;
	for (i = 0; i < NR_QUEUES; i++)
		if (queue_up(h, i))
			return -1;
	if (driver_ok(h))
		return -1;
	rx_post_all(h);
	req = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_NONE);
	for (i = 0; i < 8; i++)
		tx_queue(h, &req, NULL, 0);
	notify(h, Q_TX);
	return tx_react(h, false);
}

/* Re-pointing a live queue is ignored: the device keeps its rings. */
static int atk_live_ring_repoint(struct hdev *h)
{
	uint32_t port = h->port++;
	struct vhdr req;

	if (up_rx(h))
		return -1;
	wr(h, R_QUEUE_SEL, Q_TX);
	wr(h, R_QUEUE_READY, 0);
	wr(h, R_QUEUE_NUM, 3);
	wr(h, R_DESC_LO, 0xdead0000);
	wr(h, R_DESC_HI, 0x1);
	wr(h, R_DEVICE_LO, (uint32_t)h->base);
	wr(h, R_QUEUE_READY, 1);
	if (rd(h, R_QUEUE_READY) != 1)
		return fail(h, "live queue went not ready");
	req = hdr_make(h, OP_REQUEST, port, HT_PORT_NONE);
	if (tx_send(h, &req, NULL, 0) || expect_rst(h, port, HT_PORT_NONE))
		return -1;
	note(h, "ignored");
	return 0;
}

static int atk_notify_bad_queue(struct hdev *h)
{
	static const uint32_t qs[] = { NR_QUEUES, 7, 8, 0xffff, 0x10001,
				       0xffffffff };
	unsigned int i, k;

	if (up_rx(h))
		return -1;
	/* Garbage on the event queue too: the device sends no events. */
	desc_set(&h->q[Q_EVENT], 0, FAR_GPA, 0xffffffff, D_NEXT, 0);
	avail_push(&h->q[Q_EVENT], 0);
	for (k = 0; k < 50; k++) {
		for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
			wr(h, R_QUEUE_NOTIFY, qs[i]);
		wr(h, R_QUEUE_NOTIFY, Q_EVENT);
	}
	if (rd(h, R_STATUS) != S_UP)
		return fail(h, "status 0x%x after notifies for bad queues",
			    rd(h, R_STATUS));
	note(h, "ignored");
	return 0;
}

/* Notifications with nothing new, by the ten thousand, then real work. */
static int atk_notify_flood(struct hdev *h)
{
	uint32_t port = h->port++;
	struct vhdr req;
	double t0;
	int i;

	if (up_rx(h))
		return -1;
	t0 = now_ms();
	for (i = 0; i < 20000; i++)
		wr(h, R_QUEUE_NOTIFY, i & 1 ? Q_TX : Q_RX);
	note(h, "20000_in_%.0f_ms", now_ms() - t0);
	req = hdr_make(h, OP_REQUEST, port, HT_PORT_NONE);
	if (tx_send(h, &req, NULL, 0) || expect_rst(h, port, HT_PORT_NONE))
		return -1;
	return 0;
}

/* TX chain attacks ------------------------------------------------------ */

/* One TX descriptor, alone: the whole chain (the device is up). */
static int bad_tx_desc(struct hdev *h, uint64_t addr, uint32_t len,
		       uint16_t flags)
{
	desc_set(&h->q[Q_TX], 0, addr, len, flags, 0);
	tx_offer(h, 0);
	return tx_react(h, true);
}

/* A valid REQUEST header on TX page 0, for chains built around it. */
static uint64_t tx_header_page(struct hdev *h)
{
	struct vhdr req = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_NONE);

	memcpy(page_va(h, PG_TX), &req, HDR);
	return page_pa(h, PG_TX);
}

static int atk_desc_outside_ram(struct hdev *h)
{
	return up_rx(h) ? -1 : bad_tx_desc(h, FAR_GPA, HDR, 0);
}

static int atk_desc_in_mmio(struct hdev *h)
{
	return up_rx(h) ? -1 : bad_tx_desc(h, h->base, HDR, 0);
}

static int atk_desc_straddles_ram_end(struct hdev *h)
{
	return up_rx(h) ? -1 : bad_tx_desc(h, h->ram_end - 16, HDR, 0);
}

static int atk_desc_huge_len(struct hdev *h)
{
	return up_rx(h) ? -1 : bad_tx_desc(h, page_pa(h, PG_TX), 0xffffffff, 0);
}

static int atk_desc_addr_wraps(struct hdev *h)
{
	return up_rx(h) ? -1 : bad_tx_desc(h, 0xfffffffffffff000ull, 0x2000, 0);
}

static int atk_tx_write_only(struct hdev *h)
{
	if (up_rx(h))
		return -1;
	return bad_tx_desc(h, tx_header_page(h), HDR, D_WRITE);
}

static int atk_tx_short_header(struct hdev *h)
{
	if (up_rx(h))
		return -1;
	return bad_tx_desc(h, tx_header_page(h), 20, 0);
}

static int atk_chain_loop(struct hdev *h)
{
	uint64_t pa;

	if (up_rx(h))
		return -1;
	pa = tx_header_page(h);
	desc_set(&h->q[Q_TX], 0, pa, HDR, D_NEXT, 1);
	desc_set(&h->q[Q_TX], 1, pa, 16, D_NEXT, 0);
	tx_offer(h, 0);
	return tx_react(h, true);
}

/* Every descriptor in one chain, the last pointing back to the first. */
static int atk_chain_longer_than_queue(struct hdev *h)
{
	unsigned int i;
	uint64_t pa;

	if (up_rx(h))
		return -1;
	pa = tx_header_page(h);
	for (i = 0; i < QSIZE; i++)
		desc_set(&h->q[Q_TX], i, pa, i ? 8 : HDR, D_NEXT,
			 (uint16_t)((i + 1) % QSIZE));
	tx_offer(h, 0);
	return tx_react(h, true);
}

static int atk_next_out_of_range(struct hdev *h)
{
	uint64_t pa;

	if (up_rx(h))
		return -1;
	pa = tx_header_page(h);
	desc_set(&h->q[Q_TX], 0, pa, HDR, D_NEXT, QSIZE + 1);
	desc_set(&h->q[Q_TX], 1, pa, HDR, D_NEXT, 0xffff);
	tx_offer(h, 0);
	tx_offer(h, 1);
	return tx_react(h, true);
}

static int atk_avail_idx_jump(struct hdev *h)
{
	struct hq *q = &h->q[Q_TX];

	if (up_rx(h))
		return -1;
	desc_set(q, 0, tx_header_page(h), HDR, 0, 0);
	put16(q->avail + 4, 0);
	put16(q->avail + 2, 1000);
	notify(h, Q_TX);
	if (used_wait(h, q, 1000, WAIT_MS) != -1)
		return fail(h, "avail idx 1000 ahead: no NEEDS_RESET");
	note(h, "needs_reset");
	return 0;
}

static int atk_avail_head_out_of_range(struct hdev *h)
{
	struct hq *q = &h->q[Q_TX];

	if (up_rx(h))
		return -1;
	tx_offer(h, QSIZE + 7);
	if (used_wait(h, q, 1, WAIT_MS) != -1)
		return fail(h, "head %u >= queue size: no NEEDS_RESET",
			    QSIZE + 7);
	note(h, "needs_reset");
	return 0;
}

/* One INDIRECT descriptor as chain 0 with the given table and flags. */
static int bad_indirect(struct hdev *h, uint64_t table, uint32_t len,
			uint16_t flags)
{
	if (!(h->features_lo & F_LO_INDIRECT)) {
		note(h, "indirect_not_offered");
		return 0;
	}
	desc_set(&h->q[Q_TX], 0, table, len, D_INDIRECT | flags, 1);
	desc_set(&h->q[Q_TX], 1, tx_header_page(h), HDR, 0, 0);
	tx_offer(h, 0);
	return tx_react(h, true);
}

static uint8_t *scratch(struct hdev *h, unsigned int i)
{
	memset(page_va(h, PG_SCRATCH + i), 0, PAGE);
	return page_va(h, PG_SCRATCH + i);
}

static int atk_indirect_bad_size(struct hdev *h)
{
	if (up_rx(h))
		return -1;
	scratch(h, 0);
	return bad_indirect(h, page_pa(h, PG_SCRATCH), 17, 0);
}

static int atk_indirect_empty(struct hdev *h)
{
	if (up_rx(h))
		return -1;
	return bad_indirect(h, page_pa(h, PG_SCRATCH), 0, 0);
}

static int atk_indirect_outside_ram(struct hdev *h)
{
	if (up_rx(h))
		return -1;
	return bad_indirect(h, FAR_GPA, 32, 0);
}

static int atk_indirect_huge(struct hdev *h)
{
	if (up_rx(h))
		return -1;
	scratch(h, 0);
	return bad_indirect(h, page_pa(h, PG_SCRATCH), 0xfffffff0, 0);
}

static int atk_indirect_nested(struct hdev *h)
{
	uint8_t *outer, *inner;

	if (up_rx(h))
		return -1;
	outer = scratch(h, 0);
	inner = scratch(h, 1);
	table_set(inner, 0, tx_header_page(h), HDR, 0, 0);
	table_set(outer, 0, page_pa(h, PG_SCRATCH + 1), 16, D_INDIRECT, 0);
	return bad_indirect(h, page_pa(h, PG_SCRATCH), 16, 0);
}

static int atk_indirect_with_next(struct hdev *h)
{
	uint8_t *t;

	if (up_rx(h))
		return -1;
	t = scratch(h, 0);
	table_set(t, 0, tx_header_page(h), HDR, 0, 0);
	return bad_indirect(h, page_pa(h, PG_SCRATCH), 16, D_NEXT);
}

static int atk_indirect_loop(struct hdev *h)
{
	uint8_t *t;
	uint64_t pa;

	if (up_rx(h))
		return -1;
	t = scratch(h, 0);
	pa = tx_header_page(h);
	table_set(t, 0, pa, HDR, D_NEXT, 1);
	table_set(t, 1, pa, 8, D_NEXT, 0);
	return bad_indirect(h, page_pa(h, PG_SCRATCH), 32, 0);
}

static int atk_indirect_next_out_of_range(struct hdev *h)
{
	uint8_t *t;

	if (up_rx(h))
		return -1;
	t = scratch(h, 0);
	table_set(t, 0, tx_header_page(h), HDR, D_NEXT, 5);
	table_set(t, 1, tx_header_page(h), HDR, 0, 0);
	return bad_indirect(h, page_pa(h, PG_SCRATCH), 32, 0);
}

static int atk_indirect_bad_entry(struct hdev *h)
{
	uint8_t *t;

	if (up_rx(h))
		return -1;
	t = scratch(h, 0);
	table_set(t, 0, tx_header_page(h), HDR, D_NEXT, 1);
	table_set(t, 1, h->ram_end - 8, 4096, 0, 0);
	return bad_indirect(h, page_pa(h, PG_SCRATCH), 32, 0);
}

/* Header attacks -------------------------------------------------------- */

/* A packet whose header lies: given back, then an RST or nothing. */
static int lying_packet(struct hdev *h, struct vhdr *hdr, uint32_t n,
			bool want_rst)
{
	static const char data[64] = "hostile";

	if (up_rx(h))
		return -1;
	if (tx_send(h, hdr, data, n))
		return -1;
	note(h, "returned");
	if (want_rst) {
		if (expect_rst(h, hdr->src_port, hdr->dst_port))
			return -1;
		note(h, "rst");
	}
	return 0;
}

static int atk_hdr_len_lies(struct hdev *h)
{
	struct vhdr p = hdr_make(h, OP_RW, h->port++, HT_PORT_ECHO);

	p.len = 4096; /* 10 bytes follow */
	return lying_packet(h, &p, 10, false);
}

static int atk_hdr_unknown_op(struct hdev *h)
{
	struct vhdr p = hdr_make(h, 99, h->port++, HT_PORT_NONE);

	return lying_packet(h, &p, 0, true);
}

static int atk_hdr_unknown_type(struct hdev *h)
{
	struct vhdr p = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_NONE);

	p.type = 7;
	return lying_packet(h, &p, 0, true);
}

static int atk_hdr_src_cid_forged(struct hdev *h)
{
	struct vhdr p = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_ECHO);

	p.src_cid = h->cid + 1000;
	return lying_packet(h, &p, 0, false);
}

static int atk_hdr_dst_cid_other(struct hdev *h)
{
	struct vhdr p = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_ECHO);

	p.dst_cid = h->cid; /* to itself, not the host */
	return lying_packet(h, &p, 0, false);
}

static int atk_hdr_dst_port_zero(struct hdev *h)
{
	struct vhdr p = hdr_make(h, OP_REQUEST, h->port++, 0);

	return lying_packet(h, &p, 0, true);
}

static int atk_hdr_data_on_request(struct hdev *h)
{
	struct vhdr p = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_ECHO);

	p.len = 10;
	return lying_packet(h, &p, 10, true);
}

static int atk_rw_unconnected(struct hdev *h)
{
	struct vhdr p = hdr_make(h, OP_RW, h->port++, HT_PORT_ECHO);

	p.len = 10;
	return lying_packet(h, &p, 10, true);
}

/*
 * On a connection to the echo port, a packet claiming a 4 GiB buffer and
 * more forwarded than was ever sent, then an honest CREDIT_UPDATE: the
 * echo must come back within the honest credit.
 */
static int atk_credit_lies(struct hdev *h)
{
	static const char ping[] = "ping through lying credit";
	uint32_t port = h->port++, n = sizeof(ping);
	struct vhdr p, r;
	char got[64];
	int ret;

	if (up_rx(h) || conn_open(h, port, HT_PORT_ECHO, &r))
		return -1;
	p = hdr_make(h, OP_RW, port, HT_PORT_ECHO);
	p.len = n;
	p.buf_alloc = 0xffffffff;
	p.fwd_cnt = 0x80000000;
	if (tx_send(h, &p, ping, n))
		return -1;
	p = hdr_make(h, OP_CREDIT_UPDATE, port, HT_PORT_ECHO);
	if (tx_send(h, &p, NULL, 0))
		return -1;
	for (;;) {
		ret = rx_get(h, &r, got, sizeof(got), WAIT_MS);
		if (ret <= 0)
			return ret ? -1 : fail(h, "no echo after an honest "
					       "CREDIT_UPDATE");
		if (r.op == OP_RST)
			return fail(h, "connection reset");
		if (r.op == OP_RW)
			break;
	}
	if (r.len != n || memcmp(got, ping, n))
		return fail(h, "echo of %u bytes differs", r.len);
	note(h, "echoed");
	return 0;
}

/* Queue `count` RW packets of DATA_MAX bytes on connection port -> dst,
 * regardless of the host's credit; notify once. */
static void blast(struct hdev *h, uint32_t port, uint32_t dst,
		  unsigned int count)
{
	static uint8_t data[DATA_MAX];
	struct vhdr p = hdr_make(h, OP_RW, port, dst);
	unsigned int i;

	p.len = DATA_MAX;
	memset(data, 'x', sizeof(data));
	for (i = 0; i < count; i++)
		tx_queue(h, &p, data, DATA_MAX);
	notify(h, Q_TX);
}

/* Twice the host's advertised buffer, without waiting for credit. */
static int atk_credit_overrun(struct hdev *h)
{
	uint32_t port = h->port++;
	unsigned int count;
	struct vhdr r;
	int ret;

	if (up_rx(h) || conn_open(h, port, HT_PORT_SINK, &r))
		return -1;
	count = (unsigned int)(2ull * r.buf_alloc / DATA_MAX) + 1;
	if (count > NR_TX)
		count = NR_TX;
	note(h, "host_buf_alloc=%u sent=%u", r.buf_alloc, count * DATA_MAX);
	blast(h, port, HT_PORT_SINK, count);
	ret = tx_drain(h, WAIT_MS);
	note(h, ret > 0 ? "returned" : ret < 0 ? "needs_reset" : "held");
	/* An RST (credit overrun) or credit updates: either is fine. */
	while (rx_get(h, &r, NULL, 0, 500) > 0)
		if (r.op == OP_RST) {
			note(h, "rst");
			break;
		}
	return 0;
}

/* Data in flight to a host peer that reads nothing yet, then a reset
 * while the device still holds the chains. */
static int atk_reset_mid_flight(struct hdev *h)
{
	uint32_t port = h->port++;
	struct vhdr r;

	if (up_rx(h) || conn_open(h, port, HT_PORT_STALL, &r))
		return -1;
	blast(h, port, HT_PORT_STALL, r.buf_alloc / DATA_MAX);
	/* Let some of it reach the host socket, then pull the rug. */
	used_wait(h, &h->q[Q_TX], 1, 200);
	note(h, "held=%u", (uint16_t)(h->q[Q_TX].avail_idx -
				      get16(h->q[Q_TX].used + 2)));
	return 0;
}

/*
 * Host data arriving while the device resets, more times than the device
 * holds RX buffers: the buffers lent to host receives must come back to
 * it after every reset, or it runs dry.
 */
static int atk_reset_mid_receive(struct hdev *h)
{
	unsigned int i;
	struct vhdr r;
	int ret;

	for (i = 0; i < HT_RESET_ROUNDS; i++) {
		if (up_rx(h) || conn_open(h, h->port++, HT_PORT_SOURCE, &r))
			return -1;
		do
			ret = rx_get(h, &r, NULL, 0, WAIT_MS);
		while (ret > 0 && r.op != OP_RW);
		if (ret <= 0)
			return ret ? -1 : fail(h, "round %u: no data", i);
		if (dev_reset(h))
			return -1;
	}
	note(h, "rounds=%u", i);
	return 0;
}

/* Bring-up, a REQUEST, reset at once: the device never finishes a pass
 * before the next generation starts. */
static int atk_reset_loop(struct hdev *h)
{
	struct vhdr req;
	double t0 = now_ms();
	unsigned int i;

	for (i = 0; i < HT_RESET_LOOP; i++) {
		if (up_rx(h))
			return -1;
		req = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_NONE);
		tx_queue(h, &req, NULL, 0);
		notify(h, Q_TX);
		if (dev_reset(h))
			return -1;
	}
	note(h, "rounds=%u in_%.0f_ms", i, now_ms() - t0);
	return 0;
}

/* RX attacks ------------------------------------------------------------ */

/*
 * RX buffer 0 is the bad one, described by (addr, len, flags), followed
 * by a read-only descriptor if `ro_after`; buffers 1.. are good. A
 * REQUEST to a port with no listener must still get its RST into a good
 * buffer (or the device needs a reset).
 */
static int bad_rx(struct hdev *h, uint64_t addr, uint32_t len, uint16_t flags,
		  bool ro_after)
{
	struct hq *q = &h->q[Q_RX];
	uint32_t port = h->port++;
	struct vhdr req;
	unsigned int i;

	if (dev_up(h))
		return -1;
	desc_set(q, 0, addr, len, flags | (ro_after ? D_NEXT : 0), 40);
	desc_set(q, 40, page_pa(h, PG_RX) + 2048, 64, 0, 0);
	avail_push(q, 0);
	for (i = 1; i < NR_RX; i++)
		rx_post(h, i);
	notify(h, Q_RX);
	req = hdr_make(h, OP_REQUEST, port, HT_PORT_NONE);
	if (tx_send(h, &req, NULL, 0))
		return -1;
	if (expect_rst(h, port, HT_PORT_NONE)) {
		if (rd(h, R_STATUS) & S_NEEDS_RESET) {
			note(h, "needs_reset");
			return 0;
		}
		return -1;
	}
	note(h, h->rx_unused ? "returned rst" : "rst");
	return 0;
}

static int atk_rx_read_only(struct hdev *h)
{
	return bad_rx(h, page_pa(h, PG_RX), PAGE, 0, false);
}

static int atk_rx_short(struct hdev *h)
{
	return bad_rx(h, page_pa(h, PG_RX), 16, D_WRITE, false);
}

static int atk_rx_outside_ram(struct hdev *h)
{
	return bad_rx(h, FAR_GPA, PAGE, D_WRITE, false);
}

static int atk_rx_straddles_ram_end(struct hdev *h)
{
	return bad_rx(h, h->ram_end - 16, PAGE, D_WRITE, false);
}

static int atk_rx_read_after_write(struct hdev *h)
{
	return bad_rx(h, page_pa(h, PG_RX), 1024, D_WRITE, true);
}

/* The same RX head offered twice at once, then packets for both. */
static int atk_rx_duplicate_head(struct hdev *h)
{
	struct hq *q = &h->q[Q_RX];
	struct vhdr req;
	unsigned int i;
	int ret;

	if (dev_up(h))
		return -1;
	desc_set(q, 0, page_pa(h, PG_RX), PAGE, D_WRITE, 0);
	avail_push(q, 0);
	avail_push(q, 0);
	notify(h, Q_RX);
	for (i = 0; i < 4; i++) {
		req = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_NONE);
		tx_queue(h, &req, NULL, 0);
	}
	notify(h, Q_TX);
	tx_drain(h, WAIT_MS);
	ret = used_wait(h, q, 2, 2000);
	note(h, ret > 0 ? "both_used" : ret < 0 ? "needs_reset" : "one_used");
	return 0;
}

/* Storms ---------------------------------------------------------------- */

/* HT_STORM connection attempts to a port with no listener, 64 at a time,
 * every one answered with an RST. */
static int atk_request_storm(struct hdev *h)
{
	unsigned int sent = 0, rsts = 0, i, batch;
	double t0 = now_ms();
	struct vhdr req, r;
	int ret;

	if (up_rx(h))
		return -1;
	while (sent < HT_STORM) {
		batch = HT_STORM - sent < 64 ? HT_STORM - sent : 64;
		for (i = 0; i < batch; i++) {
			req = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_NONE);
			tx_queue(h, &req, NULL, 0);
		}
		notify(h, Q_TX);
		sent += batch;
		if (tx_drain(h, WAIT_MS) <= 0)
			return fail(h, "TX stalled after %u REQUESTs", sent);
		while (rsts < sent) {
			ret = rx_get(h, &r, NULL, 0, WAIT_MS);
			if (ret <= 0)
				return fail(h, "%u RSTs for %u REQUESTs", rsts,
					    sent);
			if (r.op != OP_RST)
				return fail(h, "storm answered with op %u",
					    r.op);
			rsts++;
		}
	}
	note(h, "requests=%u rsts=%u in_%.0f_ms", sent, rsts, now_ms() - t0);
	return 0;
}

/* The same with no RX buffers at all: the replies cannot leave, so the
 * device must stop taking REQUESTs (bounded state), not queue them all. */
static int atk_request_storm_no_rx(struct hdev *h)
{
	struct hq *q = &h->q[Q_TX];
	unsigned int sent = 0, i;
	uint16_t used;
	struct vhdr req;

	if (dev_up(h))
		return -1;
	while (sent < HT_STORM) {
		for (i = 0; i < 64; i++) {
			req = hdr_make(h, OP_REQUEST, h->port++, HT_PORT_NONE);
			tx_queue(h, &req, NULL, 0);
		}
		notify(h, Q_TX);
		sent += 64;
		if (used_wait(h, q, q->avail_idx, 2000) <= 0)
			break;
	}
	used = get16(q->used + 2);
	note(h, "offered=%u consumed=%u", sent,
	     (unsigned int)(sent - (uint16_t)(q->avail_idx - used)));
	if (sent >= HT_STORM && used == q->avail_idx)
		return fail(h, "all %u REQUESTs consumed with no RX buffer",
			    sent);
	return 0;
}

/* The battery ----------------------------------------------------------- */

static const struct attack {
	const char *name;
	int (*fn)(struct hdev *h);
	bool pause_before; /* a new second for the VMM's log rate limit */
} attacks[] = {
	{ HT_ATK_RO_REGISTERS, atk_ro_registers, false },
	{ HT_ATK_FEATURES_UNOFFERED, atk_features_unoffered, false },
	{ HT_ATK_FEATURES_NO_VERSION_1, atk_features_no_version_1, false },
	{ HT_ATK_DRIVER_OK_EARLY, atk_driver_ok_early, false },
	{ HT_ATK_STATUS_CLEAR_BITS, atk_status_clear_bits, false },
	{ HT_ATK_QUEUE_SEL_OUT_OF_RANGE, atk_queue_sel_out_of_range, false },
	{ HT_ATK_QUEUE_SIZE_ZERO, atk_queue_size_zero, false },
	{ HT_ATK_QUEUE_SIZE_NOT_POW2, atk_queue_size_not_pow2, false },
	{ HT_ATK_QUEUE_SIZE_TOO_BIG, atk_queue_size_too_big, false },
	{ HT_ATK_RING_UNALIGNED, atk_ring_unaligned, false },
	{ HT_ATK_RING_OUTSIDE_RAM, atk_ring_outside_ram, false },
	{ HT_ATK_RING_STRADDLES_RAM_END, atk_ring_straddles_ram_end, false },
	{ HT_ATK_RING_IN_MMIO, atk_ring_in_mmio, false },
	{ HT_ATK_RINGS_OVERLAP, atk_rings_overlap, false },
	{ HT_ATK_LIVE_RING_REPOINT, atk_live_ring_repoint, false },
	{ HT_ATK_NOTIFY_BAD_QUEUE, atk_notify_bad_queue, false },
	{ HT_ATK_NOTIFY_FLOOD, atk_notify_flood, false },
	{ HT_ATK_DESC_OUTSIDE_RAM, atk_desc_outside_ram, true },
	{ HT_ATK_DESC_IN_MMIO, atk_desc_in_mmio, false },
	{ HT_ATK_DESC_STRADDLES_RAM_END, atk_desc_straddles_ram_end, false },
	{ HT_ATK_DESC_HUGE_LEN, atk_desc_huge_len, false },
	{ HT_ATK_DESC_ADDR_WRAPS, atk_desc_addr_wraps, false },
	{ HT_ATK_CHAIN_LOOP, atk_chain_loop, false },
	{ HT_ATK_CHAIN_LONGER_THAN_QUEUE, atk_chain_longer_than_queue, false },
	{ HT_ATK_NEXT_OUT_OF_RANGE, atk_next_out_of_range, false },
	{ HT_ATK_AVAIL_IDX_JUMP, atk_avail_idx_jump, false },
	{ HT_ATK_AVAIL_HEAD_OUT_OF_RANGE, atk_avail_head_out_of_range, false },
	{ HT_ATK_TX_WRITE_ONLY, atk_tx_write_only, false },
	{ HT_ATK_TX_SHORT_HEADER, atk_tx_short_header, false },
	{ HT_ATK_INDIRECT_BAD_SIZE, atk_indirect_bad_size, false },
	{ HT_ATK_INDIRECT_EMPTY, atk_indirect_empty, false },
	{ HT_ATK_INDIRECT_OUTSIDE_RAM, atk_indirect_outside_ram, false },
	{ HT_ATK_INDIRECT_HUGE, atk_indirect_huge, false },
	{ HT_ATK_INDIRECT_NESTED, atk_indirect_nested, false },
	{ HT_ATK_INDIRECT_WITH_NEXT, atk_indirect_with_next, false },
	{ HT_ATK_INDIRECT_LOOP, atk_indirect_loop, false },
	{ HT_ATK_INDIRECT_NEXT_OUT_OF_RANGE, atk_indirect_next_out_of_range,
	  false },
	{ HT_ATK_INDIRECT_BAD_ENTRY, atk_indirect_bad_entry, false },
	{ HT_ATK_HDR_LEN_LIES, atk_hdr_len_lies, true },
	{ HT_ATK_HDR_UNKNOWN_OP, atk_hdr_unknown_op, false },
	{ HT_ATK_HDR_UNKNOWN_TYPE, atk_hdr_unknown_type, false },
	{ HT_ATK_HDR_SRC_CID_FORGED, atk_hdr_src_cid_forged, false },
	{ HT_ATK_HDR_DST_CID_OTHER, atk_hdr_dst_cid_other, false },
	{ HT_ATK_HDR_DST_PORT_ZERO, atk_hdr_dst_port_zero, false },
	{ HT_ATK_HDR_DATA_ON_REQUEST, atk_hdr_data_on_request, false },
	{ HT_ATK_RW_UNCONNECTED, atk_rw_unconnected, false },
	{ HT_ATK_CREDIT_LIES, atk_credit_lies, false },
	{ HT_ATK_CREDIT_OVERRUN, atk_credit_overrun, false },
	{ HT_ATK_RESET_MID_FLIGHT, atk_reset_mid_flight, false },
	{ HT_ATK_RESET_MID_RECEIVE, atk_reset_mid_receive, false },
	{ HT_ATK_RESET_LOOP, atk_reset_loop, false },
	{ HT_ATK_RX_READ_ONLY, atk_rx_read_only, true },
	{ HT_ATK_RX_SHORT, atk_rx_short, false },
	{ HT_ATK_RX_OUTSIDE_RAM, atk_rx_outside_ram, false },
	{ HT_ATK_RX_STRADDLES_RAM_END, atk_rx_straddles_ram_end, false },
	{ HT_ATK_RX_READ_AFTER_WRITE, atk_rx_read_after_write, false },
	{ HT_ATK_RX_DUPLICATE_HEAD, atk_rx_duplicate_head, false },
	{ HT_ATK_REQUEST_STORM, atk_request_storm, true },
	{ HT_ATK_REQUEST_STORM_NO_RX, atk_request_storm_no_rx, false },
};

/* One attack, its aftermath (status, reset) and the probe; 0 if passed. */
static int run_attack(struct hdev *h, const struct attack *a)
{
	uint32_t status, irq;
	int r;

	h->what[0] = h->why[0] = 0;
	h->rx_unused = 0;
	r = a->fn(h);
	status = rd(h, R_STATUS);
	/* Acknowledge what the device raised: nobody else will. */
	irq = rd(h, R_INT_STATUS);
	wr(h, R_INT_ACK, irq);
	if (r) {
		printf("vmm-test: hostile %s FAIL %s (status=0x%x)\n", a->name,
		       h->why, status);
		dev_reset(h);
		return -1;
	}
	if (dev_reset(h) || probe(h)) {
		printf("vmm-test: hostile %s FAIL the device after it: %s\n",
		       a->name, h->why);
		return -1;
	}
	printf("vmm-test: hostile %s ok status=0x%x %s\n", a->name, status,
	       h->what);
	return 0;
}

/* Setup: find, unmap from the kernel, map for us --------------------------- */

/* The highest end of "System RAM" in /proc/iomem. */
static uint64_t ram_end(void)
{
	char line[256];
	unsigned long long lo, hi, end = 0;
	FILE *f = fopen("/proc/iomem", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, ": System RAM") &&
		    sscanf(line, " %llx-%llx", &lo, &hi) == 2 && hi + 1 > end)
			end = hi + 1;
	if (f)
		fclose(f);
	return end;
}

/* Where /proc/iomem puts the resource named `name`; 0 if nowhere. */
static uint64_t iomem_start(const char *name)
{
	char line[256], n[64];
	unsigned long long lo, hi, found = 0;
	FILE *f = fopen("/proc/iomem", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, " %llx-%llx : %63[^\n]", &lo, &hi, n) == 3 &&
		    !strcmp(n, name)) {
			found = lo;
			break;
		}
	if (f)
		fclose(f);
	return found;
}

static int path_exists(const char *fmt, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), fmt, name);
	return access(path, F_OK) == 0;
}

#define MMIO_DRIVER "/sys/bus/platform/drivers/virtio-mmio"

/*
 * The vsock device among those the kernel's virtio-mmio driver holds
 * (named virtio-mmio.N from the command line, LNRO0005:NN from ACPI; the
 * kernel names each window's resource after its device), checked through
 * /dev/mem: magic, version 2, device ID 19.
 */
static int find_device(struct hdev *h, int memfd)
{
	DIR *dir = opendir(MMIO_DRIVER);
	struct dirent *e;

	if (!dir)
		return fail(h, MMIO_DRIVER ": %s", strerror(errno));
	while ((e = readdir(dir))) {
		volatile uint32_t *regs;
		uint64_t addr;

		if (e->d_type != DT_LNK || !strcmp(e->d_name, "module") ||
		    !(addr = iomem_start(e->d_name)))
			continue;
		regs = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
			    memfd, (off_t)addr);
		if (regs == MAP_FAILED) {
			closedir(dir);
			return fail(h, "mmap of /dev/mem at 0x%llx: %s",
				    (unsigned long long)addr, strerror(errno));
		}
		printf("vmm-test: hostile device %s at 0x%llx: magic 0x%x "
		       "version %u id %u\n", e->d_name,
		       (unsigned long long)addr, regs[R_MAGIC / 4],
		       regs[R_VERSION / 4], regs[R_DEVICE_ID / 4]);
		if (regs[R_MAGIC / 4] == MMIO_MAGIC &&
		    regs[R_VERSION / 4] == 2 &&
		    regs[R_DEVICE_ID / 4] == VIRTIO_ID_VSOCK) {
			h->regs = regs;
			h->base = addr;
			snprintf(h->name, sizeof(h->name), "%s", e->d_name);
			closedir(dir);
			return 0;
		}
		munmap((void *)regs, PAGE);
	}
	closedir(dir);
	return fail(h, "no virtio-mmio vsock device (version 2, id 19)");
}

static int write_sys(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Bind (or unbind) the kernel's virtio-mmio driver, and see it happen. */
static int driver_bind(struct hdev *h, bool bind)
{
	int r = write_sys(bind ? MMIO_DRIVER "/bind" : MMIO_DRIVER "/unbind",
			  h->name);

	if (r)
		return fail(h, "%s %s: %s", bind ? "bind" : "unbind", h->name,
			    strerror(-r));
	if (path_exists(MMIO_DRIVER "/%s", h->name) != bind)
		return fail(h, "%s %s: driver link %s", bind ? "bind" : "unbind",
			    h->name, bind ? "missing" : "still there");
	return 0;
}

/* mlock'ed pages and their guest-physical addresses (PFN: bits 0-54,
 * present: bit 63 of each pagemap entry; root sees real PFNs). Nothing
 * under memory pressure here, so the pages stay where they are. */
static int dma_setup(struct hdev *h)
{
	unsigned int i;
	int fd;

	h->dma = mmap(NULL, (size_t)NR_PAGES * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (h->dma == MAP_FAILED)
		return fail(h, "mmap: %s", strerror(errno));
	memset(h->dma, 0, (size_t)NR_PAGES * PAGE);
	if (mlock(h->dma, (size_t)NR_PAGES * PAGE))
		return fail(h, "mlock: %s", strerror(errno));
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(h, "/proc/self/pagemap: %s", strerror(errno));
	for (i = 0; i < NR_PAGES; i++) {
		uint64_t e, va = (uint64_t)(uintptr_t)page_va(h, i);

		if (pread(fd, &e, 8, (off_t)(va / PAGE * 8)) != 8 ||
		    !(e >> 63) || !(e & ((1ull << 55) - 1))) {
			close(fd);
			return fail(h, "page %u not present in pagemap", i);
		}
		h->pa[i] = (e & ((1ull << 55) - 1)) * PAGE;
		if (h->pa[i] + PAGE > h->ram_end) {
			close(fd);
			return fail(h, "page %u at 0x%llx beyond RAM", i,
				    (unsigned long long)h->pa[i]);
		}
	}
	close(fd);
	return 0;
}

/* Give the device back: the kernel's driver binds, AF_VSOCK works. */
static int give_back(struct hdev *h)
{
	struct vt t = { .ctl = -1 };
	double t0 = now_ms();

	if (driver_bind(h, true)) {
		printf("vmm-test: hostile rebind FAIL %s\n", h->why);
		return -1;
	}
	printf("vmm-test: hostile rebind ok status=0x%x\n", rd(h, R_STATUS));
	if (xfer_to_host(&t, HT_PORT_XFER, HT_XFER_SEED, HT_XFER_SIZE,
			 HT_XFER_SIZE)) {
		printf("vmm-test: hostile xfer FAIL %s\n", t.why);
		return -1;
	}
	printf("vmm-test: hostile xfer ok %u bytes each way in %.0f ms\n",
	       HT_XFER_SIZE, now_ms() - t0);
	return 0;
}

int hostile_main(void)
{
	static struct hdev h;
	unsigned int i, failed = 0;
	int memfd;

	h.port = 40000;
	h.ram_end = ram_end();
	memfd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	if (memfd < 0 || !h.ram_end) {
		printf("vmm-test: hostile setup FAIL /dev/mem: %s, RAM end "
		       "0x%llx\n", memfd < 0 ? strerror(errno) : "ok",
		       (unsigned long long)h.ram_end);
		return 1;
	}
	if (find_device(&h, memfd) || driver_bind(&h, false) ||
	    dma_setup(&h)) {
		printf("vmm-test: hostile setup FAIL %s\n", h.why);
		return 1;
	}
	h.cid = (uint64_t)rd(&h, R_CONFIG + 4) << 32 | rd(&h, R_CONFIG);
	printf("vmm-test: hostile setup ok device %s at 0x%llx cid %llu "
	       "ram_end 0x%llx status 0x%x\n", h.name,
	       (unsigned long long)h.base, (unsigned long long)h.cid,
	       (unsigned long long)h.ram_end, rd(&h, R_STATUS));
	if (probe(&h)) {
		printf("vmm-test: hostile probe FAIL %s\n", h.why);
		return 1;
	}
	for (i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		if (attacks[i].pause_before)
			usleep(1100 * 1000);
		if (run_attack(&h, &attacks[i]))
			failed++;
	}
	printf("vmm-test: hostile %u of %zu attacks passed\n",
	       (unsigned int)(sizeof(attacks) / sizeof(attacks[0])) - failed,
	       sizeof(attacks) / sizeof(attacks[0]));
	if (dev_reset(&h) || give_back(&h))
		failed++;
	fflush(stdout);
	return failed ? 1 : 0;
}
