/*
 * vm: builds, runs and tears down one virtual machine.
 *
 * Boot order (vm_create): KVM -> guest memory -> irqchip and PIT ->
 * devices on the buses (from the machine table) -> the virtio devices
 * (one row each in virtio_devices.c) -> kernel, initrd and command line
 * -> vCPUs. vm_destroy() undoes the same in reverse.
 *
 * Threads: one per vCPU, plus the main thread running the event loop;
 * each enters its kind's seccomp allowlist (sandbox.c) before the guest
 * runs or the loop handles a completion.
 * vCPU threads never stop the VM themselves; they record the first stop
 * reason and wake the loop, which kicks every vCPU and joins them.
 *
 * Beside it: console.c (the serial console on stdin/stdout), stats.c
 * (--stats and the state dump), cmdline.c (the guest command line).
 */
#define LOG_TAG "vm"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/boot_x86.h"
#include "vmm/cmdline.h"
#include "vmm/cpuid.h"
#include "vmm/fdt_machine.h"
#include "vmm/initramfs.h"
#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/stats.h"
#include "vmm/util.h"
#include "vmm/vcpu.h"

#define KERNEL_MAX_SIZE (512ull << 20)
#define INITRD_MAX_SIZE (1024ull << 20)
#define MAX_CPUID_ENTRIES 256
#define PANIC_GRACE_NS 2000000000ll

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code)
{
	int expected = VM_STOP_NONE;

	/* A guest that panicked and then reset or crashed: report the panic. */
	if ((reason == VM_STOP_RESET || reason == VM_STOP_CRASH) &&
	    atomic_load(&vm->panic_seen)) {
		reason = VM_STOP_PANIC;
		code = VM_EXIT_PANIC;
	}
	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected,
					    (int)reason))
		return;
	/* Read by the loop thread only after it has joined every vCPU. */
	vm->stop_code = code;
	if (util_eventfd_signal(vm->stop_efd))
		log_err("cannot wake the event loop: %s", strerror(errno));
}

void vm_loop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
}

bool vm_stopping(const struct vm *vm)
{
	return atomic_load(&vm->stop_reason) != VM_STOP_NONE;
}

void vm_note_panic(struct vm *vm)
{
	if (atomic_exchange(&vm->panic_seen, true))
		return;
	if (util_eventfd_signal(vm->panic_efd))
		log_err("cannot wake the event loop: %s", strerror(errno));
}

void vm_set_irq_line(struct vm *vm, uint32_t irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		log_err("KVM_IRQ_LINE %u failed: %s", irq, strerror(errno));
}

/* Device callbacks ------------------------------------------------------ */

static void guest_reset(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_RESET, 0);
}

static void guest_poweroff(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_POWEROFF, 0);
}

static void guest_debug_exit(void *opaque, uint8_t code)
{
	vm_request_stop(opaque, VM_STOP_DEBUG_EXIT, code);
}

/* Setup steps ------------------------------------------------------------ */

static bool host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

static bool pvm_mode(const struct vm_config *cfg)
{
	switch (cfg->cpu_compat) {
	case VM_CPU_COMPAT_PVM:
		return true;
	case VM_CPU_COMPAT_HOST:
		return false;
	default:
		return host_is_pvm();
	}
}

/* The devices this configuration has. */
static machine_devset vm_devset(const struct vm_config *cfg)
{
	machine_devset set = virtio_devices_wanted(cfg);
	unsigned int i;

	for (i = 0; i < MACHINE_NR_DEVS; i++)
		if (machine_devs[i].kind != MACHINE_KIND_VIRTIO_MMIO)
			set |= 1u << i;
	return set;
}

static int kvm_open(struct vm *vm)
{
	static const struct {
		int cap;
		const char *name;
	} caps[] = {
		{ KVM_CAP_IRQCHIP, "IRQCHIP" },
		{ KVM_CAP_USER_MEMORY, "USER_MEMORY" },
		{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" },
		{ KVM_CAP_PIT2, "PIT2" },
		{ KVM_CAP_EXT_CPUID, "EXT_CPUID" },
		{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
		{ KVM_CAP_IOEVENTFD, "IOEVENTFD" },
	};
	unsigned int i;
	int ret;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = -errno;
		log_err("cannot open /dev/kvm: %s", strerror(errno));
		return ret;
	}
	ret = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		log_err("/dev/kvm speaks API version %d, need %d", ret,
			KVM_API_VERSION);
		return -ENOTSUP;
	}
	for (i = 0; i < ARRAY_SIZE(caps); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			log_err("KVM lacks the capability KVM_CAP_%s",
				caps[i].name);
			return -ENOTSUP;
		}
	}
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run))
		return -ENOTSUP;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = -errno;
		log_err("KVM_CREATE_VM failed: %s", strerror(errno));
		return ret;
	}
	return 0;
}

static int setup_memory(struct vm *vm)
{
	unsigned int i;
	int ret;

	ret = guestmem_create(&vm->mem, MIB(vm->cfg->mem_mib),
			      MACHINE_LOW_RAM_LIMIT, MACHINE_HIGH_RAM_BASE);
	if (ret) {
		log_err("cannot allocate %llu MiB of guest memory: %s",
			(unsigned long long)vm->cfg->mem_mib, strerror(-ret));
		return ret;
	}
	for (i = 0; i < vm->mem.nr_regions; i++) {
		const struct guestmem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region kr = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
			ret = -errno;
			log_err("KVM_SET_USER_MEMORY_REGION failed: %s",
				strerror(errno));
			return ret;
		}
	}
	vm->nr_slots = vm->mem.nr_regions;
	return 0;
}

static int setup_irqchip(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t ident = MACHINE_IDENTITY_MAP_ADDR;

	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)MACHINE_TSS_ADDR) <
		    0 ||
	    ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0 ||
	    ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int ret = -errno;

		log_err("cannot create the interrupt controllers: %s",
			strerror(errno));
		return ret;
	}
	return 0;
}

static int setup_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + MAX_CPUID_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = MAX_CPUID_ENTRIES;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int ret = -errno;

		log_err("KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
		free(c);
		return ret;
	}
	if (vm->pvm_mode)
		cpuid_filter_pvm(c);
	log_info("CPU model: %s",
		 vm->pvm_mode ? "kvm_pvm compatible (emulator-safe CPUID, "
				"work-around command line)"
			      : "host (supported CPUID passed through)");
	vm->cpuid = c;
	return 0;
}

static int setup_devices(struct vm *vm)
{
	const struct machine_dev *d = machine_devs;
	int ret;

	ret = console_create(&vm->console, vm);
	if (ret)
		return ret;
	vm->i8042 = (struct i8042){ .reset = guest_reset, .opaque = vm };
	vm->debug_exit = (struct debug_exit){ .exit = guest_debug_exit,
					      .opaque = vm };
	vm->acpi_sleep = (struct acpi_sleep){ .poweroff = guest_poweroff,
					      .opaque = vm };
	ret = bus_register(&vm->pio_bus, d[MACHINE_DEV_SERIAL0].base,
			   d[MACHINE_DEV_SERIAL0].size, &serial8250_bus_ops,
			   vm->console.serial);
	if (!ret)
		ret = bus_register(&vm->pio_bus, d[MACHINE_DEV_I8042_DATA].base,
				   d[MACHINE_DEV_I8042_DATA].size,
				   &i8042_data_ops, &vm->i8042);
	if (!ret)
		ret = bus_register(&vm->pio_bus, d[MACHINE_DEV_I8042_CMD].base,
				   d[MACHINE_DEV_I8042_CMD].size,
				   &i8042_cmd_ops, &vm->i8042);
	if (!ret)
		ret = bus_register(&vm->pio_bus, d[MACHINE_DEV_DEBUG_EXIT].base,
				   d[MACHINE_DEV_DEBUG_EXIT].size,
				   &debug_exit_ops, &vm->debug_exit);
	if (!ret)
		ret = bus_register(&vm->pio_bus, d[MACHINE_DEV_ACPI_SLEEP].base,
				   d[MACHINE_DEV_ACPI_SLEEP].size,
				   &acpi_sleep_ops, &vm->acpi_sleep);
	if (ret)
		log_err("device registration failed: %s", strerror(-ret));
	return ret;
}

/* Open a regular file as a blob; the caller closes blob->fd. */
static int open_blob(const char *flag, const char *path, uint64_t max,
		     struct boot_blob *blob)
{
	struct stat st;
	int ret;

	/* O_NONBLOCK: a FIFO must not hang us before the S_ISREG check. */
	blob->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (blob->fd < 0) {
		ret = -errno;
		log_err("%s %s: %s", flag, path, strerror(errno));
		return ret;
	}
	if (fstat(blob->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("%s %s: not a regular file", flag, path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		log_err("%s %s: larger than %llu MiB", flag, path,
			(unsigned long long)(max >> 20));
		return -EFBIG;
	}
	blob->size = (uint64_t)st.st_size;
	return 0;
}

/* Validate the kernel and initrd files before touching KVM. */
static int read_images(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	const char *why = NULL;
	int ret;

	ret = open_blob("--kernel", cfg->kernel_path, KERNEL_MAX_SIZE,
			&vm->kernel_blob);
	if (ret)
		return ret;
	ret = boot_kernel_parse(&vm->kernel_blob, &vm->kernel, &why);
	if (ret) {
		log_err("--kernel %s: %s", cfg->kernel_path, why);
		return ret;
	}
	if (!cfg->initrd_path) {
		vm->initrd_blob.mem = vmm_initramfs_start;
		vm->initrd_blob.size =
			(uint64_t)(vmm_initramfs_end - vmm_initramfs_start);
		return 0;
	}
	return open_blob("--initrd", cfg->initrd_path, INITRD_MAX_SIZE,
			 &vm->initrd_blob);
}

/* The --exec/--add archive (before /dev/kvm, like the files above) and
 * --exec's streams. */
static int setup_exec(struct vm *vm)
{
	int ret = exec_archive_build(&vm->cfg->exec, &vm->extra);

	if (!ret && vm->cfg->exec.argv)
		ret = exec_create(&vm->exec, &vm->loop);
	return ret;
}

static void close_images(struct vm *vm)
{
	if (vm->kernel_blob.fd >= 0)
		close(vm->kernel_blob.fd);
	if (vm->initrd_blob.fd >= 0)
		close(vm->initrd_blob.fd);
	vm->kernel_blob.fd = vm->initrd_blob.fd = -1;
	cpio_destroy(&vm->extra);
}

static int load_guest(struct vm *vm)
{
	uint8_t irqs[MACHINE_NR_ISA_IRQS];
	struct boot_blob extra = { .mem = vm->extra.buf, .size = vm->extra.len,
				   .fd = -1 };
	struct boot_x86_config bc = {
		.nr_cpus = vm->cfg->nr_cpus,
		.initrd = &vm->initrd_blob,
		.initrd_extra = &extra,
		.irqs = irqs,
		.nr_irqs = machine_irqs(vm->devs, irqs, MACHINE_NR_ISA_IRQS),
		.acpi = vm->cfg->acpi,
		.devs = vm->devs,
	};
	const char *why = NULL;
	char *cmdline;
	int ret;

	cmdline = cmdline_build(vm->cfg, vm->pvm_mode, vm->devs);
	if (!cmdline)
		return -ENOMEM;
	bc.cmdline = cmdline;
	log_info("command line: %s", cmdline);
	ret = boot_x86_load(&vm->mem, &vm->kernel, &bc, &vm->entry, &why);
	if (ret)
		log_err("--kernel %s: %s", vm->cfg->kernel_path, why);
	free(cmdline);
	close_images(vm);
	return ret;
}

static int setup_vcpus(struct vm *vm)
{
	unsigned int i;
	int ret;

	vm->vcpus = calloc(vm->cfg->nr_cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (i = 0; i < vm->cfg->nr_cpus; i++) {
		ret = vcpu_create(&vm->vcpus[i], vm, i);
		if (ret) {
			log_err("cannot create vCPU %u: %s", i, strerror(-ret));
			return ret;
		}
		vm->nr_vcpus++;
	}
	ret = vcpu_setup_boot(&vm->vcpus[0], &vm->entry);
	if (ret)
		log_err("cannot set boot registers: %s", strerror(-ret));
	return ret;
}

static int setup_loop(struct vm *vm)
{
	sigset_t set;
	int ret;

	vm->stop_efd = eventfd(0, EFD_CLOEXEC);
	vm->panic_efd = eventfd(0, EFD_CLOEXEC);
	if (vm->stop_efd < 0 || vm->panic_efd < 0)
		return -errno;
	/* Signals arrive through the loop, never asynchronously. */
	vm_loop_signals(&set);
	vm->sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (vm->sig_fd < 0)
		return -errno;
	ret = evloop_create(&vm->loop, 256);
	if (ret) {
		log_err("cannot set up io_uring: %s", strerror(-ret));
		return ret;
	}
	vm->loop_ready = true;
	return 0;
}

/* Built while the main thread is the only one; entered in vm_run and by
 * each vCPU thread. */
static int setup_sandbox(struct vm *vm)
{
	int ret = sandbox_create(&vm->sandbox, vm->cfg->seccomp,
				 vm->cfg->stats);

	vm->sandbox_ready = true;
	return ret;
}

/*
 * The boot order, one step after another; each needs the ones before it
 * (the kernel and initrd files are checked before /dev/kvm is opened).
 */
static int (*const setup_steps[])(struct vm *vm) = {
	read_images,
	setup_exec,
	kvm_open,
	setup_memory,
	setup_irqchip,
	setup_cpuid,
	setup_devices,
	virtio_devices_create,
	load_guest,
	setup_vcpus,
	setup_loop,
	setup_sandbox,
};

int vm_create(struct vm **out, const struct vm_config *cfg)
{
	struct vm *vm;
	unsigned int i;
	int ret = 0;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = cfg;
	vm->pvm_mode = pvm_mode(cfg);
	vm->devs = vm_devset(cfg);
	vm->kvm_fd = vm->vm_fd = -1;
	vm->stop_efd = vm->panic_efd = vm->sig_fd = -1;
	vm->kernel_blob.fd = vm->initrd_blob.fd = -1;
	bus_init(&vm->pio_bus, "pio");
	bus_init(&vm->mmio_bus, "mmio");
	*out = vm;

	for (i = 0; !ret && i < ARRAY_SIZE(setup_steps); i++)
		ret = setup_steps[i](vm);
	return ret;
}

/* Event loop handlers ------------------------------------------------------ */

#define VM_OF(ptr, member) container_of(ptr, struct vm, member)

static void on_stop(struct evloop_op *op, int res, uint32_t flags)
{
	struct vm *vm = VM_OF(op, stop_op);

	(void)flags;
	if (res < 0) {
		log_err("stop eventfd failed: %s", strerror(-res));
		vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_ERROR);
	}
	evloop_stop(&vm->loop);
}

static void on_panic_timer(struct evloop_op *op, int res, uint32_t flags)
{
	struct vm *vm = VM_OF(op, panic_timer_op);

	(void)res;
	(void)flags;
	vm_request_stop(vm, VM_STOP_PANIC, VM_EXIT_PANIC);
}

/* The guest printed a panic: give it a moment to reset, then end it. */
static void on_panic(struct evloop_op *op, int res, uint32_t flags)
{
	struct vm *vm = VM_OF(op, panic_op);

	(void)res;
	(void)flags;
	log_err("guest kernel panic");
	vm->panic_grace = evloop_ts_from_ns(PANIC_GRACE_NS);
	vm->panic_timer_op.handler = on_panic_timer;
	evloop_timeout(&vm->loop, &vm->panic_timer_op, &vm->panic_grace);
}

/*
 * First stop signal: stop cleanly. A second one while the stop is still
 * under way (a vCPU stuck somewhere): restore the terminal and leave now.
 */
static void on_signal(struct evloop_op *op, int res, uint32_t flags)
{
	struct vm *vm = VM_OF(op, sig_op);
	struct signalfd_siginfo *si = (struct signalfd_siginfo *)vm->sig_buf;

	(void)flags;
	if (res >= (int)sizeof(*si) && si->ssi_signo == SIGUSR1) {
		stats_dump(vm);
	} else if (res >= (int)sizeof(*si) && si->ssi_signo == SIGUSR2) {
		virtio_devices_transport_reset(vm);
	} else if (res >= (int)sizeof(*si)) {
		int status = 128 + (int)si->ssi_signo;

		if (vm_stopping(vm)) {
			log_err("signal %u during stop: exiting at once",
				si->ssi_signo);
			console_leave(&vm->console);
			_exit(status);
		}
		log_info("stopping on signal %u", si->ssi_signo);
		vm_request_stop(vm, VM_STOP_SIGNAL, status);
	}
	evloop_read(&vm->loop, &vm->sig_op, vm->sig_fd, vm->sig_buf,
		    sizeof(vm->sig_buf));
}

/*
 * --exec: a guest that ended (panic, crash, reset, poweroff) before its
 * init connected PROG's streams never ran PROG. What happens after that
 * keeps its own status: PROG's through the debug-exit port, or the
 * panic, crash or reboot it caused.
 */
static bool exec_not_run(const struct vm *vm, enum vm_stop_reason reason)
{
	if (!vm->exec || exec_started(vm->exec))
		return false;
	return reason == VM_STOP_PANIC || reason == VM_STOP_CRASH ||
	       reason == VM_STOP_RESET || reason == VM_STOP_POWEROFF;
}

/* Why the VM stopped, said once; returns the exit status. */
static int stop_status(const struct vm *vm)
{
	enum vm_stop_reason reason = atomic_load(&vm->stop_reason);
	int status = vm->stop_code;

	if (exec_not_run(vm, reason)) {
		log_err("--exec: the guest %s before it ran PROG; exiting with "
			"status %d", reason == VM_STOP_PANIC ? "panicked"
				     : reason == VM_STOP_CRASH ? "crashed"
							       : "stopped",
			EXEC_STATUS_NOT_RUN);
		return EXEC_STATUS_NOT_RUN;
	}
	switch (reason) {
	case VM_STOP_RESET:
		log_info("guest reset");
		break;
	case VM_STOP_POWEROFF:
		log_info("guest powered off");
		break;
	case VM_STOP_DEBUG_EXIT:
		log_info("guest wrote %d to the debug-exit port", status);
		break;
	case VM_STOP_PANIC:
		log_err("guest kernel panicked; exiting with status %d",
			status);
		break;
	case VM_STOP_CRASH:
		log_err("guest crashed; exiting with status %d", status);
		break;
	default:
		break;
	}
	return status;
}

int vm_run(struct vm *vm)
{
	unsigned int i;
	int ret, status;

	vm->stop_op.handler = on_stop;
	vm->panic_op.handler = on_panic;
	vm->sig_op.handler = on_signal;
	if (evloop_read(&vm->loop, &vm->stop_op, vm->stop_efd, &vm->stop_buf,
			sizeof(vm->stop_buf)) ||
	    evloop_read(&vm->loop, &vm->panic_op, vm->panic_efd,
			&vm->panic_buf, sizeof(vm->panic_buf)) ||
	    evloop_read(&vm->loop, &vm->sig_op, vm->sig_fd, vm->sig_buf,
			sizeof(vm->sig_buf))) {
		log_err("cannot queue the event loop's first reads");
		return VM_EXIT_ERROR;
	}
	console_enter(&vm->console);
	if (vm->exec)
		exec_start(vm->exec);
	if (virtio_devices_start(vm)) {
		console_leave(&vm->console);
		return VM_EXIT_ERROR;
	}

	for (i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_start(&vm->vcpus[i]);
		if (ret) {
			log_err("cannot start vCPU %u: %s", i, strerror(-ret));
			vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_ERROR);
			break;
		}
	}
	/*
	 * After the vCPU threads exist (a thread inherits its creator's
	 * filter) and before the first completion is handled: from here on
	 * the main thread only runs the loop and tears down.
	 */
	ret = sandbox_enter(&vm->sandbox, SANDBOX_LOOP);
	if (!ret)
		ret = evloop_run(&vm->loop);
	if (ret)
		vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_ERROR);
	/* A vCPU may be waiting for the loop (a vsock reset): not any more. */
	virtio_devices_stop(vm);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	console_leave(&vm->console);

	status = stop_status(vm);
	if (vm->cfg->stats)
		stats_print(vm);
	return status;
}

void vm_destroy(struct vm *vm)
{
	unsigned int i;

	if (!vm)
		return;
	/* The ring goes first: its cancelled operations may still point
	 * into the virtio devices (vsock connections) and guest memory. */
	if (vm->loop_ready)
		evloop_destroy(&vm->loop);
	virtio_devices_destroy(vm);
	exec_destroy(vm->exec);
	for (i = vm->nr_vcpus; i-- > 0;)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	if (vm->sandbox_ready)
		sandbox_destroy(&vm->sandbox);
	console_destroy(&vm->console);
	bus_destroy(&vm->mmio_bus);
	bus_destroy(&vm->pio_bus);
	free(vm->cpuid);
	close_images(vm);
	guestmem_destroy(&vm->mem);
	if (vm->sig_fd >= 0)
		close(vm->sig_fd);
	if (vm->panic_efd >= 0)
		close(vm->panic_efd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm);
}

int vm_dump_dtb(const struct vm_config *cfg)
{
	struct vm vm = { .cfg = cfg };
	struct fdt_machine fm;
	size_t size = 64 * 1024;
	char *cmdline = NULL;
	void *blob = NULL;
	int ret, len;
	FILE *f;

	vm.pvm_mode = pvm_mode(cfg);
	vm.devs = vm_devset(cfg);
	/* Only the layout is needed: the mapping is reserved, never touched. */
	ret = guestmem_create(&vm.mem, MIB(cfg->mem_mib), MACHINE_LOW_RAM_LIMIT,
			      MACHINE_HIGH_RAM_BASE);
	if (ret) {
		log_err("cannot lay out %llu MiB of guest memory: %s",
			(unsigned long long)cfg->mem_mib, strerror(-ret));
		return ret;
	}
	cmdline = cmdline_build(cfg, vm.pvm_mode, vm.devs);
	blob = malloc(size);
	ret = -ENOMEM;
	if (!cmdline || !blob)
		goto out;
	fm = (struct fdt_machine){ .mem = &vm.mem, .nr_cpus = cfg->nr_cpus,
				   .devs = vm.devs, .bootargs = cmdline };
	len = fdt_render(&fm, blob, size);
	if (len < 0) {
		ret = len;
		log_err("cannot render the device tree: %s", strerror(-ret));
		goto out;
	}
	f = fopen(cfg->dump_dtb, "wb");
	if (!f || fwrite(blob, 1, (size_t)len, f) != (size_t)len) {
		ret = -errno;
		log_err("--dump-dtb %s: %s", cfg->dump_dtb, strerror(errno));
		if (f)
			fclose(f);
		goto out;
	}
	ret = fclose(f) ? -errno : 0;
	if (ret)
		log_err("--dump-dtb %s: %s", cfg->dump_dtb, strerror(-ret));
out:
	free(blob);
	free(cmdline);
	guestmem_destroy(&vm.mem);
	return ret;
}
