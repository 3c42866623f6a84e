/*
 * mptable: Intel MultiProcessor Specification 1.4 tables, which tell a
 * guest without ACPI how many CPUs it has and how ISA IRQs reach the
 * IOAPIC. Pure: builds bytes into a caller buffer.
 */
#ifndef VMM_MPTABLE_H
#define VMM_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Write the floating pointer followed by the configuration table into `buf`
 * (which the guest will see at `gpa`): `nr_cpus` processors, and ISA IRQ
 * `irqs[i]` wired to the same IOAPIC pin for each of the `nr_irqs` lines.
 * Returns the bytes used, -EINVAL for a bad CPU count or IRQ, -ENOSPC when
 * `size` is too small.
 */
int mptable_build(uint8_t *buf, size_t size, uint32_t gpa,
		  unsigned int nr_cpus, const uint8_t *irqs,
		  unsigned int nr_irqs);

/* The IOAPIC's id in the table: after the CPUs' APIC ids 0..nr_cpus-1. */
static inline uint8_t mptable_ioapic_id(unsigned int nr_cpus)
{
	return (uint8_t)nr_cpus;
}

#endif
