/*
 * mptable: floating pointer, configuration table header, one processor
 * entry per vCPU (APIC id = index, CPU 0 the bootstrap processor), one ISA
 * bus, one IOAPIC, the machine's ISA IRQs wired 1:1 to IOAPIC pins (as
 * KVM's default GSI routing does), and LINT0/LINT1 as ExtINT/NMI.
 */
#include "vmm/mptable.h"

#include <errno.h>
#include <string.h>

#include "vmm/machine.h"
#include "vmm/util.h"

#define MPC_TYPE_CPU 0
#define MPC_TYPE_BUS 1
#define MPC_TYPE_IOAPIC 2
#define MPC_TYPE_INTSRC 3
#define MPC_TYPE_LINTSRC 4

#define MP_INT 0
#define MP_NMI 1
#define MP_EXTINT 3

#define CPU_ENABLED 1
#define CPU_BOOTPROCESSOR 2

#define FLOATING_LEN 16
#define HEADER_LEN 44
#define CPU_ENTRY_LEN 20
#define SMALL_ENTRY_LEN 8

static size_t entry_intsrc(uint8_t *p, uint8_t type, uint8_t irq,
			   uint8_t ioapic, uint8_t pin)
{
	p[0] = MPC_TYPE_INTSRC;
	p[1] = type;
	put_le16(p + 2, 0); /* polarity and trigger conform to the ISA bus */
	p[4] = 0; /* bus id */
	p[5] = irq;
	p[6] = ioapic;
	p[7] = pin;
	return SMALL_ENTRY_LEN;
}

static size_t entry_lintsrc(uint8_t *p, uint8_t type, uint8_t lint)
{
	p[0] = MPC_TYPE_LINTSRC;
	p[1] = type;
	put_le16(p + 2, 0);
	p[4] = 0;
	p[5] = 0;
	p[6] = 0xff; /* every local APIC */
	p[7] = lint;
	return SMALL_ENTRY_LEN;
}

int mptable_build(uint8_t *buf, size_t size, uint32_t gpa,
		  unsigned int nr_cpus, const uint8_t *irqs,
		  unsigned int nr_irqs)
{
	uint8_t ioapic_id = mptable_ioapic_id(nr_cpus);
	uint8_t *hdr = buf + FLOATING_LEN, *p;
	unsigned int i, entries = 0;
	size_t need, table_len;

	if (!nr_cpus || nr_cpus > MACHINE_MAX_CPUS ||
	    nr_irqs > MACHINE_NR_ISA_IRQS)
		return -EINVAL;
	for (i = 0; i < nr_irqs; i++)
		if (irqs[i] >= MACHINE_NR_ISA_IRQS || irqs[i] == 2)
			return -EINVAL; /* 2 is the PIC cascade */
	need = FLOATING_LEN + HEADER_LEN + nr_cpus * CPU_ENTRY_LEN +
	       (2 + nr_irqs + 2) * SMALL_ENTRY_LEN;
	if (size < need)
		return -ENOSPC;
	memset(buf, 0, need);

	p = hdr + HEADER_LEN;
	for (i = 0; i < nr_cpus; i++, entries++) {
		p[0] = MPC_TYPE_CPU;
		p[1] = (uint8_t)i; /* APIC id */
		p[2] = 0x14; /* local APIC version */
		p[3] = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0);
		put_le32(p + 4, 0x600); /* family 6 signature */
		put_le32(p + 8, 0x201); /* FPU, APIC */
		p += CPU_ENTRY_LEN;
	}
	p[0] = MPC_TYPE_BUS;
	p[1] = 0;
	memcpy(p + 2, "ISA   ", 6);
	p += SMALL_ENTRY_LEN;
	entries++;
	p[0] = MPC_TYPE_IOAPIC;
	p[1] = ioapic_id;
	p[2] = 0x11; /* IOAPIC version */
	p[3] = 1; /* enabled */
	put_le32(p + 4, MACHINE_IOAPIC_BASE);
	p += SMALL_ENTRY_LEN;
	entries++;
	for (i = 0; i < nr_irqs; i++) {
		p += entry_intsrc(p, MP_INT, irqs[i], ioapic_id, irqs[i]);
		entries++;
	}
	p += entry_lintsrc(p, MP_EXTINT, 0);
	p += entry_lintsrc(p, MP_NMI, 1);
	entries += 2;
	table_len = (size_t)(p - hdr);

	memcpy(hdr, "PCMP", 4);
	put_le16(hdr + 4, (uint16_t)table_len);
	hdr[6] = 4; /* spec revision 1.4 */
	memcpy(hdr + 8, "VMM     ", 8);
	memcpy(hdr + 16, "VSOCK-VMM   ", 12);
	put_le16(hdr + 34, (uint16_t)entries);
	put_le32(hdr + 36, MACHINE_LAPIC_BASE);
	hdr[7] = checksum8(hdr, table_len);

	memcpy(buf, "_MP_", 4);
	put_le32(buf + 4, gpa + FLOATING_LEN);
	buf[8] = 1; /* length in 16-byte units */
	buf[9] = 4; /* spec revision 1.4 */
	buf[10] = checksum8(buf, FLOATING_LEN);
	return (int)(FLOATING_LEN + table_len);
}
