/*
 * vcpu: one KVM vCPU and the thread that runs it. Exits are dispatched to
 * the VM's PIO and MMIO buses; anything fatal asks the VM to stop.
 */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "vmm/boot_x86.h"

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	atomic_bool dump_req; /* vcpu_request_dump() */
};

int vcpu_create(struct vcpu *v, struct vm *vm, unsigned int id);
/* Long-mode registers for the bootstrap processor. */
int vcpu_setup_boot(struct vcpu *v, const struct boot_x86_entry *e);
int vcpu_start(struct vcpu *v);
/* Make a running KVM_RUN return so the thread sees the stop request. */
void vcpu_kick(struct vcpu *v);
/*
 * Ask the vCPU thread to print one "dump: " line of its state (RIP,
 * RFLAGS, run state) to stderr, from outside KVM_RUN, then go on.
 */
void vcpu_request_dump(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

/* The signal used to kick vCPU threads out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGRTMIN /* SIGUSR1 asks for a state dump */

#endif
