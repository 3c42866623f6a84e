/*
 * fdt_machine: the machine rendered as a flattened device tree (libfdt).
 *
 * x86 Linux learns its machine from the MP table and the command line, so
 * on x86 the tree is informational (--dump-dtb); it is the description an
 * FDT-booted port (aarch64) will hand its guest, built from the same table.
 */
#ifndef VMM_FDT_MACHINE_H
#define VMM_FDT_MACHINE_H

#include <stddef.h>

#include "vmm/guestmem.h"
#include "vmm/machine.h"

struct fdt_machine {
	const struct guestmem *mem;
	unsigned int nr_cpus;
	machine_devset devs;
	const char *bootargs;
};

/* Render into buf; returns the blob size or a negative errno. */
int fdt_render(const struct fdt_machine *m, void *buf, size_t size);

#endif
