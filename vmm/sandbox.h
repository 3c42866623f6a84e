/*
 * sandbox: the seccomp allowlists, one per thread kind (libseccomp).
 *
 * Both filters are built on the main thread before any other thread
 * exists (sandbox_create); each thread then installs its own kind's
 * filter (sandbox_enter), without TSYNC, since the kinds differ. A thread
 * inherits the filter of the thread that creates it, so the main thread
 * starts every vCPU thread before it enters the loop's sandbox.
 *
 * A forbidden system call raises SIGSYS; its handler writes
 * "vmm: error: seccomp: thread <kind> made forbidden system call <nr>
 * (<name>)" to stderr and ends the process with SANDBOX_EXIT_STATUS.
 */
#ifndef VMM_SANDBOX_H
#define VMM_SANDBOX_H

#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>

enum sandbox_mode {
	SANDBOX_ON, /* forbidden call: message, SANDBOX_EXIT_STATUS */
	SANDBOX_OFF, /* no filters */
	SANDBOX_LOG, /* allow everything, the kernel logs what is not listed */
};

enum sandbox_kind {
	SANDBOX_VCPU,
	SANDBOX_LOOP, /* the main thread, once it runs the event loop */
	SANDBOX_NR_KINDS,
};

/* The exit status after a forbidden call: what a shell reports for a
 * process that SIGSYS killed. */
#define SANDBOX_EXIT_STATUS (128 + SIGSYS)

struct sandbox {
	enum sandbox_mode mode;
	scmp_filter_ctx ctx[SANDBOX_NR_KINDS];
	pthread_mutex_t lock; /* vCPU threads load the one shared context */
	int selftest; /* a kind, or -1: see sandbox_create() */
};

/*
 * Build both filters and install the SIGSYS handler. `read_files`
 * allows the loop thread read-only opens (--stats reads /proc at exit).
 * Returns 0 or -errno.
 */
int sandbox_create(struct sandbox *sb, enum sandbox_mode mode,
		   bool read_files);
/* Install `kind`'s filter on the calling thread; 0 or -errno. */
int sandbox_enter(struct sandbox *sb, enum sandbox_kind kind);
void sandbox_destroy(struct sandbox *sb);

#endif
