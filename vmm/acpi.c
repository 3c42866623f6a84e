/*
 * acpi: see acpi.h. Layouts from ACPI 6.5: 5.2.5 (RSDP), 5.2.6 (table
 * header), 5.2.8 (XSDT), 5.2.9 (FADT), 5.2.12 (MADT), 5.2.11.1 (DSDT).
 */
#include "vmm/acpi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/aml.h"
#include "vmm/mptable.h"
#include "vmm/util.h"

#define HDR_LEN 36u
#define RSDP_LEN 36u
#define FADT_LEN 276u
#define MADT_LAPIC_LEN 8u
#define MADT_IOAPIC_LEN 12u
#define OEM_ID "VMM   "
#define OEM_TABLE_ID "VMMACPI "
#define CREATOR_ID "VMM "

/* FADT fields (offsets) and flags. */
#define FADT_DSDT 40
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT 140
#define FADT_SLEEP_CONTROL_REG 244
#define FADT_SLEEP_STATUS_REG 256
#define FADT_HYPERVISOR_ID 268
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define BOOT_ARCH_CMOS_RTC_NOT_PRESENT (1u << 5)
#define FADT_F_PWR_BUTTON (1u << 4) /* set: no fixed power button */
#define FADT_F_SLP_BUTTON (1u << 5) /* set: no fixed sleep button */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

#define MADT_TYPE_LAPIC 0
#define MADT_TYPE_IOAPIC 1
#define MADT_LAPIC_ENABLED 1

/* DSDT AML: one device is well under 100 bytes. */
#define DSDT_MAX (HDR_LEN + 256 + 128 * MACHINE_NR_DEVS)

struct table_writer {
	uint8_t *buf;
	size_t size, used;
	uint64_t gpa;
};

/* Room for `len` bytes at the next 16-byte boundary; NULL if none. */
static uint8_t *take(struct table_writer *w, size_t len, uint32_t *off)
{
	size_t at = (w->used + 15) & ~(size_t)15;

	if (at > w->size || len > w->size - at)
		return NULL;
	memset(w->buf + at, 0, len);
	w->used = at + len;
	*off = (uint32_t)at;
	return w->buf + at;
}

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put_le32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	put_le32(t + 24, 1); /* OEM revision */
	memcpy(t + 28, CREATOR_ID, 4);
	put_le32(t + 32, 1); /* creator revision */
}

static void seal(uint8_t *t, uint32_t len)
{
	t[9] = checksum8(t, len);
}

/* A generic address structure: `width` bits of system I/O at `port`. */
static void gas_io(uint8_t *p, uint16_t port, uint8_t width)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = width;
	p[2] = 0;
	p[3] = GAS_ACCESS_BYTE;
	put_le64(p + 4, port);
}

static void fadt(uint8_t *t, uint64_t dsdt_gpa)
{
	const struct machine_dev *sleep = &machine_devs[MACHINE_DEV_ACPI_SLEEP];
	const struct machine_dev *reset = &machine_devs[MACHINE_DEV_I8042_CMD];

	header(t, "FACP", FADT_LEN, 6);
	put_le32(t + FADT_DSDT, (uint32_t)dsdt_gpa);
	put_le16(t + FADT_IAPC_BOOT_ARCH,
		 BOOT_ARCH_VGA_NOT_PRESENT | BOOT_ARCH_CMOS_RTC_NOT_PRESENT);
	put_le32(t + FADT_FLAGS, FADT_F_HW_REDUCED_ACPI |
					 FADT_F_RESET_REG_SUP |
					 FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON);
	gas_io(t + FADT_RESET_REG, (uint16_t)reset->base, 8);
	t[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
	t[FADT_MINOR_VERSION] = 5;
	put_le64(t + FADT_X_DSDT, dsdt_gpa);
	gas_io(t + FADT_SLEEP_CONTROL_REG, (uint16_t)sleep->base, 8);
	gas_io(t + FADT_SLEEP_STATUS_REG, (uint16_t)(sleep->base + 1), 8);
	memcpy(t + FADT_HYPERVISOR_ID, "VMM     ", 8);
	seal(t, FADT_LEN);
}

static uint32_t madt_len(unsigned int nr_cpus)
{
	return HDR_LEN + 8 + nr_cpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN;
}

static void madt(uint8_t *t, unsigned int nr_cpus)
{
	uint32_t len = madt_len(nr_cpus);
	uint8_t *p = t + HDR_LEN;
	unsigned int i;

	header(t, "APIC", len, 5);
	put_le32(p, MACHINE_LAPIC_BASE);
	put_le32(p + 4, 0); /* no 8259s to disable */
	p += 8;
	for (i = 0; i < nr_cpus; i++, p += MADT_LAPIC_LEN) {
		p[0] = MADT_TYPE_LAPIC;
		p[1] = MADT_LAPIC_LEN;
		p[2] = (uint8_t)i; /* processor UID */
		p[3] = (uint8_t)i; /* APIC id, as in the MP table */
		put_le32(p + 4, MADT_LAPIC_ENABLED);
	}
	p[0] = MADT_TYPE_IOAPIC;
	p[1] = MADT_IOAPIC_LEN;
	p[2] = mptable_ioapic_id(nr_cpus);
	put_le32(p + 4, MACHINE_IOAPIC_BASE);
	put_le32(p + 8, 0); /* GSI base: ISA IRQ n is pin n */
	seal(t, len);
}

static void aml_hid_uid(struct aml *a, const char *eisa_hid,
			const char *str_hid, unsigned int uid)
{
	aml_name(a, "_HID");
	if (eisa_hid)
		aml_eisa_id(a, eisa_hid);
	else
		aml_string(a, str_hid);
	aml_name(a, "_UID");
	aml_integer(a, uid);
}

/* The DSDT's AML body: devices under \_SB, then \_S5. */
static void dsdt_body(struct aml *a, machine_devset devs)
{
	const struct machine_dev *com1 = &machine_devs[MACHINE_DEV_SERIAL0];
	size_t sb, dev, res, pkg;
	unsigned int id, n = 0;

	sb = aml_scope_begin(a, "\\_SB");
	/* Hardware-reduced ACPI maps no legacy IRQ: the console's must be
	 * described. */
	dev = aml_device_begin(a, "COM1");
	aml_hid_uid(a, "PNP0501", NULL, 0);
	aml_name(a, "_CRS");
	res = aml_resources_begin(a);
	aml_res_io(a, (uint16_t)com1->base, (uint8_t)com1->size);
	aml_res_irq_noflags(a, (unsigned int)com1->irq);
	aml_resources_end(a, res);
	aml_end(a, dev);
	for (id = 0; id < MACHINE_NR_DEVS; id++) {
		const struct machine_dev *md = &machine_devs[id];
		char name[5];

		if (md->kind != MACHINE_KIND_VIRTIO_MMIO ||
		    !machine_has(devs, id))
			continue;
		snprintf(name, sizeof(name), "VR%02u", n);
		dev = aml_device_begin(a, name);
		aml_hid_uid(a, NULL, "LNRO0005", n);
		aml_name(a, "_CRS");
		res = aml_resources_begin(a);
		aml_res_mem32_fixed(a, (uint32_t)md->base, (uint32_t)md->size);
		aml_res_interrupt(a, (uint32_t)md->irq);
		aml_resources_end(a, res);
		aml_end(a, dev);
		n++;
	}
	aml_end(a, sb);
	/* Soft off: the sleep type the guest writes, SLP_TYPa and b. */
	aml_name(a, "\\_S5");
	pkg = aml_package_begin(a, 4);
	aml_integer(a, 5);
	aml_integer(a, 5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a, pkg);
}

int acpi_build(uint8_t *buf, size_t size, uint64_t gpa, unsigned int nr_cpus,
	       machine_devset devs, struct acpi_layout *out)
{
	struct table_writer w = { .buf = buf, .size = size, .gpa = gpa };
	struct acpi_layout l;
	uint8_t *rsdp, *xsdt, *t;
	struct aml a;
	uint32_t len;

	if (!nr_cpus || nr_cpus > MACHINE_MAX_CPUS || (gpa & 15))
		return -EINVAL;
	l.len[ACPI_RSDP] = RSDP_LEN;
	l.len[ACPI_XSDT] = HDR_LEN + 2 * 8;
	l.len[ACPI_FADT] = FADT_LEN;
	l.len[ACPI_MADT] = madt_len(nr_cpus);
	if (!(rsdp = take(&w, RSDP_LEN, &l.off[ACPI_RSDP])) ||
	    !(xsdt = take(&w, l.len[ACPI_XSDT], &l.off[ACPI_XSDT])) ||
	    !take(&w, FADT_LEN, &l.off[ACPI_FADT]) ||
	    !take(&w, l.len[ACPI_MADT], &l.off[ACPI_MADT]) ||
	    !(t = take(&w, DSDT_MAX, &l.off[ACPI_DSDT])))
		return -ENOSPC;

	aml_init(&a, t + HDR_LEN, DSDT_MAX - HDR_LEN);
	dsdt_body(&a, devs);
	if (a.overflow)
		return -ENOSPC;
	len = HDR_LEN + (uint32_t)a.len;
	header(t, "DSDT", len, 2);
	seal(t, len);
	l.len[ACPI_DSDT] = len;
	w.used = l.off[ACPI_DSDT] + len;

	fadt(buf + l.off[ACPI_FADT], gpa + l.off[ACPI_DSDT]);
	madt(buf + l.off[ACPI_MADT], nr_cpus);

	header(xsdt, "XSDT", l.len[ACPI_XSDT], 1);
	put_le64(xsdt + HDR_LEN, gpa + l.off[ACPI_FADT]);
	put_le64(xsdt + HDR_LEN + 8, gpa + l.off[ACPI_MADT]);
	seal(xsdt, l.len[ACPI_XSDT]);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, OEM_ID, 6);
	rsdp[15] = 2; /* revision: ACPI 2.0+, XSDT */
	put_le32(rsdp + 20, RSDP_LEN);
	put_le64(rsdp + 24, gpa + l.off[ACPI_XSDT]);
	rsdp[8] = checksum8(rsdp, 20);
	rsdp[32] = checksum8(rsdp, RSDP_LEN);

	if (out)
		*out = l;
	return (int)w.used;
}
