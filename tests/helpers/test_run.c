/* test_run: see test_run.h. */
#include "tests/helpers/test_run.h"

#include <stdio.h>
#include <stdlib.h>

int test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int test_run_suite_needing(Suite *s, const char *program,
			   const char *package)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", program);
	if (system(cmd)) {
		printf("SKIP: %s (%s) is not installed\n", program, package);
		return 77;
	}
	return test_run_suite(s);
}
