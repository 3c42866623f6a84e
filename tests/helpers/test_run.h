/* test_run: run one Check suite and turn its result into an exit status. */
#ifndef TESTS_TEST_RUN_H
#define TESTS_TEST_RUN_H

#include <check.h>

int test_run_suite(Suite *s);
/* Run `s` if `program` is on PATH; else report a skip (77, what meson
 * counts as skipped) naming `package`. */
int test_run_suite_needing(Suite *s, const char *program,
			   const char *package);

#endif
