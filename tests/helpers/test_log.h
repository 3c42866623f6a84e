/*
 * test_log: a log sink for unit tests. Errors and warnings fail the test
 * unless the test announced how many it expects; expected ones are counted.
 */
#ifndef TESTS_TEST_LOG_H
#define TESTS_TEST_LOG_H

/* Install the sink (call from each test case's setup). */
void test_log_install(void);
/* The next `n` error/warning messages are expected. */
void test_log_expect(unsigned int n);
/* Messages at warning level or above seen since install. */
unsigned int test_log_count(void);

#endif
