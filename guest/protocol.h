/*
 * protocol.h: what the guest and host halves of the vsock tests agree on
 * (vmm.test=vsock, vsockreset, soak, vsockbench): ports, control
 * words, step names, sizes and the data pattern.
 *
 * One header for both halves: the guest programs include it, and the host
 * side reads it through tests/e2e/vsock_protocol.py, which parses every
 * line of the form
 *   #define NAME VALUE
 * where VALUE is a number (C suffixes such as ULL allowed), a string
 * literal, or numbers separated by commas. Keep every definition to that
 * form, one a line, with comments on lines of their own.
 *
 * Host ports (CID 2) map to the AF_UNIX socket "<uds>_<port>"; guest ports
 * are where the guest listens and the host connects through the hybrid
 * socket (or a --vsock-listen TCP listener).
 */
#ifndef GUEST_PROTOCOL_H
#define GUEST_PROTOCOL_H

#define VSOCK_HOST_CID 2

/*
 * Control connection (vsock and vsockbench): the guest sends one-line
 * commands, the host answers each with one line: CTL_OK when it has
 * started an action, CTL_DONE_OK or CTL_DONE_FAIL " <why>" when it has
 * finished one.
 */
#define CTL_HELLO "HELLO"
#define CTL_H2G "H2G"
#define CTL_SOCAT "SOCAT"
#define CTL_TCP "TCP"
#define CTL_SEQ "SEQ"
#define CTL_WAIT "WAIT"
#define CTL_BYE "BYE"
#define CTL_G2H "G2H"
#define CTL_RTT "RTT"
#define CTL_CPS "CPS"
#define CTL_NEXT "NEXT"
#define CTL_READY "READY"
#define CTL_END "END"
#define CTL_OK "OK"
#define CTL_DONE_OK "DONE OK"
#define CTL_DONE_FAIL "DONE FAIL"

/* vmm.test=vsock: host ports. */
/* control */
#define VT_PORT_CTL 5000
/* xfer receiver */
#define VT_PORT_SINK 5001
/* SEQPACKET echo */
#define VT_PORT_SEQ 5003
/* a peer killed mid-transfer, after it read VT_KILL_AFTER bytes */
#define VT_PORT_KILL 5005
/* --vsock-port 5006=unix:... -> xfer receiver */
#define VT_PORT_RULE_UNIX 5006
/* --vsock-port 5007=tcp:... -> xfer receiver */
#define VT_PORT_RULE_TCP 5007
/* nothing listens on the host */
#define VT_PORT_NONE 5999

/*
 * vmm.test=vsockreset (a transport reset, the host's SIGUSR2 to the VMM):
 * the guest holds a connection to VT_PORT_HOLD and has the host hold one
 * to its listener on VT_GPORT_RESET ("HOLD <port>", answered CTL_OK once
 * connected); each side writes VT_HOLD_HELLO on its connection. Then the
 * guest sends CTL_RESET, which the host answers with no line but with the
 * signal: every connection, the control one too, is reset. The guest
 * checks that, connects again, has the host make an xfer to the same
 * listener (CTL_H2G) and makes one of its own (VT_PORT_SINK).
 */
#define CTL_HOLD "HOLD"
#define CTL_RESET "RESET"
#define VT_PORT_HOLD 5008
#define VT_GPORT_RESET 6007
#define VT_HOLD_HELLO "hold"

/* vmm.test=vsock: guest ports. */
#define VT_GPORT_H2G 6001
#define VT_GPORT_H2G_CONNS 6002
#define VT_GPORT_HALF 6003
#define VT_GPORT_SEQ 6004
#define VT_GPORT_SOCAT 6005
/* --vsock-listen tcp:...=6006 */
#define VT_GPORT_TCP 6006

/*
 * vmm.test=vsock: the steps, in the order they run. The guest first
 * prints its probe line "vmm-test: vsock probe kernel=<release>
 * acpi=<yes|no> socket=<ok|error> virtio_devices=<n>
 * vsock_device=<found|missing> driver=<bound|none>" (and runs no step if
 * vsock cannot work), then
 * "vmm-test: vsock <step> ok <ms> ms" (", <n> tries" appended when a
 * transport reset made it start over, each such attempt first printing
 * "vmm-test: vsock <step> retry <why>") or "vmm-test: vsock <step> FAIL
 * <why>" for each.
 */
#define VT_STEP_HELLO "hello"
#define VT_STEP_RST "rst"
#define VT_STEP_G2H "g2h"
#define VT_STEP_H2G "h2g"
#define VT_STEP_G2H_CONNS "g2h_conns"
#define VT_STEP_H2G_CONNS "h2g_conns"
#define VT_STEP_HALF "half"
#define VT_STEP_SMALLBUF "smallbuf"
#define VT_STEP_SEQ "seq"
#define VT_STEP_KILL "kill"
#define VT_STEP_SOCAT "socat"
#define VT_STEP_TCP "tcp"
#define VT_STEP_RULES "rules"
#define VT_STEP_BYE "bye"

/*
 * Transfer ("xfer"), either way: the sender writes a VT_XFER_HDR-byte
 * header "X <seed> <size> <reply>" (space padded, '\n' last), <size> bytes
 * of stream(seed), then shuts down its write side. The receiver reads to
 * EOF, checks length and content, answers with a VT_XFER_STATUS-byte
 * status "OK <size> <crc32>" or "BAD <why>" (padded alike), then <reply>
 * bytes of stream(seed + 1), and closes.
 */
#define VT_XFER_HDR 32
#define VT_XFER_STATUS 64
#define VT_XFER_MAGIC "X"
#define VT_XFER_OK "OK"
#define VT_XFER_BAD "BAD"

/* smallbuf: a guest->host xfer from a socket with this buffer size */
#define VT_SMALL_BUF 65536

/* SEQPACKET: message i has VT_SEQ_SIZES[i] bytes of stream(VT_SEQ_SEED + i). */
#define VT_SEQ_SEED 7000
#define VT_SEQ_SIZES 1, 2, 3, 64, 1000, 4095, 4096, 4097, 16384, 32767, 32768, 65535, 65536
/* The killed host peer of VT_PORT_KILL reads this much first. */
#define VT_KILL_AFTER 65536

/*
 * stream(seed): byte i is byte i % 8 (little endian) of splitmix64 output
 * number i / 8, the mix of z = seed + (i / 8 + 1) * STREAM_GAMMA:
 * z = (z ^ z >> S1) * M1; z = (z ^ z >> S2) * M2; z ^ z >> S3 (mod 2^64).
 */
#define STREAM_GAMMA 0x9e3779b97f4a7c15ULL
#define STREAM_M1 0xbf58476d1ce4e5b9ULL
#define STREAM_M2 0x94d049bb133111ebULL
#define STREAM_S1 30
#define STREAM_S2 27
#define STREAM_S3 31

/*
 * vmm.test=vsockbench: the host drives. The guest asks CTL_NEXT and runs
 * the workload the host answers, until CTL_END:
 *   G2H <size> <wsize> <conns>  <conns> connections to BENCH_PORT_SINK at
 *                               once, each sending size/conns bytes in
 *                               <wsize> writes, half-closing and reading
 *                               the host's count to EOF
 *   H2G <size> <conns>          the guest listens on BENCH_GPORT_H2G, says
 *                               CTL_READY, accepts <conns> connections and
 *                               answers each one's byte count at its EOF
 *   RTT <n>                     listens on BENCH_GPORT_RTT, CTL_READY,
 *                               echoes one byte at a time until EOF
 *   CPS <n>                     connects to BENCH_PORT_ONEBYTE n times, one
 *                               after the other, each read to EOF
 */
#define BENCH_PORT_SINK 5001
#define BENCH_PORT_ONEBYTE 5002
#define BENCH_GPORT_H2G 6001
#define BENCH_GPORT_RTT 6002

/*
 * vmm.test=soak: host ports, one for each kind of traffic. Byte k of a
 * transfer in round r is ((k % SOAK_PERIOD) * SOAK_MULT + r) & 0xff.
 */
#define SOAK_PORT_G2H 7001
#define SOAK_PORT_H2G 7002
#define SOAK_PORT_RTT 7003
#define SOAK_PORT_CPS 7004
#define SOAK_PORT_SEQ 7005
#define SOAK_PERIOD 65521
#define SOAK_MULT 31
/* The g2h server's verdict line: "OK <count>" or "BAD <why>". */
#define SOAK_OK "OK"
#define SOAK_BAD "BAD"

/*
 * vmm.test=hostile (guest/hostile.c): host ports. The guest drives the
 * vsock device by hand and attacks it; these listeners give its
 * connections something to talk to.
 */
/* echoes what it reads */
#define HT_PORT_ECHO 5100
/* reads to EOF, discards */
#define HT_PORT_SINK 5101
/* reads nothing for HT_STALL_S seconds, then to EOF */
#define HT_PORT_STALL 5102
#define HT_STALL_S 5
/* sends until the connection goes away */
#define HT_PORT_SOURCE 5104
/* xfer receiver, for the final AF_VSOCK connection */
#define HT_PORT_XFER 5103
/* nothing listens: a REQUEST here comes back as an RST */
#define HT_PORT_NONE 5199
/* connection attempts in the REQUEST storm */
#define HT_STORM 4096
/* resets with host data arriving: more than the device's RX pool */
#define HT_RESET_ROUNDS 80
/* bring-ups and resets back to back, a REQUEST in flight each time */
#define HT_RESET_LOOP 200
/* the final connection: bytes each way, and the stream seed */
#define HT_XFER_SIZE 262144
#define HT_XFER_SEED 9000

/*
 * vmm.test=hostile: the attacks, in the order they run. The guest prints
 * "vmm-test: hostile <attack> ok status=0x<status> <what happened>" or
 * "vmm-test: hostile <attack> FAIL <why>" for each, then
 * "vmm-test: hostile <step> ok|FAIL ..." for the steps around them.
 */
#define HT_ATK_RO_REGISTERS "ro_registers"
#define HT_ATK_FEATURES_UNOFFERED "features_unoffered"
#define HT_ATK_FEATURES_NO_VERSION_1 "features_no_version_1"
#define HT_ATK_DRIVER_OK_EARLY "driver_ok_early"
#define HT_ATK_STATUS_CLEAR_BITS "status_clear_bits"
#define HT_ATK_QUEUE_SEL_OUT_OF_RANGE "queue_sel_out_of_range"
#define HT_ATK_QUEUE_SIZE_ZERO "queue_size_zero"
#define HT_ATK_QUEUE_SIZE_NOT_POW2 "queue_size_not_pow2"
#define HT_ATK_QUEUE_SIZE_TOO_BIG "queue_size_too_big"
#define HT_ATK_RING_UNALIGNED "ring_unaligned"
#define HT_ATK_RING_OUTSIDE_RAM "ring_outside_ram"
#define HT_ATK_RING_STRADDLES_RAM_END "ring_straddles_ram_end"
#define HT_ATK_RING_IN_MMIO "ring_in_mmio"
#define HT_ATK_RINGS_OVERLAP "rings_overlap"
#define HT_ATK_LIVE_RING_REPOINT "live_ring_repoint"
#define HT_ATK_NOTIFY_BAD_QUEUE "notify_bad_queue"
#define HT_ATK_NOTIFY_FLOOD "notify_flood"
#define HT_ATK_DESC_OUTSIDE_RAM "desc_outside_ram"
#define HT_ATK_DESC_IN_MMIO "desc_in_mmio"
#define HT_ATK_DESC_STRADDLES_RAM_END "desc_straddles_ram_end"
#define HT_ATK_DESC_HUGE_LEN "desc_huge_len"
#define HT_ATK_DESC_ADDR_WRAPS "desc_addr_wraps"
#define HT_ATK_CHAIN_LOOP "chain_loop"
#define HT_ATK_CHAIN_LONGER_THAN_QUEUE "chain_longer_than_queue"
#define HT_ATK_NEXT_OUT_OF_RANGE "next_out_of_range"
#define HT_ATK_AVAIL_IDX_JUMP "avail_idx_jump"
#define HT_ATK_AVAIL_HEAD_OUT_OF_RANGE "avail_head_out_of_range"
#define HT_ATK_TX_WRITE_ONLY "tx_write_only"
#define HT_ATK_TX_SHORT_HEADER "tx_short_header"
#define HT_ATK_INDIRECT_BAD_SIZE "indirect_bad_size"
#define HT_ATK_INDIRECT_EMPTY "indirect_empty"
#define HT_ATK_INDIRECT_OUTSIDE_RAM "indirect_outside_ram"
#define HT_ATK_INDIRECT_HUGE "indirect_huge"
#define HT_ATK_INDIRECT_NESTED "indirect_nested"
#define HT_ATK_INDIRECT_WITH_NEXT "indirect_with_next"
#define HT_ATK_INDIRECT_LOOP "indirect_loop"
#define HT_ATK_INDIRECT_NEXT_OUT_OF_RANGE "indirect_next_out_of_range"
#define HT_ATK_INDIRECT_BAD_ENTRY "indirect_bad_entry"
#define HT_ATK_HDR_LEN_LIES "hdr_len_lies"
#define HT_ATK_HDR_UNKNOWN_OP "hdr_unknown_op"
#define HT_ATK_HDR_UNKNOWN_TYPE "hdr_unknown_type"
#define HT_ATK_HDR_SRC_CID_FORGED "hdr_src_cid_forged"
#define HT_ATK_HDR_DST_CID_OTHER "hdr_dst_cid_other"
#define HT_ATK_HDR_DST_PORT_ZERO "hdr_dst_port_zero"
#define HT_ATK_HDR_DATA_ON_REQUEST "hdr_data_on_request"
#define HT_ATK_RW_UNCONNECTED "rw_unconnected"
#define HT_ATK_CREDIT_LIES "credit_lies"
#define HT_ATK_CREDIT_OVERRUN "credit_overrun"
#define HT_ATK_RESET_MID_FLIGHT "reset_mid_flight"
#define HT_ATK_RESET_MID_RECEIVE "reset_mid_receive"
#define HT_ATK_RESET_LOOP "reset_loop"
#define HT_ATK_RX_READ_ONLY "rx_read_only"
#define HT_ATK_RX_SHORT "rx_short"
#define HT_ATK_RX_OUTSIDE_RAM "rx_outside_ram"
#define HT_ATK_RX_STRADDLES_RAM_END "rx_straddles_ram_end"
#define HT_ATK_RX_READ_AFTER_WRITE "rx_read_after_write"
#define HT_ATK_RX_DUPLICATE_HEAD "rx_duplicate_head"
#define HT_ATK_REQUEST_STORM "request_storm"
#define HT_ATK_REQUEST_STORM_NO_RX "request_storm_no_rx"

#endif
