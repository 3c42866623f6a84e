/* evloop: submit, wait, dispatch (see evloop.h). */
#define LOG_TAG "evloop"
#include "vmm/evloop.h"

#include <errno.h>
#include <string.h>

#include "vmm/log.h"
#include "vmm/util.h"

/*
 * Every SQE opcode the VMM submits (grep io_uring_prep_). seccomp cannot
 * see inside the ring, so the ring itself refuses any other opcode, and
 * any SQE flag, with -EACCES in the CQE; it also takes no more
 * io_uring_register() calls once enabled.
 */
static const uint8_t evloop_opcodes[] = {
	IORING_OP_READ, /* eventfds, signalfd, stdin, --exec's relays */
	IORING_OP_TIMEOUT,
	IORING_OP_ACCEPT, /* vsock listeners */
	IORING_OP_CONNECT, /* vsock host sockets */
	IORING_OP_SENDMSG,
	IORING_OP_RECVMSG,
	IORING_OP_POLL_ADD,
	IORING_OP_ASYNC_CANCEL,
	IORING_OP_WRITE, /* --vsock-pcap, --exec's relays */
};

/*
 * One thread submits and waits (the loop's), so the kernel may keep
 * completion work for that thread's next wait instead of interrupting it
 * (DEFER_TASKRUN, which needs SINGLE_ISSUER): the 1-byte round trip of
 * bench_vsock went from ~10.3 to ~8.8 us. The ring is enabled, and so
 * bound, on the thread that creates it; a submission from any other thread
 * fails with -EEXIST. Kernels before 6.1 get a ring without them.
 * TASKRUN_FLAG: the kernel says in the SQ ring when such work waits, so
 * that a pass that does not wait enters the kernel only if it must.
 */
#define EVLOOP_SETUP_FLAGS                                         \
	(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | \
	 IORING_SETUP_TASKRUN_FLAG)

int evloop_create(struct evloop *loop, unsigned int entries)
{
	struct io_uring_restriction res[ARRAY_SIZE(evloop_opcodes)];
	unsigned int i;
	int ret;

	memset(loop, 0, sizeof(*loop));
	loop->thread = pthread_self();
	/* Disabled until the restrictions are in place. */
	ret = io_uring_queue_init(entries, &loop->ring,
				  IORING_SETUP_R_DISABLED | EVLOOP_SETUP_FLAGS);
	if (ret == -EINVAL) /* a kernel without them */
		ret = io_uring_queue_init(entries, &loop->ring,
					  IORING_SETUP_R_DISABLED);
	if (ret)
		return ret;
	memset(res, 0, sizeof(res));
	for (i = 0; i < ARRAY_SIZE(res); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = evloop_opcodes[i];
	}
	/*
	 * Debian 12's liburing 2.3 declares io_uring_register_restrictions()
	 * and io_uring_enable_rings() but does not export them: use the
	 * register call they wrap (it returns -errno).
	 */
	ret = io_uring_register((unsigned int)loop->ring.ring_fd,
				IORING_REGISTER_RESTRICTIONS, res,
				ARRAY_SIZE(res));
	if (!ret)
		ret = io_uring_register((unsigned int)loop->ring.ring_fd,
					IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret)
		io_uring_queue_exit(&loop->ring);
	return ret;
}

void evloop_destroy(struct evloop *loop)
{
	io_uring_queue_exit(&loop->ring);
}

/* Count a submission about to be made; liburing enters the kernel only
 * to submit something or to wait. */
static void count_submit(struct evloop *loop, bool wait)
{
	unsigned int ready = io_uring_sq_ready(&loop->ring);

	if (ready || wait)
		loop->st.submits++;
	loop->st.sqes += ready;
}

struct io_uring_sqe *evloop_sqe(struct evloop *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	if (!sqe) {
		count_submit(loop, false);
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

int evloop_read(struct evloop *loop, struct evloop_op *op, int fd, void *buf,
		unsigned int len)
{
	struct io_uring_sqe *sqe = evloop_sqe(loop);

	if (!sqe)
		return -EBUSY;
	/* Offset -1: read at the file position, as for pipes and ttys. */
	io_uring_prep_read(sqe, fd, buf, len, (uint64_t)-1);
	io_uring_sqe_set_data(sqe, op);
	return 0;
}

int evloop_write(struct evloop *loop, struct evloop_op *op, int fd,
		 const void *buf, unsigned int len)
{
	struct io_uring_sqe *sqe = evloop_sqe(loop);

	if (!sqe)
		return -EBUSY;
	/* Offset -1: at the file position, as for pipes and ttys. */
	io_uring_prep_write(sqe, fd, buf, len, (uint64_t)-1);
	io_uring_sqe_set_data(sqe, op);
	return 0;
}

int evloop_poll(struct evloop *loop, struct evloop_op *op, int fd,
		unsigned int events)
{
	struct io_uring_sqe *sqe = evloop_sqe(loop);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data(sqe, op);
	return 0;
}

int evloop_timeout(struct evloop *loop, struct evloop_op *op,
		   struct __kernel_timespec *ts)
{
	struct io_uring_sqe *sqe = evloop_sqe(loop);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout(sqe, ts, 0, 0);
	io_uring_sqe_set_data(sqe, op);
	return 0;
}

void evloop_after_pass(struct evloop *loop, struct evloop_after *a)
{
	if (a->queued)
		return;
	a->queued = true;
	a->next = loop->after;
	loop->after = a;
}

void evloop_after_early(struct evloop *loop)
{
	loop->after_early = true;
}

static void run_after(struct evloop *loop)
{
	loop->after_early = false;
	while (loop->after) {
		struct evloop_after *a = loop->after;

		loop->after = a->next;
		a->queued = false;
		a->fn(a);
	}
}

static bool wait_failed(int ret)
{
	return ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY &&
	       ret != -ETIME;
}

/* Dispatch every completion that is ready; returns how many. */
static unsigned int dispatch_cqes(struct evloop *loop)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_for_each_cqe(&loop->ring, head, cqe) {
		struct evloop_op *op = io_uring_cqe_get_data(cqe);

		seen++;
		if (op)
			op->handler(op, cqe->res, cqe->flags);
	}
	io_uring_cq_advance(&loop->ring, seen);
	loop->st.cqes += seen;
	return seen;
}

/*
 * A pass after a wait: its completions, then for up to `burst` rounds
 * what they submitted that completes at once (see evloop.h), then the
 * work due after it (before the next round, if it was asked for early).
 * Returns how many completions, or a failed submission's -errno.
 */
static int dispatch(struct evloop *loop, unsigned int burst)
{
	unsigned int i, seen = dispatch_cqes(loop), total = seen;
	int ret;

	if (seen)
		loop->st.wakeups++;
	for (i = 0; seen && i < burst && io_uring_sq_ready(&loop->ring); i++) {
		if (loop->after_early)
			run_after(loop);
		count_submit(loop, false);
		ret = io_uring_submit_and_get_events(&loop->ring);
		if (wait_failed(ret)) {
			run_after(loop);
			return ret;
		}
		seen = dispatch_cqes(loop);
		total += seen;
	}
	run_after(loop);
	return (int)total;
}

int evloop_run(struct evloop *loop)
{
	while (!loop->stop) {
		int ret;

		run_after(loop); /* asked for between passes */
		count_submit(loop, true);
		ret = io_uring_submit_and_wait(&loop->ring, 1);

		if (!wait_failed(ret))
			ret = dispatch(loop, EVLOOP_BURST);
		if (wait_failed(ret)) {
			log_err("io_uring wait failed: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int evloop_run_once(struct evloop *loop, unsigned int timeout_us)
{
	int ret;

	run_after(loop);
	/* Nothing for the kernel to do: no submissions, no deferred
	 * completion work, no completions kept back from a full CQ ring. */
	if (!timeout_us && !io_uring_sq_ready(&loop->ring) &&
	    !(IO_URING_READ_ONCE(*loop->ring.sq.kflags) &
	      (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
		return dispatch(loop, 0);
	count_submit(loop, true);
	if (timeout_us == EVLOOP_WAIT_FOREVER) {
		ret = io_uring_submit_and_wait(&loop->ring, 1);
	} else if (timeout_us) {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_us / 1000000,
			.tv_nsec = (long long)(timeout_us % 1000000) * 1000,
		};
		struct io_uring_cqe *cqe;

		ret = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1,
						       &ts, NULL);
	} else {
		/* Also runs the completion work DEFER_TASKRUN kept. */
		ret = io_uring_submit_and_get_events(&loop->ring);
	}
	if (wait_failed(ret))
		return ret;
	return dispatch(loop, 0);
}

void evloop_stop(struct evloop *loop)
{
	loop->stop = true;
}
