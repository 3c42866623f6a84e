/*
 * Unit tests: the ACPI tables (vmm/acpi.c) and the AML emitter under them,
 * checked by their own sums and by an oracle: acpica-tools' disassembler
 * (`iasl -d`) reads every table and must find the fields we meant, with
 * no checksum or parse complaint, for 1 vCPU and for the most, with and
 * without virtio devices. Without iasl the whole test reports a skip.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/acpi.h"
#include "vmm/aml.h"
#include "vmm/util.h"

static const char *const names[ACPI_NR_TABLES] = {
	[ACPI_RSDP] = "rsdp", [ACPI_XSDT] = "xsdt", [ACPI_FADT] = "fadt",
	[ACPI_MADT] = "madt", [ACPI_DSDT] = "dsdt",
};

static uint8_t buf[MACHINE_ACPI_MAX];
static struct acpi_layout lay;
static char dir[] = "/tmp/test_acpi.XXXXXX";

static machine_devset all_virtio(void)
{
	return (1u << MACHINE_DEV_VIRTIO_RNG) | (1u << MACHINE_DEV_VIRTIO_VSOCK);
}

static void build(unsigned int cpus, machine_devset devs)
{
	int n = acpi_build(buf, sizeof(buf), MACHINE_ACPI_ADDR, cpus, devs,
			   &lay);
	unsigned int t;

	ck_assert_int_gt(n, 0);
	for (t = ACPI_XSDT; t < ACPI_NR_TABLES; t++) {
		ck_assert_uint_eq(lay.off[t] % 16, 0);
		ck_assert_uint_eq(get_le32(buf + lay.off[t] + 4), lay.len[t]);
		ck_assert_uint_eq(checksum8(buf + lay.off[t], lay.len[t]), 0);
	}
	ck_assert_int_eq(memcmp(buf, "RSD PTR ", 8), 0);
	ck_assert_uint_eq(lay.off[ACPI_RSDP], 0);
	ck_assert_uint_eq(checksum8(buf, 20), 0);
	ck_assert_uint_eq(checksum8(buf, 36), 0);
	ck_assert_uint_eq(get_le64(buf + 24),
			  MACHINE_ACPI_ADDR + lay.off[ACPI_XSDT]);
}

/* `iasl -d` table `t`; its disassembly, which the caller frees. */
static char *disassemble(enum acpi_table t)
{
	char path[128], cmd[400], *text;
	FILE *f;
	long len;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, names[t]);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf + lay.off[t], 1, lay.len[t], f),
			  lay.len[t]);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "iasl -d %s >%s/iasl.log 2>&1", path, dir);
	ck_assert_msg(system(cmd) == 0, "iasl -d %s failed", names[t]);
	snprintf(path, sizeof(path), "%s/%s.dsl", dir, names[t]);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	ck_assert_ptr_null(strstr(text, "Incorrect checksum"));
	ck_assert_ptr_null(strstr(text, "**** "));
	return text;
}

static unsigned int count(const char *text, const char *what)
{
	unsigned int n = 0;

	for (; (text = strstr(text, what)); text += strlen(what))
		n++;
	return n;
}

static void has(const char *text, const char *what)
{
	ck_assert_msg(strstr(text, what), "no \"%s\" in the disassembly", what);
}

static void setup(void)
{
	test_log_install();
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/test_acpi.XXXXXX");
}

static const unsigned int cpu_counts[] = { 1, 2, MACHINE_MAX_CPUS };

START_TEST(fadt_is_hardware_reduced_with_sleep_and_reset)
{
	char *t, line[64];

	build(1, all_virtio());
	t = disassemble(ACPI_FADT);
	has(t, "Revision : 06");
	has(t, "Hardware Reduced (V5) : 1");
	has(t, "Reset Register Supported (V2) : 1");
	has(t, "Value to cause reset : FE");
	has(t, "Address : 0000000000000064"); /* reset: i8042 command */
	has(t, "Address : 0000000000000600"); /* sleep control */
	has(t, "Address : 0000000000000601"); /* sleep status */
	snprintf(line, sizeof(line), "DSDT Address : %016llX",
		 (unsigned long long)(MACHINE_ACPI_ADDR + lay.off[ACPI_DSDT]));
	has(t, line);
	free(t);
	t = disassemble(ACPI_XSDT);
	ck_assert_uint_eq(count(t, "ACPI Table Address"), 2);
	free(t);
}
END_TEST

START_TEST(madt_has_every_cpu_and_the_ioapic)
{
	unsigned int cpus = cpu_counts[_i];
	char *t, line[64];

	build(cpus, all_virtio());
	t = disassemble(ACPI_MADT);
	ck_assert_uint_eq(count(t, "[Processor Local APIC]"), cpus);
	ck_assert_uint_eq(count(t, "[I/O APIC]"), 1);
	has(t, "Local Apic Address : FEE00000");
	has(t, "Address : FEC00000");
	snprintf(line, sizeof(line), "Local Apic ID : %02X", cpus - 1);
	has(t, line);
	snprintf(line, sizeof(line), "I/O Apic ID : %02X", cpus);
	has(t, line);
	free(t);
}
END_TEST

START_TEST(dsdt_names_the_console_the_virtio_devices_and_s5)
{
	char *t;

	build(cpu_counts[_i], all_virtio());
	t = disassemble(ACPI_DSDT);
	has(t, "EisaId (\"PNP0501\")");
	has(t, "0x03F8,             // Range Minimum");
	has(t, "IRQNoFlags ()\n                    {4}");
	ck_assert_uint_eq(count(t, "Name (_HID, \"LNRO0005\")"), 2);
	has(t, "0xD0000000,         // Address Base");
	has(t, "0xD0001000,         // Address Base");
	has(t, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive");
	has(t, "0x00000005,");
	has(t, "0x00000006,");
	has(t, "Name (\\_S5, Package (0x04)");
	free(t);
}
END_TEST

START_TEST(dsdt_without_virtio_devices)
{
	char *t;

	build(1, 0);
	t = disassemble(ACPI_DSDT);
	has(t, "Device (COM1)");
	ck_assert_ptr_null(strstr(t, "LNRO0005"));
	free(t);
}
END_TEST

START_TEST(bad_arguments_and_small_buffers)
{
	test_log_expect(0);
	ck_assert_int_lt(acpi_build(buf, sizeof(buf), MACHINE_ACPI_ADDR, 0, 0,
				    NULL), 0);
	ck_assert_int_lt(acpi_build(buf, sizeof(buf), MACHINE_ACPI_ADDR,
				    MACHINE_MAX_CPUS + 1, 0, NULL), 0);
	ck_assert_int_lt(acpi_build(buf, sizeof(buf), MACHINE_ACPI_ADDR + 4,
				    1, 0, NULL), 0);
	ck_assert_int_lt(acpi_build(buf, 200, MACHINE_ACPI_ADDR, 1, 0, NULL),
			 0);
}
END_TEST

/* Package lengths at each of their encodings' edges. */
START_TEST(aml_package_lengths)
{
	static const struct {
		size_t body; /* bytes after the length: count, elements */
		uint8_t lead; /* first length byte */
		unsigned int bytes; /* length bytes */
	} cases[] = {
		{ 1, 0x02, 1 },    { 62, 0x3f, 1 },     { 63, 0x41, 2 },
		{ 4093, 0x4f, 2 }, { 4094, 0x81, 3 },
	};
	static uint8_t out[8192];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml a;
		size_t mark, k;

		aml_init(&a, out, sizeof(out));
		mark = aml_package_begin(&a, 0);
		for (k = 1; k < cases[i].body; k++) /* the count byte is one */
			aml_integer(&a, 0);
		aml_end(&a, mark);
		ck_assert(!a.overflow);
		ck_assert_uint_eq(out[1], cases[i].lead);
		ck_assert_uint_eq(a.len, 1 + cases[i].bytes + cases[i].body);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("acpi");
	TCase *tc = tcase_create("tables");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fadt_is_hardware_reduced_with_sleep_and_reset);
	tcase_add_loop_test(tc, madt_has_every_cpu_and_the_ioapic, 0,
			    ARRAY_SIZE(cpu_counts));
	tcase_add_loop_test(tc, dsdt_names_the_console_the_virtio_devices_and_s5,
			    0, ARRAY_SIZE(cpu_counts));
	tcase_add_test(tc, dsdt_without_virtio_devices);
	tcase_add_test(tc, bad_arguments_and_small_buffers);
	tcase_add_test(tc, aml_package_lengths);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite_needing(suite(), "iasl", "acpica-tools");
}
