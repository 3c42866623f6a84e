/* Unit tests: bus range registration and dispatch. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/bus.h"

struct fake_dev {
	uint64_t last_off;
	unsigned int last_len;
	unsigned int reads, writes;
	uint8_t value;
};

static void dev_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct fake_dev *d = opaque;

	d->last_off = off;
	d->last_len = len;
	d->reads++;
	memset(data, d->value, len);
}

static void dev_write(void *opaque, uint64_t off, const void *data,
		      unsigned int len)
{
	struct fake_dev *d = opaque;

	d->last_off = off;
	d->last_len = len;
	d->writes++;
	d->value = *(const uint8_t *)data;
}

static const struct bus_ops ops = { .read = dev_read, .write = dev_write };

START_TEST(register_rejects_overlap_and_bad_ranges)
{
	struct fake_dev a = { 0 };
	struct bus bus;

	bus_init(&bus, "test");
	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, &ops, &a), 0);
	ck_assert_int_eq(bus_register(&bus, 0x10f, 1, &ops, &a), -EEXIST);
	ck_assert_int_eq(bus_register(&bus, 0xf0, 0x11, &ops, &a), -EEXIST);
	ck_assert_int_eq(bus_register(&bus, 0x0, 0x1000, &ops, &a), -EEXIST);
	ck_assert_int_eq(bus_register(&bus, 0x200, 0, &ops, &a), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, ~0ull, 2, &ops, &a), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, 0x300, 1, NULL, &a), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, ~0ull, 1, &ops, &a), 0);
	ck_assert_int_eq(bus_register(&bus, 0xf0, 0x10, &ops, &a), 0);
	ck_assert_int_eq(bus_register(&bus, 0x110, 0x10, &ops, &a), 0);
	ck_assert_uint_eq(bus.nr_ranges, 4);
	bus_destroy(&bus);
}
END_TEST

START_TEST(dispatch_by_range)
{
	struct fake_dev devs[20] = { 0 };
	struct bus bus;
	uint8_t v = 0;
	unsigned int i;

	bus_init(&bus, "test");
	/* Registered out of order: lookups must still find each one. */
	for (i = 0; i < 20; i++) {
		devs[i].value = (uint8_t)(i + 1);
		ck_assert_int_eq(bus_register(&bus, 0x1000 * ((i * 7) % 20),
					      0x100, &ops, &devs[i]),
				 0);
	}
	for (i = 0; i < 20; i++) {
		uint64_t base = 0x1000 * ((i * 7) % 20);

		ck_assert_int_eq(bus_access(&bus, base + 0xff, &v, 1, false), 0);
		ck_assert_uint_eq(v, i + 1);
		ck_assert_uint_eq(devs[i].last_off, 0xff);
		ck_assert_int_eq(bus_access(&bus, base + 0x100, &v, 1, false),
				 -ENOENT);
	}
	v = 0x5a;
	ck_assert_int_eq(bus_access(&bus, 0x3004, &v, 1, true), 0);
	bus_destroy(&bus);
}
END_TEST

START_TEST(access_must_fit_in_range)
{
	struct fake_dev a = { .value = 0x11 };
	struct bus bus;
	uint32_t v = 0;

	bus_init(&bus, "test");
	ck_assert_int_eq(bus_register(&bus, 0x3f8, 8, &ops, &a), 0);
	ck_assert_int_eq(bus_access(&bus, 0x3fc, &v, 4, false), 0);
	ck_assert_uint_eq(a.last_len, 4);
	ck_assert_int_eq(bus_access(&bus, 0x3fd, &v, 4, false), -ENOENT);
	ck_assert_int_eq(bus_access(&bus, 0x3f7, &v, 2, true), -ENOENT);
	ck_assert_int_eq(bus_access(&bus, 0x3f8, &v, 0, true), -ENOENT);
	ck_assert_uint_eq(a.reads, 1);
	ck_assert_uint_eq(a.writes, 0);
	bus_destroy(&bus);
}
END_TEST

START_TEST(empty_bus)
{
	struct bus bus;
	uint8_t v;

	bus_init(&bus, "test");
	ck_assert_int_eq(bus_access(&bus, 0, &v, 1, false), -ENOENT);
	bus_destroy(&bus);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("ranges");

	tcase_add_checked_fixture(tc, test_log_install, NULL);
	tcase_add_test(tc, register_rejects_overlap_and_bad_ranges);
	tcase_add_test(tc, dispatch_by_range);
	tcase_add_test(tc, access_must_fit_in_range);
	tcase_add_test(tc, empty_bus);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
