/*
 * main: command line parsing and process setup. The only place that may
 * exit on an error: bad flags and files are reported naming the flag.
 */
#define LOG_TAG "main"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/vsock/vsock.h"
#include "vmm/argv.h"
#include "vmm/exec.h"
#include "vmm/log.h"
#include "vmm/machine.h"
#include "vmm/util.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#ifndef VMM_VERSION
#define VMM_VERSION "unknown"
#endif

#define DEFAULT_MEM_MIB 256
#define MAX_MEM_MIB (1024ull * 1024)

static const char usage_text[] =
	"Usage: vmm --kernel PATH [options]\n"
	"\n"
	"Boot a Linux guest on KVM with a virtio-vsock device.\n"
	"\n"
	"Guest:\n"
	"  --kernel PATH          kernel to boot: bzImage, or ELF vmlinux (required)\n"
	"  --initrd PATH          initramfs (default: the bundled test/agent init)\n"
	"  --cmdline STR          append STR to the default kernel command line\n"
	"  --cmdline-replace STR  use STR as the whole kernel command line\n"
	"  --memory MIB           guest RAM in MiB (default 256, minimum 32)\n"
	"  --cpus N               number of vCPUs, 1..64 (default 1)\n"
	"  --vsock-cid N          guest vsock CID, 3..4294967294 (adds the device)\n"
	"  --no-rng               no virtio-rng entropy device\n"
	"  --acpi on|off          on (default): ACPI tables describe the CPUs\n"
	"                         and devices, virtio-mmio ones only there; off:\n"
	"                         devices on the kernel command line and in the\n"
	"                         MP table (for kernels without CONFIG_ACPI)\n"
	"  --cpu-compat MODE      auto (default): detect a kvm_pvm host; host: pass\n"
	"                         KVM's CPUID through; pvm: hide what kvm_pvm's\n"
	"                         emulator cannot run and add its work-arounds\n"
	"  --seccomp MODE         on (default): each vCPU thread and the event\n"
	"                         loop run under their own system call allowlist;\n"
	"                         a call outside it ends the VMM (status 159);\n"
	"                         log: allow it, the kernel logs it; off\n"
	"Run a command (bundled init; adds vsock CID 3 without --vsock-cid):\n"
	"  --exec 'PROG ARGS'     run PROG in the guest, split like a shell's words\n"
	"                         (quotes, no expansion); its stdin, stdout and\n"
	"                         stderr are vmm's, its exit status vmm's; the\n"
	"                         guest console goes to stderr, kernel quiet\n"
	"  --add HOST[:GUEST]     put a host file or directory (recursively,\n"
	"                         symlinks and modes kept) into the guest at\n"
	"                         GUEST (default /BASENAME of HOST) (repeatable)\n"
	"vsock (need --vsock-cid):\n"
	"  --vsock-uds PATH       hybrid socket: host clients connect to PATH and\n"
	"                         send \"CONNECT <port>\\n\"; guest connections to\n"
	"                         host port P go to PATH_P (SEQPACKET: same, and\n"
	"                         PATH_seqpacket for host clients)\n"
	"  --vsock-port P=unix:PATH|P=tcp:HOST:PORT\n"
	"                         send guest connections to host port P there\n"
	"                         instead (repeatable)\n"
	"  --vsock-listen tcp:ADDR:PORT=GUESTPORT\n"
	"                         accept TCP connections on ADDR:PORT and connect\n"
	"                         each to GUESTPORT in the guest (repeatable)\n"
	"  --vsock-max-conns N    connection limit (default 1024)\n"
	"  --vsock-timeout-ms N   how long an unanswered connect or close may\n"
	"                         wait before it is reset (default 2000)\n"
	"  --vsock-pcap FILE      write every vsock packet, both ways, to FILE\n"
	"                         (pcap, LINKTYPE_VSOCK: tshark reads it)\n"
	"  --vsock-pcap-snaplen N payload bytes kept per packet (default all)\n"
	"  --vsock-fault MODE[,MODE]\n"
	"                         legal but hard device behaviour, for testing\n"
	"                         guest drivers (repeatable): tiny-rx[=BYTES]\n"
	"                         (host data in RX packets of at most BYTES,\n"
	"                         default 64), slow-credit[=MS] (credit updates\n"
	"                         held MS, default 500), late-response[=MS]\n"
	"                         (connections to the host accepted MS late,\n"
	"                         default 1500), transport-reset@SECONDS (a\n"
	"                         transport reset every SECONDS after DRIVER_OK)\n"
	"Diagnostics:\n"
	"  --dump-dtb FILE        write the machine's device tree to FILE and exit\n"
	"  --stats                print start-up time, exit counts and memory use\n"
	"                         on stderr when the VM stops\n"
	"  -v, --verbose          more log output (repeat for debug)\n"
	"  -q, --quiet            only errors\n"
	"  -h, --help             show this help\n"
	"  -V, --version          show the version\n"
	"  (kill -USR1 <pid>      dump every queue's and connection's state to\n"
	"                         stderr and carry on)\n"
	"  (kill -USR2 <pid>      vsock transport reset: drop every connection,\n"
	"                         tell the guest driver, carry on)\n"
	"\n"
	"Exit status: 0 guest reboot/reset; N the byte the guest wrote to the\n"
	"debug-exit port (I/O 0x501); 1 VMM error or bad usage; 2 guest kernel\n"
	"panic; 3 guest crash (triple fault, KVM error); 128+N stopped by\n"
	"signal N (SIGINT, SIGTERM, SIGHUP, SIGQUIT); 159 a VMM thread made a\n"
	"system call outside its seccomp allowlist. With --exec: PROG's exit\n"
	"status (128+N if signal N killed it); 125 the guest stopped or its init\n"
	"failed before PROG ran; 126 PROG cannot be run; 127 PROG not found.\n";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						       noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("vmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(try 'vmm --help')\n", stderr);
	exit(VM_EXIT_ERROR);
}

static uint64_t parse_u64(const char *flag, const char *arg, uint64_t min,
			  uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (!arg[0] || arg[0] == '-' || arg[0] == '+')
		die("%s: '%s' is not a number", flag, arg);
	v = strtoull(arg, &end, 0);
	if (errno || *end)
		die("%s: '%s' is not a number", flag, arg);
	if (v < min || v > max)
		die("%s: %s is out of range (%" PRIu64 "..%" PRIu64 ")", flag,
		    arg, min, max);
	return v;
}

enum {
	OPT_KERNEL = 0x100,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_CMDLINE_REPLACE,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_VSOCK_CID,
	OPT_CPU_COMPAT,
	OPT_SECCOMP,
	OPT_NO_RNG,
	OPT_ACPI,
	OPT_DUMP_DTB,
	OPT_STATS,
	OPT_VSOCK_UDS,
	OPT_VSOCK_PORT,
	OPT_VSOCK_LISTEN,
	OPT_VSOCK_MAX_CONNS,
	OPT_VSOCK_TIMEOUT,
	OPT_VSOCK_PCAP,
	OPT_VSOCK_PCAP_SNAPLEN,
	OPT_VSOCK_FAULT,
	OPT_EXEC,
	OPT_ADD,
};

#define MAX_VSOCK_RULES 64
#define MAX_ADDS 256

struct vsock_args {
	struct vsock_port_rule ports[MAX_VSOCK_RULES];
	struct vsock_listen_rule listens[MAX_VSOCK_RULES];
	const char *first_flag; /* a --vsock-* flag given, for the check */
	const char *adds[MAX_ADDS]; /* --add specs */
};

static void parse_exec(const char *arg, struct exec_config *ec)
{
	char *words;
	const char *why;
	unsigned int argc;
	int ret = argv_split(arg, &words, &ec->argv_len, &argc, &why);

	if (ret == -ENOMEM)
		die("--exec: out of memory");
	if (ret)
		die("--exec '%s': %s", arg, why);
	if (ec->argv_len > EXEC_ARGV_MAX)
		die("--exec: the command is longer than %u bytes",
		    EXEC_ARGV_MAX);
	free((char *)ec->argv); /* an earlier --exec: the last one counts */
	ec->argv = words;
}

/* What --exec needs, after every flag is read. */
static void check_exec(struct vm_config *cfg)
{
	const struct vsock_config *vc = &cfg->vsock;
	unsigned int i;

	if (!cfg->exec.argv)
		return;
	if (cfg->initrd_path)
		die("--exec needs the bundled init: it cannot be combined "
		    "with --initrd");
	for (i = 0; i < vc->nr_ports; i++)
		if (vc->ports[i].port - EXEC_PORT_STDIN < EXEC_NR_STREAMS)
			die("--vsock-port %u: the port is --exec's",
			    vc->ports[i].port);
	if (!cfg->vsock_cid)
		cfg->vsock_cid = 3;
}

static void parse_args(int argc, char **argv, struct vm_config *cfg,
		       struct vsock_args *va)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "cmdline-replace", required_argument, NULL,
		  OPT_CMDLINE_REPLACE },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "vsock-cid", required_argument, NULL, OPT_VSOCK_CID },
		{ "cpu-compat", required_argument, NULL, OPT_CPU_COMPAT },
		{ "seccomp", required_argument, NULL, OPT_SECCOMP },
		{ "no-rng", no_argument, NULL, OPT_NO_RNG },
		{ "acpi", required_argument, NULL, OPT_ACPI },
		{ "dump-dtb", required_argument, NULL, OPT_DUMP_DTB },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "vsock-uds", required_argument, NULL, OPT_VSOCK_UDS },
		{ "vsock-port", required_argument, NULL, OPT_VSOCK_PORT },
		{ "vsock-listen", required_argument, NULL, OPT_VSOCK_LISTEN },
		{ "vsock-max-conns", required_argument, NULL,
		  OPT_VSOCK_MAX_CONNS },
		{ "vsock-timeout-ms", required_argument, NULL,
		  OPT_VSOCK_TIMEOUT },
		{ "vsock-pcap", required_argument, NULL, OPT_VSOCK_PCAP },
		{ "vsock-pcap-snaplen", required_argument, NULL,
		  OPT_VSOCK_PCAP_SNAPLEN },
		{ "vsock-fault", required_argument, NULL, OPT_VSOCK_FAULT },
		{ "exec", required_argument, NULL, OPT_EXEC },
		{ "add", required_argument, NULL, OPT_ADD },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct vsock_config *vc = &cfg->vsock;
	int level = LOG_WARN, c;
	const char *why;
	char reason[160];

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vqhV", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL:
			cfg->kernel_path = optarg;
			break;
		case OPT_INITRD:
			cfg->initrd_path = optarg;
			break;
		case OPT_CMDLINE:
			cfg->cmdline_append = optarg;
			break;
		case OPT_CMDLINE_REPLACE:
			cfg->cmdline_replace = optarg;
			break;
		case OPT_MEMORY:
			cfg->mem_mib = parse_u64("--memory", optarg,
						 MACHINE_MIN_RAM_MIB,
						 MAX_MEM_MIB);
			break;
		case OPT_CPUS:
			cfg->nr_cpus = (unsigned int)parse_u64(
				"--cpus", optarg, 1, MACHINE_MAX_CPUS);
			break;
		case OPT_VSOCK_CID:
			cfg->vsock_cid = parse_u64("--vsock-cid", optarg, 3,
						   0xfffffffeull);
			break;
		case OPT_CPU_COMPAT:
			if (!strcmp(optarg, "auto"))
				cfg->cpu_compat = VM_CPU_COMPAT_AUTO;
			else if (!strcmp(optarg, "host"))
				cfg->cpu_compat = VM_CPU_COMPAT_HOST;
			else if (!strcmp(optarg, "pvm"))
				cfg->cpu_compat = VM_CPU_COMPAT_PVM;
			else
				die("--cpu-compat: '%s' is not one of auto, "
				    "host, pvm", optarg);
			break;
		case OPT_SECCOMP:
			if (!strcmp(optarg, "on"))
				cfg->seccomp = SANDBOX_ON;
			else if (!strcmp(optarg, "off"))
				cfg->seccomp = SANDBOX_OFF;
			else if (!strcmp(optarg, "log"))
				cfg->seccomp = SANDBOX_LOG;
			else
				die("--seccomp: '%s' is not one of on, off, log",
				    optarg);
			break;
		case OPT_NO_RNG:
			cfg->no_rng = true;
			break;
		case OPT_ACPI:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				die("--acpi: '%s' is not one of on, off",
				    optarg);
			cfg->acpi = !strcmp(optarg, "on");
			break;
		case OPT_DUMP_DTB:
			cfg->dump_dtb = optarg;
			break;
		case OPT_STATS:
			cfg->stats = true;
			break;
		case OPT_VSOCK_UDS:
			if (!*optarg)
				die("--vsock-uds: empty path");
			vc->uds_path = optarg;
			va->first_flag = "--vsock-uds";
			break;
		case OPT_VSOCK_PORT:
			if (vc->nr_ports == MAX_VSOCK_RULES)
				die("--vsock-port: more than %d rules",
				    MAX_VSOCK_RULES);
			if (vsock_parse_port_rule(optarg,
						  &va->ports[vc->nr_ports],
						  &why))
				die("--vsock-port '%s': %s", optarg, why);
			vc->nr_ports++;
			va->first_flag = "--vsock-port";
			break;
		case OPT_VSOCK_LISTEN:
			if (vc->nr_listens == MAX_VSOCK_RULES)
				die("--vsock-listen: more than %d listeners",
				    MAX_VSOCK_RULES);
			if (vsock_parse_listen_rule(
				    optarg, &va->listens[vc->nr_listens], &why))
				die("--vsock-listen '%s': %s", optarg, why);
			vc->nr_listens++;
			va->first_flag = "--vsock-listen";
			break;
		case OPT_VSOCK_MAX_CONNS:
			vc->max_conns = (uint32_t)parse_u64(
				"--vsock-max-conns", optarg, 1, 1u << 20);
			va->first_flag = "--vsock-max-conns";
			break;
		case OPT_VSOCK_TIMEOUT:
			vc->timeout_ns = parse_u64("--vsock-timeout-ms", optarg,
						   1, 3600 * 1000ull) *
					 1000000ull;
			va->first_flag = "--vsock-timeout-ms";
			break;
		case OPT_VSOCK_PCAP:
			vc->pcap_path = optarg;
			va->first_flag = "--vsock-pcap";
			break;
		case OPT_VSOCK_PCAP_SNAPLEN:
			vc->pcap_snaplen = (uint32_t)parse_u64(
				"--vsock-pcap-snaplen", optarg, 1, 1u << 16);
			va->first_flag = "--vsock-pcap-snaplen";
			break;
		case OPT_VSOCK_FAULT:
			if (vsock_parse_faults(optarg, &vc->fault, reason,
					       sizeof(reason)))
				die("--vsock-fault: %s", reason);
			va->first_flag = "--vsock-fault";
			break;
		case OPT_EXEC:
			parse_exec(optarg, &cfg->exec);
			break;
		case OPT_ADD:
			if (cfg->exec.nr_adds == MAX_ADDS)
				die("--add: more than %d files", MAX_ADDS);
			va->adds[cfg->exec.nr_adds++] = optarg;
			break;
		case 'v':
			if (level < LOG_DEBUG)
				level++;
			break;
		case 'q':
			level = LOG_ERR;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf("vmm %s\n", VMM_VERSION);
			exit(0);
		case ':':
			die("%s needs a value", argv[optind - 1]);
		default:
			die("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die("unexpected argument '%s'", argv[optind]);
	if (!cfg->kernel_path && !cfg->dump_dtb)
		die("--kernel PATH is required");
	if (cfg->cmdline_append && cfg->cmdline_replace)
		die("--cmdline and --cmdline-replace cannot be combined");
	vc->ports = va->ports;
	vc->listens = va->listens;
	cfg->exec.adds = va->adds;
	check_exec(cfg);
	if (va->first_flag && !cfg->vsock_cid)
		die("%s needs --vsock-cid", va->first_flag);
	log_set_level((enum log_level)level);
}

/*
 * A closed stdin, stdout or stderr would be taken by the first file we
 * open, and what is meant for it (the console, --exec's streams, log
 * lines) would go there: /dev/null takes its place instead.
 */
static void keep_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= STDERR_FILENO; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
			exit(VM_EXIT_ERROR);
}

static void kick_handler(int sig)
{
	(void)sig; /* only interrupts KVM_RUN; see vcpu_kick() */
}

int main(int argc, char **argv)
{
	struct vm_config cfg = {
		.mem_mib = DEFAULT_MEM_MIB,
		.nr_cpus = 1,
		.cpu_compat = VM_CPU_COMPAT_AUTO,
		.seccomp = SANDBOX_ON,
		.acpi = true,
		.start_ns = (int64_t)util_now_ns(),
	};
	struct sigaction sa = { .sa_handler = kick_handler };
	static struct vsock_args vsock_args;
	struct vm *vm = NULL;
	sigset_t set;
	int ret;

	keep_std_fds();
	parse_args(argc, argv, &cfg, &vsock_args);
	if (cfg.dump_dtb)
		return vm_dump_dtb(&cfg) ? VM_EXIT_ERROR : 0;

	/*
	 * Block the loop's signals (read through a signalfd by the event loop)
	 * and the vCPU kick signal in every thread; vCPU threads unblock the
	 * kick signal for themselves. No SA_RESTART: the kick must interrupt.
	 */
	vm_loop_signals(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = vm_create(&vm, &cfg) ? VM_EXIT_ERROR : vm_run(vm);
	vm_destroy(vm);
	free((char *)cfg.exec.argv);
	return ret;
}
