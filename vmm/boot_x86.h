/*
 * boot_x86: the x86_64 Linux boot protocol, 64-bit entry only.
 *
 * Parses and validates a kernel image (bzImage with a 2.12+ setup header,
 * or an ELF64 vmlinux entered at its 64-bit entry point), then lays out
 * guest memory: kernel, initrd, command line, zero page with the e820 map,
 * GDT, identity page tables for the first 4 GiB and the MP table. The vCPU
 * starts in long mode at `entry.rip` with RSI pointing at the zero page, so
 * no real-mode setup code ever runs.
 *
 * Parsing is pure: every offset read from the image is checked against its
 * size first, so a truncated or hostile image fails with a reason string.
 */
#ifndef VMM_BOOT_X86_H
#define VMM_BOOT_X86_H

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/guestmem.h"
#include "vmm/machine.h"

#define BOOT_MAX_SEGMENTS 16
/* Headers are parsed from the first bytes of the image only. */
#define BOOT_HEAD_SIZE 16384u

/*
 * An image (kernel or initrd) that is copied into guest memory piecewise:
 * from a file with pread(), or from memory. Nothing holds a second full
 * copy of it.
 */
struct boot_blob {
	uint64_t size;
	const uint8_t *mem; /* set: read from memory */
	int fd; /* otherwise: pread() from this file */
};

/* Copy [off, off + len) of the blob to dst; -EIO past its end. */
int boot_blob_read(const struct boot_blob *b, uint64_t off, void *dst,
		   size_t len);

enum boot_kernel_kind {
	BOOT_KERNEL_BZIMAGE,
	BOOT_KERNEL_ELF,
};

struct boot_segment {
	uint64_t offset; /* in the image */
	uint64_t filesz;
	uint64_t memsz;
	uint64_t paddr;
};

struct boot_kernel {
	enum boot_kernel_kind kind;
	const struct boot_blob *blob;
	uint8_t head[BOOT_HEAD_SIZE]; /* first bytes of the image */
	size_t head_len;
	/* Both kinds */
	uint32_t cmdline_max; /* longest command line, without the NUL */
	uint32_t initrd_addr_max;
	/* bzImage */
	uint16_t version;
	size_t setup_size; /* boot sector + real-mode setup, skipped */
	size_t hdr_len; /* bytes of setup header present in the image */
	uint32_t init_size;
	uint64_t pref_address;
	/* ELF */
	struct boot_segment segs[BOOT_MAX_SEGMENTS];
	unsigned int nr_segs;
	uint64_t elf_entry; /* physical */
};

/*
 * Read the image's headers, validate them against its size and fill `k`
 * (which keeps a pointer to `blob`). On failure returns -EINVAL (or the
 * read error) and sets *why to a sentence for the user.
 */
int boot_kernel_parse(const struct boot_blob *blob, struct boot_kernel *k,
		      const char **why);

struct boot_x86_config {
	const char *cmdline;
	const struct boot_blob *initrd; /* NULL: none */
	/* NULL or empty: none. Another archive, loaded right after the
	 * initrd (4-byte aligned, as Linux unpacks concatenated ones). */
	const struct boot_blob *initrd_extra;
	unsigned int nr_cpus;
	const uint8_t *irqs; /* ISA IRQs for the MP table */
	unsigned int nr_irqs;
	bool acpi; /* ACPI tables as well, for the devices in `devs` */
	machine_devset devs;
};

struct boot_x86_entry {
	uint64_t rip;
	uint64_t rsi; /* zero page */
	uint64_t cr3;
	uint64_t gdt_base;
	uint16_t gdt_limit;
};

/* Selectors of the boot GDT, as the boot protocol asks. */
#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define BOOT_TSS 0x20

int boot_x86_load(const struct guestmem *gm, const struct boot_kernel *k,
		  const struct boot_x86_config *cfg,
		  struct boot_x86_entry *entry, const char **why);

/* Pieces of boot_x86_load, exposed for tests. */
unsigned int boot_x86_e820(const struct guestmem *gm,
			   struct boot_e820_entry *tab, unsigned int max);
int boot_x86_zero_page(struct boot_params *bp, const struct boot_kernel *k,
		       const struct guestmem *gm, uint64_t cmdline_addr,
		       uint64_t initrd_addr, uint64_t initrd_size);

#endif
