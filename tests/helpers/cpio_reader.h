/*
 * cpio_reader: reads a "newc" archive back for the tests of vmm/cpio.c
 * and vmm/exec.c, checking what the kernel's unpacker relies on: the
 * magic, hex fields, 4-byte alignment of every header and body, bounds.
 */
#ifndef TESTS_CPIO_READER_H
#define TESTS_CPIO_READER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct cpio_entry {
	char name[PATH_MAX];
	uint32_t mode, mtime, size, nlink, rdev_major, rdev_minor;
	const uint8_t *data;
};

/*
 * The entry at *off into e, *off then at the next one. Returns 1 for an
 * entry, 0 for the trailer (*off then at the archive's end), -1 for a
 * malformed or misaligned entry.
 */
int cpio_read_next(const uint8_t *buf, size_t len, size_t *off,
		   struct cpio_entry *e);
/* The entry named `name` in the archive, or -1 if none (or malformed). */
int cpio_read_find(const uint8_t *buf, size_t len, const char *name,
		   struct cpio_entry *e);

#endif
