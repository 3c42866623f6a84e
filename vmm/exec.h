/*
 * exec: `vmm --exec 'PROG ARGS'` and `--add HOST[:GUEST]`, the "run a
 * command in the guest" workflow.
 *
 * Owns: the extra initramfs archive's contents (the command and the added
 * files; guest/exec_abi.h has the layout), and the standard stream
 * relays between the VMM's own stdin/stdout/stderr and PROG's vsock
 * streams.
 *
 * Each stream is a socketpair: one end goes to the vsock backend through
 * an internal port rule when the guest connects that stream's port (once:
 * a second connection is refused), the other is relayed to or from fd
 * 0, 1 or 2 on the event loop, binary-safe. An output relay closes its
 * end only after it wrote everything it read, at the guest's end of file:
 * that close is what tells the guest's init that the host has it all.
 * The relays never block the loop; a stdout nobody reads stalls only the
 * guest's stdout stream.
 */
#ifndef VMM_EXEC_H
#define VMM_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/vsock/vsock.h"
#include "guest/exec_abi.h"
#include "vmm/cpio.h"
#include "vmm/evloop.h"

/* Largest extra archive (command and added files). */
#define EXEC_ARCHIVE_MAX (1024ull << 20)
#define EXEC_RELAY_BUF (64u << 10)

struct exec_config {
	const char *argv; /* --exec: packed words (argv.h); NULL: none */
	size_t argv_len;
	const char *const *adds; /* --add HOST[:GUEST] specs */
	unsigned int nr_adds;
};

/*
 * Split an --add spec into the host path and the guest name (without
 * its leading '/'; "" for the root). GUEST follows the last ':' that a
 * '/' follows; without one, it is "/" and the host path's last
 * component. Returns 0 or -EINVAL with *why.
 */
int exec_add_split(const char *spec, char *host, size_t host_size,
		   char *guest, size_t guest_size, const char **why);

/*
 * The extra archive for `cfg` into `c` (cpio_init'ed here; empty when
 * there is neither a command nor a file). Logs what failed, naming the
 * flag and the file. Returns 0 or -errno.
 */
int exec_archive_build(const struct exec_config *cfg, struct cpio *c);

struct exec;

/* The socketpairs; the relays use `loop` once started. */
int exec_create(struct exec **out, struct evloop *loop);
/* Point vc->ports at the user's rules plus the three internal ones
 * (kept in `ex`, which must outlive the vsock device's creation). */
int exec_vsock_rules(struct exec *ex, struct vsock_config *vc);
/* Start relaying (event loop thread, before the guest runs). */
void exec_start(struct exec *ex);
/* The guest's init connected all three streams: PROG is about to run. */
bool exec_started(const struct exec *ex);
/* After the event loop is gone. */
void exec_destroy(struct exec *ex);

#endif
