/*
 * fake_mem: guest memory for tests, backed by calloc'd buffers of exactly
 * the region sizes, so ASan catches any access past a region's end.
 */
#ifndef TESTS_FAKE_MEM_H
#define TESTS_FAKE_MEM_H

#include <stdint.h>

#include "vmm/guestmem.h"

/* Add a zeroed region; aborts the test on failure. */
void *fake_mem_add(struct guestmem *gm, uint64_t gpa, uint64_t size);
/* Free every region's buffer. */
void fake_mem_free(struct guestmem *gm);

#endif
