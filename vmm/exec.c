/*
 * exec: see exec.h. Trust edge: the guest decides when (and whether) it
 * connects the stream ports and what it writes on them; the relays copy
 * bytes and nothing the guest sends is interpreted here.
 */
#define LOG_TAG "exec"
#include "vmm/exec.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/util.h"

/* The archive ------------------------------------------------------------ */

/* The last ':' with a '/' after it, or NULL. */
static const char *guest_colon(const char *spec)
{
	const char *p, *found = NULL;

	for (p = strchr(spec, ':'); p; p = strchr(p + 1, ':'))
		if (p[1] == '/')
			found = p;
	return found;
}

/* "/a//b/" -> "a/b"; "." and ".." are refused. */
static int normalize_guest(const char *in, char *out, size_t size,
			   const char **why)
{
	size_t n = 0;

	while (*in) {
		size_t len;

		in += strspn(in, "/");
		len = strcspn(in, "/");
		if (!len)
			break;
		if ((len == 1 && in[0] == '.') ||
		    (len == 2 && in[0] == '.' && in[1] == '.')) {
			*why = "the guest path may not hold . or ..";
			return -EINVAL;
		}
		if (n + len + 2 > size) {
			*why = "the guest path is too long";
			return -EINVAL;
		}
		if (n)
			out[n++] = '/';
		memcpy(out + n, in, len);
		n += len;
		in += len;
	}
	out[n] = 0;
	return 0;
}

/* The host path's last component, resolved for "." and the like. */
static int default_guest(const char *host, char *out, size_t size,
			 const char **why)
{
	char real[PATH_MAX];
	const char *base;
	size_t len = strlen(host);

	while (len > 1 && host[len - 1] == '/')
		len--;
	base = memrchr(host, '/', len);
	base = base ? base + 1 : host;
	len -= (size_t)(base - host);
	if (!len || (len == 1 && base[0] == '.') ||
	    (len == 2 && base[0] == '.' && base[1] == '.')) {
		if (!realpath(host, real)) {
			*why = "cannot resolve the host path (give :GUEST)";
			return -EINVAL;
		}
		return normalize_guest(strrchr(real, '/'), out, size, why);
	}
	if (len >= size) {
		*why = "the guest path is too long";
		return -EINVAL;
	}
	memcpy(out, base, len);
	out[len] = 0;
	return 0;
}

int exec_add_split(const char *spec, char *host, size_t host_size,
		   char *guest, size_t guest_size, const char **why)
{
	const char *colon = guest_colon(spec);
	size_t hlen = colon ? (size_t)(colon - spec) : strlen(spec);

	if (!hlen || hlen >= host_size) {
		*why = hlen ? "the host path is too long" : "no host path";
		return -EINVAL;
	}
	memcpy(host, spec, hlen);
	host[hlen] = 0;
	if (colon)
		return normalize_guest(colon + 1, guest, guest_size, why);
	return default_guest(host, guest, guest_size, why);
}

static int archive_add(struct cpio *c, const char *spec)
{
	char host[PATH_MAX], guest[PATH_MAX];
	const char *why;
	int ret;

	if (exec_add_split(spec, host, sizeof(host), guest, sizeof(guest),
			   &why)) {
		log_err("--add '%s': %s", spec, why);
		return -EINVAL;
	}
	ret = cpio_add_parents(c, guest);
	if (!ret)
		ret = cpio_add_path(c, host, guest);
	if (ret == -EFBIG || ret == -ENOMEM)
		log_err("--add '%s': the added files exceed %llu MiB or the "
			"memory at hand", spec, EXEC_ARCHIVE_MAX >> 20);
	else if (ret)
		log_err("--add: cannot read '%s': %s",
			c->failed[0] ? c->failed : host, strerror(-ret));
	return ret;
}

int exec_archive_build(const struct exec_config *cfg, struct cpio *c)
{
	unsigned int i;
	int ret = 0;

	cpio_init(c, EXEC_ARCHIVE_MAX);
	if (!cfg->argv && !cfg->nr_adds)
		return 0;
	for (i = 0; !ret && i < cfg->nr_adds; i++)
		ret = archive_add(c, cfg->adds[i]);
	/* The command last: no --add can replace it. */
	if (!ret && cfg->argv)
		ret = cpio_add_parents(c, EXEC_ARGV_FILE);
	if (!ret && cfg->argv)
		ret = cpio_add(c, EXEC_ARGV_FILE, S_IFREG | 0444, 0, cfg->argv,
			       cfg->argv_len);
	if (!ret)
		ret = cpio_finish(c);
	if (ret && ret != -EINVAL && !c->failed[0])
		log_err("cannot build the --exec/--add archive: %s",
			strerror(-ret));
	return ret;
}

/* The relays --------------------------------------------------------------- */

/*
 * One direction: read from src into buf, write all of it to dst, again,
 * one operation in flight at a time. `sock` is our socketpair end (src
 * or dst); what happens to it at the end tells the guest.
 */
struct exec_relay {
	struct exec *ex;
	const char *name; /* "stdin", "stdout", "stderr" */
	int sock; /* owned */
	int src, dst;
	bool to_guest;
	bool dst_is_file; /* see relay_write_file() */
	bool poll_write; /* the poll in flight waits to write, not read */
	uint32_t len, off;
	struct evloop_op read_op, write_op, poll_op;
	uint8_t buf[EXEC_RELAY_BUF];
};

struct exec {
	struct evloop *loop;
	/* Each stream's socketpair end for the vsock backend, until the
	 * guest connects (then the backend owns it): -1 after. */
	int backend_fd[EXEC_NR_STREAMS];
	unsigned int connected; /* a bit per stream */
	struct exec_relay relays[EXEC_NR_STREAMS];
	struct vsock_port_rule *rules; /* the user's and ours */
};

static void relay_read(struct exec_relay *r);
static void relay_write(struct exec_relay *r);

/*
 * End of input, or an error either way. Towards the guest: end of file
 * on PROG's stdin. From the guest: everything read is written, and the
 * close says so (an error closes too, and PROG's next write fails, as it
 * would on a broken pipe).
 */
static void relay_end(struct exec_relay *r, int err)
{
	if (err && err != -EPIPE && err != -EBADF)
		log_warn("PROG's %s: %s", r->name, strerror(-err));
	if (r->to_guest) {
		shutdown(r->sock, SHUT_WR);
		return;
	}
	close(r->sock);
	r->sock = -1;
}

static void relay_submitted(struct exec_relay *r, int ret)
{
	if (ret) {
		log_err("PROG's %s: cannot queue its I/O: %s", r->name,
			strerror(-ret));
		relay_end(r, 0);
	}
}

static void relay_poll(struct exec_relay *r, bool for_write)
{
	r->poll_write = for_write;
	relay_submitted(r, evloop_poll(r->ex->loop, &r->poll_op,
				       for_write ? r->dst : r->src,
				       for_write ? POLLOUT : POLLIN));
}

static void on_relay_read(struct evloop_op *op, int res, uint32_t flags)
{
	struct exec_relay *r = container_of(op, struct exec_relay, read_op);

	(void)flags;
	if (res == -EINTR)
		relay_read(r);
	else if (res == -EAGAIN) /* a non-blocking stdin */
		relay_poll(r, false);
	else if (res <= 0)
		relay_end(r, res);
	else {
		r->len = (uint32_t)res;
		r->off = 0;
		relay_write(r);
	}
}

static void on_relay_write(struct evloop_op *op, int res, uint32_t flags)
{
	struct exec_relay *r = container_of(op, struct exec_relay, write_op);

	(void)flags;
	if (res == -EINTR)
		relay_write(r);
	else if (res == -EAGAIN) /* a non-blocking stdout */
		relay_poll(r, true);
	else if (res <= 0)
		relay_end(r, res ? res : -EIO);
	else if ((r->off += (uint32_t)res) < r->len)
		relay_write(r);
	else
		relay_read(r);
}

static void on_relay_poll(struct evloop_op *op, int res, uint32_t flags)
{
	struct exec_relay *r = container_of(op, struct exec_relay, poll_op);

	(void)flags;
	if (res < 0)
		relay_end(r, res);
	else if (r->poll_write)
		relay_write(r);
	else
		relay_read(r);
}

static void relay_read(struct exec_relay *r)
{
	relay_submitted(r, evloop_read(r->ex->loop, &r->read_op, r->src,
				       r->buf, sizeof(r->buf)));
}

/*
 * A regular file gets write(2): it holds the file position lock, which
 * an io_uring write does not, and stdout and stderr may share one file
 * (>log 2>&1). Writes into the page cache do not hold the loop up long.
 */
static void relay_write_file(struct exec_relay *r)
{
	while (r->off < r->len) {
		ssize_t n = write(r->dst, r->buf + r->off, r->len - r->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			relay_end(r, n < 0 ? -errno : -EIO);
			return;
		}
		r->off += (uint32_t)n;
	}
	relay_read(r);
}

static void relay_write(struct exec_relay *r)
{
	if (r->dst_is_file) {
		relay_write_file(r);
		return;
	}
	relay_submitted(r, evloop_write(r->ex->loop, &r->write_op, r->dst,
					r->buf + r->off, r->len - r->off));
}

static const char *const stream_names[EXEC_NR_STREAMS] = {
	"stdin", "stdout", "stderr",
};

int exec_create(struct exec **out, struct evloop *loop)
{
	struct exec *ex = calloc(1, sizeof(*ex));
	unsigned int i;
	int sv[2];

	if (!ex)
		return -ENOMEM;
	ex->loop = loop;
	for (i = 0; i < EXEC_NR_STREAMS; i++)
		ex->backend_fd[i] = ex->relays[i].sock = -1;
	*out = ex;
	for (i = 0; i < EXEC_NR_STREAMS; i++) {
		struct exec_relay *r = &ex->relays[i];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
			int ret = -errno;

			log_err("cannot create the --exec stream pipes: %s",
				strerror(errno));
			return ret;
		}
		ex->backend_fd[i] = sv[0];
		r->ex = ex;
		r->name = stream_names[i];
		r->sock = sv[1];
		r->to_guest = i == 0; /* fd 0 -> PROG's stdin */
		r->src = r->to_guest ? STDIN_FILENO : r->sock;
		r->dst = r->to_guest ? r->sock : (int)i;
		r->read_op.handler = on_relay_read;
		r->write_op.handler = on_relay_write;
		r->poll_op.handler = on_relay_poll;
	}
	return 0;
}

/*
 * The backend's internal target: the guest connected stream port `port`.
 * Ownership of the socketpair end passes to the backend here. Event loop
 * thread.
 */
static int take_stream(void *opaque, uint32_t port)
{
	struct exec *ex = opaque;
	uint32_t i = port - EXEC_PORT_STDIN;
	int fd;

	if (i >= EXEC_NR_STREAMS || ex->backend_fd[i] < 0)
		return -EBUSY; /* connected before: one connection each */
	fd = ex->backend_fd[i];
	ex->backend_fd[i] = -1;
	ex->connected |= 1u << i;
	return fd;
}

int exec_vsock_rules(struct exec *ex, struct vsock_config *vc)
{
	unsigned int i, n = vc->nr_ports + EXEC_NR_STREAMS;

	ex->rules = calloc(n, sizeof(*ex->rules));
	if (!ex->rules)
		return -ENOMEM;
	/* Ours first: the first rule for a port wins. */
	for (i = 0; i < EXEC_NR_STREAMS; i++)
		ex->rules[i] = (struct vsock_port_rule){
			.port = EXEC_PORT_STDIN + i,
			.take = take_stream,
			.opaque = ex,
		};
	if (vc->nr_ports)
		memcpy(ex->rules + EXEC_NR_STREAMS, vc->ports,
		       vc->nr_ports * sizeof(*ex->rules));
	vc->ports = ex->rules;
	vc->nr_ports = n;
	return 0;
}

void exec_start(struct exec *ex)
{
	unsigned int i;

	for (i = 0; i < EXEC_NR_STREAMS; i++) {
		struct exec_relay *r = &ex->relays[i];
		struct stat st;

		r->dst_is_file = !r->to_guest && !fstat(r->dst, &st) &&
				 S_ISREG(st.st_mode);
		relay_read(r);
	}
}

bool exec_started(const struct exec *ex)
{
	return ex->connected == (1u << EXEC_NR_STREAMS) - 1;
}

void exec_destroy(struct exec *ex)
{
	unsigned int i;

	if (!ex)
		return;
	for (i = 0; i < EXEC_NR_STREAMS; i++) {
		if (ex->backend_fd[i] >= 0)
			close(ex->backend_fd[i]);
		if (ex->relays[i].sock >= 0)
			close(ex->relays[i].sock);
	}
	free(ex->rules);
	free(ex);
}
