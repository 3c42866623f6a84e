/*
 * aml: a small emitter of ACPI Machine Language (ACPI 6.5, chapter 20),
 * only what the VMM's DSDT needs: scopes, devices, named objects,
 * integers, strings, EISA ids, packages and resource templates (I/O
 * ports, legacy IRQs, fixed 32-bit memory, extended interrupts).
 *
 * Writes into a caller's buffer; running out of room sets `overflow` and
 * writes nothing further, so callers check once at the end. Objects that
 * hold others are opened with a *_begin call that returns a mark, and
 * closed with aml_end(mark), which writes their package length.
 */
#ifndef VMM_AML_H
#define VMM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len, cap;
	bool overflow;
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);

/* A name segment ("COM1"; shorter names are padded with '_'), or a path
 * from the root when it starts with '\' ("\_SB"). */
void aml_name_string(struct aml *a, const char *name);
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* A compressed EISA id ("PNP0501") as an integer. */
void aml_eisa_id(struct aml *a, const char *id);

/* Name(name, <the object that follows>) */
void aml_name(struct aml *a, const char *name);

size_t aml_scope_begin(struct aml *a, const char *path);
size_t aml_device_begin(struct aml *a, const char *name);
/* Package with `count` elements that follow. */
size_t aml_package_begin(struct aml *a, uint8_t count);
/* A resource template (a Buffer); close it with aml_resources_end. */
size_t aml_resources_begin(struct aml *a);
void aml_resources_end(struct aml *a, size_t mark);
void aml_end(struct aml *a, size_t mark);

/* Resource descriptors, inside a resource template. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);
void aml_res_irq_noflags(struct aml *a, unsigned int irq);
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len);
/* Extended interrupt, consumer, edge, active high, exclusive. */
void aml_res_interrupt(struct aml *a, uint32_t gsi);

#endif
