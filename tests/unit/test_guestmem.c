/* Unit tests: guestmem bounds checking. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/helpers/fake_mem.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/guestmem.h"

static struct guestmem gm;
static uint8_t *low, *high;

static void setup(void)
{
	test_log_install();
	memset(&gm, 0, sizeof(gm));
	low = fake_mem_add(&gm, 0, 0x10000);
	high = fake_mem_add(&gm, 0x100000000ull, 0x1000);
}

static void teardown(void)
{
	fake_mem_free(&gm);
}

START_TEST(ptr_inside_regions)
{
	ck_assert_ptr_eq(guestmem_ptr(&gm, 0, 1), low);
	ck_assert_ptr_eq(guestmem_ptr(&gm, 0x100, 0x100), low + 0x100);
	ck_assert_ptr_eq(guestmem_ptr(&gm, 0, 0x10000), low);
	ck_assert_ptr_eq(guestmem_ptr(&gm, 0xffff, 1), low + 0xffff);
	ck_assert_ptr_eq(guestmem_ptr(&gm, 0x100000000ull, 0x1000), high);
}
END_TEST

static const struct {
	uint64_t gpa, len;
} bad_ranges[] = {
	{ 0xffff, 2 }, /* runs one byte past the end */
	{ 0x10000, 1 }, /* starts just past the end */
	{ 0x8000, 0x100000 }, /* far too long */
	{ 0x20000, 0 }, /* a hole, even for zero length */
	{ 0xfff00000, 0x200000 }, /* hole between the regions */
	{ 0x100000fffull, 2 },
	{ 0x100001000ull, 1 },
	{ ~0ull, 1 }, /* top of the address space */
	{ ~0ull - 1, 4 }, /* wraps */
	{ 0x1, ~0ull }, /* length wraps */
	{ 0x100000000ull, ~0ull - 0xfff },
};

START_TEST(ptr_rejects_bad_ranges)
{
	ck_assert_msg(guestmem_ptr(&gm, bad_ranges[_i].gpa,
				   bad_ranges[_i].len) == NULL,
		      "range %d (%#llx+%#llx) accepted", _i,
		      (unsigned long long)bad_ranges[_i].gpa,
		      (unsigned long long)bad_ranges[_i].len);
}
END_TEST

START_TEST(zero_length_at_region_end)
{
	ck_assert_ptr_eq(guestmem_ptr(&gm, 0x10000, 0), low + 0x10000);
	ck_assert_ptr_eq(guestmem_ptr(&gm, 0, 0), low);
}
END_TEST

START_TEST(span_of_two_regions_rejected)
{
	struct guestmem two = { 0 };

	fake_mem_add(&two, 0, 0x1000);
	fake_mem_add(&two, 0x1000, 0x1000);
	ck_assert_ptr_nonnull(guestmem_ptr(&two, 0xfff, 1));
	ck_assert_ptr_nonnull(guestmem_ptr(&two, 0x1000, 1));
	ck_assert_ptr_null(guestmem_ptr(&two, 0xfff, 2));
	fake_mem_free(&two);
}
END_TEST

START_TEST(read_write)
{
	uint32_t v = 0xdeadbeef, r = 0;

	ck_assert_int_eq(guestmem_write(&gm, 0x100000000ull + 0xffc, &v, 4), 0);
	ck_assert_int_eq(guestmem_read(&gm, 0x100000000ull + 0xffc, &r, 4), 0);
	ck_assert_uint_eq(r, v);
	ck_assert_int_eq(guestmem_write(&gm, 0x100000000ull + 0xffd, &v, 4),
			 -EFAULT);
	ck_assert_int_eq(guestmem_read(&gm, 0xfffe, &r, 4), -EFAULT);
	ck_assert_uint_eq(guestmem_size(&gm), 0x11000);
}
END_TEST

START_TEST(add_region_validation)
{
	uint8_t buf[16];

	ck_assert_int_eq(guestmem_add_region(&gm, 0x8000, 0x10, buf), -EEXIST);
	ck_assert_int_eq(guestmem_add_region(&gm, 0xfffffff0ull, 0x20000, buf),
			 -EEXIST);
	ck_assert_int_eq(guestmem_add_region(&gm, 0x20000, 0, buf), -EINVAL);
	ck_assert_int_eq(guestmem_add_region(&gm, ~0ull - 4, 16, buf), -EINVAL);
	ck_assert_int_eq(guestmem_add_region(&gm, 0x20000, 16, NULL), -EINVAL);
	ck_assert_int_eq(guestmem_add_region(&gm, 0x20000, 16, buf), 0);
	ck_assert_int_eq(guestmem_add_region(&gm, 0x30000, 16, buf), 0);
	ck_assert_int_eq(guestmem_add_region(&gm, 0x40000, 16, buf), -ENOSPC);
	gm.nr_regions -= 2; /* buf is not ours to free */
}
END_TEST

START_TEST(create_splits_around_hole)
{
	struct guestmem m;

	ck_assert_int_eq(guestmem_create(&m, 0x300000, 0x200000, 0x400000), 0);
	ck_assert_uint_eq(m.nr_regions, 2);
	ck_assert_uint_eq(m.regions[0].size, 0x200000);
	ck_assert_uint_eq(m.regions[1].gpa, 0x400000);
	ck_assert_uint_eq(m.regions[1].size, 0x100000);
	ck_assert_ptr_null(guestmem_ptr(&m, 0x200000, 1));
	ck_assert_ptr_nonnull(guestmem_ptr(&m, 0x4fffff, 1));
	guestmem_destroy(&m);
	ck_assert_int_eq(guestmem_create(&m, 0x100000, 0x200000, 0x400000), 0);
	ck_assert_uint_eq(m.nr_regions, 1);
	guestmem_destroy(&m);
}
END_TEST

/* The VmFlags line of the /proc/self/smaps mapping that holds `addr`. */
static bool vm_flags_of(const void *addr, char *flags, size_t size)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	bool in = false, found = false;

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, size, "%s", line + 8);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* Guest RAM is 2 MiB aligned and asks for transparent huge pages (KVM
 * maps it with 2 MiB nested page-table entries then). */
START_TEST(ram_is_aligned_for_huge_pages)
{
	struct guestmem m;
	char flags[256];
	uint64_t size;

	for (size = 0x300000; size <= 0x4100000; size += 0x3e00000) {
		ck_assert_int_eq(guestmem_create(&m, size, 0x40000000,
						 0x100000000ull),
				 0);
		ck_assert_uint_eq((uintptr_t)m.mapping % GUESTMEM_HUGE, 0);
		ck_assert_ptr_eq(guestmem_ptr(&m, 0, size), m.mapping);
		((volatile uint8_t *)m.mapping)[size - 1] = 1; /* all usable */
		ck_assert(vm_flags_of(m.mapping, flags, sizeof(flags)));
		if (!access("/sys/kernel/mm/transparent_hugepage", F_OK))
			ck_assert_msg(strstr(flags, " hg"), "VmFlags:%s", flags);
		guestmem_destroy(&m);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("guestmem");
	TCase *tc = tcase_create("bounds");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ptr_inside_regions);
	tcase_add_loop_test(tc, ptr_rejects_bad_ranges, 0,
			    sizeof(bad_ranges) / sizeof(bad_ranges[0]));
	tcase_add_test(tc, zero_length_at_region_end);
	tcase_add_test(tc, span_of_two_regions_rejected);
	tcase_add_test(tc, read_write);
	tcase_add_test(tc, add_region_validation);
	tcase_add_test(tc, create_splits_around_hole);
	tcase_add_test(tc, ram_is_aligned_for_huge_pages);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
