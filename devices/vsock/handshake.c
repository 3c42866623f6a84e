/*
 * handshake: hybrid vsock command line parser (see handshake.h).
 *
 * Trust edge: the bytes come from any local process that can reach the
 * socket. The buffer is fixed and never overrun; anything that is not a
 * well-formed CONNECT line within the limit is rejected.
 */
#include "devices/vsock/handshake.h"

#include <stdio.h>
#include <strings.h>

void vsock_handshake_init(struct vsock_handshake *hs)
{
	hs->len = 0;
}

static enum vsock_handshake_result parse_line(const char *s, size_t n,
					      uint32_t *port)
{
	uint64_t v = 0;
	size_t i = 7, digits = 0;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n < 7 || strncasecmp(s, "CONNECT", 7))
		return VSOCK_HANDSHAKE_BAD;
	if (i >= n || (s[i] != ' ' && s[i] != '\t'))
		return VSOCK_HANDSHAKE_BAD;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return VSOCK_HANDSHAKE_BAD;
	}
	if (!digits || i != n)
		return VSOCK_HANDSHAKE_BAD;
	*port = (uint32_t)v;
	return VSOCK_HANDSHAKE_DONE;
}

enum vsock_handshake_result vsock_handshake_feed(struct vsock_handshake *hs,
						 const uint8_t *data,
						 size_t len, size_t *used,
						 uint32_t *port)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (data[i] == '\n') {
			*used = i + 1;
			return parse_line(hs->line, hs->len, port);
		}
		/* Room is kept for the newline itself. */
		if (hs->len == VSOCK_HANDSHAKE_MAX - 1 || data[i] == '\0') {
			*used = i + 1;
			return VSOCK_HANDSHAKE_BAD;
		}
		hs->line[hs->len++] = (char)data[i];
	}
	*used = len;
	return VSOCK_HANDSHAKE_MORE;
}

size_t vsock_handshake_reply(char *buf, size_t size, uint32_t host_port)
{
	int n = snprintf(buf, size, "OK %u\n", host_port);

	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}
