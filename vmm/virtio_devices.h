/*
 * virtio_devices: the VM's virtio devices, one table row each.
 *
 * A row names the device's entry in the machine table (its register
 * window and IRQ: machine.c stays the one place for those) and the hooks
 * that only the device can supply. The code here does the rest for every row
 * alike: the virtio-mmio transport with its KVM ioeventfds and interrupt
 * line (vm_virtio), starting on the event loop, the state dump, the --stats
 * lines and teardown. Adding a virtio device is one row here plus the
 * device's own file under devices/.
 *
 * Order: rows are created, started, dumped and printed in table order
 * and destroyed in reverse; a device is destroyed before its transport.
 */
#ifndef VMM_VIRTIO_DEVICES_H
#define VMM_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stdio.h>

#include "virtio/mmio.h"
#include "vmm/machine.h"
#include "vmm/vm_virtio.h"

struct vm;
struct vm_config;

struct virtio_devices_ops {
	const char *name; /* "cannot start the <name> device" */
	enum machine_dev_id id; /* its machine table entry */
	/* Whether this configuration has the device. */
	bool (*wanted)(const struct vm_config *cfg);
	/* Make the device and describe its transport in *mc. Logs its own
	 * failures. */
	int (*create)(struct vm *vm, void **dev, struct virtio_mmio_config *mc);
	/* The transport is built: the device keeps a pointer to it. */
	void (*attach)(void *dev, struct virtio_mmio *mmio);
	/* Optional: start on the event loop thread, after the transport. */
	int (*start)(void *dev);
	/* Optional: the event loop has stopped for good; vCPU threads may
	 * still run until they are joined. */
	void (*stop)(void *dev);
	/* Undo create; the event loop no longer runs. */
	void (*destroy)(void *dev);
	/* Optional: the device's "stat: " lines for --stats. */
	void (*stats)(void *dev, const struct virtio_mmio *mmio, FILE *f);
	/* Optional: a transport reset (SIGUSR2), on the event loop thread. */
	void (*transport_reset)(void *dev);
};

/* One virtio device of a VM and its transport. */
struct virtio_devices_slot {
	void *dev; /* NULL: not created */
	struct vm_virtio virtio;
};

/* The machine table entries of the devices this configuration has. */
machine_devset virtio_devices_wanted(const struct vm_config *cfg);
/* Create every device in vm->devs with its transport, into vm->virtio. */
int virtio_devices_create(struct vm *vm);
/* Start them on the event loop thread; logs which one failed. */
int virtio_devices_start(struct vm *vm);
/* The event loop has stopped for good (before the vCPUs are joined). */
void virtio_devices_stop(struct vm *vm);
/* Every transport's and device's "dump: " lines. */
void virtio_devices_dump(struct vm *vm, FILE *f);
/* Every device's transport reset (SIGUSR2), where it has one. */
void virtio_devices_transport_reset(struct vm *vm);
/* Every device's "stat: " lines. */
void virtio_devices_print_stats(struct vm *vm, FILE *f);
/* After the event loop is gone; safe on a partly created set. */
void virtio_devices_destroy(struct vm *vm);

#endif
