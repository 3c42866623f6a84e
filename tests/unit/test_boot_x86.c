/*
 * Unit tests: kernel image validation (bzImage setup header, ELF vmlinux),
 * zero page, e820 map, command line and initrd placement.
 *
 * Truncation tests copy each prefix into a buffer of exactly that size so
 * that ASan reports any read past the end.
 */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/fake_mem.h"
#include "tests/helpers/test_log.h"
#include "tests/helpers/test_run.h"
#include "vmm/boot_x86.h"
#include "vmm/machine.h"

#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define PAYLOAD 4096

static struct setup_header *hdr_of(uint8_t *img)
{
	return (struct setup_header *)(img + 0x1f1);
}

/* A minimal image that passes every check; callers then corrupt it. */
static uint8_t *make_bzimage(size_t *size)
{
	size_t sz = SETUP_SIZE + PAYLOAD;
	uint8_t *img = calloc(1, sz);
	struct setup_header *h = hdr_of(img);
	size_t i;

	h->setup_sects = SETUP_SECTS;
	h->boot_flag = 0xAA55;
	img[0x200] = 0xeb;
	img[0x201] = (uint8_t)(0x1f1 + sizeof(*h) - 0x202);
	h->header = 0x53726448;
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->syssize = PAYLOAD / 16;
	h->xloadflags = XLF_KERNEL_64;
	h->cmdline_size = 2047;
	h->initrd_addr_max = 0x7fffffff;
	h->init_size = 2 * PAYLOAD;
	h->pref_address = 0x1000000;
	h->relocatable_kernel = 1;
	for (i = SETUP_SIZE; i < sz; i++)
		img[i] = (uint8_t)i;
	*size = sz;
	return img;
}

#define ELF_DATA 0x200
#define ELF_SIZE (ELF_DATA + 0x100)

/* ELF64 with one PT_LOAD of 0x100 bytes at paddr 16 MiB (memsz 0x2000). */
static uint8_t *make_elf(size_t *size, uint64_t entry)
{
	uint8_t *img = calloc(1, ELF_SIZE);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	eh->e_ehsize = sizeof(*eh);
	ph->p_type = PT_LOAD;
	ph->p_offset = ELF_DATA;
	ph->p_vaddr = 0xffffffff81000000ull;
	ph->p_paddr = 0x1000000;
	ph->p_filesz = 0x100;
	ph->p_memsz = 0x2000;
	memset(img + ELF_DATA, 0xcc, 0x100);
	*size = ELF_SIZE;
	return img;
}

static struct boot_kernel k;

static int parse(const uint8_t *img, size_t len, struct boot_blob *blob)
{
	const char *why = NULL;
	int ret;

	*blob = (struct boot_blob){ .mem = img, .size = len, .fd = -1 };
	ret = boot_kernel_parse(blob, &k, &why);
	if (ret)
		ck_assert_ptr_nonnull(why);
	return ret;
}

static int parse_copy(const uint8_t *img, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct boot_blob blob;
	int ret;

	memcpy(copy, img, len);
	ret = parse(copy, len, &blob);
	free(copy);
	return ret;
}

START_TEST(bzimage_valid)
{
	size_t size;
	uint8_t *img = make_bzimage(&size);
	struct boot_blob blob;

	ck_assert_int_eq(parse(img, size, &blob), 0);
	ck_assert_int_eq(k.kind, BOOT_KERNEL_BZIMAGE);
	ck_assert_uint_eq(k.setup_size, SETUP_SIZE);
	ck_assert_uint_eq(k.init_size, 2 * PAYLOAD);
	ck_assert_uint_eq(k.cmdline_max, 2047);
	ck_assert_uint_eq(k.hdr_len, sizeof(struct setup_header));
	free(img);
}
END_TEST

START_TEST(bzimage_every_truncation_rejected)
{
	size_t size, len;
	uint8_t *img = make_bzimage(&size);

	for (len = 0; len < size - 15; len++)
		ck_assert_msg(parse_copy(img, len) == -EINVAL,
			      "image truncated to %zu bytes accepted", len);
	free(img);
}
END_TEST

enum corruption {
	C_BOOT_FLAG,
	C_MAGIC,
	C_OLD_VERSION,
	C_NO_64BIT,
	C_NOT_LOADED_HIGH,
	C_SETUP_SECTS_HUGE,
	C_HEADER_TOO_SHORT,
	C_SYSSIZE_TOO_BIG,
	C_SYSSIZE_ZERO,
	C_INIT_SIZE_HUGE,
	C_PREF_ADDRESS_HUGE,
	C_NR_CORRUPTIONS,
};

START_TEST(bzimage_corruptions_rejected)
{
	size_t size;
	uint8_t *img = make_bzimage(&size);
	struct setup_header *h = hdr_of(img);

	switch ((enum corruption)_i) {
	case C_BOOT_FLAG: h->boot_flag = 0x55AA; break;
	case C_MAGIC: h->header = 0x53726449; break;
	case C_OLD_VERSION: h->version = 0x020b; break;
	case C_NO_64BIT: h->xloadflags = 0; break;
	case C_NOT_LOADED_HIGH: h->loadflags = 0; break;
	case C_SETUP_SECTS_HUGE: h->setup_sects = 255; break;
	case C_HEADER_TOO_SHORT: img[0x201] = 0x10; break;
	case C_SYSSIZE_TOO_BIG: h->syssize = PAYLOAD / 16 + 2; break;
	case C_SYSSIZE_ZERO: h->syssize = 0; break;
	case C_INIT_SIZE_HUGE: h->init_size = 0x80000000u; break;
	case C_PREF_ADDRESS_HUGE: h->pref_address = 1ull << 40; break;
	case C_NR_CORRUPTIONS: break;
	}
	ck_assert_msg(parse_copy(img, size) == -EINVAL, "corruption %d accepted",
		      _i);
	free(img);
}
END_TEST

START_TEST(elf_valid_physical_and_virtual_entry)
{
	uint64_t entries[] = { 0x1000010, 0xffffffff81000010ull };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		size_t size;
		uint8_t *img = make_elf(&size, entries[i]);
		struct boot_blob blob;

		ck_assert_int_eq(parse(img, size, &blob), 0);
		ck_assert_int_eq(k.kind, BOOT_KERNEL_ELF);
		ck_assert_uint_eq(k.nr_segs, 1);
		ck_assert_uint_eq(k.elf_entry, 0x1000010);
		free(img);
	}
}
END_TEST

START_TEST(elf_every_truncation_rejected)
{
	size_t size, len;
	uint8_t *img = make_elf(&size, 0x1000000);

	for (len = 0; len < size; len++)
		ck_assert_msg(parse_copy(img, len) == -EINVAL,
			      "ELF truncated to %zu bytes accepted", len);
	free(img);
}
END_TEST

START_TEST(elf_corruptions_rejected)
{
	size_t size;
	uint8_t *img = make_elf(&size, 0x1000000);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));

	switch (_i) {
	case 0: eh->e_ident[EI_CLASS] = ELFCLASS32; break;
	case 1: eh->e_machine = EM_386; break;
	case 2: eh->e_type = ET_DYN; break;
	case 3: eh->e_entry = 0x5000000; break; /* outside every segment */
	case 4: ph->p_filesz = 0x3000; break; /* filesz > memsz */
	case 5: ph->p_offset = ~0ull - 8; break;
	case 6: ph->p_paddr = ~0ull - 0x1000; break; /* wraps */
	case 7: eh->e_phnum = 0xffff; break; /* headers past the end */
	case 8: eh->e_phentsize = 32; break;
	case 9: ph->p_type = PT_NOTE; break; /* nothing loadable */
	case 10: ph->p_paddr = 0x90000000ull; break; /* above 2 GiB */
	}
	ck_assert_msg(parse_copy(img, size) == -EINVAL, "ELF corruption %d "
		      "accepted", _i);
	free(img);
}
END_TEST

START_TEST(e820_low_and_high)
{
	struct guestmem gm = { 0 };
	struct boot_e820_entry tab[8];
	uint8_t dummy;

	/* Only the layout matters here; nothing dereferences the host side. */
	ck_assert_int_eq(guestmem_add_region(&gm, 0, 128ull << 20, &dummy), 0);
	ck_assert_uint_eq(boot_x86_e820(&gm, tab, 8), 3);
	ck_assert_uint_eq(tab[0].addr, 0);
	ck_assert_uint_eq(tab[0].size, MACHINE_EBDA_START);
	ck_assert_uint_eq(tab[0].type, 1);
	ck_assert_uint_eq(tab[1].addr, MACHINE_EBDA_START);
	ck_assert_uint_eq(tab[1].addr + tab[1].size, 1 << 20);
	ck_assert_uint_eq(tab[1].type, 2);
	ck_assert_uint_eq(tab[2].addr, 1 << 20);
	ck_assert_uint_eq(tab[2].addr + tab[2].size, 128ull << 20);
	ck_assert_uint_eq(tab[2].type, 1);
	ck_assert_int_eq(guestmem_add_region(&gm, 1ull << 32, 1ull << 30,
					     &dummy),
			 0);
	ck_assert_uint_eq(boot_x86_e820(&gm, tab, 8), 4);
	ck_assert_uint_eq(tab[3].addr, 1ull << 32);
	ck_assert_uint_eq(tab[3].size, 1ull << 30);
	/* A short table is filled, never overrun. */
	ck_assert_uint_eq(boot_x86_e820(&gm, tab, 2), 2);
}
END_TEST

static struct guestmem gm;
static uint8_t *ram;
#define RAM_SIZE (64ull << 20)

static void load_setup(void)
{
	test_log_install();
	memset(&gm, 0, sizeof(gm));
	ram = fake_mem_add(&gm, 0, RAM_SIZE);
}

static void load_teardown(void)
{
	fake_mem_free(&gm);
}

START_TEST(load_elf_lays_out_memory)
{
	static const char cmdline[] = "console=ttyS0 vmm.test=x";
	uint8_t initrd[0x3000];
	struct boot_blob rd_blob = { .mem = initrd, .size = sizeof(initrd),
				     .fd = -1 };
	struct boot_x86_config cfg = {
		.cmdline = cmdline, .initrd = &rd_blob, .nr_cpus = 2,
	};
	struct boot_x86_entry e;
	struct boot_params *bp;
	struct boot_blob blob;
	const char *why = NULL;
	size_t size;
	uint8_t *img = make_elf(&size, 0x1000000);
	uint64_t *pml4, rd;

	memset(initrd, 0xab, sizeof(initrd));
	ck_assert_int_eq(parse(img, size, &blob), 0);
	ck_assert_int_eq(boot_x86_load(&gm, &k, &cfg, &e, &why), 0);
	ck_assert_uint_eq(e.rip, 0x1000000);
	ck_assert_uint_eq(e.rsi, MACHINE_ZERO_PAGE_ADDR);
	ck_assert_uint_eq(ram[0x1000000], 0xcc);
	ck_assert_uint_eq(ram[0x1000000 + 0x100], 0); /* bss zeroed */

	bp = (struct boot_params *)(ram + MACHINE_ZERO_PAGE_ADDR);
	ck_assert_uint_eq(bp->hdr.boot_flag, 0xAA55);
	ck_assert_uint_eq(bp->hdr.header, 0x53726448);
	ck_assert_uint_eq(bp->hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(bp->hdr.cmd_line_ptr, MACHINE_CMDLINE_ADDR);
	ck_assert_str_eq((char *)ram + MACHINE_CMDLINE_ADDR, cmdline);
	rd = bp->hdr.ramdisk_image;
	ck_assert_uint_eq(bp->hdr.ramdisk_size, sizeof(initrd));
	ck_assert_uint_eq(rd % 4096, 0);
	ck_assert_uint_eq(rd + sizeof(initrd), RAM_SIZE);
	ck_assert_uint_eq(ram[rd], 0xab);
	ck_assert_uint_eq(ram[rd + sizeof(initrd) - 1], 0xab);
	ck_assert_uint_eq(bp->e820_entries, 3);

	pml4 = (uint64_t *)(ram + MACHINE_PML4_ADDR);
	ck_assert_uint_eq(pml4[0], MACHINE_PDPT_ADDR | 3);
	ck_assert_uint_eq(e.cr3, MACHINE_PML4_ADDR);
	ck_assert_mem_eq(ram + MACHINE_MPTABLE_ADDR, "_MP_", 4);
	free(img);
}
END_TEST

/* --exec's archive follows the initrd at the next 4-byte boundary, the
 * gap zeroed; the kernel sees one initrd holding both. */
START_TEST(load_extra_archive_after_initrd)
{
	uint8_t initrd[4097], extra[10];
	struct boot_blob rd_blob = { .mem = initrd, .size = sizeof(initrd),
				     .fd = -1 };
	struct boot_blob ex_blob = { .mem = extra, .size = sizeof(extra),
				     .fd = -1 };
	struct boot_x86_config cfg = {
		.cmdline = "", .initrd = &rd_blob, .initrd_extra = &ex_blob,
		.nr_cpus = 1,
	};
	struct boot_x86_entry e;
	struct boot_params *bp;
	struct boot_blob blob;
	const char *why = NULL;
	size_t size;
	uint8_t *img = make_elf(&size, 0x1000000);
	uint64_t rd;

	memset(initrd, 0xab, sizeof(initrd));
	memset(extra, 0xcd, sizeof(extra));
	ck_assert_int_eq(parse(img, size, &blob), 0);
	memset(ram + RAM_SIZE - 8192, 0xff, 8192); /* the gap must be zeroed */
	ck_assert_int_eq(boot_x86_load(&gm, &k, &cfg, &e, &why), 0);
	bp = (struct boot_params *)(ram + MACHINE_ZERO_PAGE_ADDR);
	rd = bp->hdr.ramdisk_image;
	ck_assert_uint_eq(bp->hdr.ramdisk_size, 4100 + sizeof(extra));
	ck_assert_uint_eq(rd % 4096, 0);
	ck_assert_uint_eq(ram[rd + 4096], 0xab);
	ck_assert_mem_eq(ram + rd + 4097, "\0\0\0", 3);
	ck_assert_uint_eq(ram[rd + 4100], 0xcd);
	ck_assert_uint_eq(ram[rd + 4100 + sizeof(extra) - 1], 0xcd);
	/* An empty extra archive changes nothing. */
	ex_blob.size = 0;
	ck_assert_int_eq(boot_x86_load(&gm, &k, &cfg, &e, &why), 0);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, sizeof(initrd));
	free(img);
}
END_TEST

START_TEST(load_bzimage_entry_and_payload)
{
	struct boot_x86_config cfg = { .cmdline = "", .nr_cpus = 1 };
	struct boot_x86_entry e;
	struct boot_params *bp;
	struct boot_blob blob;
	const char *why = NULL;
	size_t size;
	uint8_t *img = make_bzimage(&size);

	ck_assert_int_eq(parse(img, size, &blob), 0);
	ck_assert_int_eq(boot_x86_load(&gm, &k, &cfg, &e, &why), 0);
	ck_assert_uint_eq(e.rip, MACHINE_KERNEL_ADDR + 0x200);
	ck_assert_mem_eq(ram + MACHINE_KERNEL_ADDR, img + SETUP_SIZE, PAYLOAD);
	ck_assert_uint_eq(k.head_len, size);
	bp = (struct boot_params *)(ram + MACHINE_ZERO_PAGE_ADDR);
	/* The image's own header fields are carried over. */
	ck_assert_uint_eq(bp->hdr.version, 0x020f);
	ck_assert_uint_eq(bp->hdr.init_size, 2 * PAYLOAD);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, 0);
	free(img);
}
END_TEST

START_TEST(load_rejects_what_does_not_fit)
{
	static uint8_t big_initrd[RAM_SIZE];
	struct boot_blob rd_blob = { .mem = big_initrd, .fd = -1 };
	char long_cmdline[3000];
	struct boot_x86_config cfg = { .cmdline = "", .nr_cpus = 1 };
	struct boot_x86_entry e;
	struct boot_blob blob;
	const char *why = NULL;
	size_t size;
	uint8_t *img = make_elf(&size, 0x1000000);

	ck_assert_int_eq(parse(img, size, &blob), 0);
	memset(long_cmdline, 'a', sizeof(long_cmdline) - 1);
	long_cmdline[sizeof(long_cmdline) - 1] = 0;
	cfg.cmdline = long_cmdline;
	ck_assert_int_eq(boot_x86_load(&gm, &k, &cfg, &e, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "command line"));

	cfg.cmdline = "";
	cfg.initrd = &rd_blob;
	rd_blob.size = RAM_SIZE - (16 << 20);
	ck_assert_int_eq(boot_x86_load(&gm, &k, &cfg, &e, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "initrd"));

	cfg.initrd = NULL;
	cfg.nr_cpus = MACHINE_MAX_CPUS + 1;
	ck_assert_int_eq(boot_x86_load(&gm, &k, &cfg, &e, &why), -EINVAL);
	free(img);

	/* A kernel whose segment lies beyond RAM. */
	img = make_elf(&size, 0x1000000);
	((Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)))->p_paddr = 0x7000000;
	((Elf64_Ehdr *)img)->e_entry = 0x7000000;
	ck_assert_int_eq(parse(img, size, &blob), 0);
	cfg.nr_cpus = 1;
	ck_assert_int_eq(boot_x86_load(&gm, &k, &cfg, &e, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "memory"));
	free(img);
}
END_TEST

START_TEST(blob_reads_are_bounded)
{
	uint8_t data[64], out[64];
	struct boot_blob b = { .mem = data, .size = sizeof(data), .fd = -1 };

	memset(data, 7, sizeof(data));
	ck_assert_int_eq(boot_blob_read(&b, 0, out, 64), 0);
	ck_assert_int_eq(boot_blob_read(&b, 60, out, 4), 0);
	ck_assert_int_eq(boot_blob_read(&b, 61, out, 4), -EIO);
	ck_assert_int_eq(boot_blob_read(&b, 65, out, 0), -EIO);
	ck_assert_int_eq(boot_blob_read(&b, ~0ull, out, 2), -EIO);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("boot_x86");
	TCase *parse = tcase_create("parse");
	TCase *layout = tcase_create("layout");

	tcase_add_checked_fixture(parse, test_log_install, NULL);
	tcase_add_test(parse, bzimage_valid);
	tcase_add_test(parse, bzimage_every_truncation_rejected);
	tcase_add_loop_test(parse, bzimage_corruptions_rejected, 0,
			    C_NR_CORRUPTIONS);
	tcase_add_test(parse, elf_valid_physical_and_virtual_entry);
	tcase_add_test(parse, elf_every_truncation_rejected);
	tcase_add_loop_test(parse, elf_corruptions_rejected, 0, 11);
	tcase_add_test(parse, e820_low_and_high);
	tcase_add_test(parse, blob_reads_are_bounded);
	suite_add_tcase(s, parse);

	tcase_add_checked_fixture(layout, load_setup, load_teardown);
	tcase_add_test(layout, load_elf_lays_out_memory);
	tcase_add_test(layout, load_extra_archive_after_initrd);
	tcase_add_test(layout, load_bzimage_entry_and_payload);
	tcase_add_test(layout, load_rejects_what_does_not_fit);
	suite_add_tcase(s, layout);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
