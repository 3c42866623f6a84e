/* cmdline: see cmdline.h. */
#include "vmm/cmdline.h"

#include <stdio.h>

#include "vmm/vm.h"

/*
 * Work-arounds for kvm_pvm's instruction emulator, which runs guest kernel
 * code but lacks XSAVE/AVX, SMAP, POPCNT, RDRAND/RDSEED, FSGSBASE,
 * INVPCID/PCID, PKU, RDPID, CLFLUSHOPT/CLWB and RDTSCP: the CPUID filter
 * hides them, and the command line tells the kernel again (kvm_pvm has
 * been seen to ignore KVM_SET_CPUID2). INT3 in long mode and FWAIT fail
 * there too, so the boot INT3 self-test and the FWAIT at task exit are
 * skipped: skip_int3_selftest and fpu_nofwait are parameters added by
 * guest/patches, unknown to (and ignored by) other kernels.
 */
static const char pvm_cmdline[] =
	"noxsave clearcpuid=151,158,306,156,293,288,298,145,515,516,534,"
	"311,312,59,308 rcupdate.rcu_cpu_stall_suppress=1 "
	"skip_int3_selftest fpu_nofwait";

static const char default_cmdline[] = "console=ttyS0 reboot=k panic=-1";
/* --exec: the console goes to stderr, where only what matters should
 * show (a panic still does); fewer bytes through the UART boot faster. */
static const char exec_cmdline[] = " quiet";

/*
 * The user's text comes last because it may end in "-- init args".
 * Without the device entries the guest cannot find its devices, so they
 * follow a replaced command line too.
 */
char *cmdline_build(const struct vm_config *cfg, bool pvm, machine_devset devs)
{
	char devices[512] = "";
	char *s;
	int n;

	/* With ACPI the DSDT names them: listing them here too would have a
	 * kernel that reads both probe each twice. */
	if (!cfg->acpi &&
	    machine_virtio_cmdline(devs, devices, sizeof(devices)) < 0)
		return NULL;
	if (cfg->cmdline_replace)
		n = asprintf(&s, "%s%s", cfg->cmdline_replace, devices);
	else
		n = asprintf(&s, "%s%s%s%s%s%s%s", default_cmdline,
			     pvm ? " " : "", pvm ? pvm_cmdline : "",
			     cfg->exec.argv ? exec_cmdline : "", devices,
			     cfg->cmdline_append ? " " : "",
			     cfg->cmdline_append ? cfg->cmdline_append : "");
	return n < 0 ? NULL : s;
}
