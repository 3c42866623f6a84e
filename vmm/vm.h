/*
 * vm: one virtual machine: KVM fds, guest memory, buses, devices, vCPUs
 * and the event loop. vm_create() builds it in a readable order,
 * vm_run() boots it and returns the process exit status, vm_destroy()
 * tears it down in reverse.
 */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/acpi_sleep.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/vsock/vsock.h"
#include "vmm/boot_x86.h"
#include "vmm/bus.h"
#include "vmm/console.h"
#include "vmm/evloop.h"
#include "vmm/exec.h"
#include "vmm/cpio.h"
#include "vmm/guestmem.h"
#include "vmm/log.h"
#include "vmm/sandbox.h"
#include "vmm/virtio_devices.h"

enum vm_cpu_compat {
	VM_CPU_COMPAT_AUTO, /* detect kvm_pvm */
	VM_CPU_COMPAT_HOST, /* pass supported CPUID through */
	VM_CPU_COMPAT_PVM, /* hide what kvm_pvm's emulator lacks */
};

struct vm_config {
	const char *kernel_path;
	const char *initrd_path; /* NULL: the bundled initramfs */
	const char *cmdline_append;
	const char *cmdline_replace;
	uint64_t mem_mib;
	unsigned int nr_cpus;
	uint64_t vsock_cid; /* 0: no vsock device */
	struct vsock_config vsock; /* host endpoints, limits */
	enum vm_cpu_compat cpu_compat;
	bool no_rng;
	bool acpi; /* ACPI tables; virtio devices only there */
	const char *dump_dtb; /* write the device tree here and exit */
	bool stats;
	enum sandbox_mode seccomp;
	int64_t start_ns; /* process start, for --stats */
	struct exec_config exec; /* --exec, --add */
};

/* Why the VM stopped; the first reason reported wins. */
enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_RESET, /* guest reboot: exit 0 */
	VM_STOP_POWEROFF, /* guest ACPI poweroff: exit 0 */
	VM_STOP_DEBUG_EXIT, /* guest wrote the debug-exit port: that value */
	VM_STOP_PANIC, /* guest kernel panic: VM_EXIT_PANIC */
	VM_STOP_CRASH, /* triple fault, KVM internal error: VM_EXIT_CRASH */
	VM_STOP_ERROR, /* VMM failure: VM_EXIT_ERROR */
	VM_STOP_SIGNAL, /* SIGINT/SIGTERM/SIGHUP: 128 + signal */
};

#define VM_EXIT_ERROR 1
#define VM_EXIT_PANIC 2
#define VM_EXIT_CRASH 3

#define VM_STAT_EXIT_REASONS 64

struct vcpu;

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	bool pvm_mode;
	struct kvm_cpuid2 *cpuid;
	/* Kernel and initrd, open only until they are in guest RAM. */
	struct boot_blob kernel_blob;
	struct boot_kernel kernel;
	struct boot_blob initrd_blob;
	struct cpio extra; /* --exec/--add archive, loaded after the initrd */
	struct boot_x86_entry entry; /* boot registers, for vCPU 0 */
	struct guestmem mem;
	unsigned int nr_slots; /* KVM memory slots in use: RAM, then the
				  virtio read windows */
	struct bus pio_bus;
	struct bus mmio_bus;
	struct evloop loop;
	bool loop_ready;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	struct sandbox sandbox; /* each thread enters its kind's filter */
	bool sandbox_ready;

	machine_devset devs;
	struct i8042 i8042;
	struct debug_exit debug_exit;
	struct acpi_sleep acpi_sleep;
	struct virtio_devices_slot *virtio; /* one per virtio_devices row */

	/* Stop protocol: any thread may request, the loop thread acts. */
	_Atomic int stop_reason;
	int stop_code;
	int stop_efd;
	struct evloop_op stop_op;
	uint64_t stop_buf;

	/* Guest panic: the console saw the panic line (vm_note_panic). */
	_Atomic bool panic_seen;
	int panic_efd;
	struct evloop_op panic_op;
	uint64_t panic_buf;
	struct evloop_op panic_timer_op;
	struct __kernel_timespec panic_grace;

	struct console console; /* serial0 on stdin and stdout */
	struct exec *exec; /* --exec: PROG's streams; NULL without */

	/* Signals, read on the event loop. */
	int sig_fd;
	struct evloop_op sig_op;
	uint8_t sig_buf[128];

	struct log_ratelimit unclaimed_rl; /* unclaimed PIO/MMIO accesses */

	/* Counted by the vCPU threads, printed by stats.c. */
	_Atomic int64_t first_run_ns;
	_Atomic uint64_t exit_counts[VM_STAT_EXIT_REASONS];
};

int vm_create(struct vm **out, const struct vm_config *cfg);
/* Boot and run until the guest stops; returns the process exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* --dump-dtb: render the device tree of the configured VM into a file. */
int vm_dump_dtb(const struct vm_config *cfg);

/* Thread-safe; the first request decides the exit status. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code);
bool vm_stopping(const struct vm *vm);
/*
 * The guest kernel printed its panic line (any thread; the first call
 * counts): a later reset or crash reports the panic, and the VM is ended
 * with VM_EXIT_PANIC if the guest has not stopped within a grace period.
 */
void vm_note_panic(struct vm *vm);
/* Drive the in-kernel IOAPIC/PIC input `irq` to `level` (KVM_IRQ_LINE);
 * any thread. A failure is logged. */
void vm_set_irq_line(struct vm *vm, uint32_t irq, int level);

/*
 * The signals the event loop reads: those that stop the VM (SIGINT,
 * SIGTERM, SIGHUP, SIGQUIT), SIGUSR1, which dumps the VM's state to
 * stderr (stats_dump) and carries on, and SIGUSR2, which resets the vsock
 * transport (virtio_devices_transport_reset) and carries on.
 */
void vm_loop_signals(sigset_t *set);

#endif
