/* test_run: run one Check suite and turn its result into an exit status. */
#ifndef TESTS_TEST_RUN_H
#define TESTS_TEST_RUN_H

#include <check.h>

int test_run_suite(Suite *s);

#endif
