/*
 * vm_virtio: binds a virtio-mmio transport to the VM: its register window
 * on the MMIO bus, one KVM ioeventfd per queue (QueueNotify writes with
 * that queue's index complete in the kernel and wake the event loop, no
 * exit to this process), its interrupt line (KVM_IRQ_LINE), and a timer
 * that sends an unacknowledged interrupt again (virtio_mmio_check_irq).
 */
#ifndef VMM_VM_VIRTIO_H
#define VMM_VM_VIRTIO_H

#include <stdint.h>

#include "virtio/mmio.h"
#include "vmm/evloop.h"
#include "vmm/log.h"
#include "vmm/machine.h"

struct vm;
struct vm_virtio;

struct vm_virtio_queue {
	struct vm_virtio *vv;
	unsigned int index;
	int efd;
	struct evloop_op op;
	uint64_t buf;
};

struct vm_virtio {
	struct vm *vm;
	const struct machine_dev *mdev;
	struct virtio_mmio *mmio;
	unsigned int nr_queues;
	struct evloop_after irq_after; /* an edge due after this pass */
	struct vm_virtio_queue q[VIRTIO_MMIO_MAX_QUEUES];
	int ack_efd; /* the driver's used-buffer ACKs, counted by KVM; -1 */
	struct evloop_op irq_check_op;
	struct __kernel_timespec irq_check_ts;
	struct log_ratelimit rl;
};

int vm_virtio_create(struct vm *vm, struct vm_virtio *vv,
		     enum machine_dev_id id,
		     const struct virtio_mmio_config *cfg);
/* Start listening for queue notifications (event loop thread). */
int vm_virtio_start(struct vm_virtio *vv);
void vm_virtio_destroy(struct vm_virtio *vv);

#endif
