/* stats: see stats.h. */
#define LOG_TAG "vm" /* its messages are the VM's */
#include "vmm/stats.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmm/log.h"
#include "vmm/util.h"
#include "vmm/vcpu.h"
#include "vmm/virtio_devices.h"
#include "vmm/vm.h"

/* One line per KVM exit reason seen: "<prefix>exits_<reason> <count>". */
static void print_exit_counts(struct vm *vm, const char *prefix)
{
	static const char *const names[] = {
		[KVM_EXIT_IO] = "io",
		[KVM_EXIT_MMIO] = "mmio",
		[KVM_EXIT_HLT] = "hlt",
		[KVM_EXIT_SHUTDOWN] = "shutdown",
		[KVM_EXIT_INTR] = "intr",
		[KVM_EXIT_SYSTEM_EVENT] = "system_event",
		[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
		[KVM_EXIT_FAIL_ENTRY] = "fail_entry",
	};
	unsigned int i;

	for (i = 0; i < VM_STAT_EXIT_REASONS; i++) {
		uint64_t n = atomic_load(&vm->exit_counts[i]);

		if (!n)
			continue;
		if (i < ARRAY_SIZE(names) && names[i])
			fprintf(stderr, "%sexits_%s %llu\n", prefix, names[i],
				(unsigned long long)n);
		else
			fprintf(stderr, "%sexits_reason%u %llu\n", prefix, i,
				(unsigned long long)n);
	}
}

/*
 * The IOAPIC pins the guest has programmed (a vector set) or that have an
 * edge latched: whether a device's line is masked (Linux masks a line it
 * has disabled, "nobody cared" for one), its vector and trigger mode, and
 * remote IRR (a level interrupt awaiting EOI). With the vCPUs' local APIC
 * lines (vcpu.c) this tells an interrupt the device never raised from one
 * the guest never took.
 */
static void ioapic_dump(struct vm *vm)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	const struct kvm_ioapic_state *io = &chip.chip.ioapic;
	unsigned int pin;

	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0) {
		fprintf(stderr, "dump: ioapic unreadable: %s\n",
			strerror(errno));
		return;
	}
	for (pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
		const __typeof__(io->redirtbl[0].fields) *e =
			&io->redirtbl[pin].fields;
		unsigned int latched = (io->irr >> pin) & 1;

		if (!e->vector && !latched)
			continue;
		fprintf(stderr, "dump: ioapic pin %u vector 0x%02x mask %u "
			"%s remote_irr %u irr %u dest 0x%x\n", pin, e->vector,
			e->mask, e->trig_mode ? "level" : "edge",
			e->remote_irr, latched, e->dest_id);
	}
}

void stats_dump(struct vm *vm)
{
	const struct evloop_stats *st = &vm->loop.st;
	unsigned int i;

	log_info("state dump (SIGUSR1)");
	print_exit_counts(vm, "dump: ");
	/* On the loop thread (the signal is one of its completions). */
	fprintf(stderr, "dump: evloop submits %llu sqes %llu cqes %llu "
		"wakeups %llu\n", (unsigned long long)st->submits,
		(unsigned long long)st->sqes, (unsigned long long)st->cqes,
		(unsigned long long)st->wakeups);
	ioapic_dump(vm);
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_request_dump(&vm->vcpus[i]);
	virtio_devices_dump(vm, stderr);
	fflush(stderr);
}

/*
 * Peak RSS beyond guest memory: the process high-water mark minus the
 * guest RAM that is resident now (guest RAM is never freed while the VM
 * lives, so its peak is its current size).
 */
static void print_memory_use(struct vm *vm)
{
	unsigned long long guest_rss_kib = 0, hwm_kib = 0;
	char line[256];
	FILE *f;

	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "VmHWM: %llu kB", &hwm_kib);
	if (f)
		fclose(f);
	f = fopen("/proc/self/smaps", "r");
	if (f) {
		bool in_guest = false;

		while (fgets(line, sizeof(line), f)) {
			unsigned long long lo, hi, rss;

			if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 &&
			    strchr(line, '-') < strchr(line, ' '))
				in_guest = lo == (uintptr_t)vm->mem.mapping;
			else if (in_guest &&
				 sscanf(line, "Rss: %llu kB", &rss) == 1)
				guest_rss_kib = rss;
		}
		fclose(f);
	}
	fprintf(stderr, "stat: peak_rss_kib %llu\n", hwm_kib);
	fprintf(stderr, "stat: guest_rss_kib %llu\n", guest_rss_kib);
	fprintf(stderr, "stat: vmm_rss_kib %llu\n",
		hwm_kib > guest_rss_kib ? hwm_kib - guest_rss_kib : 0);
}

void stats_print(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	int64_t first = atomic_load(&vm->first_run_ns);

	if (first && cfg->start_ns)
		fprintf(stderr, "stat: startup_us %lld\n",
			(long long)(first - cfg->start_ns) / 1000);
	print_exit_counts(vm, "stat: ");
	virtio_devices_print_stats(vm, stderr);
	print_memory_use(vm);
}
