/*
 * evloop: the VMM's one event loop, on one io_uring.
 *
 * Every in-flight operation is a struct evloop_op embedded in the object
 * that owns it; its address is the SQE's user_data, and its handler is the
 * one place the completion is dispatched to. The loop runs on the main
 * thread only (the thread that creates it: the ring refuses submissions
 * from any other); other threads wake it through eventfds it reads.
 */
#ifndef VMM_EVLOOP_H
#define VMM_EVLOOP_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct evloop_op;

/* `res` is the CQE result (count or -errno), `flags` the CQE flags. */
typedef void (*evloop_handler_fn)(struct evloop_op *op, int res,
				  uint32_t flags);

struct evloop_op {
	evloop_handler_fn handler;
};

/*
 * Work that runs once after the completions of a pass are dispatched,
 * however often it was asked for in that pass (evloop_after_pass()).
 */
struct evloop_after {
	void (*fn)(struct evloop_after *a);
	struct evloop_after *next;
	bool queued;
};

/* What the loop did, for benchmarks and dumps: cheap counters. */
struct evloop_stats {
	uint64_t submits; /* io_uring_enter() calls: submit and/or wait */
	uint64_t sqes; /* SQEs they submitted */
	uint64_t cqes; /* completions dispatched */
	uint64_t wakeups; /* waits or polls that found completions */
};

struct evloop {
	struct io_uring ring;
	bool stop;
	pthread_t thread; /* the one that created it and runs it */
	struct evloop_after *after; /* evloop_after_pass() queue */
	bool after_early; /* ...runs before the next burst round */
	struct evloop_stats st;
};

int evloop_create(struct evloop *loop, unsigned int entries);
void evloop_destroy(struct evloop *loop);

/*
 * A free SQE, submitting queued ones first if the ring is full. Prepare
 * it, then set its user_data to the owning evloop_op.
 */
struct io_uring_sqe *evloop_sqe(struct evloop *loop);

/* Common submissions; each returns 0 or -errno. */
int evloop_read(struct evloop *loop, struct evloop_op *op, int fd, void *buf,
		unsigned int len);
int evloop_write(struct evloop *loop, struct evloop_op *op, int fd,
		 const void *buf, unsigned int len);
/* Wait until `fd` has `events` (POLLIN, POLLOUT); res is the mask. */
int evloop_poll(struct evloop *loop, struct evloop_op *op, int fd,
		unsigned int events);
int evloop_timeout(struct evloop *loop, struct evloop_op *op,
		   struct __kernel_timespec *ts);
/* A relative time of `ns` nanoseconds for evloop_timeout(). */
static inline struct __kernel_timespec evloop_ts_from_ns(uint64_t ns)
{
	return (struct __kernel_timespec){
		.tv_sec = (long long)(ns / 1000000000),
		.tv_nsec = (long long)(ns % 1000000000),
	};
}

/* True on the thread that runs the loop. */
static inline bool evloop_on_thread(const struct evloop *loop)
{
	return pthread_equal(pthread_self(), loop->thread);
}

/*
 * Run a->fn once the completions of the current pass are dispatched (if
 * called between passes: before the loop next waits). Asking again before
 * it ran changes nothing. Loop thread only.
 */
void evloop_after_pass(struct evloop *loop, struct evloop_after *a);

/*
 * The after-pass work asked for so far is for somebody who waits: run it
 * before the pass's next burst round (evloop_run()), not after the whole
 * burst. Loop thread only.
 */
void evloop_after_early(struct evloop *loop);

/*
 * Dispatch completions until evloop_stop(); returns 0 or -errno. What a
 * pass submitted and the kernel completes at once (a send with room, a
 * receive with data waiting, a poll of a ready socket) is dispatched
 * before the pass's after-pass work, for up to EVLOOP_BURST more rounds:
 * the VMM's interrupt goes out once for the burst, not once per round
 * (unless somebody waits for it: evloop_after_early()).
 */
#define EVLOOP_BURST 4u
int evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);

/*
 * For test harnesses that drive the loop themselves: submit what is
 * queued, wait up to `timeout_us` (0: not at all) for a completion, and
 * dispatch all that are ready. Returns how many, or -errno.
 */
int evloop_run_once(struct evloop *loop, unsigned int timeout_us);
/* evloop_run_once() timeout: wait for a completion, with no timer (as
 * evloop_run() waits), for callers that know one will come. */
#define EVLOOP_WAIT_FOREVER UINT32_MAX

#endif
