/* The bundled guest initramfs, linked into the binary at build time. */
#ifndef VMM_INITRAMFS_H
#define VMM_INITRAMFS_H

#include <stdint.h>

extern const uint8_t vmm_initramfs_start[];
extern const uint8_t vmm_initramfs_end[];

#endif
