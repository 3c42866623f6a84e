/*
 * cpio: an in-memory "newc" archive, the format Linux unpacks into its
 * root file system from the initramfs. vmm builds one at start-up for
 * --exec (the command) and --add (host files), loaded after the initrd.
 *
 * Entries are written in the order they are added; a directory must come
 * before what is in it (the kernel creates no parents). Every header,
 * name and body starts 4-byte aligned, and so does the finished archive's
 * end, so another archive may follow it. Owners are root (uid and gid 0):
 * the guest has no other users.
 */
#ifndef VMM_CPIO_H
#define VMM_CPIO_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define CPIO_MAGIC "070701"
#define CPIO_HDR_LEN 110 /* magic and 13 fields of 8 hex digits */
#define CPIO_TRAILER "TRAILER!!!"

struct cpio {
	uint8_t *buf;
	size_t len, cap;
	size_t max; /* the archive may not grow beyond this */
	uint32_t ino;
	/* After a failed cpio_add_path: the host path it could not read. */
	char failed[PATH_MAX];
};

/* An empty archive that may grow to `max` bytes. */
void cpio_init(struct cpio *c, size_t max);
void cpio_destroy(struct cpio *c);

/*
 * One entry: `mode` holds the type bits (S_IFREG, S_IFDIR, ...) and the
 * permissions, `name` is the path in the guest without the leading '/'.
 * Returns 0, -ENAMETOOLONG, or -EFBIG (beyond max) / -ENOMEM.
 */
int cpio_add(struct cpio *c, const char *name, uint32_t mode, uint32_t mtime,
	     const void *data, size_t len);
/* Directories for every parent of `name` ("a/b/c": "a", "a/b"), 0755. */
int cpio_add_parents(struct cpio *c, const char *name);
/*
 * The host file, directory (recursively, in name order) or symlink (kept
 * as a symlink) at `host` as `name`, with its permission bits and mtime.
 * Returns 0 or -errno, with c->failed naming the host path.
 */
int cpio_add_path(struct cpio *c, const char *host, const char *name);
/* The closing entry; the archive then ends 4-byte aligned. */
int cpio_finish(struct cpio *c);

#endif
