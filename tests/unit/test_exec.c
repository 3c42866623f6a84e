/*
 * Unit tests: --add's HOST[:GUEST] split and default guest names, and
 * the extra archive --exec and --add build (parents, the command file,
 * the trailer, a missing file's error).
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/helpers/cpio_reader.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/exec.h"

static const struct {
	const char *spec, *host, *guest;
} splits_ok[] = {
	{ "./t", "./t", "t" },
	{ "t", "t", "t" },
	{ "/usr/lib/x.so", "/usr/lib/x.so", "x.so" },
	{ "build/dir/", "build/dir/", "dir" },
	{ "t:/bin/t", "t", "bin/t" },
	{ "a:b:/x", "a:b", "x" },
	{ "a:b", "a:b", "a:b" }, /* no ":/": all host */
	{ "dir://opt//d/", "dir", "opt/d" },
	{ "dir:/", "dir", "" },
	{ "/", "/", "" },
};

START_TEST(split_ok)
{
	char host[PATH_MAX], guest[PATH_MAX];
	const char *why = NULL;

	ck_assert_int_eq(exec_add_split(splits_ok[_i].spec, host, sizeof(host),
					guest, sizeof(guest), &why),
			 0);
	ck_assert_str_eq(host, splits_ok[_i].host);
	ck_assert_str_eq(guest, splits_ok[_i].guest);
}
END_TEST

START_TEST(split_dot_is_resolved)
{
	char host[PATH_MAX], guest[PATH_MAX], cwd[PATH_MAX];
	const char *why = NULL;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(exec_add_split(".", host, sizeof(host), guest,
					sizeof(guest), &why),
			 0);
	ck_assert_str_eq(guest, strrchr(cwd, '/') + 1);
}
END_TEST

static const char *const splits_bad[] = {
	"",
	":/x",
	"t:/a/../b",
	"t:/./b",
	"t:/..",
};

START_TEST(split_bad)
{
	char host[PATH_MAX], guest[PATH_MAX];
	const char *why = NULL;

	ck_assert_int_eq(exec_add_split(splits_bad[_i], host, sizeof(host),
					guest, sizeof(guest), &why),
			 -EINVAL);
	ck_assert_ptr_nonnull(why);
}
END_TEST

static char tmp[64]; /* the test's directory */

static void setup(void)
{
	test_log_install();
	strcpy(tmp, "/tmp/test_exec.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(archive)
{
	static const char words[] = "/usr/bin/t\0-v\0two words";
	char path[PATH_MAX], spec[PATH_MAX + 16];
	const char *adds[] = { spec };
	struct exec_config cfg = { .argv = words, .argv_len = sizeof(words),
				   .adds = adds, .nr_adds = 1 };
	const char *order[] = { "usr", "usr/bin", "usr/bin/t", "vmm",
				EXEC_ARGV_FILE };
	struct cpio_entry e;
	struct cpio c;
	size_t off = 0;
	unsigned int i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/t", tmp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("binary", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0751), 0);
	snprintf(spec, sizeof(spec), "%s:/usr/bin/t", path);
	ck_assert_int_eq(exec_archive_build(&cfg, &c), 0);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		ck_assert_int_eq(cpio_read_next(c.buf, c.len, &off, &e), 1);
		ck_assert_str_eq(e.name, order[i]);
	}
	ck_assert_uint_eq(e.mode, S_IFREG | 0444);
	ck_assert_uint_eq(e.size, sizeof(words));
	ck_assert(!memcmp(e.data, words, sizeof(words)));
	ck_assert_int_eq(cpio_read_next(c.buf, c.len, &off, &e), 0);
	ck_assert_uint_eq(off, c.len);
	ck_assert_int_eq(cpio_read_find(c.buf, c.len, "usr/bin/t", &e), 0);
	ck_assert_uint_eq(e.mode, S_IFREG | 0751);
	ck_assert(!memcmp(e.data, "binary", 6));
	cpio_destroy(&c);
}
END_TEST

START_TEST(archive_empty_without_flags)
{
	struct exec_config cfg = { 0 };
	struct cpio c;

	ck_assert_int_eq(exec_archive_build(&cfg, &c), 0);
	ck_assert_uint_eq(c.len, 0);
	cpio_destroy(&c);
}
END_TEST

START_TEST(archive_missing_file)
{
	const char *adds[] = { "/nonexistent/x" };
	struct exec_config cfg = { .adds = adds, .nr_adds = 1 };
	struct cpio c;

	test_log_expect(1); /* "--add: cannot read '/nonexistent/x': ..." */
	ck_assert_int_eq(exec_archive_build(&cfg, &c), -ENOENT);
	ck_assert_uint_eq(test_log_count(), 1);
	cpio_destroy(&c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("exec");
	TCase *tc = tcase_create("add_split");
	TCase *ta = tcase_create("archive");

	tcase_add_loop_test(tc, split_ok, 0,
			    sizeof(splits_ok) / sizeof(splits_ok[0]));
	tcase_add_test(tc, split_dot_is_resolved);
	tcase_add_loop_test(tc, split_bad, 0,
			    sizeof(splits_bad) / sizeof(splits_bad[0]));
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(ta, setup, teardown);
	tcase_add_test(ta, archive);
	tcase_add_test(ta, archive_empty_without_flags);
	tcase_add_test(ta, archive_missing_file);
	suite_add_tcase(s, ta);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
