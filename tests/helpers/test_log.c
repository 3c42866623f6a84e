/* test_log: see test_log.h. */
#include "tests/helpers/test_log.h"

#include <check.h>

#include "vmm/log.h"

static unsigned int expected, seen;

static void sink(enum log_level level, const char *tag, const char *msg,
		 void *opaque)
{
	(void)opaque;
	if (level > LOG_WARN)
		return;
	seen++;
	ck_assert_msg(expected > 0, "unexpected log message: %s: %s", tag,
		      msg);
	expected--;
}

void test_log_install(void)
{
	expected = seen = 0;
	log_set_level(LOG_DEBUG);
	log_set_sink(sink, NULL);
}

void test_log_expect(unsigned int n)
{
	expected += n;
}

unsigned int test_log_count(void)
{
	return seen;
}
