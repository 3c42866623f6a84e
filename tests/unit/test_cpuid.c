/* Unit tests: CPUID filtering for kvm_pvm and per-vCPU APIC ids. */
#include <check.h>
#include <stdlib.h>

#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/cpuid.h"

static struct kvm_cpuid2 *make(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(c->entries[0]));
	unsigned int i;

	c->nent = 6;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1 };
	c->entries[1] = (struct kvm_cpuid_entry2){
		.function = 7, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	c->entries[2] = (struct kvm_cpuid_entry2){
		.function = 7, .index = 1,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0xd };
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x80000001 };
	c->entries[5] = (struct kvm_cpuid_entry2){
		.function = 0xb, .index = 0,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	for (i = 0; i < c->nent; i++) {
		c->entries[i].eax = c->entries[i].ebx = 0xffffffff;
		c->entries[i].ecx = c->entries[i].edx = 0xffffffff;
	}
	return c;
}

START_TEST(pvm_filter_hides_emulator_gaps)
{
	struct kvm_cpuid2 *c = make();
	struct kvm_cpuid_entry2 *e;

	cpuid_filter_pvm(c);
	e = cpuid_find(c, 1, 0);
	ck_assert_uint_eq(e->ecx & (1u << 26), 0); /* XSAVE */
	ck_assert_uint_eq(e->ecx & (1u << 28), 0); /* AVX */
	ck_assert_uint_eq(e->ecx & (1u << 23), 0); /* POPCNT */
	ck_assert_uint_eq(e->ecx & (1u << 30), 0); /* RDRAND */
	ck_assert_uint_eq(e->ecx & (1u << 17), 0); /* PCID */
	ck_assert_uint_ne(e->ecx & (1u << 0), 0); /* SSE3 kept */
	ck_assert_uint_eq(e->edx, 0xffffffff);
	e = cpuid_find(c, 7, 0);
	ck_assert_uint_eq(e->ebx & (1u << 20), 0); /* SMAP */
	ck_assert_uint_eq(e->ebx & (1u << 0), 0); /* FSGSBASE */
	ck_assert_uint_eq(e->ebx & (1u << 5), 0); /* AVX2 */
	ck_assert_uint_eq(e->ebx & (1u << 18), 0); /* RDSEED */
	ck_assert_uint_eq(e->ebx & (1u << 10), 0); /* INVPCID */
	ck_assert_uint_eq(e->ebx & (1u << 24), 0); /* CLWB */
	ck_assert_uint_ne(e->ebx & (1u << 7), 0); /* SMEP kept */
	ck_assert_uint_eq(e->ecx & (1u << 3), 0); /* PKU */
	ck_assert_uint_eq(e->ecx & (1u << 22), 0); /* RDPID */
	e = cpuid_find(c, 7, 1);
	ck_assert_uint_eq(e->eax & (1u << 4), 0); /* AVX-VNNI */
	e = cpuid_find(c, 0xd, 0);
	ck_assert_uint_eq(e->eax | e->ebx | e->ecx | e->edx, 0);
	e = cpuid_find(c, 0x80000001, 0);
	ck_assert_uint_eq(e->edx & (1u << 27), 0); /* RDTSCP */
	free(c);
}
END_TEST

START_TEST(vcpu_apic_ids)
{
	struct kvm_cpuid2 *c = make();

	cpuid_set_vcpu(c, 5);
	ck_assert_uint_eq(cpuid_find(c, 1, 0)->ebx >> 24, 5);
	ck_assert_uint_eq(cpuid_find(c, 1, 0)->ebx & 0xffffff, 0xffffff);
	ck_assert_uint_ne(cpuid_find(c, 1, 0)->ecx & (1u << 31), 0);
	ck_assert_uint_eq(cpuid_find(c, 0xb, 0)->edx, 5);
	ck_assert_ptr_null(cpuid_find(c, 7, 2));
	ck_assert_ptr_null(cpuid_find(c, 0x1234, 0));
	free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("cpuid");

	tcase_add_checked_fixture(tc, test_log_install, NULL);
	tcase_add_test(tc, pvm_filter_hides_emulator_gaps);
	tcase_add_test(tc, vcpu_apic_ids);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
