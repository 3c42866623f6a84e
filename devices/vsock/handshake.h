/*
 * handshake: the host side of the hybrid vsock protocol. A host client
 * connected to the VMM's AF_UNIX socket first sends one line,
 * "CONNECT <port>\n", naming the guest port; everything after the newline
 * is already payload for the guest.
 *
 * Pure parser: bytes may arrive in any pieces. The line is at most
 * VSOCK_HANDSHAKE_MAX bytes including its newline; the keyword is matched
 * case-insensitively; one or more blanks separate it from a decimal port
 * (0..4294967295, no sign); a CR before the newline is allowed.
 */
#ifndef DEVICES_VSOCK_HANDSHAKE_H
#define DEVICES_VSOCK_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#define VSOCK_HANDSHAKE_MAX 32u

enum vsock_handshake_result {
	VSOCK_HANDSHAKE_MORE, /* need more bytes */
	VSOCK_HANDSHAKE_DONE, /* *port is set */
	VSOCK_HANDSHAKE_BAD, /* not a CONNECT line: close without reply */
};

struct vsock_handshake {
	char line[VSOCK_HANDSHAKE_MAX];
	size_t len;
};

void vsock_handshake_init(struct vsock_handshake *hs);

/*
 * Feed `len` bytes. *used is set to how many of them belonged to the
 * command line (on DONE the rest, data + *used .. data + len, is payload).
 */
enum vsock_handshake_result vsock_handshake_feed(struct vsock_handshake *hs,
						 const uint8_t *data,
						 size_t len, size_t *used,
						 uint32_t *port);

/* The reply once the guest accepted: "OK <host_port>\n"; returns length. */
size_t vsock_handshake_reply(char *buf, size_t size, uint32_t host_port);

#endif
