/*
 * serial8250: register model of a 16550A (see serial8250.h).
 *
 * Interrupt sources, highest priority first: received data (IER.RDI), THR
 * empty (IER.THRI). The line level is recomputed after every access and
 * forwarded only when it changes; since THR empties instantly, a THR write
 * with THRI enabled drops and re-raises the line so an edge-triggered
 * IOAPIC pin sees a fresh interrupt.
 */
#include "devices/serial8250.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
	REG_RBR_THR = 0, /* DLL when LCR.DLAB */
	REG_IER = 1, /* DLM when LCR.DLAB */
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO_BITS 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_DCD 0x80

static uint8_t iir_locked(const struct serial8250 *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO_BITS : 0;

	if ((s->ier & IER_RDI) && s->rx_count)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return fifo | IIR_THRI;
	return fifo | IIR_NO_INT;
}

static void update_irq_locked(struct serial8250 *s)
{
	int level = !(iir_locked(s) & IIR_NO_INT);

	if (level != s->irq_level) {
		s->irq_level = level;
		s->cb.set_irq(s->cb.opaque, level);
	}
}

static void rx_push_locked(struct serial8250 *s, uint8_t byte)
{
	if (s->rx_count == SERIAL8250_RX_SIZE)
		return; /* overrun: a real UART drops too */
	s->rx[(s->rx_head + s->rx_count) % SERIAL8250_RX_SIZE] = byte;
	s->rx_count++;
}

static void serial_read(void *opaque, uint64_t off, void *data,
			unsigned int len)
{
	struct serial8250 *s = opaque;
	uint8_t v = 0;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			v = s->dll;
		} else if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL8250_RX_SIZE;
			s->rx_count--;
		}
		break;
	case REG_IER:
		v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case REG_IIR_FCR:
		v = iir_locked(s);
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if ((v & 0x0f) == IIR_THRI)
			s->thr_ipending = 0;
		break;
	case REG_LCR:
		v = s->lcr;
		break;
	case REG_MCR:
		v = s->mcr;
		break;
	case REG_LSR:
		v = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
		break;
	case REG_MSR:
		if (s->mcr & MCR_LOOP)
			/* Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
			v = (uint8_t)((s->mcr & 0x02) << 3 |
				      (s->mcr & 0x01) << 5 |
				      (s->mcr & 0x0c) << 4);
		else
			v = MSR_DCD | MSR_DSR | MSR_CTS;
		break;
	case REG_SCR:
		v = s->scr;
		break;
	}
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	memset(data, 0, len);
	*(uint8_t *)data = v;
}

static void serial_write(void *opaque, uint64_t off, const void *data,
			 unsigned int len)
{
	struct serial8250 *s = opaque;
	uint8_t v = *(const uint8_t *)data;
	int tx = -1;

	(void)len;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		if (s->mcr & MCR_LOOP)
			rx_push_locked(s, v);
		else
			tx = v;
		/* The byte left at once: THR is empty again. */
		if (s->ier & IER_THRI) {
			s->thr_ipending = 0;
			update_irq_locked(s);
		}
		s->thr_ipending = 1;
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI with THR empty raises THR-empty at once. */
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thr_ipending = 1;
		s->ier = v & 0x0f;
		break;
	case REG_IIR_FCR:
		s->fcr = v & (FCR_ENABLE | 0xc0);
		if (v & FCR_CLEAR_RX)
			s->rx_head = s->rx_count = 0;
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		s->mcr = v & 0x1f;
		break;
	case REG_SCR:
		s->scr = v;
		break;
	default:
		break; /* LSR and MSR are read-only */
	}
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	/* Outside the lock: the sink may block on a slow stdout. */
	if (tx >= 0)
		s->cb.tx(s->cb.opaque, (uint8_t)tx);
}

const struct bus_ops serial8250_bus_ops = {
	.read = serial_read,
	.write = serial_write,
};

int serial8250_create(struct serial8250 **out, const struct serial8250_cb *cb)
{
	struct serial8250 *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->cb = *cb;
	s->thr_ipending = 0;
	*out = s;
	return 0;
}

void serial8250_destroy(struct serial8250 *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

size_t serial8250_rx_space(struct serial8250 *s)
{
	size_t space = 0;

	pthread_mutex_lock(&s->lock);
	/*
	 * No room until the guest's driver has opened the port: it resets
	 * the FIFO and reads RBR "for luck" when it starts, which would
	 * throw away input that arrived earlier (e.g. commands piped into
	 * the VMM). Open means receive interrupts enabled and OUT2 raised
	 * (a PC UART's interrupt gate), outside loopback: Linux's probe
	 * sets IER to 0x0f for a moment with OUT2 still low, and its
	 * loopback test raises OUT2 with LOOP; neither is an open port.
	 */
	if ((s->ier & IER_RDI) && (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2)
		space = SERIAL8250_RX_SIZE - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return space;
}

size_t serial8250_rx_push(struct serial8250 *s, const uint8_t *buf, size_t len)
{
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < len && s->rx_count < SERIAL8250_RX_SIZE; i++)
		rx_push_locked(s, buf[i]);
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	return i;
}
