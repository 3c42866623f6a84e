/* cpuid: see cpuid.h. Bit numbers follow the Intel SDM, vol. 2A, CPUID. */
#include "vmm/cpuid.h"

#include <string.h>

#define BIT(n) (1u << (n))

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function,
				    uint32_t index)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) &&
		    e->index != index)
			continue;
		return e;
	}
	return NULL;
}

void cpuid_filter_pvm(struct kvm_cpuid2 *c)
{
	/* Leaf 1 ECX: PCID, FMA, POPCNT, XSAVE, OSXSAVE, AVX, F16C, RDRAND. */
	const uint32_t l1_ecx = BIT(17) | BIT(12) | BIT(23) | BIT(26) |
				BIT(27) | BIT(28) | BIT(29) | BIT(30);
	/*
	 * Leaf 7.0 EBX: FSGSBASE, AVX2, INVPCID, AVX512F/DQ, RDSEED,
	 * SMAP, AVX512IFMA, CLFLUSHOPT, CLWB, AVX512PF/ER/CD, AVX512BW/VL.
	 */
	const uint32_t l7_ebx = BIT(0) | BIT(5) | BIT(10) | BIT(16) | BIT(17) |
				BIT(18) | BIT(20) | BIT(21) | BIT(23) |
				BIT(24) | BIT(26) | BIT(27) | BIT(28) |
				BIT(30) | BIT(31);
	/*
	 * Leaf 7.0 ECX: AVX512VBMI, PKU, OSPKE, AVX512VBMI2, VAES,
	 * VPCLMULQDQ, AVX512VNNI, AVX512BITALG, AVX512VPOPCNTDQ, RDPID.
	 */
	const uint32_t l7_ecx = BIT(1) | BIT(3) | BIT(4) | BIT(6) | BIT(9) |
				BIT(10) | BIT(11) | BIT(12) | BIT(14) |
				BIT(22);
	/* Leaf 7.0 EDX: AVX512 4VNNIW/4FMAPS, VP2INTERSECT, FP16, AMX. */
	const uint32_t l7_edx = BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) |
				BIT(24) | BIT(25);
	struct kvm_cpuid_entry2 *e;
	uint32_t i;

	if ((e = cpuid_find(c, 1, 0)))
		e->ecx &= ~l1_ecx;
	if ((e = cpuid_find(c, 7, 0))) {
		e->ebx &= ~l7_ebx;
		e->ecx &= ~l7_ecx;
		e->edx &= ~l7_edx;
	}
	if ((e = cpuid_find(c, 7, 1)))
		e->eax &= ~(BIT(4) | BIT(5)); /* AVX-VNNI, AVX512_BF16 */
	/* Leaf 0x80000001 EDX: RDTSCP. */
	if ((e = cpuid_find(c, 0x80000001, 0)))
		e->edx &= ~BIT(27);
	/* No XSAVE at all: leaf 0xD describes nothing. */
	for (i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function == 0xd)
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
}

void cpuid_set_vcpu(struct kvm_cpuid2 *c, unsigned int apic_id)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x00ffffffu) | apic_id << 24;
			e->ecx |= BIT(31); /* running under a hypervisor */
			break;
		case 0xb:
		case 0x1f:
			e->edx = apic_id; /* x2APIC id */
			break;
		case 0x8000001e:
			e->eax = apic_id; /* AMD extended APIC id */
			break;
		default:
			break;
		}
	}
}
