/* virtio_devices: the table and the code that runs every row; see
 * virtio_devices.h. */
#define LOG_TAG "vm" /* its messages are the VM's */
#include "vmm/virtio_devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/rng.h"
#include "devices/vsock/vsock.h"
#include "vmm/log.h"
#include "vmm/util.h"
#include "vmm/vm.h"

/* virtio-rng -------------------------------------------------------------- */

static bool rng_row_wanted(const struct vm_config *cfg)
{
	return !cfg->no_rng;
}

static int rng_row_create(struct vm *vm, void **dev,
			  struct virtio_mmio_config *mc)
{
	struct rng *r = calloc(1, sizeof(*r));

	(void)vm;
	if (!r)
		return -ENOMEM;
	*mc = rng_mmio_config(r);
	*dev = r;
	return 0;
}

static void rng_row_attach(void *dev, struct virtio_mmio *mmio)
{
	struct rng *r = dev;

	r->mmio = mmio;
}

static void rng_row_destroy(void *dev)
{
	free(dev);
}

/* virtio-vsock ------------------------------------------------------------ */

static bool vsock_row_wanted(const struct vm_config *cfg)
{
	return cfg->vsock_cid != 0;
}

static int vsock_row_create(struct vm *vm, void **dev,
			    struct virtio_mmio_config *mc)
{
	struct vsock_config vc = vm->cfg->vsock;
	struct vsock_dev *d;
	int ret;

	vc.guest_cid = vm->cfg->vsock_cid;
	/* --exec's streams: internal port rules before the user's. */
	ret = vm->exec ? exec_vsock_rules(vm->exec, &vc) : 0;
	if (!ret)
		ret = vsock_dev_create(&d, &vc, &vm->loop);
	if (ret) {
		log_err("cannot create the vsock device: %s", strerror(-ret));
		return ret;
	}
	*mc = vsock_dev_mmio_config(d);
	*dev = d;
	return 0;
}

static void vsock_row_attach(void *dev, struct virtio_mmio *mmio)
{
	vsock_dev_attach(dev, mmio);
}

static int vsock_row_start(void *dev)
{
	return vsock_dev_start(dev);
}

static void vsock_row_stop(void *dev)
{
	vsock_dev_stop(dev);
}

static void vsock_row_destroy(void *dev)
{
	vsock_dev_destroy(dev);
}

static void vsock_row_transport_reset(void *dev)
{
	if (vsock_dev_transport_reset(dev))
		log_warn("vsock transport reset: no guest driver yet");
}

static void vsock_row_stats(void *dev, const struct virtio_mmio *mmio,
			    FILE *f)
{
	struct vsock_dev_stats st;

	fprintf(f, "stat: vsock_irqs_resent %llu\n",
		(unsigned long long)mmio->irqs_resent);
	vsock_dev_get_stats(dev, &st);
	fprintf(f,
		"stat: vsock_tx_packets %llu\nstat: vsock_rx_packets %llu\n"
		"stat: vsock_tx_bytes %llu\nstat: vsock_rx_bytes %llu\n"
		"stat: vsock_conns_opened %llu\n"
		"stat: vsock_conns_refused %llu\n"
		"stat: vsock_tx_dropped %llu\n"
		"stat: vsock_pcap_records %llu\n"
		"stat: vsock_pcap_dropped %llu\n"
		"stat: vsock_transport_resets %llu\n"
		"stat: vsock_events_rejected %llu\n",
		(unsigned long long)st.tx_packets,
		(unsigned long long)st.rx_packets,
		(unsigned long long)st.tx_bytes,
		(unsigned long long)st.rx_bytes,
		(unsigned long long)st.conns_opened,
		(unsigned long long)st.conns_refused,
		(unsigned long long)st.tx_dropped,
		(unsigned long long)st.pcap_records,
		(unsigned long long)st.pcap_dropped,
		(unsigned long long)st.transport_resets,
		(unsigned long long)st.events_rejected);
}

/* The table ---------------------------------------------------------------- */

static const struct virtio_devices_ops rows[] = {
	{
		.name = "rng", .id = MACHINE_DEV_VIRTIO_RNG,
		.wanted = rng_row_wanted, .create = rng_row_create,
		.attach = rng_row_attach, .destroy = rng_row_destroy,
	},
	{
		.name = "vsock", .id = MACHINE_DEV_VIRTIO_VSOCK,
		.wanted = vsock_row_wanted, .create = vsock_row_create,
		.attach = vsock_row_attach, .start = vsock_row_start,
		.stop = vsock_row_stop, .destroy = vsock_row_destroy,
		.stats = vsock_row_stats,
		.transport_reset = vsock_row_transport_reset,
	},
};

#define NR_ROWS ARRAY_SIZE(rows)

machine_devset virtio_devices_wanted(const struct vm_config *cfg)
{
	machine_devset set = 0;
	size_t i;

	for (i = 0; i < NR_ROWS; i++)
		if (rows[i].wanted(cfg))
			set |= 1u << rows[i].id;
	return set;
}

int virtio_devices_create(struct vm *vm)
{
	size_t i;
	int ret;

	vm->virtio = calloc(NR_ROWS, sizeof(*vm->virtio));
	if (!vm->virtio)
		return -ENOMEM;
	for (i = 0; i < NR_ROWS; i++) {
		const struct virtio_devices_ops *row = &rows[i];
		struct virtio_devices_slot *slot = &vm->virtio[i];
		struct virtio_mmio_config mc;

		if (!machine_has(vm->devs, row->id))
			continue;
		ret = row->create(vm, &slot->dev, &mc);
		if (!ret)
			ret = vm_virtio_create(vm, &slot->virtio, row->id, &mc);
		if (ret)
			return ret;
		row->attach(slot->dev, slot->virtio.mmio);
	}
	return 0;
}

int virtio_devices_start(struct vm *vm)
{
	size_t i;

	for (i = 0; i < NR_ROWS; i++) {
		const struct virtio_devices_ops *row = &rows[i];
		struct virtio_devices_slot *slot = &vm->virtio[i];

		if (!slot->dev)
			continue;
		if (vm_virtio_start(&slot->virtio) ||
		    (row->start && row->start(slot->dev))) {
			log_err("cannot start the %s device", row->name);
			return -EIO;
		}
	}
	return 0;
}

void virtio_devices_stop(struct vm *vm)
{
	size_t i;

	for (i = 0; vm->virtio && i < NR_ROWS; i++)
		if (rows[i].stop && vm->virtio[i].dev)
			rows[i].stop(vm->virtio[i].dev);
}

void virtio_devices_dump(struct vm *vm, FILE *f)
{
	size_t i;

	for (i = 0; vm->virtio && i < NR_ROWS; i++)
		if (vm->virtio[i].virtio.mmio)
			virtio_mmio_dump(vm->virtio[i].virtio.mmio, f);
}

void virtio_devices_transport_reset(struct vm *vm)
{
	size_t i;

	for (i = 0; vm->virtio && i < NR_ROWS; i++)
		if (rows[i].transport_reset && vm->virtio[i].dev)
			rows[i].transport_reset(vm->virtio[i].dev);
}

void virtio_devices_print_stats(struct vm *vm, FILE *f)
{
	size_t i;

	for (i = 0; vm->virtio && i < NR_ROWS; i++) {
		struct virtio_devices_slot *slot = &vm->virtio[i];

		if (rows[i].stats && slot->virtio.mmio)
			rows[i].stats(slot->dev, slot->virtio.mmio, f);
	}
}

void virtio_devices_destroy(struct vm *vm)
{
	size_t i;

	if (!vm->virtio)
		return;
	for (i = NR_ROWS; i-- > 0;) {
		struct virtio_devices_slot *slot = &vm->virtio[i];

		if (slot->dev)
			rows[i].destroy(slot->dev);
		vm_virtio_destroy(&slot->virtio);
	}
	free(vm->virtio);
	vm->virtio = NULL;
}
