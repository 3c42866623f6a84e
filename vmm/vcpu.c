/*
 * vcpu: KVM vCPU setup and the run loop.
 *
 * Only the bootstrap processor gets registers: it enters the kernel in long
 * mode. Application processors are left in KVM's wait-for-SIPI state and
 * started by the guest through the in-kernel local APIC.
 */
#define LOG_TAG "vcpu"
#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vmm/cpuid.h"
#include "vmm/log.h"
#include "vmm/util.h"
#include "vmm/vm.h"

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 1
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x400
#define APIC_MODE_EXTINT 0x700

static int set_cpuid(struct vcpu *v)
{
	struct kvm_cpuid2 *src = v->vm->cpuid;
	size_t sz = sizeof(*src) + src->nent * sizeof(src->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, src, sz);
	cpuid_set_vcpu(c, v->id);
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}

/* Local APIC LINT0 = ExtINT (8259 pass-through), LINT1 = NMI, as firmware. */
static int set_lapic(struct vcpu *v)
{
	struct kvm_lapic_state la;
	uint32_t lvt;

	if (ioctl(v->fd, KVM_GET_LAPIC, &la) < 0)
		return -errno;
	memcpy(&lvt, &la.regs[APIC_LVT0], 4);
	lvt = (lvt & ~0x700u) | APIC_MODE_EXTINT;
	memcpy(&la.regs[APIC_LVT0], &lvt, 4);
	memcpy(&lvt, &la.regs[APIC_LVT1], 4);
	lvt = (lvt & ~0x700u) | APIC_MODE_NMI;
	memcpy(&la.regs[APIC_LVT1], &lvt, 4);
	if (ioctl(v->fd, KVM_SET_LAPIC, &la) < 0)
		return -errno;
	return 0;
}

static int set_fpu_msrs(struct vcpu *v)
{
	/* struct kvm_msrs ends in a flexible array: room for one entry. */
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) +
			      sizeof(struct kvm_msr_entry)];
	} msrs;
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = 1;
	msrs.hdr.entries[0].index = MSR_IA32_MISC_ENABLE;
	msrs.hdr.entries[0].data = MISC_ENABLE_FAST_STRING;
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return -errno;
	if (ioctl(v->fd, KVM_SET_MSRS, &msrs) != 1)
		return -EIO;
	return 0;
}

int vcpu_create(struct vcpu *v, struct vm *vm, unsigned int id)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return -errno;
	v->run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		v->run = NULL;
		goto err_close;
	}
	ret = set_cpuid(v);
	if (!ret)
		ret = set_lapic(v);
	if (!ret)
		ret = set_fpu_msrs(v);
	if (ret)
		goto err_unmap;
	return 0;

err_unmap:
	munmap(v->run, (size_t)vm->vcpu_mmap_size);
	v->run = NULL;
err_close:
	close(v->fd);
	v->fd = -1;
	return ret;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type,
		    uint8_t is_code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->l = is_code64;
	s->db = !is_code64;
	s->g = 1;
}

int vcpu_setup_boot(struct vcpu *v, const struct boot_x86_entry *e)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	set_seg(&sregs.cs, BOOT_CS, 0xb, 1);
	set_seg(&sregs.ds, BOOT_DS, 0x3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = BOOT_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb; /* busy 64-bit TSS */
	sregs.tr.present = 1;
	sregs.gdt.base = e->gdt_base;
	sregs.gdt.limit = e->gdt_limit;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr3 = e->cr3;
	sregs.cr4 = 0x20; /* PAE */
	sregs.cr0 = 0x80000031; /* PG | NE | ET | PE */
	sregs.efer = 0x500; /* LMA | LME */
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = e->rip;
	regs.rsi = e->rsi;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint32_t i;

	/* String I/O repeats `count` times over consecutive buffer slots. */
	for (i = 0; i < run->io.count; i++, data += run->io.size) {
		if (bus_access(&v->vm->pio_bus, run->io.port, data, run->io.size,
			       is_write) == 0)
			continue;
		if (!is_write)
			memset(data, 0xff, run->io.size);
		log_debug_rl(&v->vm->unclaimed_rl, "unclaimed port %s %#x/%u",
			     is_write ? "write" : "read", run->io.port,
			     run->io.size);
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned int len = run->mmio.len;

	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (bus_access(&v->vm->mmio_bus, run->mmio.phys_addr, run->mmio.data, len,
		       run->mmio.is_write) == 0)
		return;
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, len);
	log_debug_rl(&v->vm->unclaimed_rl, "unclaimed mmio %s %#llx/%u",
		     run->mmio.is_write ? "write" : "read",
		     (unsigned long long)run->mmio.phys_addr, len);
}

/* Returns false when the vCPU must stop running. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;

	if (run->exit_reason < VM_STAT_EXIT_REASONS)
		atomic_fetch_add_explicit(&vm->exit_counts[run->exit_reason], 1,
					  memory_order_relaxed);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; nothing can wake us. */
		log_err("vCPU %u halted with interrupts off", v->id);
		vm_request_stop(vm, VM_STOP_CRASH, VM_EXIT_CRASH);
		return false;
	case KVM_EXIT_SHUTDOWN:
		log_err("vCPU %u: triple fault (guest shut down the CPU)",
			v->id);
		vm_request_stop(vm, VM_STOP_CRASH, VM_EXIT_CRASH);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH) {
			log_err("vCPU %u: guest crash event", v->id);
			vm_request_stop(vm, VM_STOP_CRASH, VM_EXIT_CRASH);
		} else {
			vm_request_stop(vm, VM_STOP_RESET, 0);
		}
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		log_err("vCPU %u: KVM entry failed, hardware reason %#llx",
			v->id,
			(unsigned long long)
				run->fail_entry.hardware_entry_failure_reason);
		vm_request_stop(vm, VM_STOP_CRASH, VM_EXIT_CRASH);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		log_err("vCPU %u: KVM internal error, suberror %u", v->id,
			run->internal.suberror);
		vm_request_stop(vm, VM_STOP_CRASH, VM_EXIT_CRASH);
		return false;
	default:
		log_err("vCPU %u: unexpected KVM exit reason %u", v->id,
			run->exit_reason);
		vm_request_stop(vm, VM_STOP_CRASH, VM_EXIT_CRASH);
		return false;
	}
}

/*
 * The vectors set in one of the local APIC's 256-bit registers (ISR, IRR:
 * eight 32-bit words 16 bytes apart), highest first, as " 0x.." words.
 */
static void lapic_vectors(const struct kvm_lapic_state *l, unsigned int reg,
			  char *out, size_t size)
{
	size_t len = 0;
	int vec;

	out[0] = 0;
	for (vec = 255; vec >= 0; vec--) {
		uint32_t word;

		memcpy(&word, &l->regs[reg + (unsigned int)(vec / 32) * 16],
		       sizeof(word));
		if (!(word >> (vec % 32) & 1) || len + 6 >= size)
			continue;
		len += (size_t)snprintf(out + len, size - len, " 0x%02x", vec);
	}
	if (!len)
		snprintf(out, size, " none");
}

/*
 * The local APIC (TPR, PPR, the vectors in service and requested) and
 * the interrupt KVM is about to inject: a vector sitting in IRR behind an
 * in-service vector that is never EOIed, or behind PPR, is an interrupt
 * the guest holds off; one in neither was never delivered.
 */
static void vcpu_dump_interrupts(struct vcpu *v)
{
	enum { APIC_TPR = 0x80, APIC_PPR = 0xa0, APIC_ISR = 0x100,
	       APIC_IRR = 0x200 };
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	char isr[6 * 256 + 8], irr[6 * 256 + 8]; /* " 0x.." per vector */
	uint32_t tpr, ppr;

	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0 ||
	    ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0) {
		fprintf(stderr, "dump: vcpu%u interrupts unreadable: %s\n",
			v->id, strerror(errno));
		return;
	}
	memcpy(&tpr, &lapic.regs[APIC_TPR], sizeof(tpr));
	memcpy(&ppr, &lapic.regs[APIC_PPR], sizeof(ppr));
	lapic_vectors(&lapic, APIC_ISR, isr, sizeof(isr));
	lapic_vectors(&lapic, APIC_IRR, irr, sizeof(irr));
	fprintf(stderr, "dump: vcpu%u lapic tpr 0x%02x ppr 0x%02x isr%s "
		"irr%s | injecting %u nr 0x%02x shadow %u nmi_pending %u\n",
		v->id, tpr & 0xff, ppr & 0xff, isr, irr,
		ev.interrupt.injected, ev.interrupt.nr, ev.interrupt.shadow,
		ev.nmi.pending);
}

static void vcpu_dump(struct vcpu *v)
{
	struct kvm_regs regs;
	struct kvm_mp_state mp = { 0 };

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0) {
		fprintf(stderr, "dump: vcpu%u state unreadable: %s\n", v->id,
			strerror(errno));
		return;
	}
	fprintf(stderr, "dump: vcpu%u rip 0x%llx rsp 0x%llx rflags 0x%llx "
		"(IF %d) mp_state %u\n", v->id, (unsigned long long)regs.rip,
		(unsigned long long)regs.rsp, (unsigned long long)regs.rflags,
		!!(regs.rflags & 0x200), mp.mp_state);
	vcpu_dump_interrupts(v);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	sigset_t set;
	char name[16];

	/* "vcpuN" in ps, top and /proc: the loop thread keeps "vmm". */
	snprintf(name, sizeof(name), "vcpu%u", v->id);
	prctl(PR_SET_NAME, name);

	/* Only vCPU threads take the kick signal (see vcpu_kick). */
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	/* Before the first KVM_RUN: the guest never runs unconfined. */
	if (sandbox_enter(&vm->sandbox, SANDBOX_VCPU)) {
		vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_ERROR);
		return NULL;
	}
	while (!vm_stopping(vm)) {
		if (v->id == 0 && !atomic_load(&vm->first_run_ns))
			atomic_store(&vm->first_run_ns,
				     (int64_t)util_now_ns());
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			int err = errno;

			if (atomic_exchange(&v->dump_req, false)) {
				/* Kicked for a dump, not to stop: run on. */
				v->run->immediate_exit = 0;
				vcpu_dump(v);
			}
			if (err == EINTR || err == EAGAIN)
				continue;
			log_err("vCPU %u: KVM_RUN failed: %s", v->id,
				strerror(err));
			vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_ERROR);
			break;
		}
		if (!handle_exit(v))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret)
		return -ret;
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/*
	 * immediate_exit makes a KVM_RUN that has not started yet return at
	 * once; the signal interrupts one that is running. Together they
	 * close the window between the stop check and KVM_RUN.
	 */
	v->run->immediate_exit = 1;
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_request_dump(struct vcpu *v)
{
	if (!v->started)
		return;
	atomic_store(&v->dump_req, true);
	vcpu_kick(v);
}

void vcpu_join(struct vcpu *v)
{
	if (!v->started)
		return;
	pthread_join(v->thread, NULL);
	v->started = false;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, (size_t)v->vm->vcpu_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
