/*
 * buffers: reading guest chains into vsock TX and RX buffers, and writing
 * into RX and event buffers (see buffers.h for who owns a buffer when).
 */
#include "devices/vsock/buffers.h"

#include <errno.h>
#include <string.h>

#include "vmm/util.h"

int64_t vsock_txbuf_parse(struct vsock_txbuf *tb, struct vq_chain *c,
			  uint8_t wire[VSOCK_HDR_SIZE], bool *too_fragmented)
{
	uint32_t got = 0;
	uint64_t len = 0;
	struct vq_seg seg;
	int ret;

	tb->nseg = 0;
	*too_fragmented = false;
	while ((ret = vq_chain_next(c, &seg)) == 1) {
		uint8_t *p = seg.ptr;
		uint32_t l = seg.len;

		if (seg.writable)
			return -EINVAL; /* TX buffers are driver-to-device */
		if (got < VSOCK_HDR_SIZE) {
			uint32_t k = MIN(l, VSOCK_HDR_SIZE - got);

			memcpy(wire + got, p, k);
			got += k;
			p += k;
			l -= k;
		}
		if (!l)
			continue;
		if (tb->nseg == VSOCK_TX_MAX_SEGS)
			*too_fragmented = true;
		else
			tb->iov[tb->nseg++] =
				(struct iovec){ .iov_base = p, .iov_len = l };
		len += l;
	}
	if (ret < 0)
		return ret;
	if (got < VSOCK_HDR_SIZE)
		return -EMSGSIZE;
	return len > UINT32_MAX ? (int64_t)UINT32_MAX : (int64_t)len;
}

int vsock_rxbuf_load(struct vsock_rxbuf *rb, struct vq_chain *c)
{
	struct vq_seg seg;
	uint64_t total = 0;
	int ret;

	rb->nseg = 0;
	while ((ret = vq_chain_next(c, &seg)) == 1) {
		if (!seg.writable)
			return -EINVAL;
		if (!seg.len || rb->nseg == VSOCK_RX_MAX_SEGS)
			continue; /* we may use less than offered */
		rb->seg[rb->nseg].iov_base = seg.ptr;
		rb->seg[rb->nseg].iov_len = seg.len;
		rb->nseg++;
		total += seg.len;
	}
	if (ret < 0)
		return ret;
	if (total < VSOCK_HDR_SIZE)
		return -EMSGSIZE;
	total -= VSOCK_HDR_SIZE;
	rb->room = (uint32_t)MIN(total, (uint64_t)VSOCK_MAX_PKT_DATA);
	return 0;
}

/* Skip the header, then describe up to `max` payload bytes. */
unsigned int vsock_rxbuf_iov(const struct vsock_rxbuf *rb, uint32_t max,
			     struct iovec *iov, unsigned int nr_iov)
{
	uint32_t skip = VSOCK_HDR_SIZE;
	unsigned int i, n = 0;

	for (i = 0; i < rb->nseg && max && n < nr_iov; i++) {
		uint8_t *p = rb->seg[i].iov_base;
		size_t len = rb->seg[i].iov_len;

		if (skip >= len) {
			skip -= (uint32_t)len;
			continue;
		}
		p += skip;
		len -= skip;
		skip = 0;
		if (len > max)
			len = max;
		iov[n].iov_base = p;
		iov[n].iov_len = len;
		n++;
		max -= (uint32_t)len;
	}
	return n;
}

uint32_t vsock_rxbuf_copy(struct vsock_rxbuf *rb, const void *src,
			  uint32_t len)
{
	struct iovec iov[VSOCK_RX_MAX_SEGS];
	unsigned int i, n = vsock_rxbuf_iov(rb, len, iov, VSOCK_RX_MAX_SEGS);
	uint32_t done = 0;

	for (i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, (const uint8_t *)src + done,
		       iov[i].iov_len);
		done += (uint32_t)iov[i].iov_len;
	}
	return done;
}

void vsock_rxbuf_write_hdr(struct vsock_rxbuf *rb, const struct vsock_hdr *h)
{
	uint8_t wire[VSOCK_HDR_SIZE];
	uint32_t done = 0;
	unsigned int i;

	vsock_hdr_encode(wire, h);
	for (i = 0; i < rb->nseg && done < VSOCK_HDR_SIZE; i++) {
		uint32_t k = MIN((uint32_t)rb->seg[i].iov_len,
				 VSOCK_HDR_SIZE - done);

		memcpy(rb->seg[i].iov_base, wire + done, k);
		done += k;
	}
}

int vsock_evbuf_write(struct vq_chain *c, uint32_t id)
{
	uint8_t ev[VSOCK_EVENT_SIZE];
	uint32_t done = 0;
	struct vq_seg seg;
	int ret;

	put_le32(ev, id);
	while ((ret = vq_chain_next(c, &seg)) == 1) {
		uint32_t k = MIN(seg.len, VSOCK_EVENT_SIZE - done);

		if (!seg.writable)
			return -EINVAL; /* events are device-to-driver */
		memcpy(seg.ptr, ev + done, k);
		done += k;
	}
	if (ret < 0)
		return ret;
	return done < VSOCK_EVENT_SIZE ? -EMSGSIZE : (int)done;
}
