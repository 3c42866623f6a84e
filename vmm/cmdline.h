/*
 * cmdline: the guest kernel command line. Pure: it reads the
 * configuration and the machine table, touches no KVM and no guest memory.
 *
 * Contract: the defaults ("console=ttyS0 reboot=k panic=-1", plus the
 * kvm_pvm work-arounds when `pvm` is set, and "quiet" with --exec),
 * then one "virtio_mmio.device=" entry per virtio device in `devs`, then the
 * user's --cmdline text. --cmdline-replace replaces the defaults and the
 * user's text, and the device entries still follow it.
 */
#ifndef VMM_CMDLINE_H
#define VMM_CMDLINE_H

#include <stdbool.h>

#include "vmm/machine.h"

struct vm_config;

/* A malloc'd string the caller frees, or NULL (no memory, or too many
 * device entries). */
char *cmdline_build(const struct vm_config *cfg, bool pvm, machine_devset devs);

#endif
