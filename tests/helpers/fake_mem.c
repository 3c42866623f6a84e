/* fake_mem: see fake_mem.h. */
#include "tests/helpers/fake_mem.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

void *fake_mem_add(struct guestmem *gm, uint64_t gpa, uint64_t size)
{
	void *buf = calloc(1, (size_t)size);

	/* Only on failure: a passing ck_assert records a checkpoint, which
	 * outside a Check test (a fuzz target) ends the process. */
	if (!buf)
		ck_abort_msg("fake_mem: out of memory");
	if (guestmem_add_region(gm, gpa, size, buf))
		ck_abort_msg("fake_mem: cannot add region at %#llx",
			     (unsigned long long)gpa);
	return buf;
}

void fake_mem_free(struct guestmem *gm)
{
	unsigned int i;

	for (i = 0; i < gm->nr_regions; i++)
		free(gm->regions[i].host);
	memset(gm, 0, sizeof(*gm));
}
