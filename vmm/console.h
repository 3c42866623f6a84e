/*
 * console: the guest's serial console (the 8250 UART at serial0) on the
 * host's stdin and stdout. Owns the UART, the lock that orders guest
 * output, the watch for the guest kernel's panic line, the stdin reads
 * and the terminal's saved mode.
 *
 * Contract:
 * - Guest output goes to stdout a byte at a time from any vCPU thread.
 *   It blocks while stdout does (nothing is dropped while the VM runs)
 *   and gives up once the VM is stopping.
 * - The first time the output holds the kernel's panic line, the console
 *   calls vm_note_panic().
 * - stdin is read on the event loop only as fast as the guest drains the
 *   UART, so no input is dropped; end of file ends input quietly.
 * - console_enter() and console_leave() run on the event loop thread;
 *   console_leave() may be called more than once.
 * - With --exec, stdin and stdout are PROG's (exec.h): the console writes
 *   to stderr instead, reads no input and leaves the terminal alone.
 */
#ifndef VMM_CONSOLE_H
#define VMM_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "devices/serial8250.h"
#include "vmm/evloop.h"

struct vm;

struct console {
	struct vm *vm;
	struct serial8250 *serial;
	pthread_mutex_t lock; /* guest output and the panic watch */
	size_t panic_match; /* bytes of the panic line seen so far */
	int out_fd; /* stdout, or stderr with --exec */
	bool input; /* stdin goes to the guest (not with --exec) */

	bool stdin_open;
	struct evloop_op stdin_op;
	struct evloop_op stdin_retry_op;
	struct __kernel_timespec stdin_retry;
	uint8_t stdin_buf[256];

	struct termios saved_tio;
	bool tio_saved;
};

/* Create the UART (not yet on a bus: the caller maps c->serial). */
int console_create(struct console *c, struct vm *vm);
/* Raw mode for a terminal stdin (^C and ^\ stay signals), then start
 * passing stdin on to the guest. */
void console_enter(struct console *c);
/* Give the terminal its mode back. */
void console_leave(struct console *c);
/* After every vCPU has stopped. A console never created is skipped. */
void console_destroy(struct console *c);

#endif
