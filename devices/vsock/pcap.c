/*
 * pcap: see pcap.h. Records are appended to the filling half; when no
 * write is in flight the halves swap and the full one is written at its
 * file offset (short writes continue from where they stopped). At close,
 * the file's size says how far a write in flight got.
 */
#define LOG_TAG "vsock"
#include "devices/vsock/pcap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

#define FILE_HDR_LEN 24u
#define REC_HDR_LEN 16u
#define MON_HDR_LEN 32u
#define META_LEN (MON_HDR_LEN + VSOCK_HDR_SIZE)
#define MON_TRANSPORT_VIRTIO 2u

enum mon_op {
	MON_CONNECT = 1,
	MON_DISCONNECT = 2,
	MON_CONTROL = 3,
	MON_PAYLOAD = 4,
};

struct half {
	uint8_t *buf;
	uint32_t len;
};

struct vsock_pcap {
	int fd;
	uint32_t snaplen;
	struct evloop *loop;
	struct evloop_op write_op;
	struct half halves[2];
	unsigned int filling; /* index of the half records go into */
	bool writing;
	uint32_t done; /* bytes of the writing half already written */
	uint64_t offset; /* file offset of the writing half */
	uint64_t end; /* file offset after everything handed to writes */
	uint64_t records, dropped;
};

static enum mon_op mon_op(uint16_t op)
{
	switch (op) {
	case VSOCK_OP_REQUEST:
	case VSOCK_OP_RESPONSE:
		return MON_CONNECT;
	case VSOCK_OP_RST:
	case VSOCK_OP_SHUTDOWN:
		return MON_DISCONNECT;
	case VSOCK_OP_RW:
		return MON_PAYLOAD;
	default:
		return MON_CONTROL;
	}
}

static void submit(struct vsock_pcap *p);

static void on_write(struct evloop_op *op, int res, uint32_t flags)
{
	struct vsock_pcap *p = container_of(op, struct vsock_pcap, write_op);
	struct half *w = &p->halves[!p->filling];

	(void)flags;
	p->writing = false;
	if (res <= 0 && res != -EINTR && res != -EAGAIN) {
		log_warn("cannot write the vsock capture: %s; it stops here",
			 strerror(res ? -res : EIO));
		close(p->fd);
		p->fd = -1;
		return;
	}
	if (res > 0)
		p->done += (uint32_t)res;
	if (p->done < w->len) {
		submit(p); /* the rest of this half */
		return;
	}
	w->len = 0;
	p->done = 0;
	submit(p);
}

/* Write the writing half's rest, or swap in the filling half. */
static void submit(struct vsock_pcap *p)
{
	struct io_uring_sqe *sqe;
	struct half *w;

	if (p->writing || p->fd < 0)
		return;
	w = &p->halves[!p->filling];
	if (!w->len) {
		if (!p->halves[p->filling].len)
			return;
		p->filling = !p->filling;
		w = &p->halves[!p->filling];
		p->offset = p->end;
		p->end += w->len;
		p->done = 0;
	}
	sqe = evloop_sqe(p->loop);
	if (!sqe)
		return; /* the next record tries again */
	io_uring_prep_write(sqe, p->fd, w->buf + p->done, w->len - p->done,
			    p->offset + p->done);
	io_uring_sqe_set_data(sqe, &p->write_op);
	p->writing = true;
}

void vsock_pcap_packet(struct vsock_pcap *p, const struct vsock_hdr *h,
		       const struct iovec *iov, unsigned int niov)
{
	struct half *f = &p->halves[p->filling];
	uint32_t cap = p->snaplen ? MIN(h->len, p->snaplen) : h->len;
	uint32_t got = 0, rec;
	struct timespec ts;
	uint8_t *r;
	unsigned int i;

	for (i = 0; i < niov && got < cap; i++)
		got += (uint32_t)MIN(iov[i].iov_len, (size_t)(cap - got));
	rec = REC_HDR_LEN + META_LEN + got;
	if (p->fd < 0 || rec > VSOCK_PCAP_BUFFER - f->len) {
		p->dropped++;
		return;
	}
	r = f->buf + f->len;
	clock_gettime(CLOCK_REALTIME, &ts);
	put_le32(r, (uint32_t)ts.tv_sec);
	put_le32(r + 4, (uint32_t)(ts.tv_nsec / 1000));
	put_le32(r + 8, META_LEN + got);
	/* The header's length, however large the guest's lie; a record's
	 * original length must not wrap below what it holds. */
	put_le32(r + 12, (uint32_t)MIN((uint64_t)META_LEN + h->len,
				       (uint64_t)UINT32_MAX));
	r += REC_HDR_LEN;
	memset(r, 0, MON_HDR_LEN);
	put_le64(r, h->src_cid);
	put_le64(r + 8, h->dst_cid);
	put_le32(r + 16, h->src_port);
	put_le32(r + 20, h->dst_port);
	put_le16(r + 24, (uint16_t)mon_op(h->op));
	put_le16(r + 26, MON_TRANSPORT_VIRTIO);
	put_le16(r + 28, VSOCK_HDR_SIZE);
	vsock_hdr_encode(r + MON_HDR_LEN, h);
	r += META_LEN;
	for (i = 0, got = 0; i < niov && got < cap; i++) {
		size_t k = MIN(iov[i].iov_len, (size_t)(cap - got));

		memcpy(r + got, iov[i].iov_base, k);
		got += (uint32_t)k;
	}
	f->len += rec;
	p->records++;
	submit(p);
}

int vsock_pcap_open(struct vsock_pcap **out, const char *path,
		    uint32_t snaplen, struct evloop *loop)
{
	struct vsock_pcap *p = calloc(1, sizeof(*p));
	uint8_t hdr[FILE_HDR_LEN] = { 0 };
	int ret;

	if (!p)
		return -ENOMEM;
	p->snaplen = snaplen;
	p->loop = loop;
	p->write_op.handler = on_write;
	p->halves[0].buf = malloc(VSOCK_PCAP_BUFFER);
	p->halves[1].buf = malloc(VSOCK_PCAP_BUFFER);
	p->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (p->fd < 0 || !p->halves[0].buf || !p->halves[1].buf) {
		ret = p->fd < 0 ? -errno : -ENOMEM;
		log_err("--vsock-pcap %s: %s", path, strerror(-ret));
		vsock_pcap_close(p);
		return ret;
	}
	put_le32(hdr, 0xa1b2c3d4); /* microsecond timestamps */
	put_le16(hdr + 4, 2);
	put_le16(hdr + 6, 4);
	put_le32(hdr + 16, META_LEN + (snaplen ? snaplen : VSOCK_MAX_PKT_DATA));
	put_le32(hdr + 20, VSOCK_PCAP_LINKTYPE);
	if (write(p->fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
		ret = -EIO;
		log_err("--vsock-pcap %s: cannot write", path);
		vsock_pcap_close(p);
		return ret;
	}
	p->end = FILE_HDR_LEN;
	*out = p;
	return 0;
}

uint64_t vsock_pcap_records(const struct vsock_pcap *p)
{
	return p->records;
}

uint64_t vsock_pcap_dropped(const struct vsock_pcap *p)
{
	return p->dropped;
}

/* Write `len` bytes at `off` now (close time: nothing else runs). */
static void flush(int fd, const uint8_t *buf, uint32_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			log_warn("cannot finish the vsock capture: %s",
				 strerror(n < 0 ? errno : EIO));
			return;
		}
		buf += n;
		len -= (uint32_t)n;
		off += (uint64_t)n;
	}
}

void vsock_pcap_close(struct vsock_pcap *p)
{
	struct half *w, *f;
	struct stat st;

	if (!p)
		return;
	if (p->fd >= 0) {
		w = &p->halves[!p->filling];
		f = &p->halves[p->filling];
		/* A write in flight finished with the ring; the file's size
		 * says how far it got. */
		if (p->writing && !fstat(p->fd, &st) &&
		    (uint64_t)st.st_size > p->offset)
			p->done = (uint32_t)MIN((uint64_t)st.st_size - p->offset,
						(uint64_t)w->len);
		if (w->len)
			flush(p->fd, w->buf + p->done, w->len - p->done,
			      p->offset + p->done);
		flush(p->fd, f->buf, f->len, p->end);
		close(p->fd);
	}
	free(p->halves[0].buf);
	free(p->halves[1].buf);
	free(p);
}
