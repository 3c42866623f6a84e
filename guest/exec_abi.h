/*
 * exec_abi.h: what vmm --exec (vmm/exec.c) and the bundled init's exec
 * mode (guest/exec.c) agree on. Both include this file.
 *
 * The host puts the command into the guest as the file EXEC_ARGV_FILE of
 * an extra initramfs archive: its words, each ending in a NUL. Its
 * presence puts init into exec mode. init connects three vsock streams to
 * the host (CID 2), EXEC_PORT_STDIN, _STDOUT and _STDERR in that order,
 * gives them to PROG as fds 0, 1 and 2, and once PROG has ended shuts its
 * side of stdout and stderr and waits for the host to close them: the
 * host does so only after writing everything out. It then ends the VM
 * through the debug-exit port with PROG's status (128 + N when signal N
 * killed it), or one of the statuses below.
 */
#ifndef GUEST_EXEC_ABI_H
#define GUEST_EXEC_ABI_H

/* Path in the guest, without the leading '/' as in the archive. */
#define EXEC_ARGV_FILE "vmm/exec"
#define EXEC_ARGV_MAX (256u << 10)

/* Host ports, "exec" in ASCII and the two after it. */
#define EXEC_PORT_STDIN 0x65786563u
#define EXEC_PORT_STDOUT (EXEC_PORT_STDIN + 1)
#define EXEC_PORT_STDERR (EXEC_PORT_STDIN + 2)
#define EXEC_NR_STREAMS 3

/* The VM or init failed before PROG ran. */
#define EXEC_STATUS_NOT_RUN 125
/* PROG was found but could not be run. */
#define EXEC_STATUS_NOT_EXECUTABLE 126
/* PROG was not found. */
#define EXEC_STATUS_NOT_FOUND 127

#endif
