/*
 * init: PID 1 of the bundled guest.
 *
 * Mounts /proc, /sys and /dev, loads the kernel modules listed in
 * /modules/order if there is one (for distribution kernels), prints a
 * marker with the time since boot, then either runs the tests named by
 * `vmm.test=NAME` on the kernel command line (the guest half of the end-to-end tests: sysinfo and rng here, the
 * vsock programs in vsock_test.c, soak.c and bench.c, the attacks on
 * the vsock device in hostile.c) and reports through
 * the debug-exit port, or offers a small interactive prompt on the console.
 * With vmm --exec, it runs the command instead (exec.c). Run as a command
 * rather than as PID 1, it offers small test programs (tools.c).
 *
 * Conventions shared with the host side (tests/e2e):
 *   "vmm-init: started uptime=<seconds>"   once init runs
 *   "vmm-test: <key>=<value>"              facts a test reports
 *   "vmm-test: <name> PASS|FAIL"           each test's verdict
 *   debug-exit port 0x501                  the byte written is the VMM's
 *                                          exit status: vmm.code=N (default
 *                                          0) if every test passed, else 1
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

static int count_cpus(void)
{
	static char buf[16384];
	const char *p = buf;
	int n = 0;

	read_file("/proc/cpuinfo", buf, sizeof(buf));
	while ((p = strstr(p, "processor\t"))) {
		n++;
		p++;
	}
	return n;
}

static unsigned long mem_total_kib(void)
{
	char buf[2048];
	unsigned long kib = 0;
	const char *p;

	read_file("/proc/meminfo", buf, sizeof(buf));
	p = strstr(buf, "MemTotal:");
	if (p)
		sscanf(p, "MemTotal: %lu kB", &kib);
	return kib;
}

/* PID 1 exits: the kernel panics ("Attempted to kill init!"). */
static void init_exit(void)
{
	printf("vmm-test: init exiting on purpose\n");
	fflush(stdout);
	exit(1);
}

static void print_info(void)
{
	char up[64];

	read_file("/proc/uptime", up, sizeof(up));
	printf("vmm-test: cpus=%d\n", count_cpus());
	printf("vmm-test: mem_kib=%lu\n", mem_total_kib());
	printf("vmm-test: uptime=%.3f\n", uptime_s());
	fflush(stdout);
}

/* Each test prints "vmm-test: <name> PASS|FAIL ..." and returns 0 on pass. */

static int test_sysinfo(void)
{
	print_info();
	return 0;
}

/* The virtio-rng device is bound, and /dev/hwrng gives varied bytes. */
static int test_rng(void)
{
	static unsigned char buf[65536];
	char path[128], id[32];
	int found = 0, fd, i, counts[256] = { 0 }, distinct = 0;
	size_t got = 0;

	for (i = 0; i < 8 && !found; i++) {
		snprintf(path, sizeof(path),
			 "/sys/bus/virtio/devices/virtio%d/device", i);
		read_file(path, id, sizeof(id));
		found = strncmp(id, "0x0004", 6) == 0;
	}
	printf("vmm-test: rng device %s in /sys/bus/virtio/devices\n",
	       found ? "found" : "NOT found");
	fd = open("/dev/hwrng", O_RDONLY);
	while (fd >= 0 && got < sizeof(buf)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	for (i = 0; i < (int)got; i++)
		if (counts[buf[i]]++ == 0)
			distinct++;
	printf("vmm-test: rng read %zu bytes, %d distinct values\n", got,
	       distinct);
	return !(found && got == sizeof(buf) && distinct > 200);
}

/* The ACPI tables the kernel found, e.g. "vmm-test: acpi_tables=APIC
 * DSDT FACP" (none without ACPI). */
static int test_acpi(void)
{
	DIR *dir = opendir("/sys/firmware/acpi/tables");
	struct dirent *e;

	printf("vmm-test: acpi_tables=");
	while (dir && (e = readdir(dir)))
		if (e->d_name[0] != '.' && e->d_type != DT_DIR)
			printf("%s ", e->d_name);
	printf("\n");
	if (dir)
		closedir(dir);
	return !dir;
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "sysinfo", test_sysinfo },
	{ "acpi", test_acpi },
	{ "rng", test_rng },
	{ "vsock", vsock_test_main },
	{ "vsockreset", vsock_reset_main },
	{ "vsockbench", bench_main },
	{ "soak", soak_main },
	{ "hostile", hostile_main },
};

/*
 * vmm.test=a,b,c runs the tests in order. The exit status is vmm.code
 * (default 0) when all pass, else 1. "panic" and "reboot" end the VM.
 */
static int run_tests(char *list)
{
	char code[16], *name, *save = NULL;
	int failed = 0;
	unsigned int i;

	for (name = strtok_r(list, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		int found = 0;

		if (!strcmp(name, "panic"))
			init_exit();
		if (!strcmp(name, "reboot"))
			restart();
		if (!strcmp(name, "poweroff")) {
			sync();
			reboot(RB_POWER_OFF);
		}
		for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
			if (strcmp(name, tests[i].name))
				continue;
			found = 1;
			if (tests[i].fn()) {
				failed++;
				printf("vmm-test: %s FAIL\n", name);
			} else {
				printf("vmm-test: %s PASS\n", name);
			}
		}
		if (!found) {
			printf("vmm-test: unknown test '%s'\n", name);
			failed++;
		}
	}
	if (cmdline_get("vmm.code", code, sizeof(code)))
		strcpy(code, "0");
	debug_exit(failed ? 1 : atoi(code));
	return 1;
}

static void cat_file(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		printf("%s: %s\n", path, strerror(errno));
		return;
	}
	fflush(stdout);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)n) < 0)
			break;
	close(fd);
}

static void shell(void)
{
	char line[256];

	printf("vmm-init: commands: info, uptime, cpus, mem, rng, cat FILE, "
	       "reboot, panic, exit N\n");
	for (;;) {
		char *cmd;

		printf("vmm> ");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			break;
		cmd = line + strspn(line, " \t");
		cmd[strcspn(cmd, "\r\n")] = 0;
		if (!*cmd)
			continue;
		if (!strcmp(cmd, "info"))
			print_info();
		else if (!strcmp(cmd, "uptime"))
			printf("%.3f s\n", uptime_s());
		else if (!strcmp(cmd, "cpus"))
			printf("%d\n", count_cpus());
		else if (!strcmp(cmd, "mem"))
			printf("%lu KiB\n", mem_total_kib());
		else if (!strcmp(cmd, "rng"))
			test_rng();
		else if (!strncmp(cmd, "cat ", 4))
			cat_file(cmd + 4);
		else if (!strcmp(cmd, "panic"))
			init_exit();
		else if (!strcmp(cmd, "reboot") || !strcmp(cmd, "poweroff"))
			break;
		else if (!strncmp(cmd, "exit", 4))
			debug_exit(atoi(cmd + 4));
		else
			printf("unknown command '%s'\n", cmd);
	}
	printf("vmm-init: rebooting\n");
	fflush(stdout);
	restart();
}

/*
 * A kernel whose drivers are modules (a distribution's) gets them in the
 * initramfs: /modules/order names them, each after what it needs.
 */
static void load_modules(void)
{
	FILE *f = fopen("/modules/order", "r");
	char name[128], path[160];
	int loaded = 0;

	if (!f)
		return;
	while (fgets(name, sizeof(name), f)) {
		int fd;

		name[strcspn(name, "\n")] = 0;
		snprintf(path, sizeof(path), "/modules/%s", name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0))
			printf("vmm-init: cannot load %s: %s\n", path,
			       strerror(errno));
		else
			loaded++;
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
	printf("vmm-init: loaded %d modules\n", loaded);
}

int main(int argc, char **argv)
{
	char test[256];
	int fd;

	if (getpid() != 1)
		return tools_main(argc, argv);
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	/* The kernel may have found no console in the initramfs. */
	if (fcntl(1, F_GETFD) < 0) {
		fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	load_modules();
	cmdline_load();
	exec_main(); /* returns only without a command */
	printf("vmm-init: started uptime=%.3f\n", uptime_s());
	if (!cmdline_get("vmm.test", test, sizeof(test)))
		return run_tests(test);
	shell();
	return 0;
}
