/*
 * util.h: what PID 1 (init.c) and the test programs it runs share: the
 * kernel command line, the clocks, and the two ways the VM ends.
 */
#ifndef GUEST_UTIL_H
#define GUEST_UTIL_H

#include <stddef.h>

/* Read a small file into buf, NUL terminated; empty if it cannot.
 * Returns the bytes read (without the NUL). */
size_t read_file(const char *path, char *buf, size_t size);

/* Read /proc/cmdline once, before any cmdline_get(). */
void cmdline_load(void);
/* Value of `key=` on the kernel command line, copied into out; -1 if none. */
int cmdline_get(const char *key, char *out, size_t size);
/* Value of `key=` as a number (strtoull base 0), def if absent. */
unsigned long long cmdline_ull(const char *key, unsigned long long def);

double uptime_s(void);
double now_ms(void);

/* Reboot the VM (the VMM exits 0). Does not return. */
void restart(void) __attribute__((noreturn));
/* End the VM with `code` as the VMM's exit status. Does not return. */
void debug_exit(int code) __attribute__((noreturn));

/*
 * The test programs init runs for vmm.test=NAME; each prints its own
 * "vmm-test:" lines and returns 0 on pass.
 */
int vsock_test_main(void); /* vmm.test=vsock, vsock_test.c */
int vsock_reset_main(void); /* vmm.test=vsockreset, vsock_test.c */
int soak_main(void); /* vmm.test=soak, soak.c */
int bench_main(void); /* vmm.test=vsockbench, bench.c */
int hostile_main(void); /* vmm.test=hostile, hostile.c */

/* exec.c: vmm --exec's guest half (guest/exec_abi.h). Runs PROG, ends
 * the VM with its status; -1 (nothing done) without EXEC_ARGV_FILE. */
int exec_main(void);
/* tools.c: `/init ACTION ARGS ACTION ARGS...` when init is not PID 1:
 * small test programs for --exec's tests. Returns the exit status. */
int tools_main(int argc, char **argv);

#endif
