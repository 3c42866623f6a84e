/* Unit tests: MP table layout, checksums and CPU entries. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/machine.h"
#include "vmm/mptable.h"

#define BASE 0xF0000u

static const uint8_t isa_irqs[] = { 0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
				     13, 14, 15 };
#define NR_IRQS (sizeof(isa_irqs) / sizeof(isa_irqs[0]))

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static const unsigned int cpu_counts[] = { 1, 2, 3, 8, 64 };

START_TEST(table_is_consistent)
{
	unsigned int ncpus = cpu_counts[_i], cpus = 0, bsps = 0, ioapics = 0;
	unsigned int intsrc = 0, lint = 0, entries = 0;
	uint8_t buf[4096];
	const uint8_t *hdr, *p, *end;
	uint16_t len;
	int used;

	memset(buf, 0xee, sizeof(buf));
	used = mptable_build(buf, sizeof(buf), BASE, ncpus, isa_irqs, NR_IRQS);
	ck_assert_int_gt(used, 16 + 44);

	/* Floating pointer: signature, pointer, length, checksum. */
	ck_assert_mem_eq(buf, "_MP_", 4);
	ck_assert_uint_eq(rd32(buf + 4), BASE + 16);
	ck_assert_uint_eq(buf[8], 1);
	ck_assert_uint_eq(sum(buf, 16), 0);

	hdr = buf + 16;
	ck_assert_mem_eq(hdr, "PCMP", 4);
	len = (uint16_t)(hdr[4] | hdr[5] << 8);
	ck_assert_int_eq(16 + len, used);
	ck_assert_uint_eq(sum(hdr, len), 0);
	ck_assert_uint_eq(rd32(hdr + 36), MACHINE_LAPIC_BASE);

	for (p = hdr + 44, end = hdr + len; p < end; entries++) {
		switch (p[0]) {
		case 0:
			ck_assert_uint_eq(p[1], cpus); /* APIC id = index */
			ck_assert(p[3] & 1);
			if (p[3] & 2)
				bsps++;
			cpus++;
			p += 20;
			break;
		case 2:
			ck_assert_uint_eq(p[1], mptable_ioapic_id(ncpus));
			ck_assert_uint_eq(rd32(p + 4), MACHINE_IOAPIC_BASE);
			ioapics++;
			p += 8;
			break;
		case 3:
			ck_assert_uint_eq(p[5], isa_irqs[intsrc]);
			ck_assert_uint_eq(p[5], p[7]); /* IRQ n -> pin n */
			ck_assert_uint_eq(p[6], mptable_ioapic_id(ncpus));
			intsrc++;
			p += 8;
			break;
		case 4:
			lint++;
			p += 8;
			break;
		case 1:
			ck_assert_mem_eq(p + 2, "ISA   ", 6);
			p += 8;
			break;
		default:
			ck_abort_msg("unknown entry type %u", p[0]);
		}
	}
	ck_assert_ptr_eq(p, end);
	ck_assert_uint_eq(entries, (unsigned int)(hdr[34] | hdr[35] << 8));
	ck_assert_uint_eq(cpus, ncpus);
	ck_assert_uint_eq(bsps, 1);
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_uint_eq(intsrc, NR_IRQS);
	ck_assert_uint_eq(lint, 2);
	/* Nothing written past what it says it used. */
	ck_assert_uint_eq(buf[used], 0xee);
}
END_TEST

START_TEST(bad_arguments_and_small_buffers)
{
	static const uint8_t cascade[] = { 0, 2 }, high[] = { 16 };
	uint8_t buf[4096];

	ck_assert_int_eq(mptable_build(buf, sizeof(buf), BASE, 0, isa_irqs,
				       NR_IRQS),
			 -EINVAL);
	ck_assert_int_eq(mptable_build(buf, sizeof(buf), BASE,
				       MACHINE_MAX_CPUS + 1, isa_irqs, NR_IRQS),
			 -EINVAL);
	ck_assert_int_eq(mptable_build(buf, sizeof(buf), BASE, 1, cascade, 2),
			 -EINVAL);
	ck_assert_int_eq(mptable_build(buf, sizeof(buf), BASE, 1, high, 1),
			 -EINVAL);
	ck_assert_int_eq(mptable_build(buf, sizeof(buf), BASE, 1, isa_irqs,
				       MACHINE_NR_ISA_IRQS + 1),
			 -EINVAL);
	ck_assert_int_eq(mptable_build(buf, 100, BASE, 1, isa_irqs, NR_IRQS),
			 -ENOSPC);
	ck_assert_int_eq(mptable_build(buf, 16 + 44 + 64 * 20, BASE, 64,
				       isa_irqs, NR_IRQS),
			 -ENOSPC);
	ck_assert_int_gt(mptable_build(buf, sizeof(buf), BASE, 1, NULL, 0), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mptable");
	TCase *tc = tcase_create("build");

	tcase_add_checked_fixture(tc, test_log_install, NULL);
	tcase_add_loop_test(tc, table_is_consistent, 0,
			    sizeof(cpu_counts) / sizeof(cpu_counts[0]));
	tcase_add_test(tc, bad_arguments_and_small_buffers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
