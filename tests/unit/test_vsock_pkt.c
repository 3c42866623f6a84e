/* Unit tests: vsock header codec and guest TX validation. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vsock/pkt.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"

#define GUEST 3u

START_TEST(codec_round_trip_and_layout)
{
	struct vsock_hdr h = {
		.src_cid = 0x0102030405060708ull, .dst_cid = 2,
		.src_port = 0x11223344, .dst_port = 0x55667788,
		.len = 0x99aabbcc, .type = 0x0102, .op = 0x0304,
		.flags = 0xdeadbeef, .buf_alloc = 0x00040000,
		.fwd_cnt = 0xfffffffe,
	}, back;
	uint8_t wire[VSOCK_HDR_SIZE], again[VSOCK_HDR_SIZE];

	vsock_hdr_encode(wire, &h);
	/* Little-endian, packed, at the spec's offsets. */
	ck_assert_uint_eq(wire[0], 0x08);
	ck_assert_uint_eq(wire[7], 0x01);
	ck_assert_uint_eq(wire[8], 2);
	ck_assert_uint_eq(wire[16], 0x44);
	ck_assert_uint_eq(wire[20], 0x88);
	ck_assert_uint_eq(wire[24], 0xcc);
	ck_assert_uint_eq(wire[28], 0x02);
	ck_assert_uint_eq(wire[30], 0x04);
	ck_assert_uint_eq(wire[32], 0xef);
	ck_assert_uint_eq(wire[38], 0x04);
	ck_assert_uint_eq(wire[40], 0xfe);
	ck_assert_uint_eq(wire[43], 0xff);
	vsock_hdr_decode(&back, wire);
	ck_assert_uint_eq(back.src_cid, h.src_cid);
	ck_assert_uint_eq(back.fwd_cnt, h.fwd_cnt);
	ck_assert_uint_eq(back.op, h.op);
	vsock_hdr_encode(again, &back);
	ck_assert_mem_eq(again, wire, VSOCK_HDR_SIZE);
}
END_TEST

static const struct {
	const char *what;
	uint64_t src_cid, dst_cid;
	uint16_t type, op;
	uint32_t len, data_len;
	bool seqpacket;
	enum vsock_verdict want;
} tx_table[] = {
	{ "stream request", GUEST, 2, 1, 1, 0, 0, false, VSOCK_ACCEPT },
	{ "stream rw with data", GUEST, 2, 1, 5, 100, 100, false,
	  VSOCK_ACCEPT },
	{ "rw of exactly 64 KiB", GUEST, 2, 1, 5, 65536, 65536, false,
	  VSOCK_ACCEPT },
	{ "rw over 64 KiB", GUEST, 2, 1, 5, 65537, 65537, false, VSOCK_DROP },
	{ "len claims more than present", GUEST, 2, 1, 5, 100, 99, false,
	  VSOCK_DROP },
	{ "len claims less than present", GUEST, 2, 1, 5, 10, 99, false,
	  VSOCK_DROP },
	{ "huge len", GUEST, 2, 1, 5, 0xffffffff, 100, false, VSOCK_DROP },
	{ "forged source CID", 4, 2, 1, 1, 0, 0, false, VSOCK_DROP },
	{ "not for the host", GUEST, 5, 1, 1, 0, 0, false, VSOCK_DROP },
	{ "to the guest itself", GUEST, GUEST, 1, 1, 0, 0, false, VSOCK_DROP },
	{ "seqpacket not negotiated", GUEST, 2, 2, 1, 0, 0, false,
	  VSOCK_REPLY_RST },
	{ "seqpacket negotiated", GUEST, 2, 2, 1, 0, 0, true, VSOCK_ACCEPT },
	{ "unknown type", GUEST, 2, 3, 1, 0, 0, true, VSOCK_REPLY_RST },
	{ "unknown type on RST: no reply", GUEST, 2, 3, 3, 0, 0, true,
	  VSOCK_DROP },
	{ "op 0", GUEST, 2, 1, 0, 0, 0, false, VSOCK_REPLY_RST },
	{ "op 8", GUEST, 2, 1, 8, 0, 0, false, VSOCK_REPLY_RST },
	{ "data on a request", GUEST, 2, 1, 1, 4, 4, false, VSOCK_REPLY_RST },
	{ "data on an RST: dropped", GUEST, 2, 1, 3, 4, 4, false, VSOCK_DROP },
	{ "credit request", GUEST, 2, 1, 7, 0, 0, false, VSOCK_ACCEPT },
	{ "plain RST", GUEST, 2, 1, 3, 0, 0, false, VSOCK_ACCEPT },
};

START_TEST(tx_validation)
{
	struct vsock_hdr h = {
		.src_cid = tx_table[_i].src_cid,
		.dst_cid = tx_table[_i].dst_cid,
		.src_port = 1234, .dst_port = 5678,
		.len = tx_table[_i].len, .type = tx_table[_i].type,
		.op = tx_table[_i].op,
	};
	const char *why = NULL;
	enum vsock_verdict v;

	v = vsock_hdr_check_tx(&h, GUEST, tx_table[_i].seqpacket,
			       tx_table[_i].data_len, &why);
	ck_assert_msg(v == tx_table[_i].want, "%s: verdict %d, want %d",
		      tx_table[_i].what, v, tx_table[_i].want);
	if (v != VSOCK_ACCEPT)
		ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(reply_swaps_addresses)
{
	struct vsock_hdr h = { .src_cid = GUEST, .dst_cid = 2, .src_port = 7,
			       .dst_port = 9, .type = 2, .op = 1, .len = 3,
			       .flags = 1, .buf_alloc = 5, .fwd_cnt = 6 },
			 r;

	vsock_hdr_reply(&r, &h, VSOCK_OP_RST);
	ck_assert_uint_eq(r.src_cid, 2);
	ck_assert_uint_eq(r.dst_cid, GUEST);
	ck_assert_uint_eq(r.src_port, 9);
	ck_assert_uint_eq(r.dst_port, 7);
	ck_assert_uint_eq(r.type, 2);
	ck_assert_uint_eq(r.op, VSOCK_OP_RST);
	ck_assert_uint_eq(r.len | r.flags | r.buf_alloc | r.fwd_cnt, 0);
	ck_assert_str_eq(vsock_op_name(VSOCK_OP_CREDIT_UPDATE),
			 "CREDIT_UPDATE");
	ck_assert_str_eq(vsock_op_name(99), "UNKNOWN");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vsock_pkt");
	TCase *tc = tcase_create("header");

	tcase_add_checked_fixture(tc, test_log_install, NULL);
	tcase_add_test(tc, codec_round_trip_and_layout);
	tcase_add_loop_test(tc, tx_validation, 0,
			    sizeof(tx_table) / sizeof(tx_table[0]));
	tcase_add_test(tc, reply_swaps_addresses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
