/*
 * vsock: the virtio-vsock device (VIRTIO 1.2, 5.10, device id 19) and its
 * host side: guest connections are forwarded to host AF_UNIX and TCP
 * sockets, host connections (the hybrid AF_UNIX socket, TCP listeners)
 * reach guest listeners.
 *
 * Layers: device.c turns virtqueue chains into packets and back
 * (buffers.c reads the chains); the muxer and conn (pure) decide what
 * each packet means; a backend (backend.h: the contract; host.c and its
 * siblings: host sockets on the VMM's one io_uring) does all host I/O.
 *
 * Threads: the transport calls the device ops with its lock held, from a
 * vCPU thread (config, status) or the event loop thread (notifications).
 * Everything that touches host sockets or the io_uring runs on the event
 * loop thread and takes the transport lock, so device state is only ever
 * changed under that lock.
 */
#ifndef DEVICES_VSOCK_VSOCK_H
#define DEVICES_VSOCK_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "virtio/mmio.h"
#include "vmm/evloop.h"

struct vsock_backend_ops;

#define VIRTIO_ID_VSOCK 19
#define VIRTIO_VSOCK_F_STREAM 0
#define VIRTIO_VSOCK_F_SEQPACKET 1

#define VSOCK_QUEUE_RX 0
#define VSOCK_QUEUE_TX 1
#define VSOCK_QUEUE_EVENT 2

/* The longest an interrupt for used buffers nobody waits for is held back
 * to share one with the next (device.c, signal_used()), by default. */
#define VSOCK_SIGNAL_DELAY_NS (1000ull * 1000)
/* Longest TX notifications stay off while host data flows (device.c). */
#define VSOCK_TX_QUIET_NS (1000ull * 1000)

/* A host endpoint guest connections are forwarded to. */
struct vsock_endpoint {
	struct sockaddr_storage addr; /* AF_UNIX, AF_INET or AF_INET6 */
	socklen_t addrlen;
};

/* --vsock-port P=unix:PATH | P=tcp:HOST:PORT, or an internal target */
struct vsock_port_rule {
	uint32_t port; /* guest's destination port on CID 2 */
	struct vsock_endpoint to;
	/*
	 * Internal target (--exec's streams), used instead of `to` when set:
	 * called on the event loop thread when the guest connects a stream
	 * socket to `port`; returns a connected AF_UNIX stream socket, which
	 * the backend then owns, or -errno to refuse the connection.
	 */
	int (*take)(void *opaque, uint32_t port);
	void *opaque;
};

/* --vsock-listen tcp:ADDR:PORT=GUESTPORT */
struct vsock_listen_rule {
	struct vsock_endpoint at;
	uint32_t guest_port;
};

/*
 * --vsock-fault: device behaviour the spec allows that pushes a guest
 * driver into its corners (README "Fault modes"). 0: off.
 */
struct vsock_fault {
	uint32_t tiny_rx; /* tiny-rx: payload bytes per RX packet, at most */
	uint64_t credit_delay_ns; /* slow-credit: CREDIT_UPDATE held so long */
	uint64_t response_delay_ns; /* late-response: RESPONSE held so long */
	uint64_t reset_period_ns; /* transport-reset@S: every S from DRIVER_OK */
};

#define VSOCK_FAULT_TINY_RX_DEFAULT 64u
#define VSOCK_FAULT_CREDIT_DELAY_MS 500u
#define VSOCK_FAULT_RESPONSE_DELAY_MS 1500u
#define VSOCK_FAULT_DELAY_MAX_MS 10000u

/*
 * Parse a --vsock-fault argument, MODE[,MODE], into `f` (modes given
 * before are kept). Returns 0, or -EINVAL with a reason naming the mode in
 * `why`. No I/O.
 */
int vsock_parse_faults(const char *spec, struct vsock_fault *f, char *why,
		       size_t why_size);

struct vsock_config {
	uint64_t guest_cid;
	/* Hybrid socket; guest port P defaults to "<uds>_<P>". NULL: none,
	 * and guest connections without a rule are refused. */
	const char *uds_path;
	const struct vsock_port_rule *ports;
	unsigned int nr_ports;
	const struct vsock_listen_rule *listens;
	unsigned int nr_listens;
	uint32_t max_conns; /* 0: VSOCK_MUXER_MAX_CONNS_DEFAULT */
	uint64_t timeout_ns; /* 0: VSOCK_CONN_TIMEOUT_NS */
	uint32_t buf_alloc; /* 0: VSOCK_MUXER_BUF_ALLOC */
	/* --vsock-pcap: capture every packet there (NULL: no capture), with
	 * at most pcap_snaplen payload bytes each (0: all). */
	const char *pcap_path;
	uint32_t pcap_snaplen;
	struct vsock_fault fault; /* --vsock-fault */
	uint64_t signal_delay_ns; /* 0: VSOCK_SIGNAL_DELAY_NS */
	uint64_t tx_quiet_ns; /* 0: VSOCK_TX_QUIET_NS */
	/* NULL: host sockets on io_uring; tests put a fake here. */
	const struct vsock_backend_ops *backend;
};

/* How long the device holds an interrupt back under `cfg`. */
static inline uint64_t vsock_signal_delay_ns(const struct vsock_config *cfg)
{
	return cfg->signal_delay_ns ? cfg->signal_delay_ns
				    : VSOCK_SIGNAL_DELAY_NS;
}

/*
 * Parse a --vsock-port or --vsock-listen argument. Returns 0, or -EINVAL
 * with *why set to a short reason. Host names are resolved here.
 */
int vsock_parse_port_rule(const char *spec, struct vsock_port_rule *out,
			  const char **why);
int vsock_parse_listen_rule(const char *spec, struct vsock_listen_rule *out,
			    const char **why);

struct vsock_dev;

/*
 * Create the device and bind its host listeners (the hybrid socket, its
 * "_seqpacket" twin, TCP listeners), so that a busy address is reported
 * before the guest boots. Completions go to `loop`.
 */
int vsock_dev_create(struct vsock_dev **out, const struct vsock_config *cfg,
		     struct evloop *loop);
/* The transport configuration for this device. */
struct virtio_mmio_config vsock_dev_mmio_config(struct vsock_dev *d);
/* The transport the device sits on (after virtio_mmio_create()). */
void vsock_dev_attach(struct vsock_dev *d, struct virtio_mmio *m);
/* Start accepting host connections. Event loop thread. */
int vsock_dev_start(struct vsock_dev *d);
/* The event loop has stopped for good: a vCPU waiting in a device reset
 * for lent RX buffers returns now (nothing will give them back). Any
 * thread. */
void vsock_dev_stop(struct vsock_dev *d);
/* Close every host connection and listener, remove the socket files we
 * created. The event loop must no longer run. */
void vsock_dev_destroy(struct vsock_dev *d);
/*
 * A transport reset (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET): drop every
 * connection (host peers see a close) and tell the driver through the
 * event queue. Event loop thread, after vsock_dev_start(). Returns 0, or
 * -ENODEV while no driver is live (there is nothing to reset).
 */
int vsock_dev_transport_reset(struct vsock_dev *d);

struct vsock_dev_stats {
	uint64_t tx_packets, rx_packets; /* guest -> device, device -> guest */
	uint64_t tx_bytes, rx_bytes; /* RW payload */
	uint64_t conns_opened, conns_refused;
	uint64_t tx_dropped; /* malformed or invalid guest packets */
	uint64_t pcap_records, pcap_dropped; /* --vsock-pcap */
	uint64_t transport_resets;
	uint64_t events_rejected; /* malformed event buffers */
	uint32_t conns_live;
};
void vsock_dev_get_stats(struct vsock_dev *d, struct vsock_dev_stats *st);

#endif
