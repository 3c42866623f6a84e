/*
 * vt.h: what the guest's vsock programs (vsock_test.c, bench.c, soak.c)
 * share: the run's context and verdict, AF_VSOCK sockets to and from the
 * host, the control connection, and the data pattern of protocol.h.
 */
#ifndef GUEST_VT_H
#define GUEST_VT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vt {
	int ctl; /* control connection, -1 if none */
	unsigned long long size; /* bulk transfer size */
	unsigned int conns;
	unsigned int timeout_s;
	unsigned int retries; /* attempts more per step after a reset */
	char steps[256];
	char why[256]; /* the failing step's reason */
};

/* The step running now, named by the SIGALRM handler vt_init() installs. */
extern const char *volatile vt_step;

/*
 * Read vmm.vsock_size, _conns, _timeout, _steps and _retries; ignore
 * SIGPIPE; on
 * SIGALRM, print "vmm-test: vsock <vt_step> FAIL timed out" and fail (a
 * child exits 1, PID 1 ends the VM with status 1).
 */
void vt_init(struct vt *t);
/* Keep the reason in t->why; returns -1. */
int vt_fail(struct vt *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Send all of buf (MSG_NOSIGNAL); 0 or -errno. */
int write_all(int fd, const void *buf, size_t n);
/* Read up to n bytes; fewer only at EOF. Returns the count or -errno. */
ssize_t read_full(int fd, void *buf, size_t n);
/* What a short read_full() met: its error, or "early EOF". */
const char *err_str(ssize_t r);

/* Connect to the host; returns the fd or -errno. */
int vsock_connect(unsigned int port, int type);
/* The same with a socket buffer of `buf` bytes (0: the default). */
int vsock_connect_buf(unsigned int port, int type, uint64_t buf);
/* Listen on a guest port; returns the fd or -errno. */
int vsock_listen(unsigned int port, int type, int backlog);

/* Send a control line, read the host's one-line answer into reply. */
int ctl_cmd(struct vt *t, char *reply, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A host action that ends with CTL_DONE_OK or CTL_DONE_FAIL <why>. */
int ctl_expect_done(struct vt *t, const char *reply);
/* A command the host answers with CTL_OK before it acts. */
int ctl_start(struct vt *t, const char *cmd);
/*
 * Listen on a guest port, have the host start `cmd` (answered CTL_OK),
 * accept the one connection it makes; returns its fd or -1.
 */
int vt_accept_from_host(struct vt *t, unsigned int port, int type,
			const char *cmd);
/*
 * accept4() on lfd that gives up once the control connection shows an
 * error or a hang-up: a transport reset drops the connection the host
 * was making to lfd along with the control one, so none may come.
 */
int vt_accept(struct vt *t, int lfd);
/*
 * After a failed attempt: has the control connection been reset since it
 * was opened? A live one answers CTL_WAIT (which also collects the verdict
 * of whatever the host still ran for the attempt); after a transport
 * reset the device answers it with RST. t->why is kept.
 */
int vt_ctl_lost(struct vt *t);
/* Open the control connection (t->ctl, -1 on failure). */
int vt_ctl_connect(struct vt *t);
/* Open the control connection and greet the host; close it saying bye. */
int vt_hello(struct vt *t);
int vt_bye(struct vt *t);

/* Wait for n children; each printed its own reason. Returns how many failed. */
int wait_children(int n);

/*
 * One whole xfer (protocol.h) to a host port: `size` bytes out, the
 * receiver's status checked against our CRC, `reply` bytes back checked
 * (vsock_test.c). 0, or -1 with the reason in t->why.
 */
int xfer_to_host(struct vt *t, unsigned int port, uint64_t seed,
		 uint64_t size, uint64_t reply);

/* The splitmix64 finaliser of protocol.h. */
uint64_t mix64(uint64_t z);
/* splitmix64 output number k of a generator seeded with seed. */
uint64_t stream_word(uint64_t seed, uint64_t k);
/* Bytes [off, off + n) of stream(seed). */
void stream_fill(uint64_t seed, uint64_t off, unsigned char *buf, size_t n);
/* CRC-32 (IEEE), composable like zlib's crc32(). */
uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n);

#endif
