/*
 * serial8250: a 16550A UART, enough for the Linux 8250 driver and console.
 *
 * Output bytes go to a sink callback as soon as the guest writes THR (the
 * transmitter is always idle). Input bytes are queued by the event loop in
 * a bounded receive buffer. All register state is behind one mutex because
 * vCPU threads and the event loop both touch it.
 */
#ifndef DEVICES_SERIAL8250_H
#define DEVICES_SERIAL8250_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"

#define SERIAL8250_RX_SIZE 4096u

struct serial8250_cb {
	/* Set the interrupt line to `level` (called only on change). */
	void (*set_irq)(void *opaque, int level);
	/* One byte of guest output. */
	void (*tx)(void *opaque, uint8_t byte);
	void *opaque;
};

struct serial8250 {
	pthread_mutex_t lock;
	struct serial8250_cb cb;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	int thr_ipending; /* THR-empty interrupt not yet acknowledged */
	int irq_level;
	uint8_t rx[SERIAL8250_RX_SIZE];
	size_t rx_head, rx_count;
};

extern const struct bus_ops serial8250_bus_ops;

int serial8250_create(struct serial8250 **out, const struct serial8250_cb *cb);
void serial8250_destroy(struct serial8250 *s);

/* Room for host input: 0 until the guest enables receive interrupts. */
size_t serial8250_rx_space(struct serial8250 *s);
/* Queue host input for the guest; returns how many bytes were taken. */
size_t serial8250_rx_push(struct serial8250 *s, const uint8_t *buf, size_t len);

#endif
