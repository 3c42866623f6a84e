/*
 * Unit tests: parsing of --vsock-fault arguments (devices/vsock/fault.c).
 */
#include <check.h>
#include <string.h>

#include "devices/vsock/vsock.h"
#include "tests/helpers/test_run.h"
#include "vmm/util.h"

#define MS 1000000ull

static const struct {
	const char *spec;
	struct vsock_fault want;
} good[] = {
	{ "tiny-rx", { .tiny_rx = 64 } },
	{ "tiny-rx=128", { .tiny_rx = 128 } },
	{ "tiny-rx=1", { .tiny_rx = 1 } },
	{ "slow-credit", { .credit_delay_ns = 500 * MS } },
	{ "slow-credit=1", { .credit_delay_ns = 1 * MS } },
	{ "late-response", { .response_delay_ns = 1500 * MS } },
	{ "late-response=10000", { .response_delay_ns = 10000 * MS } },
	{ "transport-reset@5", { .reset_period_ns = 5000 * MS } },
	{ "transport-reset@0.25", { .reset_period_ns = 250 * MS } },
	{ "transport-reset@86400", { .reset_period_ns = 86400000 * MS } },
	{ "tiny-rx,slow-credit=20,late-response=30,transport-reset@1.5",
	  { .tiny_rx = 64, .credit_delay_ns = 20 * MS,
	    .response_delay_ns = 30 * MS, .reset_period_ns = 1500 * MS } },
};

START_TEST(parses_modes)
{
	struct vsock_fault f = { 0 };
	char why[160] = "";

	ck_assert_msg(!vsock_parse_faults(good[_i].spec, &f, why, sizeof(why)),
		      "%s: %s", good[_i].spec, why);
	ck_assert_uint_eq(f.tiny_rx, good[_i].want.tiny_rx);
	ck_assert_uint_eq(f.credit_delay_ns, good[_i].want.credit_delay_ns);
	ck_assert_uint_eq(f.response_delay_ns, good[_i].want.response_delay_ns);
	ck_assert_uint_eq(f.reset_period_ns, good[_i].want.reset_period_ns);
}
END_TEST

START_TEST(modes_add_up)
{
	struct vsock_fault f = { 0 };
	char why[160];

	ck_assert_int_eq(vsock_parse_faults("tiny-rx", &f, why, sizeof(why)), 0);
	ck_assert_int_eq(vsock_parse_faults("slow-credit", &f, why,
					    sizeof(why)), 0);
	ck_assert_uint_eq(f.tiny_rx, 64);
	ck_assert_uint_eq(f.credit_delay_ns, 500 * MS);
}
END_TEST

static const struct {
	const char *spec, *says;
} bad[] = {
	{ "", "unknown mode ''" },
	{ "bogus", "unknown mode 'bogus'" },
	{ "tiny-rx,bogus=1", "unknown mode 'bogus=1'" },
	{ "tiny-rx,", "unknown mode ''" },
	{ "tiny-rxx", "unknown mode 'tiny-rxx'" },
	{ "transport-reset", "unknown mode 'transport-reset'" },
	{ "tiny-rx=0", "bad value in mode 'tiny-rx=0'" },
	{ "tiny-rx=4097", "bad value" },
	{ "tiny-rx=", "bad value" },
	{ "tiny-rx=1.5", "bad value" },
	{ "slow-credit=10001", "bad value" },
	{ "late-response=-1", "bad value" },
	{ "transport-reset@0.05", "bad value" },
	{ "transport-reset@1.2345", "bad value" },
	{ "transport-reset@86401", "bad value" },
	{ "transport-reset@", "bad value" },
	{ "transport-reset@1.", "bad value" },
	{ "transport-reset@99999999999999999999", "bad value" },
};

START_TEST(rejects_with_reason)
{
	struct vsock_fault f = { 0 };
	char why[160] = "";

	ck_assert_int_ne(vsock_parse_faults(bad[_i].spec, &f, why, sizeof(why)),
			 0);
	ck_assert_msg(strstr(why, bad[_i].says), "'%s': '%s' lacks '%s'",
		      bad[_i].spec, why, bad[_i].says);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_fault");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, parses_modes, 0, ARRAY_SIZE(good));
	tcase_add_test(tc, modes_add_up);
	tcase_add_loop_test(tc, rejects_with_reason, 0, ARRAY_SIZE(bad));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
