/*
 * exec.c: init's exec mode, the guest half of vmm --exec (the protocol
 * is guest/exec_abi.h). PID 1 reads the command, connects PROG's three
 * streams to the host, runs PROG with them as fds 0, 1 and 2, waits for
 * it (reaping whatever else ends meanwhile), makes sure the host has all
 * of PROG's output, and ends the VM with PROG's status.
 *
 * init's own complaints go to the console (the VMM's stderr); PROG's
 * exec failure goes to PROG's stderr stream, as a shell's would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_abi.h"
#include "util.h"
#include "vt.h"

static void fail(const char *what, int err) __attribute__((noreturn));

/* init could not get PROG going. */
static void fail(const char *what, int err)
{
	printf("vmm-init: --exec: %s: %s\n", what, strerror(err));
	debug_exit(EXEC_STATUS_NOT_RUN);
}

/* The words of EXEC_ARGV_FILE as an argv; NULL if it is malformed. */
static char **load_argv(const char *buf, size_t len)
{
	size_t i, n = 0;
	char **argv;

	if (!len || buf[len - 1])
		return NULL;
	for (i = 0; i < len; i++)
		n += !buf[i];
	argv = calloc(n + 1, sizeof(*argv));
	for (i = 0, n = 0; argv && i < len; i += strlen(buf + i) + 1)
		argv[n++] = (char *)buf + i;
	return argv;
}

/* The child: PROG with the streams as fds 0, 1, 2. */
static void run_prog(char **argv, const int *fds) __attribute__((noreturn));

static void run_prog(char **argv, const int *fds)
{
	sigset_t none;
	int i, err;

	for (i = 0; i < EXEC_NR_STREAMS; i++)
		if (dup2(fds[i], i) < 0)
			_exit(EXEC_STATUS_NOT_RUN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
	setenv("HOME", "/", 1);
	execvp(argv[0], argv);
	err = errno;
	dprintf(2, "vmm-init: %s: %s\n", argv[0], strerror(err));
	_exit(err == ENOENT || err == ENOTDIR ? EXEC_STATUS_NOT_FOUND
					      : EXEC_STATUS_NOT_EXECUTABLE);
}

/* PROG's status as a shell gives it; other children are only reaped. */
static int wait_prog(pid_t pid)
{
	int status;
	pid_t got;

	do {
		got = wait(&status);
	} while (got != pid && (got >= 0 || errno == EINTR));
	if (got < 0)
		fail("wait", errno);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/*
 * Our end of file on stdout and stderr (for whatever else still holds
 * them too), then wait until the host closes each: it does so once it
 * has written out everything before the end of file.
 */
static void finish_streams(const int *fds)
{
	char buf[256];
	int i;

	close(fds[0]);
	for (i = 1; i < EXEC_NR_STREAMS; i++) {
		ssize_t n;

		shutdown(fds[i], SHUT_WR);
		do {
			n = read(fds[i], buf, sizeof(buf));
		} while (n > 0 || (n < 0 && errno == EINTR));
		close(fds[i]);
	}
}

int exec_main(void)
{
	static char buf[EXEC_ARGV_MAX + 1];
	int fds[EXEC_NR_STREAMS], i, status;
	char **argv;
	pid_t pid;

	if (access("/" EXEC_ARGV_FILE, F_OK))
		return -1;
	argv = load_argv(buf, read_file("/" EXEC_ARGV_FILE, buf, sizeof(buf)));
	if (!argv)
		fail("/" EXEC_ARGV_FILE, EINVAL);
	for (i = 0; i < EXEC_NR_STREAMS; i++) {
		fds[i] = vsock_connect(EXEC_PORT_STDIN + (unsigned int)i,
				       SOCK_STREAM);
		if (fds[i] < 0)
			fail("cannot connect to the host", -fds[i]);
	}
	pid = fork();
	if (pid < 0)
		fail("fork", errno);
	if (!pid)
		run_prog(argv, fds);
	status = wait_prog(pid);
	finish_streams(fds);
	debug_exit(status);
}
