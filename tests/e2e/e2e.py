#!/usr/bin/env python3
"""End-to-end tests of the vmm binary.

Usage: e2e.py CASE VMM [ARGS...]

Cases:
  cli VMM                 flag and file errors (no KVM needed)
  mini VMM MINI_KERNEL    a tiny long-mode kernel: exit statuses, signals
  dtb VMM                 --dump-dtb output, as dtc reads it
  guest VMM TOP           the bundled guest: marker, CPUs, memory,
                          debug-exit status, virtio-rng (bzImage)
  panic VMM TOP           the bundled guest (vmlinux) driven through stdin:
                          console input, then a panic: exit status 2

Exits 0 on success, 1 on failure, 77 (skip) only when /dev/kvm is unusable.
Guest boots allow minutes: on kvm_pvm hosts the guest kernel is emulated.
"""
import os
import pty
import re
import signal
import subprocess
import sys
import tempfile
import termios
import time

BOOT_TIMEOUT = int(os.environ.get("VMM_E2E_BOOT_TIMEOUT", "900"))
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def need_kvm():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        print("SKIP: /dev/kvm is unusable: %s" % e)
        sys.exit(77)


def run(cmd, timeout=60, input=None, **kw):
    t0 = time.monotonic()
    if input is None:
        kw["stdin"] = subprocess.DEVNULL
    p = subprocess.run(cmd, input=input, capture_output=True, text=True,
                       errors="replace", timeout=timeout, **kw)
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
        p = run([vmm, "--dump-dtb", dtb, "--cpus", "2", "--memory", "5000"])
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
    for cmdline, want, what in [
        ("7 code", 7, "debug-exit value becomes the exit status"),
        ("0 code", 0, "debug-exit 0"),
        ("r reset", 0, "i8042 reset (reboot=k) exits 0"),
        ("t fault", 3, "triple fault exits 3"),
    ]:
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


def bundled_kernel(top, name):
    p = subprocess.run([os.path.join(top, "guest", "build-kernel")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr)
        print("FAIL: guest/build-kernel failed")
        sys.exit(1)
    return os.path.join(p.stdout.strip(), name)


def case_guest(vmm, top):
    need_kvm()
    kernel = bundled_kernel(top, "bzImage")
    p = run([vmm, "--kernel", kernel, "--cpus", "2", "--memory", "128",
             "--vsock-cid", "3", "--cmdline",
             "quiet vmm.test=sysinfo,rng vmm.code=42"], timeout=BOOT_TIMEOUT)
    show(p)
    out = p.stdout
    check(p.returncode == 42, "debug-exit 42 from the guest's init")
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
    check("vmm-test: rng device found" in out,
          "virtio-rng in /sys/bus/virtio/devices")
    m = re.search(r"vmm-test: rng read (\d+) bytes, (\d+) distinct", out)
    check(m is not None and int(m.group(1)) == 65536 and
          int(m.group(2)) > 200, "64 KiB from /dev/hwrng, not all equal")


def case_panic(vmm, top):
    need_kvm()
    kernel = bundled_kernel(top, "vmlinux")
    # Commands piped into the VMM reach init's prompt on the console;
    # "panic" makes init exit, so the kernel panics.
    p = run([vmm, "--kernel", kernel, "--memory", "64", "--cmdline",
             "quiet"], timeout=BOOT_TIMEOUT, input="mem\npanic\n")
    show(p)
    check("vmm-init: started" in p.stdout, "init ran (vmlinux entry)")
    check(re.search(r"vmm> \d+ KiB", p.stdout) is not None,
          "console input reached the guest (mem answered)")
    check("Kernel panic" in p.stdout, "guest kernel panicked")
    check(p.returncode == 2, "panic -> exit status 2 (got %d)" %
          p.returncode)
    check("panic" in p.stderr, "panic reported on stderr")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    case, args = sys.argv[1], sys.argv[2:]
    {"cli": case_cli, "dtb": case_dtb, "mini": case_mini,
     "guest": case_guest,
     "panic": case_panic}[case](*args)
    print("%d passed, %d failed" % (0 if failures else 1,
                                    1 if failures else 0))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
