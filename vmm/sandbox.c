/*
 * sandbox: the seccomp allowlists (see sandbox.h).
 *
 * The lists hold what the threads were seen to call while every test
 * suite and guest test ran under `--seccomp log` (and strace -f), plus
 * what glibc may need on paths those runs did not take (a malloc that
 * grows its arena, a thread's exit). ioctl is allowed only for the
 * requests each kind makes once the guest runs; sockets only for the
 * families the vsock backend speaks. io_uring is confined separately
 * (evloop.c restricts its opcodes), since seccomp cannot see SQEs.
 *
 * The SIGSYS handler cannot be given context, so two things live at file
 * scope, written before the first filter is loaded: each thread's kind
 * name (thread-local) and the table of system call names.
 */
#define LOG_TAG "seccomp"
#include "vmm/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

/* Above the highest x86_64 system call number. */
#define SANDBOX_MAX_NR 512

static const char *const kind_names[SANDBOX_NR_KINDS] = {
	[SANDBOX_VCPU] = "vcpu",
	[SANDBOX_LOOP] = "loop",
};

static _Thread_local const char *thread_kind = "main";
static char *syscall_names[SANDBOX_MAX_NR];

/* Both kinds: memory, locks, signals, time, logging, thread exit. */
static const int common_calls[] = {
	SCMP_SYS(brk),
	SCMP_SYS(mmap),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(mprotect),
	SCMP_SYS(madvise),
	SCMP_SYS(futex),
	SCMP_SYS(sched_yield),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	/* Sanitizer runtimes tear down a thread's alternate signal stack
	 * as it exits (a VMM built with -fsanitize=address died at stop). */
	SCMP_SYS(sigaltstack),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(tgkill),
	SCMP_SYS(write),
	SCMP_SYS(writev),
	SCMP_SYS(getrandom),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
};

/* The event loop: the ring, host sockets, the console, teardown. */
static const int loop_calls[] = {
	SCMP_SYS(io_uring_enter),
	SCMP_SYS(read),
	SCMP_SYS(readv),
	SCMP_SYS(close),
	SCMP_SYS(fcntl),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(lseek),
	SCMP_SYS(pwrite64), /* the rest of a --vsock-pcap capture at exit */
	SCMP_SYS(setsockopt),
	SCMP_SYS(getsockopt),
	SCMP_SYS(shutdown),
	SCMP_SYS(unlink),
	SCMP_SYS(unlinkat),
};

static const unsigned long vcpu_ioctls[] = {
	KVM_RUN,
	KVM_GET_REGS, /* the state dump */
	KVM_GET_MP_STATE,
	KVM_GET_LAPIC,
	KVM_GET_VCPU_EVENTS,
	KVM_IRQ_LINE, /* serial and virtio interrupts */
};

static const unsigned long loop_ioctls[] = {
	KVM_IRQ_LINE, /* virtio interrupts, serial ones on console input */
	KVM_GET_IRQCHIP, /* the state dump */
	TCGETS, /* restoring the terminal */
	TCSETS,
	TCSETSW,
	TCSETSF,
};

static const int socket_families[] = { AF_UNIX, AF_INET, AF_INET6 };

static int allow_all(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < n; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
	return ret;
}

/* One argument comparison, every field given (libseccomp's SCMP_A*
 * macros leave one to its default, which clang's warnings reject). */
static struct scmp_arg_cmp arg_cmp(unsigned int arg, enum scmp_compare op,
				   scmp_datum_t a, scmp_datum_t b)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a,
				      .datum_b = b };
}

static int allow_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs,
			size_t n)
{
	size_t i;
	int ret = 0;

	/* The kernel reads the request as 32 bits: compare those only. */
	for (i = 0; !ret && i < n; i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       arg_cmp(1, SCMP_CMP_MASKED_EQ, 0xffffffffu,
					       reqs[i]));
	return ret;
}

static int build_vcpu(scmp_filter_ctx ctx)
{
	int ret = allow_all(ctx, common_calls, ARRAY_SIZE(common_calls));

	if (!ret)
		ret = allow_ioctls(ctx, vcpu_ioctls, ARRAY_SIZE(vcpu_ioctls));
	return ret;
}

static int build_loop(scmp_filter_ctx ctx, bool read_files)
{
	size_t i;
	int ret = allow_all(ctx, common_calls, ARRAY_SIZE(common_calls));

	if (!ret)
		ret = allow_all(ctx, loop_calls, ARRAY_SIZE(loop_calls));
	if (!ret)
		ret = allow_ioctls(ctx, loop_ioctls, ARRAY_SIZE(loop_ioctls));
	/* Guest connections to host sockets: socket(), then an io_uring
	 * connect. */
	for (i = 0; !ret && i < ARRAY_SIZE(socket_families); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       arg_cmp(0, SCMP_CMP_EQ,
					       (scmp_datum_t)socket_families[i],
					       0));
	if (!ret && read_files)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				       arg_cmp(2, SCMP_CMP_MASKED_EQ, O_ACCMODE,
					       O_RDONLY));
	return ret;
}

/* Async-signal-safe, for the SIGSYS handler: no allocation. */
static size_t append(char *buf, size_t len, size_t cap, const char *s)
{
	size_t n = MIN(strlen(s), cap - len);

	memcpy(buf + len, s, n);
	return len + n;
}

/* Async-signal-safe: write() and _exit() only. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	unsigned int nr = (unsigned int)si->si_syscall;
	const char *name = nr < SANDBOX_MAX_NR && syscall_names[nr] ?
				   syscall_names[nr] : "unknown";
	char msg[160], num[12], *p = num + sizeof(num);
	size_t len = 0;

	(void)sig;
	(void)uctx;
	*--p = '\0';
	do {
		*--p = (char)('0' + nr % 10);
		nr /= 10;
	} while (nr);
	len = append(msg, len, sizeof(msg), "vmm: error: seccomp: thread ");
	len = append(msg, len, sizeof(msg), thread_kind);
	len = append(msg, len, sizeof(msg), " made forbidden system call ");
	len = append(msg, len, sizeof(msg), p);
	len = append(msg, len, sizeof(msg), " (");
	len = append(msg, len, sizeof(msg), name);
	len = append(msg, len, sizeof(msg), ")\n");
	ssize_t written = write(STDERR_FILENO, msg, len);

	(void)written; /* nowhere left to report a failure */
	_exit(SANDBOX_EXIT_STATUS);
}

static int install_handler(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys,
				.sa_flags = SA_SIGINFO };
	unsigned int nr;

	for (nr = 0; nr < SANDBOX_MAX_NR; nr++)
		syscall_names[nr] =
			seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
							 (int)nr);
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) ? -errno : 0;
}

/*
 * Test hook: VMM_SECCOMP_SELFTEST=vcpu|loop makes that thread call
 * getppid(), which no list allows, right after its filter is loaded, so
 * tests/e2e can check the message and the exit status. It can only end
 * the VMM the way a bug would, so it needs no build guard.
 */
static int selftest_kind(void)
{
	const char *s = getenv("VMM_SECCOMP_SELFTEST");
	int k;

	for (k = 0; s && k < SANDBOX_NR_KINDS; k++)
		if (!strcmp(s, kind_names[k]))
			return k;
	return -1;
}

int sandbox_create(struct sandbox *sb, enum sandbox_mode mode,
		   bool read_files)
{
	uint32_t action = mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	int k, ret;

	memset(sb, 0, sizeof(*sb));
	sb->mode = mode;
	sb->selftest = selftest_kind();
	pthread_mutex_init(&sb->lock, NULL);
	if (mode == SANDBOX_OFF)
		return 0;
	for (k = 0; k < SANDBOX_NR_KINDS; k++) {
		sb->ctx[k] = seccomp_init(action);
		if (!sb->ctx[k]) {
			log_err("cannot create a filter (does the kernel "
				"support seccomp%s?)",
				mode == SANDBOX_LOG ? " logging" : "");
			return -ENOSYS;
		}
		/* Another architecture's calls (int 0x80): the same end. */
		ret = seccomp_attr_set(sb->ctx[k], SCMP_FLTATR_ACT_BADARCH,
				       action);
		if (ret)
			goto err;
	}
	ret = build_vcpu(sb->ctx[SANDBOX_VCPU]);
	if (!ret)
		ret = build_loop(sb->ctx[SANDBOX_LOOP], read_files);
	if (!ret && mode == SANDBOX_ON)
		ret = install_handler();
	if (!ret)
		return 0;
err:
	log_err("cannot build the filters: %s", strerror(-ret));
	return ret;
}

int sandbox_enter(struct sandbox *sb, enum sandbox_kind kind)
{
	int ret;

	if (sb->mode == SANDBOX_OFF)
		return 0;
	thread_kind = kind_names[kind];
	pthread_mutex_lock(&sb->lock);
	ret = seccomp_load(sb->ctx[kind]);
	pthread_mutex_unlock(&sb->lock);
	if (ret) {
		log_err("cannot install the %s filter: %s", kind_names[kind],
			strerror(-ret));
		return ret;
	}
	if (sb->selftest == (int)kind)
		syscall(SYS_getppid);
	return 0;
}

void sandbox_destroy(struct sandbox *sb)
{
	int k;

	for (k = 0; k < SANDBOX_NR_KINDS; k++)
		if (sb->ctx[k])
			seccomp_release(sb->ctx[k]);
	pthread_mutex_destroy(&sb->lock);
	/* The names stay: a thread may still trap until the process ends. */
}
