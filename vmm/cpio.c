/* cpio: see cpio.h. Trust edge: none; the files are the user's. */
#include "vmm/cpio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "vmm/util.h"

#define PAD4(n) ((4 - ((n) & 3)) & 3)

void cpio_init(struct cpio *c, size_t max)
{
	memset(c, 0, sizeof(*c));
	c->max = max;
}

void cpio_destroy(struct cpio *c)
{
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

/* `n` more bytes at the end, zeroed; *out points at them until the next
 * call. */
static int grow(struct cpio *c, size_t n, uint8_t **out)
{
	size_t cap = c->cap ? c->cap : 4096;
	uint8_t *p;

	if (n > c->max || c->len > c->max - n)
		return -EFBIG;
	while (cap < c->len + n)
		cap *= 2;
	if (cap != c->cap) {
		p = realloc(c->buf, cap);
		if (!p)
			return -ENOMEM;
		c->buf = p;
		c->cap = cap;
	}
	*out = c->buf + c->len;
	memset(*out, 0, n);
	c->len += n;
	return 0;
}

/* Header and name of one entry, room for its `size` body bytes (and the
 * padding after them) at *body. */
static int put_entry(struct cpio *c, const char *name, uint32_t mode,
		     uint32_t mtime, size_t size, dev_t rdev, uint8_t **body)
{
	size_t namesize = strlen(name) + 1;
	size_t head = CPIO_HDR_LEN + namesize;
	char hdr[CPIO_HDR_LEN + 1];
	uint8_t *p;
	int ret;

	if (namesize > PATH_MAX)
		return -ENAMETOOLONG;
	if (size > UINT32_MAX)
		return -EFBIG; /* the format's size field is 32 bits */
	ret = grow(c, head + PAD4(head) + size + PAD4(size), &p);
	if (ret)
		return ret;
	snprintf(hdr, sizeof(hdr),
		 CPIO_MAGIC "%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X"
			    "%08X",
		 ++c->ino, mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u, mtime,
		 (uint32_t)size, 0u, 0u, major(rdev), minor(rdev),
		 (uint32_t)namesize, 0u);
	memcpy(p, hdr, CPIO_HDR_LEN);
	memcpy(p + CPIO_HDR_LEN, name, namesize);
	*body = p + head + PAD4(head);
	return 0;
}

int cpio_add(struct cpio *c, const char *name, uint32_t mode, uint32_t mtime,
	     const void *data, size_t len)
{
	uint8_t *body;
	int ret = put_entry(c, name, mode, mtime, len, 0, &body);

	if (!ret && len)
		memcpy(body, data, len);
	return ret;
}

int cpio_add_parents(struct cpio *c, const char *name)
{
	char dir[PATH_MAX];
	const char *slash;
	int ret = 0;

	for (slash = strchr(name, '/'); !ret && slash;
	     slash = strchr(slash + 1, '/')) {
		size_t n = (size_t)(slash - name);

		if (!n || n >= sizeof(dir))
			continue;
		memcpy(dir, name, n);
		dir[n] = 0;
		ret = cpio_add(c, dir, S_IFDIR | 0755, 0, NULL, 0);
	}
	return ret;
}

static uint32_t mtime_of(const struct stat *st)
{
	if (st->st_mtime < 0)
		return 0;
	return st->st_mtime > UINT32_MAX ? UINT32_MAX : (uint32_t)st->st_mtime;
}

static uint32_t mode_of(const struct stat *st)
{
	return (uint32_t)(st->st_mode & (S_IFMT | 07777));
}

/* A regular file's bytes straight into the archive. */
static int add_file(struct cpio *c, const char *host, const char *name)
{
	int fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	uint8_t *body;
	size_t got = 0;
	int ret;

	if (fd < 0)
		return -errno;
	ret = fstat(fd, &st) ? -errno : 0;
	if (!ret && !S_ISREG(st.st_mode))
		ret = -EINVAL; /* replaced since lstat() */
	if (!ret)
		ret = put_entry(c, name, mode_of(&st), mtime_of(&st),
				(size_t)st.st_size, 0, &body);
	while (!ret && got < (size_t)st.st_size) {
		ssize_t n = read(fd, body + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ret = n < 0 ? -errno : -EIO; /* shrank meanwhile */
		else
			got += (size_t)n;
	}
	close(fd);
	return ret;
}

static int add_symlink(struct cpio *c, const char *host, const char *name,
		       const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t n = readlink(host, target, sizeof(target));

	if (n < 0)
		return -errno;
	if ((size_t)n == sizeof(target))
		return -ENAMETOOLONG;
	return cpio_add(c, name, mode_of(st), mtime_of(st), target, (size_t)n);
}

static int add_tree(struct cpio *c, char *host, char *name);

static int not_dot(const struct dirent *e)
{
	return strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
}

/* The directory's entries; `name` "" is the guest's root, which exists. */
static int add_dir(struct cpio *c, char *host, char *name,
		   const struct stat *st)
{
	size_t hlen = strlen(host), nlen = strlen(name);
	struct dirent **list;
	int i, n, ret = 0;

	if (nlen)
		ret = cpio_add(c, name, mode_of(st), mtime_of(st), NULL, 0);
	n = ret ? 0 : scandir(host, &list, not_dot, alphasort);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		const char *e = list[i]->d_name;

		if (!ret && (hlen + strlen(e) + 2 > PATH_MAX ||
			     nlen + strlen(e) + 2 > PATH_MAX))
			ret = -ENAMETOOLONG;
		if (!ret) {
			snprintf(host + hlen, PATH_MAX - hlen, "/%s", e);
			snprintf(name + nlen, PATH_MAX - nlen, "%s%s",
				 nlen ? "/" : "", e);
			ret = add_tree(c, host, name);
		}
		free(list[i]);
	}
	free(list);
	if (!ret) {
		host[hlen] = 0;
		name[nlen] = 0;
	}
	return ret;
}

/* `host` and `name` are PATH_MAX buffers the walk extends; on failure
 * `host` names the path that failed. */
static int add_tree(struct cpio *c, char *host, char *name)
{
	struct stat st;
	uint8_t *none;

	if (lstat(host, &st))
		return -errno;
	if (S_ISDIR(st.st_mode))
		return add_dir(c, host, name, &st);
	if (!*name)
		return -ENOTDIR; /* only a directory can be the root */
	if (S_ISREG(st.st_mode))
		return add_file(c, host, name);
	if (S_ISLNK(st.st_mode))
		return add_symlink(c, host, name, &st);
	/* Devices, FIFOs, sockets: the node itself. */
	return put_entry(c, name, mode_of(&st), mtime_of(&st), 0, st.st_rdev,
			 &none);
}

int cpio_add_path(struct cpio *c, const char *host, const char *name)
{
	char name_buf[PATH_MAX];
	int ret;

	if (strlen(host) >= PATH_MAX || strlen(name) >= PATH_MAX) {
		snprintf(c->failed, sizeof(c->failed), "%s", host);
		return -ENAMETOOLONG;
	}
	strcpy(c->failed, host);
	strcpy(name_buf, name);
	ret = add_tree(c, c->failed, name_buf);
	if (!ret)
		c->failed[0] = 0;
	return ret;
}

int cpio_finish(struct cpio *c)
{
	return cpio_add(c, CPIO_TRAILER, 0, 0, NULL, 0);
}
