"""One boot of the guest's vsock steps against their host half.

guest/vsock_test.c (vmm.test=vsock) is the guest half; VsockHost here is
the host half: the listeners, the actions the guest asks for and the
killable peer. boot() starts the VMM with both, waits for it and returns
a Boot: the exit status, the console, the guest's probe line and its
verdict on each step, what the host half saw, and the VMM's --stats.
It judges nothing: tests/e2e/e2e.py (guest-vsock, unprivileged,
stock-guest) turns a Boot into checks, tools/vsock-conformance into one
column of its table.
"""
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import vmm_dump
import vsock_protocol as proto

IO_TIMEOUT = 300  # per socket operation: nothing here may hang


def missing_tools():
    """What the host half needs and does not find, or None."""
    if not shutil.which("socat"):
        return "socat is not installed (tools/setup installs it)"
    return None


class PipeStream:
    """A subprocess's stdin/stdout as the socket calls xfer_send uses."""

    def __init__(self, proc):
        self.proc = proc

    def sendall(self, data):
        self.proc.stdin.write(data)

    def shutdown(self, how):
        self.proc.stdin.close()

    def recv(self, n):
        return self.proc.stdout.read(n)


# The killable host peer of VT_PORT_KILL: it accepts one connection on the
# listening socket it inherits (fd argv[1]), reads argv[2] bytes, says so
# and waits to be killed.
KILLER = r"""
import socket, sys, time
s = socket.socket(fileno=int(sys.argv[1]))
c, _ = s.accept()
got = 0
while got < int(sys.argv[2]):
    d = c.recv(65536)
    if not d:
        break
    got += len(d)
print("got %d" % got, flush=True)
time.sleep(3600)
"""


class XferHost(proto.Host):
    """A host half whose guest asks for xfers to its listeners (CTL_H2G).
    Failures are kept in self.errors and logged as they come."""

    def __init__(self, d):
        super().__init__(d, IO_TIMEOUT)
        self.commands[proto.CTL_H2G] = self.ctl_h2g

    def failed(self, what, why):
        super().failed(what, why)
        self.log("FAIL %s: %s" % (what, why))

    def h2g(self, port, seed, size, reply):
        with self.hybrid_connect(port) as s:
            return proto.xfer_send(s, seed, size, reply)

    def ctl_h2g(self, port, n, size, seed, reply):
        for i in range(n):
            self.start(self.h2g, port, seed + i, size, reply)
        return proto.CTL_OK


class VsockHost(XferHost):
    """Listeners and actions for one run of vmm.test=vsock."""

    def __init__(self, d):
        super().__init__(d)
        self.served = {}
        self.killed_after = None  # the most a killed peer read
        self.closing = False
        self.killer = None
        self.tcp_port = self.free_port()
        self.commands.update({proto.CTL_HELLO: self.ctl_hello,
                              proto.CTL_SOCAT: self.ctl_socat,
                              proto.CTL_TCP: self.ctl_tcp,
                              proto.CTL_SEQ: self.ctl_seq})
        self.listen_port(proto.VT_PORT_CTL, "control", self.control)
        self.listen_port(proto.VT_PORT_SINK, "sink", proto.xfer_recv)
        self.listen_port(proto.VT_PORT_SEQ, "seqpacket echo", proto.seq_echo,
                         socket.SOCK_SEQPACKET)
        self.listen_unix(os.path.join(d, "rule.sock"), "unix rule",
                         proto.xfer_recv)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("127.0.0.1", 0))
        self.rule_tcp_port = tcp.getsockname()[1]
        self.listen(tcp, "tcp rule", proto.xfer_recv)
        # The killed peer's listener is ours, so it outlives each killer:
        # a step run again (after a transport reset) finds a new one.
        self.kill_sock = socket.socket(socket.AF_UNIX)
        self.kill_sock.bind(self.port_path(proto.VT_PORT_KILL))
        self.kill_sock.listen(4)
        threading.Thread(target=self.kill_peers, daemon=True).start()

    def connection_done(self, name, why):
        super().connection_done(name, why)
        with self.lock:
            self.served[name] = self.served.get(name, 0) + (not why)

    @staticmethod
    def free_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def vmm_args(self):
        return ["--vsock-cid", "3", "--vsock-uds", self.uds,
                "--vsock-port", "%d=unix:%s" % (
                    proto.VT_PORT_RULE_UNIX,
                    os.path.join(self.dir, "rule.sock")),
                "--vsock-port", "%d=tcp:127.0.0.1:%d" % (
                    proto.VT_PORT_RULE_TCP, self.rule_tcp_port),
                "--vsock-listen", "tcp:127.0.0.1:%d=%d" % (
                    self.tcp_port, proto.VT_GPORT_TCP)]

    def kill_peers(self):
        """One killer at a time: each is killed once it has read
        VT_KILL_AFTER bytes (or its connection ended), then the next
        waits."""
        fd = self.kill_sock.fileno()
        while True:
            with self.lock:
                if self.closing:
                    return
                self.killer = subprocess.Popen(
                    [sys.executable, "-c", KILLER, str(fd),
                     str(proto.VT_KILL_AFTER)], pass_fds=(fd,),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    text=True)
                killer = self.killer
            line = killer.stdout.readline()
            killer.kill()
            killer.wait()
            m = re.match(r"got (\d+)", line)
            if not m:
                return  # killed by close()
            with self.lock:
                self.killed_after = max(self.killed_after or 0,
                                        int(m.group(1)))
            self.log("killed the host peer of port %d after %s bytes" % (
                proto.VT_PORT_KILL, m.group(1)))

    def close(self):
        super().close()
        with self.lock:
            self.closing = True
            killer = self.killer
        if killer and killer.poll() is None:
            killer.kill()
            killer.wait()
        self.kill_sock.close()

    # Host-initiated connections.
    def tcp(self, port, seed, size, reply):
        with socket.create_connection(("127.0.0.1", self.tcp_port),
                                      timeout=IO_TIMEOUT) as s:
            return proto.xfer_send(s, seed, size, reply)

    def socat(self, port, seed, size, reply):
        # -t: wait for the guest's answer after our half-close.
        p = subprocess.Popen(["socat", "-t", "120", "-",
                              "UNIX-CONNECT:" + self.uds],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             bufsize=0)
        watchdog = threading.Timer(IO_TIMEOUT, p.kill)
        watchdog.start()
        try:
            p.stdin.write(b"CONNECT %d\n" % port)
            line = b""
            while not line.endswith(b"\n"):
                c = p.stdout.read(1)
                if not c:
                    break
                line += c
            if not re.match(rb"OK \d+\n$", line):
                return "socat: handshake answered %r" % line
            return proto.xfer_send(PipeStream(p), seed, size, reply)
        finally:
            if p.stdin and not p.stdin.closed:
                p.stdin.close()
            rc = p.wait()
            watchdog.cancel()
            if rc != 0:
                self.log("socat exited %d" % rc)

    def seq(self, port):
        with self.hybrid_connect(port, socket.SOCK_SEQPACKET) as s:
            return proto.seq_send(s)

    def refused_handshakes(self):
        """No guest listener, or a bad command: closed, no answer."""
        for what, line in [("CONNECT to a port nobody listens on",
                            b"CONNECT 7999\n"),
                           ("a bad command", b"HELLO 7999\n"),
                           ("a port beyond 32 bits",
                            b"CONNECT 99999999999\n")]:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(60)
                t = time.monotonic()
                s.connect(self.uds)
                s.sendall(line)
                try:
                    got = proto.recv_to_eof(s)
                except OSError as e:  # a reset is a close too
                    got = b""
                    if not isinstance(e, ConnectionResetError):
                        return "%s: %s" % (what, e)
                if got:
                    return "%s: answered %r" % (what, got)
                self.log("hybrid socket: %s closed after %.2f s" % (
                    what, time.monotonic() - t))
        return None

    # Control commands (guest/vsock_test.c host_to_guest and vt_seq).
    def ctl_hello(self):
        why = self.refused_handshakes()
        return "%s %s" % (proto.CTL_DONE_FAIL, why) if why else \
            proto.CTL_DONE_OK

    def ctl_socat(self, port, n, size, seed, reply):
        self.start(self.socat, port, seed, size, reply)
        return proto.CTL_OK

    def ctl_tcp(self, port, n, size, seed, reply):
        self.start(self.tcp, port, seed, size, reply)
        return proto.CTL_OK

    def ctl_seq(self, port):
        self.start(self.seq, port)
        return proto.CTL_OK


# --- one boot ---------------------------------------------------------------

STEP_LINE = re.compile(r"^vmm-test: vsock (\w+) (?:ok (\d+) ms(?:, (\d+) "
                       r"tries)?|FAIL (.*?)|retry (.*?))\r?$", re.M)
PROBE_LINE = re.compile(r"^vmm-test: vsock probe (.*?)\r?$", re.M)
INIT_LINE = re.compile(r"vmm-init: started uptime=([\d.]+)")
STAT_LINE = re.compile(r"^stat: (\S+) (\d+)$", re.M)


class Step:
    """The guest's verdict on one step over its rounds: ok when every
    round passed, ms the longest round (all its attempts), tries the
    attempts of all rounds (more than rounds when a transport reset made
    it start over; retried: the reasons of the attempts it broke), why
    the first failure."""

    def __init__(self, name):
        self.name = name
        self.rounds = 0
        self.ms = None
        self.why = None
        self.tries = 0
        self.retried = []

    @property
    def ok(self):
        return self.rounds > 0 and self.why is None

    def __str__(self):
        if self.ok:
            return "ok %d ms%s" % (self.ms, ", %d tries" % self.tries
                                   if self.tries > self.rounds else "")
        return "FAIL " + (self.why or "?")


class Boot:
    """What one boot gave: returncode, stdout (the console), stderr,
    elapsed (s), timed_out, init_uptime (None: init never ran), probe
    ({key: value} of the guest's probe line, None if none), steps ({name:
    Step}), stats ({name: int} of --stats), and the host half's errors,
    killed_after and served."""

    def __init__(self, cmd, rc, out, err, elapsed, timed_out, host):
        self.cmd = cmd
        self.returncode = rc
        self.stdout = out
        self.stderr = err
        self.elapsed = elapsed
        self.timed_out = timed_out
        self.host_errors = list(host.errors)
        self.killed_after = host.killed_after
        self.served = dict(host.served)
        m = INIT_LINE.search(out)
        self.init_uptime = float(m.group(1)) if m else None
        m = PROBE_LINE.search(out)
        # A value may hold blanks (socket=<strerror>): it runs to the
        # next key.
        self.probe = dict(re.findall(r"(\w+)=(.*?)(?= \w+=|$)",
                                     m.group(1))) if m else None
        self.stats = {k: int(v) for k, v in STAT_LINE.findall(err)}
        self.steps = {}
        for m in STEP_LINE.finditer(out):
            step = self.steps.setdefault(m.group(1), Step(m.group(1)))
            ms, tries, why, retry = m.group(2, 3, 4, 5)
            if retry is not None:
                step.retried.append(retry)
                continue
            step.rounds += 1
            if why is not None:
                step.why = step.why or why
            else:
                step.ms = max(step.ms or 0, int(ms))
                step.tries += int(tries or 1)


def guest_cmdline(tests, steps, size, conns, retries, rounds, min_s=0):
    """The kernel command line of a run of the guest tests `tests`."""
    args = ("quiet vmm.test=%s vmm.code=42 vmm.vsock_size=%d "
            "vmm.vsock_conns=%d" % (tests, size, conns))
    if steps:
        args += " vmm.vsock_steps=" + steps
    if retries:
        args += " vmm.vsock_retries=%d" % retries
    if rounds > 1:
        args += " vmm.vsock_rounds=%d" % rounds
    if min_s:
        args += " vmm.vsock_min_ms=%d" % math.ceil(min_s * 1000)
    return args


def boot(vmm, kernel, vmm_args=(), tests="vsock", steps="", size=1 << 20,
         conns=16, cpus=2, retries=0, rounds=1, min_s=0, timeout=900,
         wrap=(), quiet=False):
    """One boot running the guest tests `tests` (a vmm.test list with
    "vsock" in it; only the comma list `steps` of its steps if given)
    against a VsockHost, `rounds` times over, then more rounds until
    `min_s` seconds have passed since the first step began (at most 64 in
    all); retries: attempts more for a step that a transport reset broke;
    `vmm_args` go to the VMM (e.g. --vsock-fault, --vsock-pcap), `wrap`
    runs it through a command. A boot that overruns `timeout` s is killed
    (timed_out). `quiet`: no log of the host half on stdout."""
    d = tempfile.mkdtemp(prefix="vmm-vsock-")
    host = VsockHost(d)
    host.quiet = quiet
    if wrap:
        # The VMM's socket directory: it binds there and connects to the
        # host half's sockets.
        os.chmod(d, 0o777)
        for f in os.listdir(d):
            os.chmod(os.path.join(d, f), 0o666)
    # A guest kernel emulated on kvm_pvm, on a loaded machine, has taken
    # over the default 2 s to answer a host connection's REQUEST (one of
    # 16 at once closed without OK): the steps test data, not timeouts.
    cmd = [*wrap, vmm, "--kernel", kernel, "--memory", "128", "--cpus",
           str(cpus), "--vsock-timeout-ms", "30000", "--stats", *vmm_args,
           *host.vmm_args(), "--cmdline",
           guest_cmdline(tests, steps, size, conns, retries, rounds,
                         min_s)]
    if not quiet:
        print("running: " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    timed_out = False
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                errors="replace")
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Two state dumps first: what the hang waits on (verdict()).
            vmm_dump.ask(proc)
            proc.kill()
            out, err = proc.communicate()
            timed_out = True
    finally:
        host.close()
        shutil.rmtree(d, ignore_errors=True)
    return Boot(cmd, proc.returncode, out, err, time.monotonic() - t0,
                timed_out, host)
