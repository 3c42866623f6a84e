/* Unit tests: the hybrid vsock handshake parser. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vsock/handshake.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"

static const struct {
	const char *in;
	enum vsock_handshake_result want;
	uint32_t port;
} lines[] = {
	{ "CONNECT 52\n", VSOCK_HANDSHAKE_DONE, 52 },
	{ "connect 1234\n", VSOCK_HANDSHAKE_DONE, 1234 },
	{ "CoNnEcT 7\n", VSOCK_HANDSHAKE_DONE, 7 },
	{ "CONNECT   9\r\n", VSOCK_HANDSHAKE_DONE, 9 },
	{ "CONNECT\t0\n", VSOCK_HANDSHAKE_DONE, 0 },
	{ "CONNECT 4294967295\n", VSOCK_HANDSHAKE_DONE, 4294967295u },
	{ "CONNECT 4294967296\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT 99999999999999999999\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT \n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT52\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT -1\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT +1\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT 12x\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT 12 \n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNEC 12\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "GET / HTTP/1.1\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT 1\0\n", VSOCK_HANDSHAKE_BAD, 0 },
	/* 31 characters + newline: the longest line allowed. */
	{ "CONNECT                      12\n", VSOCK_HANDSHAKE_DONE, 12 },
	{ "CONNECT                       12\n", VSOCK_HANDSHAKE_BAD, 0 },
	{ "CONNECT 12", VSOCK_HANDSHAKE_MORE, 0 },
};

START_TEST(whole_lines)
{
	struct vsock_handshake hs;
	size_t len = strlen(lines[_i].in), used = 0;
	uint32_t port = 0xdead;
	enum vsock_handshake_result r;

	if (!strcmp(lines[_i].in, "CONNECT 1"))
		len = sizeof("CONNECT 1\0\n") - 1; /* embedded NUL */
	vsock_handshake_init(&hs);
	r = vsock_handshake_feed(&hs, (const uint8_t *)lines[_i].in, len,
				 &used, &port);
	ck_assert_msg(r == lines[_i].want, "%d: %d", _i, r);
	if (r == VSOCK_HANDSHAKE_DONE) {
		ck_assert_uint_eq(port, lines[_i].port);
		ck_assert_uint_eq(used, len);
	}
}
END_TEST

START_TEST(fragments_and_trailing_payload)
{
	static const char msg[] = "conNECT 5000\nhello, guest";
	struct vsock_handshake hs;
	size_t split, used;
	uint32_t port;

	/* Every split point of the line into two pieces. */
	for (split = 0; split <= 13; split++) {
		enum vsock_handshake_result r;

		vsock_handshake_init(&hs);
		r = vsock_handshake_feed(&hs, (const uint8_t *)msg, split,
					 &used, &port);
		ck_assert_int_eq(r, split == 13 ? VSOCK_HANDSHAKE_DONE
						: VSOCK_HANDSHAKE_MORE);
		ck_assert_uint_eq(used, split);
		if (split == 13)
			continue;
		r = vsock_handshake_feed(&hs, (const uint8_t *)msg + split,
					 sizeof(msg) - 1 - split, &used, &port);
		ck_assert_int_eq(r, VSOCK_HANDSHAKE_DONE);
		ck_assert_uint_eq(port, 5000);
		/* What follows the newline is payload, kept for the guest. */
		ck_assert_str_eq(msg + split + used, "hello, guest");
	}
	/* One byte at a time. */
	vsock_handshake_init(&hs);
	for (split = 0; split < 12; split++)
		ck_assert_int_eq(vsock_handshake_feed(&hs,
						      (const uint8_t *)msg +
							      split,
						      1, &used, &port),
				 VSOCK_HANDSHAKE_MORE);
	ck_assert_int_eq(vsock_handshake_feed(&hs, (const uint8_t *)msg + 12,
					      1, &used, &port),
			 VSOCK_HANDSHAKE_DONE);
}
END_TEST

START_TEST(oversized_without_newline)
{
	struct vsock_handshake hs;
	uint8_t junk[4096];
	size_t used;
	uint32_t port;

	memset(junk, 'A', sizeof(junk));
	vsock_handshake_init(&hs);
	ck_assert_int_eq(vsock_handshake_feed(&hs, junk, 20, &used, &port),
			 VSOCK_HANDSHAKE_MORE);
	ck_assert_int_eq(vsock_handshake_feed(&hs, junk, sizeof(junk), &used,
					      &port),
			 VSOCK_HANDSHAKE_BAD);
	ck_assert_uint_le(hs.len, VSOCK_HANDSHAKE_MAX);
}
END_TEST

START_TEST(reply)
{
	char buf[32];

	ck_assert_uint_eq(vsock_handshake_reply(buf, sizeof(buf), 1073741824u),
			  14);
	ck_assert_str_eq(buf, "OK 1073741824\n");
	ck_assert_uint_eq(vsock_handshake_reply(buf, 5, 1073741824u), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_handshake");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, test_log_install, NULL);
	tcase_add_loop_test(tc, whole_lines, 0,
			    sizeof(lines) / sizeof(lines[0]));
	tcase_add_test(tc, fragments_and_trailing_payload);
	tcase_add_test(tc, oversized_without_newline);
	tcase_add_test(tc, reply);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
