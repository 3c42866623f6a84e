/*
 * pcap: a capture of every vsock packet, both directions, as LINKTYPE_VSOCK
 * (271) records that tshark and Wireshark decode: per packet a pcap record
 * header, a 32-byte af_vsockmon header (CIDs, ports, what kind of packet,
 * transport virtio), the 44-byte virtio header and the payload (up to the
 * snap length).
 *
 * Capturing never blocks the data path: records go into a bounded buffer
 * (two halves of VSOCK_PCAP_BUFFER bytes) that the event loop writes out
 * with io_uring; a record that does not fit is dropped whole and counted,
 * so the file is never torn. Loop thread only, like the device passes.
 */
#ifndef DEVICES_VSOCK_PCAP_H
#define DEVICES_VSOCK_PCAP_H

#include <stdint.h>
#include <sys/uio.h>

#include "devices/vsock/pkt.h"
#include "vmm/evloop.h"

#define VSOCK_PCAP_BUFFER (2u << 20)
#define VSOCK_PCAP_LINKTYPE 271u

struct vsock_pcap;

/* Create (truncate) `path` and write the file header. `snaplen`: payload
 * bytes kept per packet, 0 for all. Returns 0 or -errno. */
int vsock_pcap_open(struct vsock_pcap **out, const char *path,
		    uint32_t snaplen, struct evloop *loop);
/* One packet: header `h`, its payload in `iov` (h->len bytes in all, or
 * fewer if the packet is malformed). */
void vsock_pcap_packet(struct vsock_pcap *p, const struct vsock_hdr *h,
		       const struct iovec *iov, unsigned int niov);
uint64_t vsock_pcap_records(const struct vsock_pcap *p);
uint64_t vsock_pcap_dropped(const struct vsock_pcap *p);
/* Write out what is buffered and close; the loop no longer runs. */
void vsock_pcap_close(struct vsock_pcap *p);

#endif
