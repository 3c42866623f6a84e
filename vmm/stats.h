/*
 * stats: what the VMM reports about a running or stopped VM on stderr.
 *
 * Contract: the lines are an interface that tests and tools parse.
 * --stats prints "stat: <name> <value>" lines once the VM has stopped:
 * start-up time, one line per KVM exit reason seen, each virtio device's
 * own lines, then memory use. The state dump (SIGUSR1) prints
 * "dump: "-prefixed lines: the exit counts, one line per vCPU (written by
 * the vCPU threads themselves), then every virtio transport and device.
 * The counters live in struct vm (the vCPU threads update them); this
 * file only reads them.
 */
#ifndef VMM_STATS_H
#define VMM_STATS_H

struct vm;

/* --stats, after every vCPU has stopped. */
void stats_print(struct vm *vm);
/* The state dump, on the event loop thread; the VM carries on. */
void stats_dump(struct vm *vm);

#endif
