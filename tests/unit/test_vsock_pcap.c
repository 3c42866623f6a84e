/*
 * Unit tests: --vsock-pcap. The device behind the driver harness, with
 * host peers on real AF_UNIX sockets, captures a conversation (a stream
 * connection: request, data both ways, half-close, close; a SEQPACKET
 * message each way; a reset), and tshark, an independent reader, must
 * find every packet in order with the right ops, types, ports, lengths,
 * flags and payload bytes. Without tshark the test reports a skip.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "tests/helpers/vsock_driver.h"
#include "tests/helpers/vsock_host.h"

#define PORT 1234u
#define SEQ_PORT 1235u
#define CID 42u
#define MAX_PKTS 256

static struct vsock_driver d;
static struct vsock_host_dir hd;
static char pcap_path[400];

/* One packet as tshark reads it. */
struct pkt {
	unsigned int frame_len, cap_len; /* the pcap record's */
	unsigned int op, type, src, dst, len, flags;
	char payload[64]; /* hex, as tshark prints it */
};

static void fail_test(const char *msg)
{
	ck_abort_msg("%s", msg);
}

static void setup(void)
{
	test_log_install();
	vsock_host_dir_create(&hd);
	snprintf(pcap_path, sizeof(pcap_path), "%s/capture.pcap", hd.dir);
}

static void teardown(void)
{
	vsock_host_dir_destroy(&hd);
}

/* A host listener of `type` where guest connections to `port` go. */
static int host_listener(uint32_t port, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char path[400];
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	vsock_host_port_path(&hd, port, path, sizeof(path));
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

/* A stream conversation: hello out, world! back, half-close, close. */
static uint32_t stream_conversation(void)
{
	int lfd = host_listener(PORT, SOCK_STREAM), fd;
	struct vsock_sock *s;
	uint32_t gport;
	char buf[8];

	ck_assert_int_eq(vsock_driver_connect(&d, PORT, &s), 0);
	gport = s->local_port;
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vsock_driver_send(s, "hello", 5), 0);
	vsock_driver_settle(&d, 3);
	ck_assert_int_eq(vsock_host_read_all(fd, buf, 5), 0);
	ck_assert_int_eq(vsock_host_write_all(fd, "world!", 6), 0);
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, 6), 0);
	vsock_driver_shutdown(s, VSOCK_SHUTDOWN_SEND);
	vsock_driver_settle(&d, 3);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 0); /* our EOF */
	close(fd);
	close(lfd);
	vsock_driver_close(s, true);
	return gport;
}

/* A SEQPACKET message from the host, then a reset from the guest. */
static uint32_t seqpacket_conversation(void)
{
	int lfd = host_listener(SEQ_PORT, SOCK_SEQPACKET), fd;
	uint32_t gport;
	char buf[8];
	struct vsock_sock *s;

	s = vsock_driver_connect_start(&d, SEQ_PORT, VSOCK_TYPE_SEQPACKET);
	while (s->state == VSOCK_SOCK_CONNECTING)
		vsock_driver_pump(&d, 1000);
	ck_assert_int_eq(s->state, VSOCK_SOCK_ESTABLISHED);
	gport = s->local_port;
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(send(fd, "msg", 3, 0), 3);
	ck_assert_int_eq(vsock_driver_recv_all(s, buf, 3), 0);
	vsock_driver_abort(s);
	vsock_driver_settle(&d, 3);
	close(fd);
	close(lfd);
	return gport;
}

static unsigned int read_capture(struct pkt *p, unsigned int max)
{
	char cmd[1200], line[512];
	unsigned int n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "tshark -r %s -T fields -E separator=, -e frame.len "
		 "-e frame.cap_len -e vsock.virtio.op "
		 "-e vsock.virtio.type -e vsock.virtio.src_prot "
		 "-e vsock.virtio.dst_prot -e vsock.virtio.len "
		 "-e vsock.virtio.flags -e vsock.payload 2>%s.err",
		 pcap_path, pcap_path);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) && n < max) {
		struct pkt *k = &p[n];

		memset(k, 0, sizeof(*k));
		ck_assert_msg(sscanf(line, "%u,%u,%u,%u,%u,%u,%u,%x,%63[0-9a-f:]",
				     &k->frame_len, &k->cap_len, &k->op,
				     &k->type, &k->src, &k->dst, &k->len,
				     &k->flags, k->payload) >= 8,
			      "tshark: %s", line);
		n++;
	}
	ck_assert_int_eq(pclose(f), 0);
	return n;
}

/* The first packet from `from` on, of `op` between ports a and b (either
 * way round when `any_dir`); its index, failing the test if none. */
static unsigned int find(const struct pkt *p, unsigned int n,
			 unsigned int from, unsigned int op, uint32_t src,
			 uint32_t dst, const char *what)
{
	unsigned int i;

	for (i = from; i < n; i++)
		if (p[i].op == op && p[i].src == src && p[i].dst == dst)
			return i;
	ck_abort_msg("no %s in the capture", what);
	return n;
}

START_TEST(capture_reads_back_in_tshark)
{
	struct vsock_driver_config cfg = {
		.dev = { .guest_cid = CID, .uds_path = hd.uds,
			 .pcap_path = pcap_path },
		.seqpacket = true,
		.fail = fail_test,
	};
	static struct pkt p[MAX_PKTS];
	struct vsock_dev_stats st;
	uint32_t g, q;
	unsigned int n, i, rw_out, rw_in, msg;

	vsock_driver_create(&d, &cfg);
	g = stream_conversation();
	q = seqpacket_conversation();
	vsock_dev_get_stats(d.dev, &st);
	vsock_driver_destroy(&d); /* the capture is complete once closed */
	ck_assert_uint_eq(st.pcap_dropped, 0);

	n = read_capture(p, MAX_PKTS);
	ck_assert_uint_eq(n, st.pcap_records);
	ck_assert_uint_eq(n, st.tx_packets + st.rx_packets);
	i = find(p, n, 0, VSOCK_OP_REQUEST, g, PORT, "stream REQUEST");
	ck_assert_uint_eq(p[i].type, VSOCK_TYPE_STREAM);
	i = find(p, n, i, VSOCK_OP_RESPONSE, PORT, g, "stream RESPONSE");
	rw_out = find(p, n, i, VSOCK_OP_RW, g, PORT, "hello");
	ck_assert_uint_eq(p[rw_out].len, 5);
	ck_assert_uint_eq(p[rw_out].cap_len, 32 + 44 + 5);
	ck_assert_str_eq(p[rw_out].payload, "68656c6c6f");
	rw_in = find(p, n, rw_out, VSOCK_OP_RW, PORT, g, "world!");
	ck_assert_uint_eq(p[rw_in].len, 6);
	ck_assert_str_eq(p[rw_in].payload, "776f726c6421");
	i = find(p, n, rw_in, VSOCK_OP_SHUTDOWN, g, PORT, "guest SHUTDOWN");
	ck_assert_uint_eq(p[i].flags, VSOCK_SHUTDOWN_SEND);
	find(p, n, i, VSOCK_OP_RST, PORT, g, "the device's RST");
	i = find(p, n, 0, VSOCK_OP_REQUEST, q, SEQ_PORT, "SEQPACKET REQUEST");
	ck_assert_uint_eq(p[i].type, VSOCK_TYPE_SEQPACKET);
	msg = find(p, n, i, VSOCK_OP_RW, SEQ_PORT, q, "SEQPACKET message");
	ck_assert_uint_eq(p[msg].len, 3);
	ck_assert_uint_eq(p[msg].flags, VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
	ck_assert_str_eq(p[msg].payload, "6d7367");
	find(p, n, msg, VSOCK_OP_RST, q, SEQ_PORT, "the guest's RST");
}
END_TEST

START_TEST(snaplen_keeps_the_headers_and_cuts_the_payload)
{
	struct vsock_driver_config cfg = {
		.dev = { .guest_cid = CID, .uds_path = hd.uds,
			 .pcap_path = pcap_path, .pcap_snaplen = 2 },
		.fail = fail_test,
	};
	static struct pkt p[MAX_PKTS];
	uint32_t g;
	unsigned int n, i;

	vsock_driver_create(&d, &cfg);
	g = stream_conversation();
	vsock_driver_destroy(&d);
	n = read_capture(p, MAX_PKTS);
	i = find(p, n, 0, VSOCK_OP_RW, g, PORT, "hello");
	/* The header still says 5; the record keeps 2 of them. */
	ck_assert_uint_eq(p[i].len, 5);
	ck_assert_uint_eq(p[i].frame_len, 32 + 44 + 5);
	ck_assert_uint_eq(p[i].cap_len, 32 + 44 + 2);
}
END_TEST

/* A raw guest packet in the harness's scratch memory: header, then
 * `data` (len bytes), sent as one descriptor. */
static void raw_tx(const struct vsock_hdr *h, const char *data, uint32_t len)
{
	uint8_t *mem;
	uint64_t gpa = vsock_driver_scratch(&d, (void **)&mem);

	vsock_hdr_encode(mem, h);
	memcpy(mem + VSOCK_HDR_SIZE, data, len);
	vsock_driver_tx_raw(&d, (struct vq_driver_buf[]){
				    { gpa, VSOCK_HDR_SIZE + len, false } },
			    1, false);
	vsock_driver_settle(&d, 3);
	ck_assert_uint_eq(vsock_driver_raw_outstanding(&d), 0);
}

/* What a buggy driver sends is what a capture is for: packets the device
 * drops (an unknown op and type) or answers with a reset (data for no
 * connection) are recorded as the guest sent them, and the file stays
 * readable. A chain too short for a header has nothing to record. */
START_TEST(malformed_packets_are_captured_as_sent)
{
	struct vsock_driver_config cfg = {
		.dev = { .guest_cid = CID, .uds_path = hd.uds,
			 .pcap_path = pcap_path },
		.fail = fail_test,
	};
	static struct pkt p[MAX_PKTS];
	struct vsock_dev_stats st;
	struct vsock_hdr h;
	unsigned int n, i;

	test_log_expect(2); /* the unknown type's reset, the short chain */
	vsock_driver_create(&d, &cfg);
	h = vsock_driver_hdr(&d, 99, 1000, PORT, 3);
	h.type = 7;
	raw_tx(&h, "abc", 3);
	h = vsock_driver_hdr(&d, VSOCK_OP_RW, 1001, PORT, 2);
	raw_tx(&h, "hi", 2);
	h = vsock_driver_hdr(&d, VSOCK_OP_RW, 1002, PORT, 0xfffffff0u);
	raw_tx(&h, "short", 5); /* the header claims almost 4 GiB */
	vsock_dev_get_stats(d.dev, &st);
	vsock_driver_destroy(&d);
	ck_assert_uint_eq(st.pcap_dropped, 0);

	n = read_capture(p, MAX_PKTS);
	ck_assert_uint_eq(n, st.pcap_records);
	i = find(p, n, 0, 99, 1000, PORT, "the unknown op");
	ck_assert_uint_eq(p[i].type, 7);
	ck_assert_uint_eq(p[i].len, 3);
	ck_assert_uint_eq(p[i].cap_len, 32 + 44 + 3);
	ck_assert_str_eq(p[i].payload, "616263");
	find(p, n, i, VSOCK_OP_RST, PORT, 1000, "the reset for it");
	i = find(p, n, 0, VSOCK_OP_RW, 1001, PORT, "data for no connection");
	ck_assert_str_eq(p[i].payload, "6869");
	find(p, n, i, VSOCK_OP_RST, PORT, 1001, "the device's RST");
	/* The lie is kept (the header's length) with the 5 bytes there, in
	 * a valid record: its original length may not wrap below them
	 * (tshark shows no payload for a packet so short of its length). */
	i = find(p, n, 0, VSOCK_OP_RW, 1002, PORT, "the lying length");
	ck_assert_uint_eq(p[i].len, 0xfffffff0u);
	ck_assert_uint_eq(p[i].cap_len, 32 + 44 + 5);
	ck_assert_uint_ge(p[i].frame_len, p[i].cap_len);
}
END_TEST

START_TEST(unwritable_capture_is_an_error)
{
	struct vsock_driver_config cfg = {
		.dev = { .guest_cid = CID,
			 .pcap_path = "/nonexistent/dir/capture.pcap" },
	};
	struct evloop loop;
	struct vsock_dev *dev;

	test_log_expect(1);
	ck_assert_int_eq(evloop_create(&loop, 64), 0);
	ck_assert_int_lt(vsock_dev_create(&dev, &cfg.dev, &loop), 0);
	evloop_destroy(&loop);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_pcap");
	TCase *tc = tcase_create("capture");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, capture_reads_back_in_tshark);
	tcase_add_test(tc, snaplen_keeps_the_headers_and_cuts_the_payload);
	tcase_add_test(tc, malformed_packets_are_captured_as_sent);
	tcase_add_test(tc, unwritable_capture_is_an_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite_needing(suite(), "tshark", "tshark");
}
