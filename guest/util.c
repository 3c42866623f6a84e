/*
 * util.c: the kernel command line, the clocks, and the ends of the VM,
 * for PID 1 and the test programs alike. The command line is read once
 * into a buffer of this file and only read after that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define DEBUG_EXIT_PORT 0x501

static char cmdline[4096];

size_t read_file(const char *path, char *buf, size_t size)
{
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf[0] = 0;
	if (fd >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = 0;
	return n > 0 ? (size_t)n : 0;
}

void cmdline_load(void)
{
	read_file("/proc/cmdline", cmdline, sizeof(cmdline));
}

int cmdline_get(const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	const char *p = cmdline;

	while ((p = strstr(p, key))) {
		if ((p == cmdline || p[-1] == ' ') && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, " \n");

			if (n >= size)
				n = size - 1;
			memcpy(out, p + klen + 1, n);
			out[n] = 0;
			return 0;
		}
		p += klen;
	}
	return -1;
}

unsigned long long cmdline_ull(const char *key, unsigned long long def)
{
	char v[32];

	return cmdline_get(key, v, sizeof(v)) ? def : strtoull(v, NULL, 0);
}

double uptime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void restart(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

void debug_exit(int code)
{
	fflush(stdout);
	/* The UART sends from a kernel buffer: let our last lines out
	 * before the VM ends, or the host may never see the verdict. */
	tcdrain(STDOUT_FILENO);
	if (ioperm(DEBUG_EXIT_PORT, 1, 1) == 0) {
		outb((unsigned char)code, DEBUG_EXIT_PORT);
	} else {
		printf("vmm-init: ioperm failed (%s); rebooting instead\n",
		       strerror(errno));
		fflush(stdout);
	}
	restart();
}
