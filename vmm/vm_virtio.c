/* vm_virtio: see vm_virtio.h. */
#define LOG_TAG "vm-virtio"
#include "vmm/vm_virtio.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"
#include "vmm/vm.h"

static void kick_fd(int fd)
{
	if (util_eventfd_signal(fd))
		log_err("eventfd write failed: %s", strerror(errno));
}

/* An edge on the device's IOAPIC pin. */
static void pulse_irq(struct vm_virtio *vv)
{
	vm_set_irq_line(vv->vm, (uint32_t)vv->mdev->irq, 1);
	vm_set_irq_line(vv->vm, (uint32_t)vv->mdev->irq, 0);
}

static void irq_after_pass(struct evloop_after *a)
{
	pulse_irq(container_of(a, struct vm_virtio, irq_after));
}

/*
 * The transport raises with its lock held. On the event loop thread the
 * edge goes out once the loop has dispatched the pass's completions: with
 * no lock held (the guest's handler would otherwise find the transport
 * lock taken when it acknowledges) and once for all the interrupts of the
 * pass. A vCPU thread raises at once. (A KVM irqfd cannot inject into an
 * IOAPIC pin from the eventfd's wakeup: the kernel hands each such
 * interrupt to a kworker, a wakeup and two context switches on the event
 * loop's CPU; README "The machine".)
 */
static void host_irq(void *opaque)
{
	struct vm_virtio *vv = opaque;

	log_debug_rl(&vv->rl, "%s: interrupt", vv->mdev->name);
	if (evloop_on_thread(&vv->vm->loop))
		evloop_after_pass(&vv->vm->loop, &vv->irq_after);
	else
		pulse_irq(vv);
}

/* The ACKs KVM counted without an exit (virtio_mmio_host.take_acks):
 * the event loop thread reads the count; vCPU threads may not read. */
static int host_take_acks(void *opaque)
{
	struct vm_virtio *vv = opaque;
	uint64_t n;

	if (!evloop_on_thread(&vv->vm->loop))
		return -1;
	return read(vv->ack_efd, &n, sizeof(n)) == (ssize_t)sizeof(n);
}

/*
 * A new eventfd that KVM signals, with no exit to us, when the guest
 * writes the 32-bit `value` to the register at `off` of the device's
 * window; the fd, or -errno.
 */
static int ioeventfd(struct vm *vm, struct vm_virtio *vv, uint64_t off,
		     uint32_t value)
{
	struct kvm_ioeventfd io = {
		.datamatch = value,
		.addr = vv->mdev->base + off,
		.len = 4,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	int ret;

	io.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io.fd < 0)
		return -errno;
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		ret = -errno;
		close(io.fd);
		return ret;
	}
	return io.fd;
}

/*
 * The driver's InterruptACK of a used-buffer interrupt (the value
 * VIRTIO_MMIO_INT_VRING, nearly every ACK) goes to an ioeventfd: KVM
 * counts it and resumes the guest, with no exit to us (one per interrupt
 * before); virtio/mmio.c takes the count when it next raises or checks.
 * Other values (a config change's) still exit. Without it every ACK
 * exits, as before.
 */
static void ack_without_exit(struct vm *vm, struct vm_virtio *vv,
			     struct virtio_mmio_host *host)
{
	int fd = ioeventfd(vm, vv, VIRTIO_MMIO_INTERRUPT_ACK,
			   VIRTIO_MMIO_INT_VRING);

	if (fd < 0) {
		log_debug("%s: ACKs exit (KVM_IOEVENTFD: %s)", vv->mdev->name,
			  strerror(-fd));
		return;
	}
	vv->ack_efd = fd;
	host->take_acks = host_take_acks;
}

static void host_requeue(void *opaque, unsigned int q)
{
	struct vm_virtio *vv = opaque;

	if (q < vv->nr_queues)
		kick_fd(vv->q[q].efd);
}

/* How often an unacknowledged interrupt is looked for (sent again after
 * two looks, i.e. 250-500 ms). */
#define VM_VIRTIO_IRQ_CHECK_NS (250ll * 1000 * 1000)

static int arm_irq_check(struct vm_virtio *vv)
{
	vv->irq_check_ts = evloop_ts_from_ns(VM_VIRTIO_IRQ_CHECK_NS);
	return evloop_timeout(&vv->vm->loop, &vv->irq_check_op,
			      &vv->irq_check_ts);
}

static void on_irq_check(struct evloop_op *op, int res, uint32_t flags)
{
	struct vm_virtio *vv = container_of(op, struct vm_virtio, irq_check_op);

	(void)res;
	(void)flags;
	pthread_mutex_lock(&vv->mmio->lock);
	virtio_mmio_check_irq(vv->mmio);
	pthread_mutex_unlock(&vv->mmio->lock);
	if (arm_irq_check(vv))
		log_err("%s: cannot re-arm the interrupt check", vv->mdev->name);
}

static int arm(struct vm_virtio_queue *q)
{
	return evloop_read(&q->vv->vm->loop, &q->op, q->efd, &q->buf,
			   sizeof(q->buf));
}

static void on_notify(struct evloop_op *op, int res, uint32_t flags)
{
	struct vm_virtio_queue *q = container_of(op, struct vm_virtio_queue,
						 op);
	struct vm_virtio *vv = q->vv;

	(void)flags;
	log_debug_rl(&vv->rl, "%s: queue %u notified", vv->mdev->name,
		     q->index);
	if (res == sizeof(q->buf))
		virtio_mmio_notify(vv->mmio, q->index);
	if ((res < 0 && res != -EINTR && res != -EAGAIN) || arm(q)) {
		/* A device that can no longer hear its driver: stop. */
		log_err("%s: queue %u notifications failed: %s",
			vv->mdev->name, q->index,
			strerror(res < 0 ? -res : EBUSY));
		vm_request_stop(vv->vm, VM_STOP_ERROR, VM_EXIT_ERROR);
	}
}

/*
 * The transport's read window (see virtio/mmio.h) goes read-only over the
 * registers: the guest's register reads, above all its interrupt
 * handler's status read, are served from memory with no exit. A write
 * faults out of the slot and reaches the ioeventfds or the bus as an MMIO
 * exit, as without it. A KVM without read-only slots exits for reads too.
 */
static void map_read_window(struct vm *vm, struct vm_virtio *vv)
{
	const struct machine_dev *d = vv->mdev;
	struct kvm_userspace_memory_region r = {
		.slot = vm->nr_slots,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = d->base,
		.memory_size = VIRTIO_MMIO_SIZE,
		.userspace_addr =
			(uint64_t)(uintptr_t)virtio_mmio_window(vv->mmio),
	};

	if (d->size != VIRTIO_MMIO_SIZE ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0) {
		log_debug("%s: register reads exit (no read-only slots)",
			  d->name);
		return;
	}
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		log_debug("%s: register reads exit (read-only slot: %s)",
			  d->name, strerror(errno));
		return;
	}
	vm->nr_slots++;
}

int vm_virtio_create(struct vm *vm, struct vm_virtio *vv,
		     enum machine_dev_id id,
		     const struct virtio_mmio_config *cfg)
{
	const struct machine_dev *d = &machine_devs[id];
	struct virtio_mmio_host host = {
		.irq = host_irq, .requeue = host_requeue, .opaque = vv,
		.line = d->irq,
	};
	unsigned int i;
	int ret;

	memset(vv, 0, sizeof(*vv));
	vv->vm = vm;
	vv->mdev = d;
	for (i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		vv->q[i].efd = -1;
	vv->ack_efd = -1;
	ack_without_exit(vm, vv, &host);
	ret = virtio_mmio_create(&vv->mmio, cfg, &vm->mem, &host);
	if (ret)
		return ret;
	vv->nr_queues = cfg->nr_queues;
	vv->irq_after.fn = irq_after_pass;

	for (i = 0; i < vv->nr_queues; i++) {
		struct vm_virtio_queue *q = &vv->q[i];

		q->vv = vv;
		q->index = i;
		q->op.handler = on_notify;
		ret = ioeventfd(vm, vv, VIRTIO_MMIO_QUEUE_NOTIFY, i);
		if (ret < 0) {
			log_err("%s: KVM_IOEVENTFD failed: %s", d->name,
				strerror(-ret));
			return ret;
		}
		q->efd = ret;
	}
	map_read_window(vm, vv);
	ret = bus_register(&vm->mmio_bus, d->base, d->size, &virtio_mmio_bus_ops,
			   vv->mmio);
	if (ret)
		log_err("%s: cannot map its registers: %s", d->name,
			strerror(-ret));
	return ret;
}

int vm_virtio_start(struct vm_virtio *vv)
{
	unsigned int i;
	int ret;

	for (i = 0; i < vv->nr_queues; i++) {
		ret = arm(&vv->q[i]);
		if (ret)
			return ret;
	}
	vv->irq_check_op.handler = on_irq_check;
	return arm_irq_check(vv);
}

void vm_virtio_destroy(struct vm_virtio *vv)
{
	unsigned int i;

	if (!vv->vm)
		return;
	for (i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		if (vv->q[i].efd >= 0)
			close(vv->q[i].efd);
	if (vv->ack_efd >= 0)
		close(vv->ack_efd);
	virtio_mmio_destroy(vv->mmio);
	memset(vv, 0, sizeof(*vv));
}
