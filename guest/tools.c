/*
 * tools.c: the bundled init run as a command (not PID 1), e.g.
 *   vmm --exec '/init out 4096 err hi cat ls /d exit 7'
 * runs the actions in order; they are what --exec's tests and
 * tools/bench-boot need in a guest that has no other programs:
 *   true         nothing
 *   out N        N bytes to stdout: byte i is i % 256 (every value)
 *   err TEXT     TEXT and a newline to stderr
 *   cat          stdin to stdout until end of file
 *   ls PATH      PATH and everything under it, one line each, in name
 *                order: "<path> <octal mode> <size>" or
 *                "<path> <octal mode> -> <target>" for a symlink
 *   exit N       exit with status N
 *   kill N       die of signal N
 * Without an exit or kill, the status is 0; a bad action is 2.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Write all of buf to fd (a pipe, file or socket); 0 or -1. */
static int put(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int tool_out(const char *arg)
{
	unsigned char buf[4096];
	unsigned long long n = strtoull(arg, NULL, 0), off = 0;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)i;
	while (off < n) {
		size_t k = n - off < sizeof(buf) ? (size_t)(n - off)
						 : sizeof(buf);

		if (put(1, buf, k))
			return -1;
		off += k; /* 4096 is a multiple of 256: the pattern goes on */
	}
	return 0;
}

static int tool_cat(void)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(0, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || put(1, buf, (size_t)n))
			return -1;
	}
	return 0;
}

static int not_dot(const struct dirent *e)
{
	return strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
}

static int tool_ls(const char *path)
{
	char target[PATH_MAX], sub[PATH_MAX];
	struct dirent **list;
	struct stat st;
	ssize_t n;
	int i, nr, ret = 0;

	if (lstat(path, &st))
		return -1;
	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		printf("%s %o -> %s\n", path, st.st_mode, target);
		return n > 0 ? 0 : -1;
	}
	printf("%s %o %lld\n", path, st.st_mode,
	       S_ISDIR(st.st_mode) ? 0 : (long long)st.st_size);
	if (!S_ISDIR(st.st_mode))
		return 0;
	nr = scandir(path, &list, not_dot, alphasort);
	for (i = 0; i < nr; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", path, list[i]->d_name);
		ret |= tool_ls(sub);
		free(list[i]);
	}
	if (nr >= 0)
		free(list);
	return nr < 0 ? -1 : ret;
}

static void tool_kill(int sig)
{
	signal(sig, SIG_DFL);
	fflush(stdout);
	raise(sig);
}

/* One action; returns how many words it took, or -1. */
static int tool_run(const char *a, const char *arg)
{
	fflush(stdout);
	if (!strcmp(a, "true"))
		return 1;
	if (!strcmp(a, "cat"))
		return tool_cat() ? -1 : 1;
	if (!arg)
		return -1;
	if (!strcmp(a, "out"))
		return tool_out(arg) ? -1 : 2;
	if (!strcmp(a, "err"))
		return dprintf(2, "%s\n", arg) < 0 ? -1 : 2;
	if (!strcmp(a, "ls"))
		return tool_ls(arg) ? -1 : 2;
	if (!strcmp(a, "exit"))
		exit(atoi(arg));
	if (!strcmp(a, "kill"))
		tool_kill(atoi(arg));
	return -1;
}

int tools_main(int argc, char **argv)
{
	int i = 1;

	while (i < argc) {
		int used = tool_run(argv[i], i + 1 < argc ? argv[i + 1] : NULL);

		if (used < 0) {
			fprintf(stderr, "%s: %s: failed or unknown\n", argv[0],
				argv[i]);
			return 2;
		}
		i += used;
	}
	fflush(stdout);
	return 0;
}
