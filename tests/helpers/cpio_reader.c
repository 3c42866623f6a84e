/* cpio_reader: see cpio_reader.h. */
#include "tests/helpers/cpio_reader.h"

#include <string.h>

#include "vmm/cpio.h"

static int hex8(const uint8_t *p, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 8; i++) {
		uint8_t ch = p[i];

		if (ch >= '0' && ch <= '9')
			v = v << 4 | (uint32_t)(ch - '0');
		else if (ch >= 'A' && ch <= 'F')
			v = v << 4 | (uint32_t)(ch - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

int cpio_read_next(const uint8_t *buf, size_t len, size_t *off,
		   struct cpio_entry *e)
{
	uint32_t f[13];
	size_t o = *off, name_end, body;
	int i;

	if (o % 4 || o + CPIO_HDR_LEN > len ||
	    memcmp(buf + o, CPIO_MAGIC, 6))
		return -1;
	for (i = 0; i < 13; i++)
		if (hex8(buf + o + 6 + 8 * i, &f[i]))
			return -1;
	/* ino mode uid gid nlink mtime size devmaj devmin rdevmaj rdevmin
	 * namesize check */
	name_end = o + CPIO_HDR_LEN + f[11];
	if (!f[11] || f[11] > sizeof(e->name) || name_end > len ||
	    buf[name_end - 1] || f[2] || f[3])
		return -1;
	body = (name_end + 3) & ~(size_t)3;
	if (body + f[6] > len)
		return -1;
	memcpy(e->name, buf + o + CPIO_HDR_LEN, f[11]);
	e->mode = f[1];
	e->nlink = f[4];
	e->mtime = f[5];
	e->size = f[6];
	e->rdev_major = f[9];
	e->rdev_minor = f[10];
	e->data = buf + body;
	*off = (body + f[6] + 3) & ~(size_t)3;
	if (*off > len)
		return -1;
	return strcmp(e->name, CPIO_TRAILER) ? 1 : 0;
}

int cpio_read_find(const uint8_t *buf, size_t len, const char *name,
		   struct cpio_entry *e)
{
	size_t off = 0;
	int r;

	while ((r = cpio_read_next(buf, len, &off, e)) == 1)
		if (!strcmp(e->name, name))
			return 0;
	return -1;
}
