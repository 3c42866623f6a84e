/* Unit tests: 8250 UART registers, interrupts, input buffering. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices/serial8250.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"

static struct serial8250 *s;
static int irq_level, irq_edges;
static uint8_t out[64];
static size_t out_len;

static void set_irq(void *opaque, int level)
{
	(void)opaque;
	if (level && !irq_level)
		irq_edges++;
	irq_level = level;
}

static void tx(void *opaque, uint8_t byte)
{
	(void)opaque;
	if (out_len < sizeof(out))
		out[out_len++] = byte;
}

static void setup(void)
{
	struct serial8250_cb cb = { .set_irq = set_irq, .tx = tx };

	test_log_install();
	irq_level = irq_edges = 0;
	out_len = 0;
	ck_assert_int_eq(serial8250_create(&s, &cb), 0);
}

static void teardown(void)
{
	serial8250_destroy(s);
}

static uint8_t rd(unsigned int reg)
{
	uint8_t v = 0;

	serial8250_bus_ops.read(s, reg, &v, 1);
	return v;
}

static void wr(unsigned int reg, uint8_t v)
{
	serial8250_bus_ops.write(s, reg, &v, 1);
}

/* Register semantics, as a table: write (reg, value), expect (reg, value). */
static const struct {
	const char *what;
	uint8_t wreg, wval, rreg, rval;
} reg_table[] = {
	{ "LSR idle: THR empty, no data", 7, 0, 5, 0x60 },
	{ "scratch keeps its value", 7, 0xa5, 7, 0xa5 },
	{ "IER keeps low nibble only", 1, 0xff, 1, 0x0f },
	{ "LCR reads back", 3, 0x1b, 3, 0x1b },
	{ "MCR keeps 5 bits", 4, 0xff, 4, 0x1f },
	{ "loopback: RTS+OUT2 -> CTS+DCD", 4, 0x1a, 6, 0x90 },
	{ "loopback: DTR+OUT1 -> DSR+RI", 4, 0x15, 6, 0x60 },
	{ "modem lines when not looping", 4, 0x03, 6, 0xb0 },
	{ "no FIFO: IIR says no interrupt", 2, 0x00, 2, 0x01 },
	{ "FIFO enabled: IIR top bits set", 2, 0x01, 2, 0xc1 },
};

START_TEST(register_semantics)
{
	wr(reg_table[_i].wreg, reg_table[_i].wval);
	ck_assert_msg(rd(reg_table[_i].rreg) == reg_table[_i].rval, "%s",
		      reg_table[_i].what);
}
END_TEST

START_TEST(divisor_latch)
{
	wr(3, 0x80); /* DLAB */
	wr(0, 0x01);
	wr(1, 0x02);
	ck_assert_uint_eq(rd(0), 0x01);
	ck_assert_uint_eq(rd(1), 0x02);
	ck_assert_uint_eq(out_len, 0); /* DLL write is not output */
	wr(3, 0x03);
	ck_assert_uint_eq(rd(1), 0); /* IER untouched by DLM */
}
END_TEST

START_TEST(output_goes_to_sink)
{
	wr(0, 'h');
	wr(0, 'i');
	ck_assert_uint_eq(out_len, 2);
	ck_assert_mem_eq(out, "hi", 2);
}
END_TEST

START_TEST(thr_empty_interrupt)
{
	wr(1, 0x02); /* enable THRI: THR is empty, so it fires */
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(rd(2) & 0x0f, 0x02);
	ck_assert_int_eq(irq_level, 0); /* reading IIR acknowledged it */
	ck_assert_uint_eq(rd(2) & 0x0f, 0x01);
	wr(0, 'x'); /* THR empties at once: a fresh edge */
	ck_assert_int_eq(irq_level, 1);
	ck_assert_int_eq(irq_edges, 2);
	wr(0, 'y'); /* still pending: must re-edge for edge-triggered pins */
	ck_assert_int_eq(irq_edges, 3);
	wr(1, 0); /* disabling THRI drops the line */
	ck_assert_int_eq(irq_level, 0);
}
END_TEST

START_TEST(receive_and_rdi_interrupt)
{
	const uint8_t in[] = "ab";

	wr(1, 0x01); /* RDI */
	ck_assert_int_eq(irq_level, 0);
	ck_assert_uint_eq(serial8250_rx_push(s, in, 2), 2);
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(rd(5) & 1, 1);
	ck_assert_uint_eq(rd(2) & 0x0f, 0x04);
	ck_assert_uint_eq(rd(0), 'a');
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(rd(0), 'b');
	ck_assert_int_eq(irq_level, 0);
	ck_assert_uint_eq(rd(5) & 1, 0);
	ck_assert_uint_eq(rd(0), 0); /* empty reads 0 */
}
END_TEST

/*
 * Input waits until the driver has opened the port (RDI and OUT2, no
 * loopback). Linux's probe writes IER 0x0f with OUT2 low and runs a
 * loopback test with OUT2 high; input taken then would be thrown away
 * by the FIFO reset and the RBR read of the later start-up.
 */
START_TEST(input_waits_for_an_open_port)
{
	ck_assert_uint_eq(rd(4), 0); /* MCR resets to 0, as a 16550's */
	wr(1, 0x0f); /* the probe's IER test */
	ck_assert_uint_eq(serial8250_rx_space(s), 0);
	wr(1, 0x00);
	wr(4, 0x1a); /* the probe's loopback test: LOOP|OUT2|RTS */
	ck_assert_uint_eq(serial8250_rx_space(s), 0);
	wr(1, 0x01);
	ck_assert_uint_eq(serial8250_rx_space(s), 0); /* still loopback */
	wr(4, 0x0b); /* start-up: DTR|RTS|OUT2 */
	ck_assert_uint_eq(serial8250_rx_space(s), SERIAL8250_RX_SIZE);
	wr(1, 0x00); /* shut down */
	ck_assert_uint_eq(serial8250_rx_space(s), 0);
}
END_TEST

START_TEST(receive_buffer_is_bounded)
{
	static uint8_t big[SERIAL8250_RX_SIZE + 100];
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	ck_assert_uint_eq(serial8250_rx_space(s), 0); /* driver not ready */
	wr(4, 0x08); /* OUT2 */
	wr(1, 0x01);
	ck_assert_uint_eq(serial8250_rx_space(s), SERIAL8250_RX_SIZE);
	ck_assert_uint_eq(serial8250_rx_push(s, big, sizeof(big)),
			  SERIAL8250_RX_SIZE);
	ck_assert_uint_eq(serial8250_rx_space(s), 0);
	ck_assert_uint_eq(serial8250_rx_push(s, big, 1), 0);
	/* Order is kept across the ring's wrap. */
	for (i = 0; i < SERIAL8250_RX_SIZE; i++)
		ck_assert_uint_eq(rd(0), (uint8_t)i);
	ck_assert_uint_eq(serial8250_rx_push(s, big + 7, 3), 3);
	ck_assert_uint_eq(rd(0), 7);
	wr(2, 0x03); /* FIFO enable + clear RX */
	ck_assert_uint_eq(rd(5) & 1, 0);
}
END_TEST

START_TEST(loopback_does_not_output)
{
	wr(4, 0x10);
	wr(0, 'z');
	ck_assert_uint_eq(out_len, 0);
	ck_assert_uint_eq(rd(0), 'z');
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("serial8250");
	TCase *regs = tcase_create("registers");
	TCase *irq = tcase_create("interrupts");

	tcase_add_checked_fixture(regs, setup, teardown);
	tcase_add_loop_test(regs, register_semantics, 0,
			    sizeof(reg_table) / sizeof(reg_table[0]));
	tcase_add_test(regs, divisor_latch);
	tcase_add_test(regs, output_goes_to_sink);
	tcase_add_test(regs, loopback_does_not_output);
	suite_add_tcase(su, regs);
	tcase_add_checked_fixture(irq, setup, teardown);
	tcase_add_test(irq, thr_empty_interrupt);
	tcase_add_test(irq, receive_and_rdi_interrupt);
	tcase_add_test(irq, receive_buffer_is_bounded);
	tcase_add_test(irq, input_waits_for_an_open_port);
	suite_add_tcase(su, irq);
	return su;
}

int main(void)
{
	return test_run_suite(suite());
}
