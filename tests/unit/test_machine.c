/* Unit tests: what is rendered from the machine table (cmdline, FDT). */
#include <check.h>
#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/fdt_machine.h"
#include "vmm/machine.h"

static const machine_devset all = (1u << MACHINE_NR_DEVS) - 1;

START_TEST(cmdline_lists_present_virtio_devices)
{
	char buf[256];

	ck_assert_int_gt(machine_virtio_cmdline(all, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, " virtio_mmio.device=4K@0xd0000000:5"
			      " virtio_mmio.device=4K@0xd0001000:6");
	ck_assert_int_eq(machine_virtio_cmdline(
				 1u << MACHINE_DEV_VIRTIO_VSOCK, buf,
				 sizeof(buf)),
			 (int)strlen(buf));
	ck_assert_str_eq(buf, " virtio_mmio.device=4K@0xd0001000:6");
	ck_assert_int_eq(machine_virtio_cmdline(0, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(machine_virtio_cmdline(all, buf, 20), -ENOSPC);
}
END_TEST

START_TEST(irqs_of_present_devices)
{
	uint8_t irqs[16];
	unsigned int n;

	n = machine_irqs(all, irqs, 16);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(irqs[0], 0); /* PIT */
	ck_assert_uint_eq(irqs[1], 4); /* serial */
	ck_assert_uint_eq(irqs[2], 5); /* virtio-rng */
	ck_assert_uint_eq(irqs[3], 6); /* virtio-vsock */
	n = machine_irqs(all & ~(1u << MACHINE_DEV_VIRTIO_RNG), irqs, 16);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(irqs[2], 6);
	ck_assert_uint_eq(machine_irqs(all, irqs, 2), 2);
}
END_TEST

START_TEST(table_is_consistent)
{
	unsigned int i, j;

	for (i = 0; i < MACHINE_NR_DEVS; i++) {
		const struct machine_dev *a = &machine_devs[i];

		ck_assert_ptr_nonnull(a->name);
		ck_assert_uint_gt(a->size, 0);
		/* Device IRQs are ISA lines the MP table routes. */
		ck_assert(a->irq < (int)MACHINE_NR_ISA_IRQS && a->irq != 2);
		for (j = i + 1; j < MACHINE_NR_DEVS; j++) {
			const struct machine_dev *b = &machine_devs[j];

			if (a->bus != b->bus)
				continue;
			ck_assert_msg(a->base + a->size <= b->base ||
					      b->base + b->size <= a->base,
				      "%s overlaps %s", a->name, b->name);
			if (a->irq >= 0)
				ck_assert_int_ne(a->irq, b->irq);
		}
	}
}
END_TEST

START_TEST(fdt_has_the_nodes)
{
	struct guestmem gm = { 0 };
	uint8_t dummy, buf[8192];
	struct fdt_machine fm = { .mem = &gm, .nr_cpus = 3,
				  .devs = all, .bootargs = "console=ttyS0" };
	/* Properties are only 4-byte aligned: fdt*_ld() loads bytewise. */
	const fdt32_t *irq;
	const fdt64_t *reg;
	const char *s;
	int len, off;

	guestmem_add_region(&gm, 0, 256u << 20, &dummy);
	ck_assert_int_gt(fdt_render(&fm, buf, sizeof(buf)), 0);
	ck_assert_int_eq(fdt_check_header(buf), 0);

	off = fdt_path_offset(buf, "/chosen");
	s = fdt_getprop(buf, off, "bootargs", &len);
	ck_assert_str_eq(s, "console=ttyS0");
	off = fdt_path_offset(buf, "/memory@0");
	reg = fdt_getprop(buf, off, "reg", &len);
	ck_assert_int_eq(len, 16);
	ck_assert_uint_eq(fdt64_ld(&reg[1]), 256u << 20);
	ck_assert_int_ge(fdt_path_offset(buf, "/cpus/cpu@2"), 0);
	ck_assert_int_lt(fdt_path_offset(buf, "/cpus/cpu@3"), 0);
	ck_assert_int_ge(fdt_path_offset(buf, "/serial@3f8"), 0);
	off = fdt_path_offset(buf, "/virtio_mmio@d0001000");
	ck_assert_int_ge(off, 0);
	s = fdt_getprop(buf, off, "compatible", &len);
	ck_assert_str_eq(s, "virtio,mmio");
	irq = fdt_getprop(buf, off, "interrupts", &len);
	ck_assert_uint_eq(fdt32_ld(&irq[0]), 6);
	reg = fdt_getprop(buf, off, "reg", &len);
	ck_assert_uint_eq(fdt64_ld(&reg[0]), 0xd0001000);

	fm.devs = 0;
	ck_assert_int_gt(fdt_render(&fm, buf, sizeof(buf)), 0);
	ck_assert_int_lt(fdt_path_offset(buf, "/virtio_mmio@d0000000"), 0);
	ck_assert_int_eq(fdt_render(&fm, buf, 100), -ENOSPC);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("machine");
	TCase *tc = tcase_create("render");

	tcase_add_checked_fixture(tc, test_log_install, NULL);
	tcase_add_test(tc, cmdline_lists_present_virtio_devices);
	tcase_add_test(tc, table_is_consistent);
	tcase_add_test(tc, irqs_of_present_devices);
	tcase_add_test(tc, fdt_has_the_nodes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
