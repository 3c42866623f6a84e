/*
 * Unit tests: the newc archive builder, read back entry by entry: names,
 * modes, sizes, bodies, alignment, directories before their contents,
 * symlinks, a file over 1 MiB, and the errors.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/helpers/cpio_reader.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/cpio.h"

#define BIG_SIZE ((1u << 20) + 12345) /* over 1 MiB, not 4-aligned */

static char tmp[64]; /* the test's directory */

static void write_file(const char *rel, const void *data, size_t len,
		       mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0); /* past the umask */
}

static void make_dir(const char *rel, mode_t mode)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	ck_assert_int_eq(mkdir(path, mode), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/*
 * tmp/tree: a 0750 directory holding "run" (0755, "#!x"), "big" (0640,
 * BIG_SIZE bytes, byte i = i * 7), "sub/" (0700) with "note" (0600,
 * empty) and "link" -> "../run".
 */
static void setup(void)
{
	char path[PATH_MAX];
	uint8_t *big = malloc(BIG_SIZE);
	size_t i;

	test_log_install();
	strcpy(tmp, "/tmp/test_cpio.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	make_dir("tree", 0750);
	write_file("tree/run", "#!x", 3, 0755);
	for (i = 0; i < BIG_SIZE; i++)
		big[i] = (uint8_t)(i * 7);
	write_file("tree/big", big, BIG_SIZE, 0640);
	free(big);
	make_dir("tree/sub", 0700);
	write_file("tree/sub/note", "", 0, 0600);
	snprintf(path, sizeof(path), "%s/tree/sub/link", tmp);
	ck_assert_int_eq(symlink("../run", path), 0);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

/* Every entry of a finished archive, in order; returns how many. */
static int read_all(const struct cpio *c, struct cpio_entry *out, int max)
{
	size_t off = 0;
	int n = 0, r;

	ck_assert_uint_eq(c->len % 4, 0);
	while ((r = cpio_read_next(c->buf, c->len, &off, &out[n])) == 1) {
		ck_assert_int_lt(++n, max);
	}
	ck_assert_int_eq(r, 0); /* well formed up to the trailer */
	ck_assert_uint_eq(off, c->len); /* and nothing after it */
	return n;
}

START_TEST(entries_from_data)
{
	struct cpio_entry e[8];
	struct cpio c;

	cpio_init(&c, 1 << 20);
	ck_assert_int_eq(cpio_add(&c, "d", S_IFDIR | 0711, 5, NULL, 0), 0);
	ck_assert_int_eq(cpio_add(&c, "d/f", S_IFREG | 0644, 6, "hello", 5),
			 0);
	ck_assert_int_eq(cpio_add(&c, "d/l", S_IFLNK | 0777, 0, "f", 1), 0);
	ck_assert_int_eq(cpio_finish(&c), 0);
	ck_assert_int_eq(read_all(&c, e, 8), 3);
	ck_assert_str_eq(e[0].name, "d");
	ck_assert_uint_eq(e[0].mode, S_IFDIR | 0711);
	ck_assert_uint_eq(e[0].mtime, 5);
	ck_assert_uint_eq(e[0].size, 0);
	ck_assert_str_eq(e[1].name, "d/f");
	ck_assert_uint_eq(e[1].mode, S_IFREG | 0644);
	ck_assert_uint_eq(e[1].size, 5);
	ck_assert(!memcmp(e[1].data, "hello", 5));
	ck_assert_str_eq(e[2].name, "d/l");
	ck_assert_uint_eq(e[2].mode, S_IFLNK | 0777);
	ck_assert_uint_eq(e[2].size, 1);
	ck_assert(!memcmp(e[2].data, "f", 1));
	cpio_destroy(&c);
}
END_TEST

START_TEST(parents_first)
{
	struct cpio_entry e[8];
	struct cpio c;

	cpio_init(&c, 1 << 20);
	ck_assert_int_eq(cpio_add_parents(&c, "usr/local/bin/t"), 0);
	ck_assert_int_eq(cpio_add_parents(&c, "top"), 0); /* none needed */
	ck_assert_int_eq(cpio_finish(&c), 0);
	ck_assert_int_eq(read_all(&c, e, 8), 3);
	ck_assert_str_eq(e[0].name, "usr");
	ck_assert_str_eq(e[1].name, "usr/local");
	ck_assert_str_eq(e[2].name, "usr/local/bin");
	ck_assert_uint_eq(e[2].mode, S_IFDIR | 0755);
	cpio_destroy(&c);
}
END_TEST

static const struct cpio_entry *find(const struct cpio_entry *e, int n,
				     const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(e[i].name, name))
			return &e[i];
	ck_abort_msg("no entry %s", name);
	return NULL;
}

static int index_of(const struct cpio_entry *e, int n, const char *name)
{
	return (int)(find(e, n, name) - e);
}

START_TEST(tree_from_host)
{
	struct cpio_entry e[16];
	const struct cpio_entry *x;
	char path[PATH_MAX];
	struct cpio c;
	int n;
	size_t i;

	cpio_init(&c, 8 << 20);
	snprintf(path, sizeof(path), "%s/tree/", tmp); /* trailing '/' too */
	ck_assert_int_eq(cpio_add_path(&c, path, "opt/t"), 0);
	ck_assert_int_eq(cpio_finish(&c), 0);
	n = read_all(&c, e, 16);
	ck_assert_int_eq(n, 6);

	x = find(e, n, "opt/t");
	ck_assert_uint_eq(x->mode, S_IFDIR | 0750);
	x = find(e, n, "opt/t/run");
	ck_assert_uint_eq(x->mode, S_IFREG | 0755);
	ck_assert_uint_eq(x->size, 3);
	ck_assert(!memcmp(x->data, "#!x", 3));
	ck_assert_uint_ne(x->mtime, 0);
	x = find(e, n, "opt/t/big");
	ck_assert_uint_eq(x->mode, S_IFREG | 0640);
	ck_assert_uint_eq(x->size, BIG_SIZE);
	for (i = 0; i < BIG_SIZE; i++)
		if (x->data[i] != (uint8_t)(i * 7))
			ck_abort_msg("big: byte %zu differs", i);
	x = find(e, n, "opt/t/sub");
	ck_assert_uint_eq(x->mode, S_IFDIR | 0700);
	x = find(e, n, "opt/t/sub/note");
	ck_assert_uint_eq(x->mode, S_IFREG | 0600);
	ck_assert_uint_eq(x->size, 0);
	x = find(e, n, "opt/t/sub/link");
	ck_assert_uint_eq(x->mode & S_IFMT, S_IFLNK);
	ck_assert_uint_eq(x->size, 6);
	ck_assert(!memcmp(x->data, "../run", 6));
	/* Directories before what they hold; then name order. */
	ck_assert_int_eq(index_of(e, n, "opt/t"), 0);
	ck_assert_int_lt(index_of(e, n, "opt/t/sub"),
			 index_of(e, n, "opt/t/sub/note"));
	ck_assert_int_lt(index_of(e, n, "opt/t/big"),
			 index_of(e, n, "opt/t/run"));
	cpio_destroy(&c);
}
END_TEST

/* Guest name "": the directory's contents go to the root. */
START_TEST(tree_into_root)
{
	struct cpio_entry e[16];
	char path[PATH_MAX];
	struct cpio c;
	int n;

	cpio_init(&c, 8 << 20);
	snprintf(path, sizeof(path), "%s/tree/sub", tmp);
	ck_assert_int_eq(cpio_add_path(&c, path, ""), 0);
	ck_assert_int_eq(cpio_finish(&c), 0);
	n = read_all(&c, e, 16);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(e[0].name, "link");
	ck_assert_str_eq(e[1].name, "note");
	/* Only a directory can be the root. */
	snprintf(path, sizeof(path), "%s/tree/run", tmp);
	ck_assert_int_eq(cpio_add_path(&c, path, ""), -ENOTDIR);
	cpio_destroy(&c);
}
END_TEST

START_TEST(symlink_kept_not_followed)
{
	struct cpio_entry e[4];
	char path[PATH_MAX];
	struct cpio c;

	cpio_init(&c, 1 << 20);
	snprintf(path, sizeof(path), "%s/tree/sub/link", tmp);
	ck_assert_int_eq(cpio_add_path(&c, path, "l"), 0);
	ck_assert_int_eq(cpio_finish(&c), 0);
	ck_assert_int_eq(read_all(&c, e, 4), 1);
	ck_assert_uint_eq(e[0].mode & S_IFMT, S_IFLNK);
	cpio_destroy(&c);
}
END_TEST

START_TEST(missing_file)
{
	char path[PATH_MAX];
	struct cpio c;

	cpio_init(&c, 1 << 20);
	snprintf(path, sizeof(path), "%s/tree/nope", tmp);
	ck_assert_int_eq(cpio_add_path(&c, path, "x"), -ENOENT);
	ck_assert_str_eq(c.failed, path);
	cpio_destroy(&c);
}
END_TEST

START_TEST(special_files_and_long_names)
{
	char path[PATH_MAX], want[PATH_MAX];
	struct cpio c;

	snprintf(want, sizeof(want), "%s/tree/sub/fifo", tmp);
	ck_assert_int_eq(mkfifo(want, 0600), 0);
	snprintf(path, sizeof(path), "%s/tree/sub/dangling", tmp);
	ck_assert_int_eq(symlink("x", path), 0);
	/* A FIFO is kept as a node, never opened (that would block). */
	cpio_init(&c, 8 << 20);
	snprintf(path, sizeof(path), "%s/tree", tmp);
	ck_assert_int_eq(cpio_add_path(&c, path, "t"), 0);
	cpio_destroy(&c);
	/* A guest name that grows too long below the top fails, naming
	 * the host directory. */
	cpio_init(&c, 8 << 20);
	memset(want, 'n', PATH_MAX - 4);
	want[PATH_MAX - 4] = 0;
	ck_assert_int_eq(cpio_add_path(&c, path, want), -ENAMETOOLONG);
	ck_assert(strncmp(c.failed, path, strlen(path)) == 0);
	cpio_destroy(&c);
}
END_TEST

START_TEST(size_limit)
{
	char path[PATH_MAX];
	struct cpio c;

	cpio_init(&c, 1 << 20); /* "big" is over 1 MiB */
	snprintf(path, sizeof(path), "%s/tree", tmp);
	ck_assert_int_eq(cpio_add_path(&c, path, "t"), -EFBIG);
	cpio_destroy(&c);
	/* Header, "abc\0" and 2 bytes of padding: 116 bytes exactly. */
	cpio_init(&c, CPIO_HDR_LEN + 6);
	ck_assert_int_eq(cpio_add(&c, "abc", S_IFREG | 0644, 0, "12345", 5),
			 -EFBIG);
	ck_assert_int_eq(cpio_add(&c, "abc", S_IFREG | 0644, 0, NULL, 0), 0);
	cpio_destroy(&c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cpio");
	TCase *tc = tcase_create("build");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, entries_from_data);
	tcase_add_test(tc, parents_first);
	tcase_add_test(tc, tree_from_host);
	tcase_add_test(tc, tree_into_root);
	tcase_add_test(tc, symlink_kept_not_followed);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, special_files_and_long_names);
	tcase_add_test(tc, size_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
