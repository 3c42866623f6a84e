/*
 * cpuid: the CPUID table each vCPU gets.
 *
 * Start from what KVM supports, give each vCPU its APIC id, and on a
 * kvm_pvm host leave out the features that host's instruction emulator
 * cannot execute (a guest kernel that saw them would use them and fault).
 */
#ifndef VMM_CPUID_H
#define VMM_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* Remove the features kvm_pvm's emulator lacks (XSAVE/AVX*, SMAP, ...). */
void cpuid_filter_pvm(struct kvm_cpuid2 *c);

/*
 * Per-vCPU fields: APIC ids in leaves 0x1, 0xB, 0x1F and 0x8000001E; the
 * hypervisor bit.
 */
void cpuid_set_vcpu(struct kvm_cpuid2 *c, unsigned int apic_id);

/* Find an entry, NULL if absent. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function,
				    uint32_t index);

#endif
