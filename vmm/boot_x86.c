/*
 * boot_x86: kernel image validation and the boot-time memory layout.
 *
 * Trust edge: the kernel image and initrd come from the user's files, not
 * the guest; still, every header field is range-checked before it sizes a
 * copy, so a corrupt file is an error message, never an out-of-bounds read.
 */
#define LOG_TAG "boot"
#include "vmm/boot_x86.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/acpi.h"
#include "vmm/mptable.h"
#include "vmm/util.h"

#define SETUP_HDR_OFF 0x1f1
#define HDR_MAGIC 0x53726448u /* "HdrS" */
#define BOOT_FLAG 0xAA55
#define DEFAULT_CMDLINE_MAX 2047u /* x86 COMMAND_LINE_SIZE - 1 */

#define HDR_FIELD_OFF(f) (SETUP_HDR_OFF + offsetof(struct setup_header, f))

static int fail(const char **why, const char *msg)
{
	*why = msg;
	return -EINVAL;
}

static int parse_bzimage(const uint8_t *img, uint64_t size,
			 struct boot_kernel *k, const char **why)
{
	unsigned int setup_sects;
	uint64_t payload, need;
	uint32_t syssize;
	size_t hdr_end;

	if (get_le16(img + HDR_FIELD_OFF(boot_flag)) != BOOT_FLAG ||
	    get_le32(img + HDR_FIELD_OFF(header)) != HDR_MAGIC)
		return fail(why, "not a Linux kernel: no bzImage setup header "
				 "(boot flag/HdrS) and no ELF header");
	k->kind = BOOT_KERNEL_BZIMAGE;
	k->version = get_le16(img + HDR_FIELD_OFF(version));
	if (k->version < 0x020c)
		return fail(why, "bzImage boot protocol older than 2.12 "
				 "(no 64-bit entry point)");
	if (!(get_le16(img + HDR_FIELD_OFF(xloadflags)) & XLF_KERNEL_64))
		return fail(why, "bzImage has no 64-bit entry point "
				 "(XLF_KERNEL_64 not set)");
	if (!(img[HDR_FIELD_OFF(loadflags)] & LOADED_HIGH))
		return fail(why, "bzImage is not a protected-mode kernel "
				 "loaded at 1 MiB (LOADED_HIGH not set)");

	setup_sects = img[HDR_FIELD_OFF(setup_sects)];
	if (!setup_sects)
		setup_sects = 4;
	k->setup_size = (size_t)(setup_sects + 1) * 512;
	if (k->setup_size >= size)
		return fail(why, "bzImage truncated: no protected-mode code "
				 "after the setup sectors");
	payload = size - k->setup_size;
	syssize = get_le32(img + HDR_FIELD_OFF(syssize));
	if (!syssize || (uint64_t)syssize * 16 > payload + 15)
		return fail(why, "bzImage truncated: shorter than its header's "
				 "syssize says");

	/*
	 * The jump at 0x200 skips exactly the header this image carries; a
	 * 2.12 header reaches at least past cmdline_size.
	 */
	hdr_end = 0x202 + (size_t)img[0x201];
	if (hdr_end < HDR_FIELD_OFF(hardware_subarch))
		return fail(why, "bzImage setup header shorter than its "
				 "protocol version says");
	k->hdr_len = MIN(hdr_end - SETUP_HDR_OFF, sizeof(struct setup_header));

	k->init_size = get_le32(img + HDR_FIELD_OFF(init_size));
	k->pref_address = get_le64(img + HDR_FIELD_OFF(pref_address));
	need = MAX(payload, (uint64_t)k->init_size);
	if (need > GIB(1))
		return fail(why, "bzImage needs more than 1 GiB to decompress "
				 "(corrupt init_size?)");
	k->init_size = (uint32_t)need;
	if (k->pref_address > GIB(1))
		return fail(why, "bzImage prefers a load address above 1 GiB "
				 "(corrupt pref_address?)");
	k->cmdline_max = get_le32(img + HDR_FIELD_OFF(cmdline_size));
	if (!k->cmdline_max)
		k->cmdline_max = DEFAULT_CMDLINE_MAX;
	k->initrd_addr_max = get_le32(img + HDR_FIELD_OFF(initrd_addr_max));
	return 0;
}

static int parse_elf(const uint8_t *img, size_t head_len, uint64_t size,
		     struct boot_kernel *k, const char **why)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	Elf64_Ehdr h;
	bool entry_ok = false;
	unsigned int i;

	if (head_len < sizeof(h))
		return fail(why, "ELF file truncated: no complete ELF header");
	memcpy(&h, eh, sizeof(h));
	if (h.e_ident[EI_CLASS] != ELFCLASS64 ||
	    h.e_ident[EI_DATA] != ELFDATA2LSB || h.e_machine != EM_X86_64)
		return fail(why, "ELF kernel is not a 64-bit little-endian "
				 "x86_64 image");
	if (h.e_type != ET_EXEC)
		return fail(why, "ELF kernel is not an executable (ET_EXEC) "
				 "vmlinux");
	if (h.e_phentsize != sizeof(Elf64_Phdr) || !h.e_phnum ||
	    h.e_phoff > head_len ||
	    (uint64_t)h.e_phnum * sizeof(Elf64_Phdr) > head_len - h.e_phoff)
		return fail(why, "ELF program headers missing, truncated, or "
				 "not within the first 16 KiB");

	k->kind = BOOT_KERNEL_ELF;
	k->nr_segs = 0;
	for (i = 0; i < h.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + h.e_phoff + (uint64_t)i * sizeof(ph),
		       sizeof(ph));
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
			return fail(why, "ELF segment extends past the end of "
					 "the file (truncated vmlinux?)");
		if (ph.p_filesz > ph.p_memsz ||
		    ph.p_paddr + ph.p_memsz < ph.p_paddr ||
		    ph.p_paddr + ph.p_memsz > GIB(2))
			return fail(why, "ELF segment has a bad size or a "
					 "physical address above 2 GiB");
		if (k->nr_segs == BOOT_MAX_SEGMENTS)
			return fail(why, "ELF kernel has too many segments");
		k->segs[k->nr_segs++] = (struct boot_segment){
			.offset = ph.p_offset, .filesz = ph.p_filesz,
			.memsz = ph.p_memsz, .paddr = ph.p_paddr,
		};
		/* e_entry may be physical or virtual; accept either. */
		if (h.e_entry >= ph.p_paddr &&
		    h.e_entry - ph.p_paddr < ph.p_memsz) {
			k->elf_entry = h.e_entry;
			entry_ok = true;
		} else if (!entry_ok && h.e_entry >= ph.p_vaddr &&
			   h.e_entry - ph.p_vaddr < ph.p_memsz) {
			k->elf_entry = ph.p_paddr + (h.e_entry - ph.p_vaddr);
			entry_ok = true;
		}
	}
	if (!k->nr_segs)
		return fail(why, "ELF kernel has no loadable segments");
	if (!entry_ok)
		return fail(why, "ELF entry point is not inside a loadable "
				 "segment");
	k->cmdline_max = DEFAULT_CMDLINE_MAX;
	k->initrd_addr_max = 0x7fffffff;
	return 0;
}

int boot_blob_read(const struct boot_blob *b, uint64_t off, void *dst,
		   size_t len)
{
	uint8_t *p = dst;

	if (off > b->size || len > b->size - off)
		return -EIO;
	if (b->mem) {
		memcpy(dst, b->mem + off, len);
		return 0;
	}
	while (len) {
		ssize_t n = pread(b->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO; /* file shrank */
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int boot_kernel_parse(const struct boot_blob *blob, struct boot_kernel *k,
		      const char **why)
{
	int ret;

	memset(k, 0, sizeof(*k));
	k->blob = blob;
	k->head_len = (size_t)MIN(blob->size, (uint64_t)BOOT_HEAD_SIZE);
	ret = boot_blob_read(blob, 0, k->head, k->head_len);
	if (ret)
		return fail(why, "cannot read the image");
	if (k->head_len >= SELFMAG && !memcmp(k->head, ELFMAG, SELFMAG))
		return parse_elf(k->head, k->head_len, blob->size, k, why);
	if (k->head_len < SETUP_HDR_OFF + sizeof(struct setup_header))
		return fail(why, "file too small to be a kernel image");
	return parse_bzimage(k->head, blob->size, k, why);
}

unsigned int boot_x86_e820(const struct guestmem *gm,
			   struct boot_e820_entry *tab, unsigned int max)
{
	unsigned int n = 0, i;

#define E820_ADD(a, s, t)                                                     \
	do {                                                                  \
		if (n < max)                                                  \
			tab[n++] = (struct boot_e820_entry){                  \
				.addr = (a), .size = (s), .type = (t) };      \
	} while (0)

	for (i = 0; i < gm->nr_regions; i++) {
		const struct guestmem_region *r = &gm->regions[i];

		if (r->gpa == 0 && r->size > MIB(1)) {
			/* Base memory, then EBDA/VGA/BIOS (MP table) hole. */
			E820_ADD(0, MACHINE_EBDA_START, 1);
			E820_ADD(MACHINE_EBDA_START,
				 MIB(1) - MACHINE_EBDA_START, 2);
			E820_ADD(MIB(1), r->size - MIB(1), 1);
		} else {
			E820_ADD(r->gpa, r->size, 1);
		}
	}
#undef E820_ADD
	return n;
}

int boot_x86_zero_page(struct boot_params *bp, const struct boot_kernel *k,
		       const struct guestmem *gm, uint64_t cmdline_addr,
		       uint64_t initrd_addr, uint64_t initrd_size)
{
	struct setup_header *hdr = &bp->hdr;

	memset(bp, 0, sizeof(*bp));
	if (k->kind == BOOT_KERNEL_BZIMAGE) {
		/* Start from the image's own header, as the protocol asks. */
		memcpy(hdr, k->head + SETUP_HDR_OFF, k->hdr_len);
	} else {
		hdr->boot_flag = BOOT_FLAG;
		hdr->header = HDR_MAGIC;
		hdr->version = 0x020f;
		hdr->kernel_alignment = 0x1000000;
		hdr->cmdline_size = k->cmdline_max;
	}
	hdr->type_of_loader = 0xff;
	hdr->loadflags |= LOADED_HIGH | CAN_USE_HEAP;
	hdr->heap_end_ptr = 0xfe00;
	hdr->cmd_line_ptr = (uint32_t)cmdline_addr;
	bp->ext_cmd_line_ptr = (uint32_t)(cmdline_addr >> 32);
	hdr->ramdisk_image = (uint32_t)initrd_addr;
	hdr->ramdisk_size = (uint32_t)initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(initrd_addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
	bp->e820_entries = (uint8_t)boot_x86_e820(
		gm, bp->e820_table, ARRAY_SIZE(bp->e820_table));
	return 0;
}

/* Lowest address the initrd may start at: above everything the kernel uses. */
static uint64_t kernel_end(const struct boot_kernel *k)
{
	uint64_t end = 0;
	unsigned int i;

	if (k->kind == BOOT_KERNEL_ELF) {
		for (i = 0; i < k->nr_segs; i++)
			end = MAX(end, k->segs[i].paddr + k->segs[i].memsz);
		return end;
	}
	/* The decompressor may move itself up to the preferred address. */
	return MAX((uint64_t)MACHINE_KERNEL_ADDR, k->pref_address) +
	       k->init_size;
}

/* Copy `len` bytes of `b` from `off` straight into guest RAM at `gpa`. */
static int load_blob(const struct guestmem *gm, uint64_t gpa,
		     const struct boot_blob *b, uint64_t off, uint64_t len)
{
	void *dst = guestmem_ptr(gm, gpa, len);

	if (!dst)
		return -EFAULT;
	return boot_blob_read(b, off, dst, (size_t)len);
}

static uint64_t blob_size(const struct boot_blob *b)
{
	return b ? b->size : 0;
}

/* Where the extra archive starts, from the initrd's start. */
static uint64_t extra_offset(const struct boot_x86_config *cfg)
{
	return (blob_size(cfg->initrd) + 3) & ~3ull;
}

/* The initrd and the extra archive after it, as the kernel sees them. */
static uint64_t initrd_total(const struct boot_x86_config *cfg)
{
	if (!blob_size(cfg->initrd_extra))
		return blob_size(cfg->initrd);
	return extra_offset(cfg) + cfg->initrd_extra->size;
}

static int load_initrd(const struct guestmem *gm, uint64_t gpa,
		       const struct boot_x86_config *cfg)
{
	uint64_t size = blob_size(cfg->initrd), off = extra_offset(cfg);
	int ret = 0;

	if (size)
		ret = load_blob(gm, gpa, cfg->initrd, 0, size);
	if (!ret && blob_size(cfg->initrd_extra)) {
		/* Zeros between the two archives are skipped by the kernel. */
		ret = guestmem_write(gm, gpa + size, "\0\0\0", off - size);
		if (!ret)
			ret = load_blob(gm, gpa + off, cfg->initrd_extra, 0,
					cfg->initrd_extra->size);
	}
	return ret;
}

static int load_kernel(const struct guestmem *gm, const struct boot_kernel *k,
		       const char **why)
{
	unsigned int i;

	if (k->kind == BOOT_KERNEL_BZIMAGE)
		return load_blob(gm, MACHINE_KERNEL_ADDR, k->blob,
				 k->setup_size, k->blob->size - k->setup_size)
			       ? fail(why, "cannot load the kernel into guest "
					   "memory")
			       : 0;
	for (i = 0; i < k->nr_segs; i++) {
		const struct boot_segment *s = &k->segs[i];
		uint8_t *dst = guestmem_ptr(gm, s->paddr, s->memsz);

		if (!dst || s->paddr < MIB(1))
			return fail(why, "ELF segment does not fit in guest "
					 "RAM above 1 MiB (more --memory?)");
		if (boot_blob_read(k->blob, s->offset, dst, s->filesz))
			return fail(why, "cannot read an ELF segment");
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}

static int write_page_tables(const struct guestmem *gm)
{
	uint64_t *pml4 = guestmem_ptr(gm, MACHINE_PML4_ADDR, 4096);
	uint64_t *pdpt = guestmem_ptr(gm, MACHINE_PDPT_ADDR, 4096);
	uint64_t *pd = guestmem_ptr(gm, MACHINE_PD_ADDR, 4 * 4096);
	unsigned int i;

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	/* Identity map 0..4 GiB with 2 MiB pages: present | writable | PS. */
	pml4[0] = MACHINE_PDPT_ADDR | 0x3;
	for (i = 0; i < 4; i++)
		pdpt[i] = (MACHINE_PD_ADDR + i * 4096ull) | 0x3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;
	return 0;
}

static int write_gdt(const struct guestmem *gm, struct boot_x86_entry *e)
{
	static const uint64_t gdt[] = {
		0,
		0,
		0x00af9b000000ffffull, /* BOOT_CS: 64-bit code */
		0x00cf93000000ffffull, /* BOOT_DS: flat data */
		0x00008b0000000067ull, /* BOOT_TSS: busy 64-bit TSS at 0 */
		0,
	};

	e->gdt_base = MACHINE_GDT_ADDR;
	e->gdt_limit = sizeof(gdt) - 1;
	return guestmem_write(gm, MACHINE_GDT_ADDR, gdt, sizeof(gdt));
}

int boot_x86_load(const struct guestmem *gm, const struct boot_kernel *k,
		  const struct boot_x86_config *cfg,
		  struct boot_x86_entry *entry, const char **why)
{
	const struct guestmem_region *low = &gm->regions[0];
	struct boot_params *bp;
	uint64_t initrd_addr = 0, initrd_size = 0, kend, top;
	size_t cmdline_len = strlen(cfg->cmdline);
	uint8_t *mp;
	int ret;

	if (!gm->nr_regions || low->gpa != 0 ||
	    low->size < MIB(MACHINE_MIN_RAM_MIB))
		return fail(why, "guest memory layout has no low RAM");
	if (cmdline_len > k->cmdline_max || cmdline_len >= MACHINE_CMDLINE_MAX)
		return fail(why, "kernel command line longer than the kernel "
				 "accepts");
	kend = kernel_end(k);
	if (kend > low->size)
		return fail(why, "guest memory too small for the kernel "
				 "(more --memory?)");
	ret = load_kernel(gm, k, why);
	if (ret)
		return ret;

	initrd_size = initrd_total(cfg);
	if (initrd_size) {
		top = MIN(low->size, (uint64_t)k->initrd_addr_max + 1);
		if (initrd_size > top - kend)
			return fail(why, "initrd does not fit in guest memory "
					 "above the kernel (more --memory?)");
		initrd_addr = ALIGN_DOWN(top - initrd_size, 4096);
		if (initrd_addr < kend)
			return fail(why, "initrd does not fit in guest memory "
					 "above the kernel (more --memory?)");
		if (load_initrd(gm, initrd_addr, cfg))
			return fail(why, "cannot load the initrd into guest "
					 "memory");
	}
	if (guestmem_write(gm, MACHINE_CMDLINE_ADDR, cfg->cmdline,
			   cmdline_len + 1))
		return fail(why, "cannot write the command line");

	bp = guestmem_ptr(gm, MACHINE_ZERO_PAGE_ADDR, sizeof(*bp));
	if (!bp)
		return fail(why, "cannot write the zero page");
	boot_x86_zero_page(bp, k, gm, MACHINE_CMDLINE_ADDR, initrd_addr,
			   initrd_size);

	if (write_page_tables(gm) || write_gdt(gm, entry))
		return fail(why, "cannot write boot page tables");

	mp = guestmem_ptr(gm, MACHINE_MPTABLE_ADDR, MACHINE_MPTABLE_MAX);
	if (!mp || mptable_build(mp, MACHINE_MPTABLE_MAX,
				 (uint32_t)MACHINE_MPTABLE_ADDR, cfg->nr_cpus,
				 cfg->irqs, cfg->nr_irqs) < 0)
		return fail(why, "cannot build the MP table");

	if (cfg->acpi) {
		uint8_t *t = guestmem_ptr(gm, MACHINE_ACPI_ADDR,
					  MACHINE_ACPI_MAX);

		if (!t || acpi_build(t, MACHINE_ACPI_MAX, MACHINE_ACPI_ADDR,
				     cfg->nr_cpus, cfg->devs, NULL) < 0)
			return fail(why, "cannot build the ACPI tables");
		bp->acpi_rsdp_addr = MACHINE_ACPI_ADDR; /* the RSDP is first */
	}

	entry->rsi = MACHINE_ZERO_PAGE_ADDR;
	entry->cr3 = MACHINE_PML4_ADDR;
	/* bzImage: startup_64 sits 0x200 into the protected-mode code. */
	entry->rip = k->kind == BOOT_KERNEL_BZIMAGE ? MACHINE_KERNEL_ADDR + 0x200
						    : k->elf_entry;
	log_info("kernel %s, entry %#llx, initrd %llu bytes at %#llx",
		 k->kind == BOOT_KERNEL_BZIMAGE ? "bzImage" : "ELF",
		 (unsigned long long)entry->rip,
		 (unsigned long long)initrd_size,
		 (unsigned long long)initrd_addr);
	return 0;
}
