/*
 * regress_main: runs a fuzz target's entry point over saved inputs (the
 * corpus seeds and every crasher ever found), without libFuzzer, so the
 * ordinary unit suite (and its ASan/UBSan build) replays them.
 *
 * Usage: regress_<target> DIR...   (exit 0 when every input ran; a
 * missing DIR holds no inputs)
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t size = 0, cap = 0, n;
	FILE *f = fopen(path, "rb");

	if (!f)
		return -1;
	do {
		if (size == cap) {
			uint8_t *nb = realloc(buf, cap = cap ? 2 * cap : 4096);

			if (!nb) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		n = fread(buf + size, 1, cap - size, f);
		size += n;
	} while (n);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, size);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int runs = 0;
	int i;

	for (i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		if (!d && errno == ENOENT)
			continue; /* no crasher saved for this target yet */
		if (!d) {
			perror(argv[i]);
			return 1;
		}
		while ((e = readdir(d))) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
				 e->d_name);
			if (run_file(path)) {
				perror(path);
				closedir(d);
				return 1;
			}
			runs++;
		}
		closedir(d);
	}
	printf("%u passed, 0 failed\n", runs);
	return 0;
}
