#!/usr/bin/env python3
"""End-to-end tests of the vmm binary.

Usage: e2e.py CASE VMM [ARGS...]

Cases:
  cli VMM                 flag and file errors (no KVM needed)
  mini VMM MINI_KERNEL    a tiny long-mode kernel: exit statuses, signals
  dtb VMM                 --dump-dtb output, as dtc reads it
  seccomp VMM MINI_KERNEL every VMM thread under its filter (or none with
                          --seccomp off), a forbidden call from either
                          thread kind ends the VMM with 159 and a message
  guest VMM TOP           the bundled guest: marker, CPUs, memory,
                          debug-exit status, virtio-rng (bzImage)
  panic VMM TOP           the bundled guest (vmlinux) driven through stdin:
                          console input, then a panic: exit status 2
  vsock VMM TOP           the bundled guest's vsock steps (vsock_test.c's
                          vmm.test=vsock) against this host half: bulk
                          and concurrent transfers both ways, a guest
                          socket with a 64 KiB buffer sending, SEQPACKET,
                          RST, half-close, a killed host peer, socat on
                          the hybrid socket, a TCP listener, port rules.
                          VMM_E2E_VSOCK_SIZE (bytes, default 1 MiB),
                          VMM_E2E_VSOCK_CONNS (16), VMM_E2E_VSOCK_STEPS
                          (comma list, default all), VMM_E2E_VSOCK_CPUS (2)

  vsock-reset VMM TOP     vmm.test=vsockreset: connections held both ways,
                          a transport reset (SIGUSR2 to the VMM) resets
                          them and the control connection in the guest
                          and closes their host ends; then the guest's
                          listener and new connections work (one boot)

  conformance VMM TOP     tools/vsock-conformance for the bundled kernel:
                          every vsock step plain and under each
                          --vsock-fault mode (five boots); in the nested
                          bed only, skipped elsewhere

  unpriv VMM TOP          vsock steps with the VMM unprivileged: no
                          uid 0, no groups, no capabilities, only its own
                          /dev/kvm node and its socket directory
  stock VMM TOP           Debian's stock kernel (tools/stock-guest) with
                          --acpi on: modules, 2 CPUs, ACPI tables, rng,
                          every vsock step, console input, ACPI poweroff
                          (in the nested bed; skipped on kvm_pvm)

  exec VMM TOP            vmm --exec and --add with the bundled guest:
                          stdout binary-safe and apart from stderr, stdin
                          through, a directory added, exit statuses N,
                          128+N, 125, 126, 127; stdout a pipe, a shared
                          file, a terminal (five boots)
  hostile VMM TOP         guest/hostile.c's vmm.test=hostile: the guest
                          unbinds the vsock device from its kernel, drives
                          it from user space through /dev/mem and attacks
                          it (bad rings, chains, headers, storms), each
                          attack followed by a reset and a working probe;
                          then the kernel gets it back and an AF_VSOCK
                          transfer runs both ways. Checks the exit status,
                          every attack, the rejections in the VMM's log
                          and its memory (--stats)

  soak VMM TOP [CPUS [FORMAT]]
                          guest/soak.c's vmm.test=soak: rounds of bulk
                          transfers both ways, round trips, connects and
                          SEQPACKET, alone and at once, each round within
                          a deadline; a stall asks the VMM for its state
                          dump (SIGUSR1) and fails. VMM_E2E_SOAK_ROUNDS
                          (4), _SIZE (4 MiB), _RTT (200), _CPS (50),
                          _SEQ (50), _DEADLINE (300 s per round)

Exits 0 on success, 1 on failure, 77 (skip) only when /dev/kvm is unusable.
Guest boots allow minutes: on kvm_pvm hosts the guest kernel is emulated.
"""
import os
import pty
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import termios
import threading
import time

import vsock_protocol as proto
import vmm_dump
import vsock_run

BOOT_TIMEOUT = int(os.environ.get("VMM_E2E_BOOT_TIMEOUT", "900"))
failures = []
failures_lock = threading.Lock()


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        with failures_lock:
            failures.append(what)


def need_kvm():
    try:
        if not stat.S_ISCHR(os.stat("/dev/kvm").st_mode):
            raise OSError("not a character device")
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        print("SKIP: /dev/kvm is unusable: %s" % e)
        sys.exit(77)


def text(b):
    if isinstance(b, bytes):
        return b.decode(errors="replace")
    return b or ""


def run(cmd, timeout=60, input=None, **kw):
    """Run cmd to its end; one that overruns timeout is killed, fails the
    case (its output so far shown) and comes back with status -1 and
    timed_out set, so the case's own checks still report."""
    t0 = time.monotonic()
    if input is None:
        kw["stdin"] = subprocess.DEVNULL
    try:
        p = subprocess.run(cmd, input=input, capture_output=True, text=True,
                           errors="replace", timeout=timeout, **kw)
        p.timed_out = False
    except subprocess.TimeoutExpired as e:
        p = subprocess.CompletedProcess(cmd, -1, text(e.stdout),
                                        text(e.stderr))
        p.timed_out = True
        check(False, "%s finished within %d s (killed)" % (
            os.path.basename(cmd[0]), timeout))
    p.elapsed = time.monotonic() - t0
    return p


def show(p):
    print("--- exit %d after %.1f s; stdout tail:" % (p.returncode, p.elapsed))
    print("\n".join(p.stdout.splitlines()[-25:]))
    print("--- stderr:")
    print(p.stderr)


def stop(proc, sig):
    """Send sig; return the exit status, or None if it did not exit."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def case_cli(vmm):
    with tempfile.TemporaryDirectory() as d:
        garbage = os.path.join(d, "garbage")
        with open(garbage, "wb") as f:
            f.write(os.urandom(8192))
        empty = os.path.join(d, "empty")
        open(empty, "wb").close()
        bad = [
            (["--kernel", garbage, "--cpus", "0"], "--cpus"),
            (["--kernel", garbage, "--cpus", "65"], "--cpus"),
            (["--kernel", garbage, "--memory", "abc"], "--memory"),
            (["--kernel", garbage, "--memory", "16"], "--memory"),
            (["--kernel", garbage, "--memory", "-5"], "--memory"),
            (["--kernel", garbage, "--vsock-cid", "2"], "--vsock-cid"),
            (["--kernel", garbage, "--vsock-cid", "4294967295"],
             "--vsock-cid"),
            (["--kernel", garbage, "--cpu-compat", "fast"], "--cpu-compat"),
            (["--kernel", garbage, "--seccomp", "strict"], "--seccomp"),
            (["--kernel", garbage, "--vsock-cid", "3", "--vsock-fault",
              "tiny-rx,bogus"], "--vsock-fault: unknown mode 'bogus'"),
            (["--kernel", garbage, "--vsock-cid", "3", "--vsock-fault",
              "slow-credit=0"], "--vsock-fault: bad value"),
            (["--kernel", garbage, "--vsock-fault", "tiny-rx"],
             "--vsock-fault needs --vsock-cid"),
            (["--kernel", garbage, "--bogus"], "--bogus"),
            (["--kernel"], "--kernel"),
            (["--memory", "64"], "--kernel"),
            (["--kernel", garbage, "extra"], "extra"),
            (["--kernel", garbage, "--cmdline", "a", "--cmdline-replace",
              "b"], "--cmdline"),
            (["--kernel", os.path.join(d, "missing")], "missing"),
            (["--kernel", d], d),
            (["--kernel", empty], "empty"),
            (["--kernel", garbage], "not a Linux kernel"),
            (["--kernel", "/etc/hostname"], "/etc/hostname"),
            (["--kernel", garbage, "--exec", "echo 'open"],
             "unterminated"),
            (["--kernel", garbage, "--exec", "  "], "--exec"),
            (["--kernel", garbage, "--exec", "x", "--initrd", empty],
             "--initrd"),
            (["--kernel", garbage, "--exec", "x", "--vsock-port",
              "%d=unix:/x" % 0x65786564], "--vsock-port"),
        ]
        for args, needle in bad:
            p = run([vmm] + args)
            check(p.returncode == 1 and needle in p.stderr,
                  "vmm %s -> exit 1 naming %r (got %d: %s)" %
                  (" ".join(args), needle, p.returncode,
                   p.stderr.strip().splitlines()[0] if p.stderr else ""))
    p = run([vmm, "--help"])
    check(p.returncode == 0, "--help exits 0")
    for flag in re.findall(r'"(--[a-z-]+)"', open(os.path.join(
            os.path.dirname(__file__), "..", "..", "vmm", "main.c")).read()):
        check(flag in p.stdout, "--help documents %s" % flag)
    p = run([vmm, "--version"])
    check(p.returncode == 0 and p.stdout.startswith("vmm "), "--version")


def case_dtb(vmm):
    with tempfile.TemporaryDirectory() as d:
        dtb = os.path.join(d, "vm.dtb")
        p = run([vmm, "--dump-dtb", dtb, "--cpus", "2", "--memory", "5000",
                 "--acpi", "off"])
        check(p.returncode == 0 and os.path.getsize(dtb) > 0,
              "--dump-dtb writes a blob (exit %d)" % p.returncode)
        q = run(["dtc", "-I", "dtb", "-O", "dts", dtb])
        check(q.returncode == 0 and q.stderr.strip() == "",
              "dtc reads it cleanly (stderr: %r)" % q.stderr.strip())
        dts = q.stdout
        for needle in ['virtio_mmio@d0000000 {', 'compatible = "virtio,mmio"',
                       "interrupts = <0x05 0x01>", "serial@3f8 {",
                       "cpu@1 {", "memory@0 {",
                       "0x01 0x00 0x00 0x78800000",
                       "virtio_mmio.device=4K@0xd0000000:5"]:
            check(needle in dts, "device tree has %r" % needle)
        p = run([vmm, "--dump-dtb", dtb])
        q = run(["dtc", "-I", "dtb", "-O", "dts", dtb])
        check(p.returncode == 0 and "virtio_mmio@d0000000 {" in q.stdout and
              "virtio_mmio.device=" not in q.stdout,
              "--acpi on (the default): the device, no command line entry")
        p = run([vmm, "--dump-dtb", dtb, "--no-rng"])
        q = run(["dtc", "-I", "dtb", "-O", "dts", dtb])
        check(p.returncode == 0 and "virtio_mmio" not in q.stdout,
              "--no-rng: no virtio-mmio node, no command line entry")
        bad = os.path.join(d, "no", "such", "dir", "x.dtb")
        p = run([vmm, "--dump-dtb", bad])
        check(p.returncode == 1 and bad in p.stderr,
              "--dump-dtb to a bad path fails naming it")


def case_mini(vmm, mini):
    need_kvm()
    cases = [
        ("7 code", 7, "debug-exit value becomes the exit status"),
        ("0 code", 0, "debug-exit 0"),
        ("r reset", 0, "i8042 reset (reboot=k) exits 0"),
        ("t fault", 3, "triple fault exits 3"),
    ]
    if os.environ.get("VMM_IN_BED"):
        # QEMU's TCG emulation of SVM (the bed's L1 CPU) does not turn an
        # L2 triple fault into a shutdown exit: the vCPU hangs in KVM_RUN
        # and a later L2 of the same L1 may receive the shutdown instead.
        # The check runs on every local /dev/kvm.
        print("SKIP: triple fault in the nested bed (QEMU TCG's nested "
              "SVM loses L2 shutdowns)")
        cases = cases[:-1]
    for cmdline, want, what in cases:
        p = run([vmm, "--kernel", mini, "--cmdline-replace", cmdline])
        check(p.returncode == want and cmdline in p.stdout,
              "%s (want %d, got %d)" % (what, want, p.returncode))
        if p.returncode != want:
            show(p)
    p = run([vmm, "--kernel", mini, "--cpus", "8", "--memory", "64",
             "--cmdline-replace", "5 smp"])
    check(p.returncode == 5, "8 vCPUs created, BSP runs (got %d)" %
          p.returncode)
    p = run([vmm, "--kernel", mini, "--memory", "5000",
             "--cmdline-replace", "6 high memory"])
    check(p.returncode == 6, "guest RAM above 4 GiB (got %d)" % p.returncode)
    # A guest that halts forever: SIGTERM and SIGINT stop the VMM cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([vmm, "--kernel", mini, "--cpus", "2",
                                 "--cmdline-replace", "h halt"],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        time.sleep(1.0)
        check(proc.poll() is None, "halted guest keeps running")
        rc = stop(proc, sig)
        check(rc == 128 + sig, "signal %d stops the VM with %s (got %s)" %
              (sig, 128 + sig, rc))
    # A guest flooding a stdout that nobody reads must not keep the VMM
    # from stopping.
    r, w = os.pipe()
    proc = subprocess.Popen([vmm, "--kernel", mini, "--cpus", "2",
                             "--cmdline-replace", "s spam"],
                            stdin=subprocess.DEVNULL, stdout=w,
                            stderr=subprocess.DEVNULL)
    os.close(w)
    time.sleep(2.0)
    rc = stop(proc, signal.SIGTERM)
    os.close(r)
    check(rc == 143, "stops on SIGTERM while stdout is full (got %s)" % rc)
    # On a terminal: raw mode while running, restored after a signal stop;
    # console input reaches the guest (the mini kernel ignores it).
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([vmm, "--kernel", mini, "--cmdline-replace",
                             "h halt"], stdin=slave,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    during = termios.tcgetattr(slave)
    os.write(master, b"typed\n")
    rc = stop(proc, signal.SIGTERM)
    after = termios.tcgetattr(slave)
    os.close(master)
    os.close(slave)
    check(not (during[3] & termios.ICANON) and not (during[3] & termios.ECHO)
          and (during[3] & termios.ISIG), "tty in raw mode (signals kept)")
    check(rc == 143 and after == before,
          "tty restored after SIGTERM (exit %s)" % rc)


SECCOMP_EXIT = 159  # 128 + SIGSYS, README's exit status table


def vmm_threads(pid):
    """{tid: Seccomp mode} of the VMM's own threads: the loop thread
    "vmm" and the vCPU threads "vcpuN" (kernel workers that share the
    thread group, io_uring's and KVM's, make no system calls of their own
    and are left out)."""
    modes = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                fields = dict(line.split(":", 1) for line in f
                              if ":" in line)
        except OSError:
            continue
        if re.fullmatch(r"vmm|vcpu\d+", fields.get("Name", "").strip()):
            modes[int(tid)] = int(fields.get("Seccomp", "-1"))
    return modes


def case_seccomp(vmm, mini):
    need_kvm()
    cpus = 2
    for mode, want in (("on", 2), ("off", 0)):
        with tempfile.TemporaryDirectory() as d:
            uds = os.path.join(d, "v.sock")
            proc = subprocess.Popen(
                [vmm, "--kernel", mini, "--cpus", str(cpus), "--seccomp",
                 mode, "--vsock-cid", "3", "--vsock-uds", uds,
                 "--cmdline-replace", "h halt"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True)
            modes = {}
            # A thread enters its filter right after it starts: wait.
            for _ in range(100):
                modes = vmm_threads(proc.pid)
                if len(modes) == 1 + cpus and all(
                        m == want for m in modes.values()):
                    break
                time.sleep(0.1)
            # A host client on the hybrid socket: the loop accepts it
            # under its filter (no guest driver: it is closed again).
            try:
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.connect(uds)
                c.sendall(b"CONNECT 1234\n")
                c.close()
            except OSError as e:
                check(False, "hybrid socket reachable: %s" % e)
            time.sleep(0.5)
            check(proc.poll() is None, "--seccomp %s: guest runs" % mode)
            check(len(modes) == 1 + cpus and
                  all(m == want for m in modes.values()),
                  "--seccomp %s: every thread (loop and %d vCPUs) has "
                  "Seccomp %d (got %s)" % (mode, cpus, want, modes))
            rc = stop(proc, signal.SIGTERM)
            err = proc.stderr.read()
            check(rc == 143 and not os.path.exists(uds),
                  "--seccomp %s: SIGTERM stops it, socket removed "
                  "(got %s)" % (mode, rc))
            if rc != 143:
                print(err)
    # --stats reads /proc at exit, under the loop's filter.
    p = run([vmm, "--kernel", mini, "--stats", "--cmdline-replace",
             "7 code"])
    check(p.returncode == 7 and "stat:" in p.stderr,
          "--stats under the filters (got %d)" % p.returncode)
    if p.returncode != 7:
        show(p)
    # A forbidden call from each kind (the VMM_SECCOMP_SELFTEST hook).
    for kind in ("vcpu", "loop"):
        env = dict(os.environ, VMM_SECCOMP_SELFTEST=kind)
        p = run([vmm, "--kernel", mini, "--cpus", str(cpus),
                 "--cmdline-replace", "h halt"], env=env, timeout=30)
        want = re.compile(r"^vmm: error: seccomp: thread %s made forbidden "
                          r"system call \d+ \(getppid\)$" % kind, re.M)
        check(p.returncode == SECCOMP_EXIT and want.search(p.stderr),
              "forbidden call from the %s thread -> exit %d and the "
              "message (got %d)" % (kind, SECCOMP_EXIT, p.returncode))
        if p.returncode != SECCOMP_EXIT:
            show(p)
    # --seccomp log lets it through.
    env = dict(os.environ, VMM_SECCOMP_SELFTEST="loop")
    proc = subprocess.Popen([vmm, "--kernel", mini, "--seccomp", "log",
                             "--cmdline-replace", "h halt"], env=env,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    check(proc.poll() is None, "--seccomp log: a forbidden call goes on")
    rc = stop(proc, signal.SIGTERM)
    check(rc == 143, "--seccomp log: SIGTERM stops it (got %s)" % rc)


def bundled_kernel(top, name):
    p = subprocess.run([os.path.join(top, "guest", "build-kernel")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr)
        print("FAIL: guest/build-kernel failed")
        sys.exit(1)
    return os.path.join(p.stdout.strip(), name)


def check_acpi_tables(out):
    """init's vmm.test=acpi line lists our three tables."""
    m = re.search(r"vmm-test: acpi_tables=(.*)", out)
    tables = set(m.group(1).split()) if m else set()
    check({"APIC", "DSDT", "FACP"} <= tables,
          "the guest lists the ACPI tables (%s)" % " ".join(sorted(tables)))


def case_guest(vmm, top):
    need_kvm()
    kernel = bundled_kernel(top, "bzImage")
    p = run([vmm, "--kernel", kernel, "--cpus", "2", "--memory", "128",
             "--vsock-cid", "3", "-v", "--cmdline",
             "quiet vmm.test=sysinfo,acpi,rng vmm.code=42"],
            timeout=BOOT_TIMEOUT)
    show(p)
    out = p.stdout
    check(p.returncode == 42, "debug-exit 42 from the guest's init")
    # --cpu-compat auto: the kvm_pvm work-arounds on kvm_pvm hosts only
    # (local runs there), plain CPUID pass-through on hardware-semantics
    # KVM (the nested bed).
    pvm = os.path.isdir("/sys/module/kvm_pvm")
    want = "CPU model: kvm_pvm compatible" if pvm else "CPU model: host"
    check(want in p.stderr, "cpu-compat auto chose %r" % want)
    check(("skip_int3_selftest" in p.stderr) == pvm,
          "kvm_pvm work-arounds on the command line only on kvm_pvm")
    m = re.search(r"vmm-init: started uptime=([\d.]+)", out)
    check(m is not None, "init marker seen")
    if m:
        print("guest time to init: %s s; wall %.1f s" % (m.group(1),
                                                       p.elapsed))
    m = re.search(r"vmm-test: cpus=(\d+)", out)
    check(m is not None and int(m.group(1)) == 2, "guest sees 2 CPUs")
    m = re.search(r"vmm-test: mem_kib=(\d+)", out)
    kib = int(m.group(1)) if m else 0
    check(100 * 1024 <= kib <= 128 * 1024,
          "guest sees about 128 MiB (MemTotal %d KiB)" % kib)
    # --acpi on, the default: the bundled kernel finds its devices there.
    check_acpi_tables(out)
    check("virtio_mmio.device=" not in p.stderr,
          "no virtio_mmio.device= on the command line (ACPI has them)")
    check("vmm-test: rng device found" in out,
          "virtio-rng in /sys/bus/virtio/devices")
    m = re.search(r"vmm-test: rng read (\d+) bytes, (\d+) distinct", out)
    check(m is not None and int(m.group(1)) == 65536 and
          int(m.group(2)) > 200, "64 KiB from /dev/hwrng, not all equal")


def case_panic(vmm, top):
    need_kvm()
    kernel = bundled_kernel(top, "vmlinux")
    # Commands piped into the VMM reach init's prompt on the console;
    # "panic" makes init exit, so the kernel panics. --acpi off: the
    # bundled kernel also boots from the MP table and the command line.
    p = run([vmm, "--kernel", kernel, "--memory", "64", "--acpi", "off",
             "--cmdline", "quiet"], timeout=BOOT_TIMEOUT,
            input="mem\npanic\n")
    show(p)
    check("vmm-init: started" in p.stdout, "init ran (vmlinux entry)")
    check(re.search(r"vmm> \d+ KiB", p.stdout) is not None,
          "console input reached the guest (mem answered)")
    check("Kernel panic" in p.stdout, "guest kernel panicked")
    check(p.returncode == 2, "panic -> exit status 2 (got %d)" %
          p.returncode)
    check("panic" in p.stderr, "panic reported on stderr")


# --- vsock: the host half of guest/vsock_test.c's vmm.test=vsock ----------
# The protocol (ports, control words, steps, the "xfer" transfer, stream())
# is guest/protocol.h, read by vsock_protocol; the host half and the boot
# are vsock_run's, shared with tools/vsock-conformance.


def kernel_format():
    """tools/lib.sh bundled_kernel_name: vmlinux on kvm_pvm hosts."""
    fmt = os.environ.get("VMM_KERNEL_FORMAT")
    if fmt:
        return fmt
    return "vmlinux" if os.path.isdir("/sys/module/kvm_pvm") else "bzImage"


def case_vsock(vmm, top):
    need_kvm()
    vsock_boot(vmm, bundled_kernel(top, kernel_format()), [], "vsock", 42)


def vsock_boot(vmm, kernel, vmm_args, tests, status, wrap=(), steps=None):
    """One boot running the guest tests `tests` (a vmm.test list with
    "vsock" in it) against vsock_run's host half; checks every vsock step
    (or the comma list `steps`), the host half and the exit status. `wrap`
    runs the VMM through a command (see unpriv_prefix). Returns the
    guest's output, or None."""
    why = vsock_run.missing_tools()
    if why:
        check(False, why)
        return None
    env = os.environ.get
    if steps is None:
        steps = env("VMM_E2E_VSOCK_STEPS", "")
    b = vsock_run.boot(vmm, kernel, vmm_args, tests, steps=steps,
                       size=int(env("VMM_E2E_VSOCK_SIZE", str(1 << 20))),
                       conns=int(env("VMM_E2E_VSOCK_CONNS", "16")),
                       cpus=int(env("VMM_E2E_VSOCK_CPUS", "2")),
                       timeout=BOOT_TIMEOUT, wrap=wrap)
    show(b)
    if b.timed_out:
        check(False, "vmm finished within %d s (killed; %s)" % (
            BOOT_TIMEOUT, vmm_dump.said(b.stderr)))
        return None
    check(b.init_uptime is not None, "init marker seen")
    for name in (steps.split(",") if steps else proto.VT_STEPS):
        step = b.steps.get(name)
        check(step is not None and step.ok, "guest step %s: %s" % (
            name, step or "not run"))
    check("vmm-test: vsock PASS" in b.stdout, "guest reports vsock PASS")
    check(b.returncode == status, "exit status %d (got %d)" %
          (status, b.returncode))
    check(not b.host_errors, "the host half saw no error (%s)" % (
        b.host_errors[:3] or "none"))
    if not steps or "kill" in steps.split(","):
        check(b.killed_after is not None and
              b.killed_after >= proto.VT_KILL_AFTER,
              "host peer killed mid-transfer (after %s bytes)" %
              b.killed_after)
    print("host connections served: %s" % b.served)
    print("elapsed: guest init at %s s, VMM exit after %.1f s wall" % (
        b.init_uptime, b.elapsed))
    return b.stdout


# --- vsock-reset: the host half of vmm.test=vsockreset --------------------


class ResetHost(vsock_run.XferHost):
    """Connections held open both ways until the guest asks for the
    transport reset (CTL_RESET: SIGUSR2 to the VMM), which must close them;
    then the xfers of an ordinary run."""

    def __init__(self, d):
        super().__init__(d)
        self.proc = None  # the VMM, once it runs
        self.reset_at = None  # when the signal went
        self.closed = {}  # held connection -> s after the signal it closed
        self.commands.update({proto.CTL_HOLD: self.ctl_hold,
                              proto.CTL_RESET: self.ctl_reset})
        self.listen_port(proto.VT_PORT_CTL, "control", self.control)
        self.listen_port(proto.VT_PORT_SINK, "sink", proto.xfer_recv)
        self.listen_port(proto.VT_PORT_HOLD, "guest connection",
                         lambda c: self.hold(c, "guest connection", False))

    def hold(self, sock, name, greet):
        """Say or check the hello, then wait for the close: EOF (or a
        reset) and no byte more, after the signal."""
        hello = proto.VT_HOLD_HELLO.encode()
        if greet:
            sock.sendall(hello)
        elif proto.recv_all(sock, len(hello)) != hello:
            return "no hello"
        try:
            rest = proto.recv_to_eof(sock)
        except ConnectionResetError:
            rest = b""
        with self.lock:
            self.closed[name] = (None if self.reset_at is None else
                                 time.monotonic() - self.reset_at)
        self.log("%s closed" % name)
        return "%d bytes before the close" % len(rest) if rest else None

    def ctl_hold(self, port):
        s = self.hybrid_connect(port)
        threading.Thread(target=self.serve, args=(
            s, "host connection",
            lambda c: self.hold(c, "host connection", True)),
            daemon=True).start()
        return proto.CTL_OK

    def ctl_reset(self):
        with self.lock:
            self.reset_at = time.monotonic()
        self.log("transport reset: SIGUSR2 to the VMM")
        self.proc.send_signal(signal.SIGUSR2)
        return None  # the reset closes this connection: no answer

    def connection_done(self, name, why):
        if name == "control" and self.reset_at is not None and \
                why and why.startswith("ConnectionResetError"):
            return  # the control connection the reset ended
        super().connection_done(name, why)


def case_vsock_reset(vmm, top):
    """A transport reset mid-run (one boot): the guest's connections both
    ways and its control connection are reset, host peers see them
    close, the guest's listener takes a new host connection and a new
    guest connection works."""
    need_kvm()
    kernel = bundled_kernel(top, kernel_format())
    d = tempfile.mkdtemp(prefix="vmm-reset-")
    host = ResetHost(d)
    cmd = [vmm, "--kernel", kernel, "--memory", "128", "--vsock-cid", "3",
           "--vsock-uds", host.uds, "--vsock-timeout-ms", "30000", "--stats",
           "--cmdline", "quiet vmm.test=vsockreset vmm.code=42 "
           "vmm.vsock_size=65536"]
    print("running: " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    host.proc = proc
    try:
        out, err = proc.communicate(timeout=BOOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        check(False, "the VMM finished within %d s (killed)" % BOOT_TIMEOUT)
    finally:
        host.close()
        shutil.rmtree(d, ignore_errors=True)
    print("--- exit %d; stdout tail:" % proc.returncode)
    print("\n".join(out.splitlines()[-25:]))
    print("--- stderr:")
    print(err)
    for what in ("control", "guest connection", "host connection"):
        check("vmm-test: vsockreset %s: ECONNRESET" % what in out,
              "the guest's %s was reset" % what)
    check(host.reset_at is not None, "the guest asked for the reset")
    for what in ("guest connection", "host connection"):
        after = host.closed.get(what)
        check(after is not None,
              "the host end of the %s closed after the signal (%s)" % (
                  what, "at %.2f s" % after if after is not None else
                  "never, or before"))
    check("vmm-test: vsockreset ok" in out,
          "after it: the same guest listener and new connections work")
    check(re.search(r"^stat: vsock_transport_resets 1$", err, re.M),
          "the VMM counts one transport reset")
    check(not host.errors, "the host half saw no error (%s)" % (
        host.errors[:3] or "none"))
    check(proc.returncode == 42, "exit status 42 (got %d)" % proc.returncode)


# --- conformance: tools/vsock-conformance for the bundled kernel ----------


def case_conformance(vmm, top):
    """The conformance table of the bundled kernel: every vsock step with
    the plain device and under each --vsock-fault mode, one boot each.
    It runs in the nested bed, where CI runs the kvm suite and a boot
    takes seconds; where the guest kernel is emulated (kvm_pvm) five
    boots would take many minutes and measure the emulator, and on any
    other local /dev/kvm guest-vsock already covers the plain steps, so
    it skips outside the bed (VMM_E2E_CONFORMANCE=1 runs it anyway)."""
    need_kvm()
    if not (os.environ.get("VMM_IN_BED") or
            os.environ.get("VMM_E2E_CONFORMANCE") == "1"):
        print("SKIP: the conformance table runs in the nested bed "
              "(tools/test runs the kvm suite there too); "
              "VMM_E2E_CONFORMANCE=1 runs it here")
        sys.exit(77)
    kernel = bundled_kernel(top, kernel_format())
    env = dict(os.environ,
               VMM_BUILD_DIR=os.path.dirname(os.path.abspath(vmm)),
               VMM_E2E_BOOT_TIMEOUT=str(BOOT_TIMEOUT))
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(top, "tools", "vsock-conformance"),
                        "--kernel", kernel], env=env,
                       stdin=subprocess.DEVNULL)
    print("--- tools/vsock-conformance: exit %d after %.1f s" % (
        p.returncode, time.monotonic() - t0))
    check(p.returncode == 0, "every cell of the conformance table passes "
          "(exit %d)" % p.returncode)


# --- unpriv: the VMM as a user with no privilege but /dev/kvm ------------

UNPRIV_ID = 64123  # a uid and gid with no passwd entry, hence no groups


def unpriv_prefix(tmp):
    """A command prefix that runs its command as UNPRIV_ID with no groups,
    no capabilities, and one grant: a /dev/kvm node of its own, bind-mounted
    in a private mount namespace (the machine's /dev/kvm is not touched)."""
    rdev = os.stat("/dev/kvm").st_rdev
    script = (
        'set -e; mount -t tmpfs -o mode=755 tmpfs "$1"; '
        'mknod "$1/kvm" c %d %d; chown %d:%d "$1/kvm"; chmod 600 "$1/kvm"; '
        'mount --bind "$1/kvm" /dev/kvm; shift; '
        'exec setpriv --reuid %d --regid %d --clear-groups '
        '--inh-caps=-all --bounding-set=-all "$@"' % (
            os.major(rdev), os.minor(rdev), UNPRIV_ID, UNPRIV_ID,
            UNPRIV_ID, UNPRIV_ID))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            script, "sh", tmp]


def case_unpriv(vmm, top):
    """The bundled guest's vsock steps with the VMM unprivileged."""
    need_kvm()
    if os.geteuid() != 0:
        print("SKIP: setting up an unprivileged user needs root")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="vmm-unpriv-")
    os.chmod(tmp, 0o755)
    try:
        wrap = unpriv_prefix(os.path.join(tmp, "dev"))
        os.mkdir(os.path.join(tmp, "dev"))
        p = run(wrap + ["sh", "-c", "id -u; id -G; grep CapEff /proc/self/status;"
                        "test -w /dev/kvm && echo kvm-writable"])
        show(p)
        check(p.stdout.split()[:2] == [str(UNPRIV_ID), str(UNPRIV_ID)],
              "the prefix runs as uid and gid %d with no other group" %
              UNPRIV_ID)
        check("CapEff:\t0000000000000000" in p.stdout,
              "with no capabilities")
        check("kvm-writable" in p.stdout, "with /dev/kvm of its own")
        # The guest kernel, where that user can read it.
        kernel = os.path.join(tmp, "kernel")
        shutil.copy(bundled_kernel(top, kernel_format()), kernel)
        os.chmod(kernel, 0o644)
        vsock_boot(vmm, kernel, [], "vsock", 42, wrap=wrap,
                   steps="hello,g2h,h2g,seq,socat,bye")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- stock: Debian's own kernel, which finds its devices through ACPI ------


def case_stock(vmm, top):
    """tools/stock-guest's kernel and initramfs (modules loaded by init)
    with --acpi on: 2 CPUs, the ACPI tables, virtio-rng, every vsock step,
    console input, and poweroff through ACPI ending the VM with 0."""
    need_kvm()
    if os.path.isdir("/sys/module/kvm_pvm"):
        print("SKIP: a stock kernel cannot boot on kvm_pvm (it lacks the "
              "bundled kernel's patches); this case runs in the nested bed")
        sys.exit(77)
    env = dict(os.environ, VMM_BUILD_DIR=os.path.dirname(os.path.abspath(vmm)))
    d = subprocess.run([os.path.join(top, "tools", "stock-guest")],
                       capture_output=True, text=True, check=True, env=env)
    d = d.stdout.strip().splitlines()[-1]
    kernel = os.path.join(d, "vmlinuz")
    base = ["--acpi", "on", "--initrd", os.path.join(d, "initramfs.cpio")]
    out = vsock_boot(vmm, kernel, base,
                     "sysinfo,acpi,rng,vsock,poweroff", 0) or ""
    check("vmm-init: loaded 7 modules" in out, "init loaded the modules")
    check("vmm-test: cpus=2" in out, "the guest sees 2 CPUs")
    check_acpi_tables(out)
    check("i8042" not in out, "no i8042 probe (hardware-reduced ACPI: "
          "no legacy devices)")
    check("vmm-test: rng PASS" in out, "virtio-rng found and read")
    check("reboot: Power down" in out, "the guest powered off through ACPI")
    # The console takes input: commands on stdin reach init's prompt.
    p = run([vmm, "--kernel", kernel, *base, "--cmdline", "quiet"],
            timeout=BOOT_TIMEOUT, input="cpus\nexit 7\n")
    show(p)
    check(re.search(r"vmm> 1\b", p.stdout) is not None,
          "console input reached the guest (cpus answered)")
    check(p.returncode == 7, "exit 7 typed on the console (got %d)" %
          p.returncode)


# --- exec: vmm --exec and --add ------------------------------------------
# The guest runs the bundled init's test tools (guest/tools.c): e.g.
# "/init out N err TEXT cat ls PATH exit N" in one PROG.

EXEC_NOT_RUN, EXEC_NOT_EXECUTABLE, EXEC_NOT_FOUND = 125, 126, 127


def pattern(n):
    """What "/init out N" writes: byte i is i % 256."""
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def exec_run(vmm, kernel, args, stdin=subprocess.DEVNULL, stdout=None,
             data=None):
    """One --exec boot; stdout and stderr as bytes (stdout None when it
    went elsewhere). A boot that overruns BOOT_TIMEOUT fails the case."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([vmm, "--kernel", kernel] + args, input=data,
                           stdin=None if data is not None else stdin,
                           stdout=stdout or subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=BOOT_TIMEOUT)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        check(False, "vmm %s finished within %d s" % (args, BOOT_TIMEOUT))
        rc, out, err = -1, e.stdout, e.stderr or b""
    print("--- vmm %s: exit %d after %.1f s; stderr:\n%s" % (
        " ".join(args), rc, time.monotonic() - t0,
        err.decode(errors="replace")[-3000:]), flush=True)
    return rc, out, err


def make_add_tree(d):
    """A directory for --add: modes, a subdirectory, a symlink."""
    tree = os.path.join(d, "tree")
    os.mkdir(tree)
    os.mkdir(os.path.join(tree, "s"))
    with open(os.path.join(tree, "a.txt"), "w") as f:
        f.write("alpha\n")
    with open(os.path.join(tree, "s", "run"), "w") as f:
        f.write("#!/bin/sh\n")
    os.symlink("../a.txt", os.path.join(tree, "s", "ln"))
    os.chmod(os.path.join(tree, "a.txt"), 0o640)
    os.chmod(os.path.join(tree, "s", "run"), 0o755)
    os.chmod(os.path.join(tree, "s"), 0o700)
    os.chmod(tree, 0o750)
    return tree


# What "/init ls /d" prints for make_add_tree's directory at /d.
ADD_TREE_LS = (b"/d 40750 0\n/d/a.txt 100640 6\n/d/s 40700 0\n"
               b"/d/s/ln 120777 -> ../a.txt\n/d/s/run 100755 10\n")


def case_exec(vmm, top):
    """vmm --exec and --add: PROG's stdout binary-safe and apart from its
    stderr, stdin passed through, a directory added, exit statuses (N,
    128+N on a signal, 126, 127, 125), stdout a pipe, a file shared with
    stderr, a terminal; stdin data, a closed pipe, /dev/null."""
    need_kvm()
    kernel = bundled_kernel(top, kernel_format())
    with tempfile.TemporaryDirectory() as d:
        # Usage errors come before the guest boots.
        missing = os.path.join(d, "missing")
        rc, _, err = exec_run(vmm, kernel, ["--add", missing,
                                            "--exec", "/init true"])
        check(rc == 1 and ("--add: cannot read '%s': No such file or "
                           "directory" % missing).encode() in err,
              "--add of a missing file: exit 1 naming it")

        # 1. Everything at once: 300 KB of every byte value on stdout,
        # stdin (random bytes) copied after it, a directory listing,
        # quoted words on stderr, exit status 7.
        tree = make_add_tree(d)
        data = os.urandom(100000)
        size = 300000
        rc, out, err = exec_run(vmm, kernel, [
            "--add", tree + ":/d", "--exec",
            "/init out %d err 'to stderr,  \"quoted\"' cat ls /d exit 7"
            % size], data=data)
        check(rc == 7, "PROG's exit status 7 is vmm's (got %d)" % rc)
        want = pattern(size) + data + ADD_TREE_LS
        check(out[:size] == pattern(size),
              "stdout: %d bytes, every byte value, intact" % size)
        check(out[size:size + len(data)] == data,
              "stdin (%d random bytes) reached PROG, back on stdout" %
              len(data))
        check(out[size + len(data):] == ADD_TREE_LS,
              "--add DIR:/d: names, modes, sizes, symlink in the guest "
              "(got %r)" % out[size + len(data):])
        check(out == want, "stdout holds PROG's output only (%d bytes, "
              "want %d)" % (len(out), len(want)))
        check(b'to stderr,  "quoted"\n' in err and b"to stderr" not in out,
              "stderr apart from stdout, words split like a shell's")

        # 2. stdout and stderr one regular file (>f 2>&1), stdin a closed
        # pipe: PROG reads end of file, then dies of SIGKILL.
        path = os.path.join(d, "out")
        r, w = os.pipe()
        os.close(w)
        with open(path, "wb") as f:
            t0 = time.monotonic()
            p = subprocess.run(
                [vmm, "--kernel", kernel, "--exec",
                 "/init cat out 5000 err marker-line kill 9"],
                stdin=r, stdout=f, stderr=f, timeout=BOOT_TIMEOUT)
            print("--- kill boot: exit %d after %.1f s" % (
                p.returncode, time.monotonic() - t0))
        os.close(r)
        got = open(path, "rb").read()
        check(p.returncode == 128 + 9,
              "PROG killed by signal 9 -> exit 137 (got %d)" % p.returncode)
        check(pattern(5000) in got and b"marker-line\n" in got,
              "stdout and stderr both whole in one shared file (%d bytes)"
              % len(got))

        # 3. PROG not found; stdout a terminal, left as it was.
        master, slave = pty.openpty()
        before = termios.tcgetattr(slave)
        rc, _, err = exec_run(vmm, kernel, ["--exec", "/no/such/prog x"],
                              stdout=slave)
        after = termios.tcgetattr(slave)
        os.close(master)
        os.close(slave)
        check(rc == EXEC_NOT_FOUND and
              b"/no/such/prog: No such file or directory" in err,
              "PROG not found -> 127 and a message (got %d)" % rc)
        check(before == after, "the terminal's mode is untouched")

        # 4. PROG found but not executable.
        noexec = os.path.join(d, "noexec")
        with open(noexec, "w") as f:
            f.write("data\n")
        os.chmod(noexec, 0o644)
        rc, out, err = exec_run(vmm, kernel, ["--add", noexec,
                                              "--exec", "/noexec"])
        check(rc == EXEC_NOT_EXECUTABLE and b"Permission denied" in err,
              "PROG not executable -> 126 (got %d)" % rc)

        # 5. The guest fails before PROG runs (no init can start: the
        # kernel panics) -> 125.
        rc, out, err = exec_run(vmm, kernel, [
            "--cmdline", "rdinit=/nonexistent init=/nonexistent",
            "--exec", "/init true"])
        check(rc == EXEC_NOT_RUN and b"before it ran PROG" in err and
              out == b"", "guest panic before PROG ran -> 125, nothing "
              "on stdout (got %d)" % rc)


# --- hostile: the host half of guest/hostile.c's vmm.test=hostile --------

# The VMM's peak memory beyond guest RAM: about 3 MiB in a normal build
# after every attack (the storms included); 64 MiB would mean the guest
# made it grow.
HOSTILE_RSS_LIMIT_KIB = 64 * 1024


def sink(sock):
    proto.recv_to_eof(sock)


def stall(sock):
    """Read nothing for a while (the guest resets the device with its
    data in flight), then to EOF."""
    time.sleep(proto.HT_STALL_S)
    proto.recv_to_eof(sock)


def source(sock):
    """Send until the guest's side goes away (a reset closes it)."""
    chunk = b"s" * 65536
    try:
        while True:
            sock.sendall(chunk)
    except OSError:
        return None


class HostileHost(proto.Host):
    """What the guest's hand-driven connections talk to. Its attacks
    reset them at will, so only the final transfer's verdict counts."""

    def __init__(self, d):
        super().__init__(d, vsock_run.IO_TIMEOUT)
        self.xfers = []
        self.listen_port(proto.HT_PORT_ECHO, "echo", proto.echo)
        self.listen_port(proto.HT_PORT_SINK, "sink", sink)
        self.listen_port(proto.HT_PORT_STALL, "stall", stall)
        self.listen_port(proto.HT_PORT_SOURCE, "source", source)
        self.listen_port(proto.HT_PORT_XFER, "xfer", proto.xfer_recv)

    def connection_done(self, name, why):
        if name == "xfer":
            with self.lock:
                self.xfers.append(why)


def case_hostile(vmm, top):
    need_kvm()
    kernel = bundled_kernel(top, kernel_format())
    d = tempfile.mkdtemp(prefix="vmm-hostile-")
    host = HostileHost(d)
    cmd = [vmm, "--kernel", kernel, "--memory", "128", "--cpus", "2",
           "--vsock-cid", "3", "--vsock-uds", host.uds, "--stats",
           "--cmdline", "quiet vmm.test=hostile vmm.code=42"]
    print("running: " + " ".join(cmd), flush=True)
    try:
        p = run(cmd, timeout=BOOT_TIMEOUT)
    finally:
        host.close()
        shutil.rmtree(d, ignore_errors=True)
    show(p)
    out, err = p.stdout, p.stderr
    print("\n".join(line for line in out.splitlines()
                    if "vmm-test: hostile" in line))
    check(not p.timed_out, "the VMM ended within %d s" % BOOT_TIMEOUT)
    check(p.returncode == 42, "exit status 42, the guest's verdict (got %d:"
          " 1 a failed attack, 2 a guest panic, 3 a triple fault, 134 or "
          "139 a VMM crash, 159 seccomp)" % p.returncode)
    check("vmm-test: hostile setup ok" in out,
          "the guest found the device, unbound its driver, mapped it")
    attacks = [v for k, v in proto.read_header().items()
               if k.startswith("HT_ATK_")]
    for name in attacks:
        m = re.search(r"vmm-test: hostile %s (ok status=(0x[0-9a-f]+).*|"
                      r"FAIL.*)" % re.escape(name), out)
        check(m is not None and m.group(1).startswith("ok"),
              "attack %s survived, device works after it: %s" % (
                  name, m.group(1) if m else "not run"))
    check("vmm-test: hostile rebind ok" in out,
          "the kernel's driver took the device back")
    check("vmm-test: hostile xfer ok" in out and host.xfers == [None],
          "the final connection moved %d bytes each way, checked on both "
          "sides (host: %s)" % (proto.HT_XFER_SIZE, host.xfers))
    check("vmm-test: hostile PASS" in out, "guest reports hostile PASS")
    # The rejections, in the VMM's rate-limited log.
    for needle in ("virtio-vsock: device needs reset",
                   "set up with bad size",
                   "vsock: malformed TX chain",
                   "vsock: dropped TX",
                   "vsock: malformed RX buffer"):
        check(needle in err, "the VMM logged %r" % needle)
    logged = len(re.findall(r"^vmm: warning: ", err, re.M))
    check(logged < 2000, "the guest cannot flood the log (%d warnings)" %
          logged)
    for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                "Segmentation fault", "vmm: error:"):
        check(bad not in err, "no %r on stderr" % bad)
    stats = dict(re.findall(r"^stat: (\w+) (\d+)$", err, re.M))
    rss = int(stats.get("vmm_rss_kib", -1))
    check(0 < rss < HOSTILE_RSS_LIMIT_KIB,
          "VMM memory beyond guest RAM stayed bounded: peak %d KiB "
          "(limit %d)" % (rss, HOSTILE_RSS_LIMIT_KIB))
    refused = int(stats.get("vsock_conns_refused", -1))
    check(refused >= proto.HT_STORM,
          "every REQUEST of the storm was refused (%d)" % refused)
    print("stats: " + " ".join("%s=%s" % kv for kv in sorted(stats.items())
                               if kv[0].startswith(("vsock", "vmm_rss",
                                                    "peak"))))


# --- soak: the host half of guest/soak.c's vmm.test=soak -----------------


class SoakHost(proto.Host):
    """AF_UNIX servers at the soak's ports; per-round state from the
    console. Every server checks what it gets."""

    def __init__(self, d):
        super().__init__(d, vsock_run.IO_TIMEOUT)
        self.round = 1
        self.patterns = {}
        for port, name, fn, kind in [
                (proto.SOAK_PORT_G2H, "sink",
                 lambda c: proto.pattern_sink(c, self.pattern),
                 socket.SOCK_STREAM),
                (proto.SOAK_PORT_H2G, "source",
                 lambda c: proto.pattern_source(c, self.pattern),
                 socket.SOCK_STREAM),
                (proto.SOAK_PORT_RTT, "echo", proto.echo,
                 socket.SOCK_STREAM),
                (proto.SOAK_PORT_CPS, "accept", None, socket.SOCK_STREAM),
                (proto.SOAK_PORT_SEQ, "echo", proto.echo,
                 socket.SOCK_SEQPACKET)]:
            self.listen_port(port, name, fn, kind, backlog=256)

    def pattern(self, size):
        with self.lock:
            key = (self.round, size)
            if key not in self.patterns:
                self.patterns = {key: proto.soak_pattern(self.round, size)}
            return self.patterns[key]

    def connection_done(self, name, why):
        if why:
            with self.lock:
                self.errors.append("round %d %s: %s" % (self.round, name,
                                                        why))


def soak_stop_with_dump(proc, why):
    """Ask the VMM for two state dumps a second apart, then stop it."""
    print("soak: %s: asking the VMM for a state dump (SIGUSR1)" % why,
          flush=True)
    vmm_dump.ask(proc)
    if proc.poll() is None:
        stop(proc, signal.SIGTERM)


def case_soak(vmm, top, cpus="1", fmt="bzImage"):
    need_kvm()
    env = os.environ.get
    # Where the guest kernel is emulated (kvm_pvm), a round is a hundred
    # times slower: fewer, smaller rounds there by default.
    slow = os.path.isdir("/sys/module/kvm_pvm")
    rounds = int(env("VMM_E2E_SOAK_ROUNDS", "2" if slow else "4"))
    size = int(env("VMM_E2E_SOAK_SIZE", str((256 << 10) if slow
                                            else (4 << 20))))
    rtt = int(env("VMM_E2E_SOAK_RTT", "20" if slow else "200"))
    cps = int(env("VMM_E2E_SOAK_CPS", "10" if slow else "50"))
    seq = int(env("VMM_E2E_SOAK_SEQ", "10" if slow else "50"))
    deadline = int(env("VMM_E2E_SOAK_DEADLINE", "300"))
    kernel = bundled_kernel(top, fmt)
    d = tempfile.mkdtemp(prefix="vmm-soak-")
    host = SoakHost(d)
    guest_args = ("quiet vmm.test=soak vmm.code=42 vmm.soak_rounds=%d "
                  "vmm.soak_size=%d vmm.soak_rtt=%d vmm.soak_cps=%d "
                  "vmm.soak_seq=%d vmm.soak_deadline=%d" % (
                      rounds, size, rtt, cps, seq, deadline * 2 // 3))
    cmd = [vmm, "--kernel", kernel, "--memory", "256", "--cpus", cpus,
           "--vsock-cid", "3", "--vsock-uds", host.uds, "--stats",
           "--cmdline", guest_args]
    print("running: " + " ".join(cmd), flush=True)
    errfile = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=errfile)
    console = []
    done = [0]
    last = [time.monotonic()]
    t0 = time.monotonic()

    def reader():
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            console.append(line)
            m = re.match(r"vmm-soak: round (\d+) ok (\d+) ms", line)
            if m:
                done[0] = int(m.group(1))
                host.round = done[0] + 1
                last[0] = time.monotonic()
                print(line, flush=True)
                if done[0] == 1:
                    # One state dump mid-run: it must not disturb anything.
                    proc.send_signal(signal.SIGUSR1)
            elif "vmm-soak" in line or "vmm-init" in line:
                print(line, flush=True)
    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    stalled = None
    while proc.poll() is None:
        time.sleep(0.5)
        limit = deadline + (BOOT_TIMEOUT if done[0] == 0 else 0)
        if time.monotonic() - last[0] > limit:
            stalled = "round %d passed no deadline of %d s" % (done[0] + 1,
                                                               limit)
        elif any("STUCK" in line for line in console[-200:]):
            stalled = "the guest reports round %d stuck" % (done[0] + 1)
        if stalled:
            soak_stop_with_dump(proc, stalled)
            break
    proc.wait()
    rt.join(10)
    host.close()
    shutil.rmtree(d, ignore_errors=True)
    errfile.seek(0)
    err = errfile.read().decode(errors="replace")
    elapsed = time.monotonic() - t0
    ok = not stalled and proc.returncode == 42 and not host.errors
    if not ok:
        # /var/tmp: in the nested bed, /tmp is L1's own tmpfs.
        keep = os.path.join(env("VMM_E2E_KEEP_DIR", "/var/tmp"),
                            "vmm-soak-%d.log" % int(time.time()))
        with open(keep, "w") as f:
            f.write("\n".join(console) + "\n--- stderr\n" + err)
        print("--- guest console (last 80 lines; all of it and the VMM's "
              "stderr in %s):" % keep)
        print("\n".join(console[-80:]))
        print("--- VMM stderr:")
        print(err)
        if stalled:
            print("soak: " + vmm_dump.said(err))
    check(not stalled, "no stall (%s)" % (stalled or "every round in time"))
    check(not host.errors, "host servers saw every byte right (%s)" % (
        host.errors[:3] or "ok"))
    check(done[0] == rounds, "%d of %d rounds passed" % (done[0], rounds))
    check(proc.returncode == 42, "debug-exit 42 from the guest (got %s)" %
          proc.returncode)
    dumped = (re.search(r"^dump: virtio-vsock q1 ready 1 .* \| guest: "
                        r"avail_idx", err, re.M) is not None and
              re.search(r"^dump: vsock active 1 ", err, re.M) is not None and
              len(re.findall(r"^dump: vcpu\d+ rip 0x", err, re.M)) ==
              int(cpus))
    check(dumped, "SIGUSR1 dumped the vCPUs, the queues and the device to "
          "stderr")
    if not dumped:
        print("\n".join(line for line in err.splitlines()
                        if line.startswith("dump:")))
    m = re.search(r"^stat: vsock_irqs_resent (\d+)", err, re.M)
    print("soak: interrupts sent again after no acknowledgement: %s" % (
        m.group(1) if m else "?"))
    print("soak: %d rounds of %d bytes each way, %d round trips, %d "
          "connects, %d SEQPACKET messages, %d vCPU(s), %s: %.1f s" % (
              done[0], size, rtt, cps, seq, int(cpus), fmt, elapsed))


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    case, args = sys.argv[1], sys.argv[2:]
    {"cli": case_cli, "dtb": case_dtb, "mini": case_mini,
     "seccomp": case_seccomp,
     "guest": case_guest, "panic": case_panic,
     "vsock": case_vsock, "vsock-reset": case_vsock_reset,
     "soak": case_soak, "stock": case_stock, "exec": case_exec,
     "hostile": case_hostile, "conformance": case_conformance,
     "unpriv": case_unpriv}[case](*args)
    print("%d passed, %d failed" % (0 if failures else 1,
                                    1 if failures else 0))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
