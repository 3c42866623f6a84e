/*
 * Unit tests: --exec's command splitting: blanks, both quotes,
 * backslashes, empty words, no expansion, and the errors.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/test_run.h"
#include "vmm/argv.h"

/* Words are written joined by '|' to keep the table readable. */
static const struct {
	const char *in;
	const char *words;
	unsigned int argc;
} good[] = {
	{ "prog", "prog", 1 },
	{ "  /bin/t  a\tb\nc  ", "/bin/t|a|b|c", 4 },
	{ "echo 'a  b' \"c d\"", "echo|a  b|c d", 3 },
	{ "x 'it''s' \"q\\\"uote\"", "x|its|q\"uote", 3 },
	{ "a\"b\"'c'd", "abcd", 1 },
	{ "'' \"\" e", "||e", 3 },
	{ "$HOME ~ * `id`", "$HOME|~|*|`id`", 4 },
	{ "'$x \\n'", "$x \\n", 1 },
	{ "\"\\$x \\\\ \\n \\`\"", "$x \\ \\n `", 1 },
	{ "a\\ b \\'c", "a b|'c", 2 },
	{ "end\\", "end\\", 1 },
	{ "\"multi\nline\"", "multi\nline", 1 },
};

START_TEST(splits)
{
	const char *why = NULL;
	unsigned int argc = 0, i;
	char *out = NULL, joined[128];
	size_t len = 0;

	ck_assert_int_eq(argv_split(good[_i].in, &out, &len, &argc, &why), 0);
	ck_assert_uint_eq(argc, good[_i].argc);
	ck_assert_uint_lt(len, sizeof(joined));
	ck_assert_int_eq(out[len - 1], 0);
	memcpy(joined, out, len);
	for (i = 0; i + 1 < len; i++)
		if (!joined[i])
			joined[i] = '|';
	ck_assert_str_eq(joined, good[_i].words);
	/* argc words, each with its NUL. */
	for (i = 0, argc = 0; i < len; i++)
		argc += !out[i];
	ck_assert_uint_eq(argc, good[_i].argc);
	free(out);
}
END_TEST

static const struct {
	const char *in;
	const char *why;
} bad[] = {
	{ "", "no command" },
	{ " \t\n ", "no command" },
	{ "echo 'open", "unterminated ' quote" },
	{ "echo \"open", "unterminated \" quote" },
	{ "echo \"a\\\"", "unterminated \" quote" },
};

START_TEST(rejects)
{
	const char *why = NULL;
	unsigned int argc = 0;
	char *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(argv_split(bad[_i].in, &out, &len, &argc, &why),
			 -EINVAL);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, bad[_i].why);
	ck_assert_ptr_null(out);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("argv");
	TCase *tc = tcase_create("split");

	tcase_add_loop_test(tc, splits, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, rejects, 0, sizeof(bad) / sizeof(bad[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
