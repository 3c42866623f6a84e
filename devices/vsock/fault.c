/*
 * fault: parsing --vsock-fault (no I/O). The modes act elsewhere: tiny-rx
 * and transport-reset@S in device.c, slow-credit and late-response as
 * held packets in the muxer. Every value is bounded here, so a delayed
 * packet waits at most VSOCK_FAULT_DELAY_MAX_MS.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "devices/vsock/vsock.h"
#include "vmm/util.h"

#define MS 1000000ull

/* A decimal number with at most `decimals` digits after a point, scaled
 * by 10^decimals, within [min, max]; -EINVAL otherwise. */
static int parse_fixed(const char *s, size_t len, unsigned int decimals,
		       uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int digits = 0, after = 0;
	bool point = false;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '.' && !point && decimals) {
			point = true;
			continue;
		}
		if (s[i] < '0' || s[i] > '9' || ++digits > 12 ||
		    (point && ++after > decimals))
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!digits || (point && !after))
		return -EINVAL;
	for (; after < decimals; after++)
		v *= 10;
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "NAME" alone (value `dflt`) or "NAME=VALUE" (an integer in range). */
static int parse_opt_value(const char *arg, size_t len, const char *name,
			   uint64_t dflt, uint64_t max, uint64_t *out)
{
	size_t n = strlen(name);

	if (len < n || memcmp(arg, name, n))
		return -ENOENT;
	if (len == n) {
		*out = dflt;
		return 0;
	}
	if (arg[n] != '=')
		return -ENOENT;
	return parse_fixed(arg + n + 1, len - n - 1, 0, 1, max, out);
}

enum { OPT_TINY_RX, OPT_SLOW_CREDIT, OPT_LATE_RESPONSE };

static const struct {
	const char *name;
	uint64_t dflt, max;
} opts[] = {
	[OPT_TINY_RX] = { "tiny-rx", VSOCK_FAULT_TINY_RX_DEFAULT, 4096 },
	[OPT_SLOW_CREDIT] = { "slow-credit", VSOCK_FAULT_CREDIT_DELAY_MS,
			      VSOCK_FAULT_DELAY_MAX_MS },
	[OPT_LATE_RESPONSE] = { "late-response", VSOCK_FAULT_RESPONSE_DELAY_MS,
				VSOCK_FAULT_DELAY_MAX_MS },
};

static void set_opt(struct vsock_fault *f, unsigned int opt, uint64_t v)
{
	switch (opt) {
	case OPT_TINY_RX:
		f->tiny_rx = (uint32_t)v;
		break;
	case OPT_SLOW_CREDIT:
		f->credit_delay_ns = v * MS;
		break;
	case OPT_LATE_RESPONSE:
		f->response_delay_ns = v * MS;
		break;
	}
}

/* One mode of `len` bytes: 0, -ENOENT (no such mode) or -EINVAL. */
static int parse_mode(const char *m, size_t len, struct vsock_fault *f)
{
	static const char reset[] = "transport-reset@";
	const size_t rlen = sizeof(reset) - 1;
	unsigned int i;
	uint64_t v;
	int ret;

	for (i = 0; i < ARRAY_SIZE(opts); i++) {
		ret = parse_opt_value(m, len, opts[i].name, opts[i].dflt,
				      opts[i].max, &v);
		if (ret == -ENOENT)
			continue;
		if (!ret)
			set_opt(f, i, v);
		return ret;
	}
	if (len < rlen || memcmp(m, reset, rlen))
		return -ENOENT;
	/* Seconds with up to 3 decimals: 0.1 s to a day. */
	ret = parse_fixed(m + rlen, len - rlen, 3, 100, 86400000, &v);
	if (!ret)
		f->reset_period_ns = v * MS;
	return ret;
}

int vsock_parse_faults(const char *spec, struct vsock_fault *f, char *why,
		       size_t why_size)
{
	const char *m = spec;

	for (;;) {
		size_t len = strcspn(m, ",");
		int ret = parse_mode(m, len, f);

		if (ret == -ENOENT) {
			snprintf(why, why_size,
				 "unknown mode '%.*s' (modes: tiny-rx[=BYTES], "
				 "slow-credit[=MS], late-response[=MS], "
				 "transport-reset@SECONDS)", (int)len, m);
			return -EINVAL;
		}
		if (ret) {
			snprintf(why, why_size,
				 "bad value in mode '%.*s' (BYTES 1..4096, MS "
				 "1..%u, SECONDS 0.1..86400)", (int)len, m,
				 VSOCK_FAULT_DELAY_MAX_MS);
			return -EINVAL;
		}
		if (!m[len])
			return 0;
		m += len + 1;
	}
}
