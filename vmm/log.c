/*
 * log: the process-wide log sink and level (the only mutable file-scope
 * state the project allows), plus a per-call-site rate limiter.
 */
#include "vmm/log.h"
#include "vmm/util.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level log_level = LOG_WARN;
static log_sink_fn log_sink;
static void *log_sink_opaque;

static const char *const level_names[] = {
	[LOG_ERR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_set_sink(log_sink_fn sink, void *opaque)
{
	log_sink = sink;
	log_sink_opaque = opaque;
}

static void log_emit(enum log_level level, const char *tag, const char *fmt,
		     va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_sink) {
		log_sink(level, tag, buf, log_sink_opaque);
		return;
	}
	/* One fprintf so lines from vCPU threads do not interleave. */
	fprintf(stderr, "vmm: %s: %s: %s\n", level_names[level], tag, buf);
}

void log_msg(enum log_level level, const char *tag, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_emit(level, tag, fmt, ap);
	va_end(ap);
}

void log_msg_rl(struct log_ratelimit *rl, enum log_level level,
		const char *tag, const char *fmt, ...)
{
	uint64_t now;
	va_list ap;

	if (level > log_level)
		return;
	/*
	 * Races between vCPU threads on the counters only blur the limit a
	 * little; they cannot make it unbounded.
	 */
	now = util_now_ns();
	if (now - rl->window_start_ns > 1000000000ull) {
		if (rl->suppressed)
			log_msg(level, tag, "%u similar messages suppressed",
				rl->suppressed);
		rl->window_start_ns = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed >= LOG_RATELIMIT_BURST) {
		rl->suppressed++;
		return;
	}
	rl->printed++;
	va_start(ap, fmt);
	log_emit(level, tag, fmt, ap);
	va_end(ap);
}
