/*
 * rules: where vsock connections go, from the command line: parsing
 * --vsock-port and --vsock-listen, and choosing the host endpoint for a
 * guest connection. No I/O here (host names are resolved while parsing).
 */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "devices/vsock/host.h"
#include "vmm/util.h"

const struct vsock_port_rule *vsock_rules_find(
	const struct vsock_port_rule *ports, unsigned int nr_ports,
	uint32_t port)
{
	unsigned int i;

	for (i = 0; i < nr_ports; i++)
		if (ports[i].port == port)
			return &ports[i];
	return NULL;
}

bool vsock_rules_endpoint(const char *uds_path,
			  const struct vsock_port_rule *ports,
			  unsigned int nr_ports, uint32_t port, bool seqpacket,
			  struct sockaddr_storage *ss, socklen_t *len)
{
	const struct vsock_port_rule *rule =
		vsock_rules_find(ports, nr_ports, port);
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	int n;

	if (rule) {
		const struct vsock_endpoint *e = &rule->to;

		if (rule->take)
			return false;
		if (seqpacket && e->addr.ss_family != AF_UNIX)
			return false; /* TCP has no message boundaries */
		memcpy(ss, &e->addr, sizeof(*ss));
		*len = e->addrlen;
		return true;
	}
	if (!uds_path)
		return false;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s_%u", uds_path,
		     port);
	if (n < 0 || (size_t)n >= sizeof(sun->sun_path))
		return false;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			   (size_t)n + 1);
	return true;
}

static int parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!len || len > 10)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into an address. */
static int parse_hostport(const char *s, bool passive,
			  struct vsock_endpoint *e, const char **why)
{
	char host[256];
	const char *colon, *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	size_t hlen;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':') {
			*why = "expected [IPV6]:PORT";
			return -EINVAL;
		}
		hlen = (size_t)(end - s - 1);
		memcpy(host, s + 1, MIN(hlen, sizeof(host) - 1));
		port = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "expected HOST:PORT";
			return -EINVAL;
		}
		hlen = (size_t)(colon - s);
		memcpy(host, s, MIN(hlen, sizeof(host) - 1));
		port = colon + 1;
	}
	if (!hlen || hlen >= sizeof(host)) {
		*why = "missing or overlong host";
		return -EINVAL;
	}
	host[hlen] = 0;
	{
		uint32_t p;

		if (parse_u32(port, strlen(port), &p) || !p || p > 65535) {
			*why = "bad TCP port (1..65535)";
			return -EINVAL;
		}
	}
	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) || !res) {
		*why = "cannot resolve the host";
		return -EINVAL;
	}
	memset(e, 0, sizeof(*e));
	memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
	e->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int vsock_parse_port_rule(const char *spec, struct vsock_port_rule *out,
			  const char **why)
{
	const char *eq = strchr(spec, '=');

	memset(out, 0, sizeof(*out));
	if (!eq || parse_u32(spec, (size_t)(eq - spec), &out->port)) {
		*why = "expected PORT=unix:PATH or PORT=tcp:HOST:PORT";
		return -EINVAL;
	}
	if (!strncmp(eq + 1, "unix:", 5)) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&out->to.addr;
		const char *path = eq + 6;

		if (!*path || strlen(path) >= sizeof(sun->sun_path)) {
			*why = "unix socket path empty or too long";
			return -EINVAL;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, path);
		out->to.addrlen = (socklen_t)(offsetof(struct sockaddr_un,
						       sun_path) +
					      strlen(path) + 1);
		return 0;
	}
	if (!strncmp(eq + 1, "tcp:", 4))
		return parse_hostport(eq + 5, false, &out->to, why);
	*why = "expected unix:PATH or tcp:HOST:PORT after '='";
	return -EINVAL;
}

int vsock_parse_listen_rule(const char *spec, struct vsock_listen_rule *out,
			    const char **why)
{
	char addr[300];
	const char *eq = strrchr(spec, '=');
	size_t len;

	memset(out, 0, sizeof(*out));
	if (strncmp(spec, "tcp:", 4) || !eq || eq < spec + 4) {
		*why = "expected tcp:ADDR:PORT=GUESTPORT";
		return -EINVAL;
	}
	if (parse_u32(eq + 1, strlen(eq + 1), &out->guest_port)) {
		*why = "bad guest port";
		return -EINVAL;
	}
	len = (size_t)(eq - (spec + 4));
	if (len >= sizeof(addr)) {
		*why = "address too long";
		return -EINVAL;
	}
	memcpy(addr, spec + 4, len);
	addr[len] = 0;
	return parse_hostport(addr, true, &out->at, why);
}
