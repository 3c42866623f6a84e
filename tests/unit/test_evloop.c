/* Unit tests: the event loop's ring takes only the opcodes the VMM uses,
 * belongs to one thread, and its passes collect every completion. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/evloop.h"
#include "vmm/util.h"

struct result {
	struct evloop_op op;
	int res;
	unsigned int seen;
};

static void on_done(struct evloop_op *op, int res, uint32_t flags)
{
	struct result *r = (struct result *)op;

	(void)flags;
	r->res = res;
	r->seen++;
}

/* Run the loop until `r` completes (or 5 s pass). */
static void wait_for(struct evloop *loop, struct result *r)
{
	unsigned int i;

	for (i = 0; i < 50 && !r->seen; i++)
		ck_assert_int_ge(evloop_run_once(loop, 100 * 1000), 0);
	ck_assert_uint_eq(r->seen, 1);
}

START_TEST(forbidden_opcode_fails_with_eacces)
{
	struct result r = { .op.handler = on_done };
	struct io_uring_sqe *sqe;
	struct evloop loop;

	ck_assert_int_eq(evloop_create(&loop, 8), 0);
	sqe = evloop_sqe(&loop);
	ck_assert_ptr_nonnull(sqe);
	io_uring_prep_openat(sqe, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	io_uring_sqe_set_data(sqe, &r.op);
	wait_for(&loop, &r);
	ck_assert_int_eq(r.res, -EACCES);
	evloop_destroy(&loop);
}
END_TEST

START_TEST(sqe_flags_fail_with_eacces)
{
	struct result r = { .op.handler = on_done };
	struct io_uring_sqe *sqe;
	struct evloop loop;
	uint64_t buf;
	int efd = eventfd(1, EFD_CLOEXEC);

	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(evloop_create(&loop, 8), 0);
	sqe = evloop_sqe(&loop);
	ck_assert_ptr_nonnull(sqe);
	/* The read is allowed, forcing it to a worker thread is not. */
	io_uring_prep_read(sqe, efd, &buf, sizeof(buf), (uint64_t)-1);
	io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	io_uring_sqe_set_data(sqe, &r.op);
	wait_for(&loop, &r);
	ck_assert_int_eq(r.res, -EACCES);
	evloop_destroy(&loop);
	close(efd);
}
END_TEST

START_TEST(allowed_opcodes_run)
{
	struct result rd = { .op.handler = on_done };
	struct result to = { .op.handler = on_done };
	struct __kernel_timespec ts = { .tv_nsec = 1000 * 1000 };
	struct evloop loop;
	uint64_t buf = 0;
	int efd = eventfd(7, EFD_CLOEXEC);

	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(evloop_create(&loop, 8), 0);
	ck_assert_int_eq(evloop_read(&loop, &rd.op, efd, &buf, sizeof(buf)),
			 0);
	ck_assert_int_eq(evloop_timeout(&loop, &to.op, &ts), 0);
	wait_for(&loop, &rd);
	wait_for(&loop, &to);
	ck_assert_int_eq(rd.res, (int)sizeof(buf));
	ck_assert_uint_eq(buf, 7);
	ck_assert_int_eq(to.res, -ETIME);
	evloop_destroy(&loop);
	close(efd);
}
END_TEST

START_TEST(wait_forever_returns_with_a_completion)
{
	struct result to = { .op.handler = on_done };
	struct __kernel_timespec ts = { .tv_nsec = 1000 * 1000 };
	struct evloop loop;

	ck_assert_int_eq(evloop_create(&loop, 8), 0);
	ck_assert_int_eq(evloop_timeout(&loop, &to.op, &ts), 0);
	ck_assert_int_eq(evloop_run_once(&loop, EVLOOP_WAIT_FOREVER), 1);
	ck_assert_uint_eq(to.seen, 1);
	evloop_destroy(&loop);
}
END_TEST

/* A completion that arrives while nobody waits (its work deferred to the
 * loop thread) is still collected by a pass that does not wait. */
START_TEST(pass_without_wait_collects_late_completions)
{
	struct result rd = { .op.handler = on_done };
	struct evloop loop;
	uint64_t buf = 0, one = 1;
	unsigned int i;
	int efd = eventfd(0, EFD_CLOEXEC);

	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(evloop_create(&loop, 8), 0);
	ck_assert_int_eq(evloop_read(&loop, &rd.op, efd, &buf, sizeof(buf)),
			 0);
	ck_assert_int_eq(evloop_run_once(&loop, 0), 0); /* in flight */
	ck_assert_int_eq(write(efd, &one, sizeof(one)), (int)sizeof(one));
	for (i = 0; i < 1000 && !rd.seen; i++) {
		ck_assert_int_ge(evloop_run_once(&loop, 0), 0);
		if (!rd.seen)
			usleep(1000);
	}
	ck_assert_uint_eq(rd.seen, 1);
	ck_assert_int_eq(rd.res, (int)sizeof(buf));
	evloop_destroy(&loop);
	close(efd);
}
END_TEST

/* Completions the kernel kept back because the CQ ring was full are
 * collected by passes that do not wait, too. */
START_TEST(pass_without_wait_collects_overflowed_completions)
{
	enum { BATCHES = 3, PER = 8 }; /* a ring of 8: 16 CQ entries */
	struct result r[BATCHES * PER];
	uint64_t buf[BATCHES * PER];
	struct evloop loop;
	unsigned int b, i, seen = 0;
	int efd = eventfd(BATCHES * PER, EFD_CLOEXEC | EFD_SEMAPHORE);

	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(evloop_create(&loop, PER), 0);
	for (b = 0; b < BATCHES; b++) {
		for (i = b * PER; i < (b + 1) * PER; i++) {
			r[i] = (struct result){ .op.handler = on_done };
			ck_assert_int_eq(evloop_read(&loop, &r[i].op, efd,
						     &buf[i], sizeof(buf[i])),
					 0);
		}
		/* Completed at submission, none collected yet. */
		ck_assert_int_ge(io_uring_submit_and_get_events(&loop.ring),
				 0);
	}
	for (i = 0; i < 10; i++)
		ck_assert_int_ge(evloop_run_once(&loop, 0), 0);
	for (i = 0; i < BATCHES * PER; i++)
		seen += r[i].seen;
	ck_assert_uint_eq(seen, BATCHES * PER);
	evloop_destroy(&loop);
	close(efd);
}
END_TEST

struct asking;

struct after_probe {
	struct evloop_after a;
	const struct asking *k; /* the completions it counts */
	unsigned int nr, runs, seen_at_run;
};

struct asking {
	struct result res;
	struct evloop *loop;
	struct after_probe *probe;
};

static void on_after(struct evloop_after *a)
{
	struct after_probe *p = container_of(a, struct after_probe, a);
	unsigned int i;

	p->runs++;
	p->seen_at_run = 0;
	for (i = 0; i < p->nr; i++)
		p->seen_at_run += p->k[i].res.seen;
}

static void on_done_ask(struct evloop_op *op, int res, uint32_t flags)
{
	struct asking *k = container_of(op, struct asking, res.op);

	on_done(op, res, flags);
	evloop_after_pass(k->loop, &k->probe->a);
}

/*
 * Work asked for by every completion of a pass runs once, after all of
 * them (the VMM's interrupts go out so: once per pass, no lock held);
 * work asked for between passes runs before the loop next waits.
 */
START_TEST(after_pass_runs_once_after_the_completions)
{
	enum { N = 4 };
	struct asking k[N];
	struct after_probe probe = { .a.fn = on_after, .k = k, .nr = N };
	struct evloop loop;
	uint64_t buf[N];
	unsigned int i;
	int efd = eventfd(N, EFD_CLOEXEC | EFD_SEMAPHORE);

	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(evloop_create(&loop, 8), 0);
	ck_assert(evloop_on_thread(&loop));
	for (i = 0; i < N; i++) {
		k[i] = (struct asking){ .res.op.handler = on_done_ask,
					.loop = &loop, .probe = &probe };
		ck_assert_int_eq(evloop_read(&loop, &k[i].res.op, efd, &buf[i],
					     sizeof(buf[i])),
				 0);
	}
	/* All complete at submission: one pass dispatches them. */
	ck_assert_int_ge(io_uring_submit_and_get_events(&loop.ring), 0);
	ck_assert_int_eq(evloop_run_once(&loop, 0), N);
	ck_assert_uint_eq(probe.runs, 1);
	ck_assert_uint_eq(probe.seen_at_run, N);
	ck_assert(!probe.a.queued);

	/* Between passes: runs before the next wait (which times out). */
	evloop_after_pass(&loop, &probe.a);
	evloop_after_pass(&loop, &probe.a);
	ck_assert_int_eq(evloop_run_once(&loop, 1000), 0);
	ck_assert_uint_eq(probe.runs, 2);
	evloop_destroy(&loop);
	close(efd);
}
END_TEST

struct chain {
	struct result res;
	struct evloop *loop;
	struct after_probe probe;
	int efd;
	uint64_t buf;
	unsigned int left; /* reads still to submit */
	bool early; /* the first read's after-pass work is early */
};

/* Each read submits the next, which completes at once (the eventfd
 * counts them all), and asks for the after-pass work. */
static void on_chain_read(struct evloop_op *op, int res, uint32_t flags)
{
	struct chain *c = container_of(op, struct chain, res.op);

	on_done(op, res, flags);
	evloop_after_pass(c->loop, &c->probe.a);
	if (c->early && c->res.seen == 1)
		evloop_after_early(c->loop);
	if (c->left && !evloop_read(c->loop, &c->res.op, c->efd, &c->buf,
				    sizeof(c->buf)))
		c->left--;
}

static void on_chain_after(struct evloop_after *a)
{
	struct chain *c = container_of(a, struct chain, probe.a);

	if (!c->probe.runs++)
		c->probe.seen_at_run = c->res.seen;
	evloop_stop(c->loop);
}

/*
 * evloop_run(): completions that a pass's own submissions produce at
 * once are dispatched before its after-pass work, for up to EVLOOP_BURST
 * rounds (one interrupt for a burst), and no more.
 */
START_TEST(after_pass_waits_for_a_burst)
{
	static const unsigned int reads[] = { 3, EVLOOP_BURST + 3 };
	struct evloop loop;
	struct chain c;
	unsigned int want = MIN(reads[_i], EVLOOP_BURST + 1);

	memset(&c, 0, sizeof(c));
	c.efd = eventfd(reads[_i], EFD_CLOEXEC | EFD_SEMAPHORE);
	ck_assert_int_ge(c.efd, 0);
	ck_assert_int_eq(evloop_create(&loop, 8), 0);
	c.loop = &loop;
	c.res.op.handler = on_chain_read;
	c.probe.a.fn = on_chain_after;
	c.left = reads[_i] - 1;
	ck_assert_int_eq(evloop_read(&loop, &c.res.op, c.efd, &c.buf,
				     sizeof(c.buf)),
			 0);
	ck_assert_int_eq(evloop_run(&loop), 0);
	ck_assert_uint_eq(c.probe.runs, 1);
	ck_assert_uint_eq(c.probe.seen_at_run, want);
	evloop_destroy(&loop);
	close(c.efd);
}
END_TEST

/*
 * Work asked for early (evloop_after_early(): somebody waits for it) runs
 * before the burst's next round; what the later rounds ask for runs after
 * them, as before.
 */
START_TEST(after_pass_early_goes_before_the_burst)
{
	struct evloop loop;
	struct chain c;

	memset(&c, 0, sizeof(c));
	c.efd = eventfd(3, EFD_CLOEXEC | EFD_SEMAPHORE);
	ck_assert_int_ge(c.efd, 0);
	ck_assert_int_eq(evloop_create(&loop, 8), 0);
	c.loop = &loop;
	c.res.op.handler = on_chain_read;
	c.probe.a.fn = on_chain_after;
	c.left = 2;
	c.early = true;
	ck_assert_int_eq(evloop_read(&loop, &c.res.op, c.efd, &c.buf,
				     sizeof(c.buf)),
			 0);
	ck_assert_int_eq(evloop_run(&loop), 0);
	ck_assert_uint_eq(c.probe.seen_at_run, 1);
	ck_assert_uint_eq(c.probe.runs, 2);
	ck_assert_uint_eq(c.res.seen, 3);
	ck_assert(!loop.after_early);
	evloop_destroy(&loop);
	close(c.efd);
}
END_TEST

static void *submit_elsewhere(void *arg)
{
	struct evloop *loop = arg;
	struct io_uring_sqe *sqe = evloop_sqe(loop);

	io_uring_prep_timeout(sqe, &(struct __kernel_timespec){ .tv_sec = 1 },
			      0, 0);
	io_uring_sqe_set_data(sqe, NULL);
	return (void *)(intptr_t)io_uring_submit(&loop->ring);
}

/* The ring belongs to the thread that made it (SINGLE_ISSUER). */
START_TEST(other_threads_cannot_submit)
{
	struct evloop loop;
	pthread_t t;
	void *ret;

	ck_assert_int_eq(evloop_create(&loop, 8), 0);
	if (!(loop.ring.flags & IORING_SETUP_SINGLE_ISSUER)) {
		evloop_destroy(&loop); /* a kernel before 6.1 */
		return;
	}
	ck_assert_int_eq(pthread_create(&t, NULL, submit_elsewhere, &loop), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_int_eq((int)(intptr_t)ret, -EEXIST);
	evloop_destroy(&loop);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("evloop");
	TCase *tc = tcase_create("restrictions");

	tcase_add_checked_fixture(tc, test_log_install, NULL);
	tcase_add_test(tc, forbidden_opcode_fails_with_eacces);
	tcase_add_test(tc, sqe_flags_fail_with_eacces);
	tcase_add_test(tc, allowed_opcodes_run);
	suite_add_tcase(s, tc);
	tc = tcase_create("waiting");
	tcase_add_checked_fixture(tc, test_log_install, NULL);
	tcase_add_test(tc, wait_forever_returns_with_a_completion);
	tcase_add_test(tc, pass_without_wait_collects_late_completions);
	tcase_add_test(tc, pass_without_wait_collects_overflowed_completions);
	tcase_add_loop_test(tc, after_pass_waits_for_a_burst, 0, 2);
	tcase_add_test(tc, after_pass_early_goes_before_the_burst);
	tcase_add_test(tc, other_threads_cannot_submit);
	tcase_add_test(tc, after_pass_runs_once_after_the_completions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
