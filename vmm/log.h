/*
 * log: leveled, tagged diagnostics on stderr (or a pluggable sink).
 *
 * Each .c file defines LOG_TAG before including this header. Anything the
 * guest can trigger must go through a struct log_ratelimit so a hostile
 * guest cannot flood the host's logs.
 */
#ifndef VMM_LOG_H
#define VMM_LOG_H

#include <stdint.h>

enum log_level {
	LOG_ERR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

/* A sink receives one formatted message (no trailing newline). */
typedef void (*log_sink_fn)(enum log_level level, const char *tag,
			    const char *msg, void *opaque);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* NULL restores the default stderr sink. */
void log_set_sink(log_sink_fn sink, void *opaque);

void log_msg(enum log_level level, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* At most `burst` messages per second; the rest are counted and reported. */
struct log_ratelimit {
	uint64_t window_start_ns;
	unsigned int printed;
	unsigned int suppressed;
};

#define LOG_RATELIMIT_BURST 10

void log_msg_rl(struct log_ratelimit *rl, enum log_level level,
		const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#ifndef LOG_TAG
#define LOG_TAG "vmm"
#endif

#define log_err(...) log_msg(LOG_ERR, LOG_TAG, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, LOG_TAG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, LOG_TAG, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, LOG_TAG, __VA_ARGS__)

/* Rate-limited variants, for anything a guest can trigger. */
#define log_warn_rl(rl, ...) log_msg_rl(rl, LOG_WARN, LOG_TAG, __VA_ARGS__)
#define log_debug_rl(rl, ...) log_msg_rl(rl, LOG_DEBUG, LOG_TAG, __VA_ARGS__)

#endif
