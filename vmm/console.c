/* console: see console.h. */
#define LOG_TAG "vm" /* its messages are the VM's */
#include "vmm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/util.h"
#include "vmm/vm.h"

#define PANIC_MARKER "Kernel panic - not syncing"
#define STDIN_RETRY_NS 10000000 /* UART full: look again in 10 ms */

static void serial_set_irq(void *opaque, int level)
{
	struct console *c = opaque;

	vm_set_irq_line(c->vm, (uint32_t)machine_devs[MACHINE_DEV_SERIAL0].irq,
			level);
}

/*
 * A guest kernel that panics prints PANIC_MARKER on its console. Noting
 * it lets a later reset (panic=-1) or a hang end the VMM with
 * VM_EXIT_PANIC instead of success. A guest can fake the marker, but only
 * to fail its own run. Called with c->lock held.
 */
static void watch(struct console *c, uint8_t byte)
{
	static const char marker[] = PANIC_MARKER;

	if (byte == (uint8_t)marker[c->panic_match])
		c->panic_match++;
	else
		c->panic_match = byte == (uint8_t)marker[0] ? 1 : 0;
	if (c->panic_match < sizeof(marker) - 1)
		return;
	c->panic_match = 0;
	vm_note_panic(c->vm);
}

/*
 * Guest output, from any vCPU thread. Once the VM is stopping it gives
 * up: the kick signal interrupts a blocked write(), and a stdout nobody
 * drains must not keep the VMM from exiting.
 */
static void serial_tx(void *opaque, uint8_t byte)
{
	struct console *c = opaque;

	pthread_mutex_lock(&c->lock);
	while (!vm_stopping(c->vm)) {
		struct pollfd pfd = { .fd = c->out_fd, .events = POLLOUT };
		ssize_t n = write(c->out_fd, &byte, 1);

		if (n == 1 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
		if (n < 0 && errno == EAGAIN)
			poll(&pfd, 1, 100); /* a non-blocking stdout */
	}
	watch(c, byte);
	pthread_mutex_unlock(&c->lock);
}

int console_create(struct console *c, struct vm *vm)
{
	struct serial8250_cb cb = {
		.set_irq = serial_set_irq, .tx = serial_tx, .opaque = c,
	};

	c->vm = vm;
	c->input = !vm->cfg->exec.argv;
	c->out_fd = c->input ? STDOUT_FILENO : STDERR_FILENO;
	pthread_mutex_init(&c->lock, NULL);
	return serial8250_create(&c->serial, &cb);
}

static void stdin_arm(struct console *c);

static void on_stdin_retry(struct evloop_op *op, int res, uint32_t flags)
{
	(void)res;
	(void)flags;
	stdin_arm(container_of(op, struct console, stdin_retry_op));
}

static void on_stdin(struct evloop_op *op, int res, uint32_t flags)
{
	struct console *c = container_of(op, struct console, stdin_op);

	(void)flags;
	if (res == -EINTR || res == -EAGAIN) {
		stdin_arm(c);
		return;
	}
	if (res <= 0) {
		/* EOF or an unreadable stdin: the guest just gets no input. */
		c->stdin_open = false;
		return;
	}
	/* stdin_arm() asked for no more than the UART had room for. */
	serial8250_rx_push(c->serial, c->stdin_buf, (size_t)res);
	stdin_arm(c);
}

/* Read stdin only as fast as the guest drains its UART: nothing dropped. */
static void stdin_arm(struct console *c)
{
	struct evloop *loop = &c->vm->loop;
	size_t room = serial8250_rx_space(c->serial);

	if (!c->stdin_open)
		return;
	if (!room) {
		c->stdin_retry = evloop_ts_from_ns(STDIN_RETRY_NS);
		c->stdin_retry_op.handler = on_stdin_retry;
		evloop_timeout(loop, &c->stdin_retry_op, &c->stdin_retry);
		return;
	}
	c->stdin_op.handler = on_stdin;
	evloop_read(loop, &c->stdin_op, STDIN_FILENO, c->stdin_buf,
		    (unsigned int)MIN(room, sizeof(c->stdin_buf)));
}

void console_enter(struct console *c)
{
	struct termios raw;

	if (!c->input)
		return;
	c->stdin_open = fcntl(STDIN_FILENO, F_GETFL) >= 0;
	if (isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &c->saved_tio)) {
		c->tio_saved = true;
		raw = c->saved_tio;
		cfmakeraw(&raw);
		/* Keep ^C and ^\ as signals so a user can always stop the VM. */
		raw.c_lflag |= ISIG;
		raw.c_oflag |= OPOST | ONLCR;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	stdin_arm(c);
}

void console_leave(struct console *c)
{
	if (c->tio_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved_tio);
		c->tio_saved = false;
	}
}

void console_destroy(struct console *c)
{
	if (!c->vm)
		return;
	serial8250_destroy(c->serial);
	pthread_mutex_destroy(&c->lock);
	c->vm = NULL;
}
