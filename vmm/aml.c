/*
 * aml: see aml.h. Encodings from ACPI 6.5: 20.2.3 (names), 20.2.4
 * (package length), 20.2.3/20.2.5 (data and named objects), 6.4 (resource
 * descriptors).
 */
#include "vmm/aml.h"

#include <string.h>

#include "vmm/util.h"

#define ZERO_OP 0x00
#define ONE_OP 0x01
#define NAME_OP 0x08
#define BYTE_PREFIX 0x0A
#define WORD_PREFIX 0x0B
#define DWORD_PREFIX 0x0C
#define STRING_PREFIX 0x0D
#define QWORD_PREFIX 0x0E
#define SCOPE_OP 0x10
#define BUFFER_OP 0x11
#define PACKAGE_OP 0x12
#define EXT_OP_PREFIX 0x5B
#define DEVICE_OP 0x82 /* after EXT_OP_PREFIX */
#define ROOT_CHAR '\\'
#define PKG_LEN_MAX 4u /* bytes a package length may take */

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	*a = (struct aml){ .buf = buf, .cap = cap };
}

static void put(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void put8(struct aml *a, uint8_t v)
{
	put(a, &v, 1);
}

static void put16(struct aml *a, uint16_t v)
{
	uint8_t b[2];

	put_le16(b, v);
	put(a, b, sizeof(b));
}

static void put32(struct aml *a, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	put(a, b, sizeof(b));
}

void aml_name_string(struct aml *a, const char *name)
{
	char seg[4] = { '_', '_', '_', '_' };
	size_t n;

	if (*name == ROOT_CHAR) {
		put8(a, ROOT_CHAR);
		name++;
	}
	n = MIN(strlen(name), sizeof(seg));
	memcpy(seg, name, n);
	put(a, seg, sizeof(seg));
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v <= 1) {
		put8(a, v ? ONE_OP : ZERO_OP);
	} else if (v <= UINT8_MAX) {
		put8(a, BYTE_PREFIX);
		put8(a, (uint8_t)v);
	} else if (v <= UINT16_MAX) {
		put8(a, WORD_PREFIX);
		put16(a, (uint16_t)v);
	} else if (v <= UINT32_MAX) {
		put8(a, DWORD_PREFIX);
		put32(a, (uint32_t)v);
	} else {
		put8(a, QWORD_PREFIX);
		put32(a, (uint32_t)v);
		put32(a, (uint32_t)(v >> 32));
	}
}

void aml_string(struct aml *a, const char *s)
{
	put8(a, STRING_PREFIX);
	put(a, s, strlen(s) + 1);
}

/* "PNP0501": three letters of five bits each, then four hex digits, the
 * whole stored big-endian in a DWord. */
void aml_eisa_id(struct aml *a, const char *id)
{
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < 3; i++)
		v = (v << 5) | (uint32_t)((id[i] - 'A' + 1) & 0x1f);
	for (i = 3; i < 7; i++) {
		char c = id[i];

		v = (v << 4) | (uint32_t)(c <= '9' ? c - '0' : c - 'A' + 10);
	}
	/* 31 bits: bit 31 stays zero, as it must. */
	put8(a, DWORD_PREFIX);
	put32(a, __builtin_bswap32(v));
}

void aml_name(struct aml *a, const char *name)
{
	put8(a, NAME_OP);
	aml_name_string(a, name);
}

/* Room for the longest package length; aml_end() closes the gap. */
static size_t begin(struct aml *a)
{
	static const uint8_t gap[PKG_LEN_MAX];
	size_t mark = a->len;

	put(a, gap, sizeof(gap));
	return mark;
}

void aml_end(struct aml *a, size_t mark)
{
	size_t body, total;
	unsigned int n;

	if (a->overflow)
		return;
	body = a->len - mark - PKG_LEN_MAX;
	for (n = 1; n <= PKG_LEN_MAX; n++) {
		total = body + n;
		if (total < (n == 1 ? 0x40u : 1u << (4 + 8 * (n - 1))))
			break;
	}
	if (n > PKG_LEN_MAX) {
		a->overflow = true;
		return;
	}
	memmove(a->buf + mark + n, a->buf + mark + PKG_LEN_MAX, body);
	a->len -= PKG_LEN_MAX - n;
	if (n == 1) {
		a->buf[mark] = (uint8_t)total;
		return;
	}
	/* Lead byte: how many bytes follow, and the low four bits. */
	a->buf[mark] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
	for (unsigned int i = 1; i < n; i++)
		a->buf[mark + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
}

size_t aml_scope_begin(struct aml *a, const char *path)
{
	size_t mark;

	put8(a, SCOPE_OP);
	mark = begin(a);
	aml_name_string(a, path);
	return mark;
}

size_t aml_device_begin(struct aml *a, const char *name)
{
	size_t mark;

	put8(a, EXT_OP_PREFIX);
	put8(a, DEVICE_OP);
	mark = begin(a);
	aml_name_string(a, name);
	return mark;
}

size_t aml_package_begin(struct aml *a, uint8_t count)
{
	size_t mark;

	put8(a, PACKAGE_OP);
	mark = begin(a);
	put8(a, count);
	return mark;
}

/*
 * Buffer { BufferSize, bytes }: the size is a DWord integer written now
 * and patched at the end, so that its encoding does not depend on it.
 */
size_t aml_resources_begin(struct aml *a)
{
	size_t mark;

	put8(a, BUFFER_OP);
	mark = begin(a);
	put8(a, DWORD_PREFIX);
	put32(a, 0);
	return mark;
}

void aml_resources_end(struct aml *a, size_t mark)
{
	size_t size_at = mark + PKG_LEN_MAX + 1;

	put8(a, 0x79); /* end tag */
	put8(a, 0); /* checksum: zero means "treat as correct" */
	if (!a->overflow)
		put_le32(a->buf + size_at,
			 (uint32_t)(a->len - size_at - sizeof(uint32_t)));
	aml_end(a, mark);
}

void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	put8(a, 0x47); /* small item: I/O port, 7 bytes */
	put8(a, 1); /* 16-bit decode */
	put16(a, base);
	put16(a, base);
	put8(a, 1); /* alignment */
	put8(a, len);
}

void aml_res_irq_noflags(struct aml *a, unsigned int irq)
{
	put8(a, 0x22); /* small item: IRQ, 2 bytes */
	put16(a, (uint16_t)(1u << irq));
}

void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	put8(a, 0x86); /* large item: 32-bit fixed memory */
	put16(a, 9);
	put8(a, 1); /* read/write */
	put32(a, base);
	put32(a, len);
}

void aml_res_interrupt(struct aml *a, uint32_t gsi)
{
	put8(a, 0x89); /* large item: extended interrupt */
	put16(a, 6);
	put8(a, 0x03); /* consumer, edge, active high, exclusive */
	put8(a, 1); /* one interrupt */
	put32(a, gsi);
}
