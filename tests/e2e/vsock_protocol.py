"""The host half of the guest's vsock programs: the protocol and its servers.

guest/protocol.h defines what both halves agree on (ports, control words,
step names, sizes, the data pattern); this module reads its "#define NAME
VALUE" lines and offers each as a module attribute of the same name, so no
constant is written twice. Used by tests/e2e/e2e.py (vmm.test=vsock and
vmm.test=soak) and tools/bench-vsock-guest (vmm.test=vsockbench).

Here too, once for all of them: the data pattern, the connection handlers
(each returns None or what went wrong), and Host, the plumbing of a host
half (listeners, actions the guest starts, the control connection).
"""
import os
import random
import re
import select
import socket
import struct
import threading
import time
import zlib

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "guest", "protocol.h")
_DEFINE = re.compile(r"#define\s+(\w+)\s+(.+?)\s*$")
_NUMBER = re.compile(r"\s*(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\s*$")


def _number(text):
    m = _NUMBER.match(text)
    if not m:
        raise ValueError("not a number: %r" % text)
    return int(m.group(1), 0)


def read_header(path=HEADER):
    """{NAME: value} of the header's #define lines, in their order: a
    string literal gives a str, a comma list a list of ints, else an int."""
    defs = {}
    with open(path) as f:
        for line in f:
            m = _DEFINE.match(line)
            if not m:
                continue
            name, text = m.groups()
            try:
                if text.startswith('"'):
                    if not re.fullmatch(r'"[^"\\]*"', text):
                        raise ValueError("not a plain string literal")
                    defs[name] = text[1:-1]
                elif "," in text:
                    defs[name] = [_number(t) for t in text.split(",")]
                else:
                    defs[name] = _number(text)
            except ValueError as e:
                raise ValueError("%s: #define %s: %s" % (path, name, e))
    return defs


_defs = read_header()
globals().update(_defs)
# The steps of vmm.test=vsock, in the order they run.
VT_STEPS = [v for k, v in _defs.items() if k.startswith("VT_STEP_")]

M64 = (1 << 64) - 1
_stream_cache = {}


# --- the data pattern ------------------------------------------------------

def stream_bytes(seed, n):
    """Bytes [0, n) of stream(seed): splitmix64 words, little endian."""
    key = (seed, n)
    if key in _stream_cache:
        return _stream_cache[key]
    words = (n + 7) // 8
    out = bytearray(words * 8)
    pack = struct.Struct("<Q").pack_into
    x = seed & M64
    for k in range(words):
        x = (x + STREAM_GAMMA) & M64
        z = ((x ^ (x >> STREAM_S1)) * STREAM_M1) & M64
        z = ((z ^ (z >> STREAM_S2)) * STREAM_M2) & M64
        pack(out, 8 * k, z ^ (z >> STREAM_S3))
    data = bytes(out[:n])
    if n <= (1 << 20):
        _stream_cache[key] = data
    return data


def soak_pattern(rnd, size):
    """Bytes [0, size) of the soak's transfers in round rnd."""
    block = bytes(((k * SOAK_MULT + rnd) & 0xff) for k in range(SOAK_PERIOD))
    reps = size // SOAK_PERIOD + 1
    return memoryview(block * reps)[:size]


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


# --- socket reads ----------------------------------------------------------

def pad(text, n):
    return text.encode()[:n - 1].ljust(n - 1) + b"\n"


def recv_all(sock, n):
    """Up to n bytes; fewer only at EOF."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def recv_to_eof(sock):
    parts = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def recv_line(sock, limit=256):
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        c = sock.recv(1)
        if not c:
            break
        line += c
    return line


# --- connection handlers: each returns None or what went wrong -------------

def xfer_send(sock, seed, size, reply):
    """Sender half of one transfer (xfer)."""
    data = stream_bytes(seed, size)
    sock.sendall(pad("%s %d %d %d" % (VT_XFER_MAGIC, seed, size, reply),
                     VT_XFER_HDR))
    rnd = random.Random(seed)
    off = 0
    while off < size:
        n = min(size - off, 1 + rnd.randrange(2 << rnd.randrange(16)))
        sock.sendall(data[off:off + n])
        off += n
    sock.shutdown(socket.SHUT_WR)
    st = recv_all(sock, VT_XFER_STATUS)
    if len(st) != VT_XFER_STATUS:
        return "status after half-close: %d bytes, then EOF" % len(st)
    m = re.match(VT_XFER_OK.encode() + rb" (\d+) (\d+)", st)
    if not m:
        return "receiver: %s" % st.decode(errors="replace").strip()
    if int(m.group(1)) != size or int(m.group(2)) != zlib.crc32(data):
        return "receiver got %s bytes crc %08x, sent %d crc %08x" % (
            m.group(1).decode(), int(m.group(2)), size, zlib.crc32(data))
    rest = recv_to_eof(sock)
    want = stream_bytes(seed + 1, reply)
    if rest != want:
        return "reply: %d bytes to EOF (want %d), first difference at %d" % (
            len(rest), reply, first_diff(rest, want))
    return None


def xfer_recv(sock):
    """Receiver half of one transfer (xfer)."""
    hdr = recv_all(sock, VT_XFER_HDR)
    m = re.match(VT_XFER_MAGIC.encode() + rb" (\d+) (\d+) (\d+) *\n$", hdr)
    if not m:
        return "bad header %r" % hdr
    seed, size, reply = (int(g) for g in m.groups())
    data = recv_to_eof(sock)
    want = stream_bytes(seed, size)
    if data != want:
        why = "got %d of %d bytes, first wrong byte %d" % (
            len(data), size, first_diff(data, want))
        sock.sendall(pad(VT_XFER_BAD + " " + why, VT_XFER_STATUS))
        return why
    sock.sendall(pad("%s %d %d" % (VT_XFER_OK, size, zlib.crc32(data)),
                     VT_XFER_STATUS))
    sock.sendall(stream_bytes(seed + 1, reply))
    return None


def seq_echo(sock):
    """Host end of the guest's SEQPACKET connection: check, echo."""
    for i, size in enumerate(VT_SEQ_SIZES):
        data, _, flags, _ = sock.recvmsg(65536 + 64)
        if flags & socket.MSG_TRUNC or data != stream_bytes(VT_SEQ_SEED + i,
                                                            size):
            return "message %d: %d bytes (want %d)%s" % (
                i, len(data), size,
                ", content differs" if len(data) == size else "")
        sock.sendall(data)
    data = sock.recv(65536)
    return None if data == b"" else "%d bytes after the last message" % (
        len(data))


def seq_send(sock):
    """The guest's SEQPACKET listener, from the host: send, check the echo."""
    for i, size in enumerate(VT_SEQ_SIZES):
        msg = stream_bytes(VT_SEQ_SEED + i, size)
        if sock.send(msg) != size:
            return "message %d: short send" % i
        data, _, flags, _ = sock.recvmsg(65536 + 64)
        if flags & socket.MSG_TRUNC or data != msg:
            return "echo of message %d: %d bytes (want %d)" % (
                i, len(data), size)
    return None


def pattern_sink(sock, pattern):
    """Read to EOF, check against pattern(size), answer the verdict."""
    got = bytearray()
    while True:
        b = sock.recv(1 << 20)
        if not b:
            break
        got += b
    want = pattern(len(got))
    if got != want:
        why = "%d bytes, first wrong byte at %d" % (
            len(got), first_diff(got, want))
        sock.sendall(SOAK_BAD.encode() + b" " + why.encode() + b"\n")
        return why
    sock.sendall(SOAK_OK.encode() + b" %d\n" % len(got))
    return None


def pattern_source(sock, pattern):
    """Read a size (8 bytes, little endian), send pattern(size)."""
    size = struct.unpack("<Q", recv_all(sock, 8))[0]
    sock.sendall(pattern(size))
    return None


def echo(sock):
    """Stream or SEQPACKET (a message is one recv, one send)."""
    while True:
        b = sock.recv(65536)
        if not b:
            return None
        sock.sendall(b)


# --- the plumbing of a host half -------------------------------------------

class Host:
    """Listening sockets whose connections are each served in a thread of
    their own, actions the guest starts (in threads, awaited on CTL_WAIT),
    the guest's control connection, and connections to the guest through
    the hybrid socket <dir>/v.sock. Failures go to failed(), which keeps
    them in self.errors unless a subclass says otherwise."""

    quiet = False

    def __init__(self, d, timeout):
        self.dir = d
        self.uds = os.path.join(d, "v.sock")
        self.timeout = timeout  # per socket operation and per action
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.socks = []
        self.acceptors = []
        self.closing = False
        self.pending = []
        self.results = []
        self.errors = []
        # Each control connection starts a generation: actions started
        # under an earlier one (which a transport reset ended, taking
        # their connections along) are not waited for and their verdicts
        # are dropped.
        self.generation = 0
        # Control word -> handler(*int_args) -> the answer line (None:
        # no answer).
        self.commands = {CTL_WAIT: self.wait}

    def log(self, msg):
        if not self.quiet:
            print("host %7.1f s: %s" % (time.monotonic() - self.t0, msg),
                  flush=True)

    def failed(self, what, why):
        with self.lock:
            self.errors.append("%s: %s" % (what, why))

    def connection_done(self, name, why):
        if why:
            self.failed("%s connection" % name, why)

    def port_path(self, port):
        """Where the VMM takes the guest's connections to host `port`."""
        return "%s_%d" % (self.uds, port)

    def listen_port(self, port, name, handler, kind=socket.SOCK_STREAM,
                    backlog=64):
        """Serve the guest's connections to host port `port`."""
        self.listen_unix(self.port_path(port), name, handler, kind, backlog)

    def listen_unix(self, path, name, handler, kind=socket.SOCK_STREAM,
                    backlog=64):
        s = socket.socket(socket.AF_UNIX, kind)
        s.bind(path)
        self.listen(s, name, handler, backlog)

    def listen(self, s, name, handler, backlog=64):
        """Accept on s; handler(conn) in a thread per connection, or, if
        handler is None, close each connection at once. The accepting
        thread polls, so close() can stop it: a thread blocked in
        accept() would keep an AF_VSOCK port bound after close()."""
        s.listen(backlog)
        self.socks.append(s)

        def loop():
            while not self.closing:
                if not select.select([s], [], [], 0.2)[0]:
                    continue
                try:
                    c, _ = s.accept()
                except OSError:
                    return
                if handler is None:
                    c.close()
                    continue
                threading.Thread(target=self.serve, args=(c, name, handler),
                                 daemon=True).start()
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        self.acceptors.append(t)

    def serve(self, c, name, handler):
        c.settimeout(self.timeout)
        try:
            why = handler(c)
        except Exception as e:  # a socket error is a test failure
            why = "%s: %s" % (type(e).__name__, e)
        finally:
            c.close()
        self.connection_done(name, why)

    def start(self, fn, *args):
        """Run fn(*args) (None or what went wrong) until CTL_WAIT."""
        generation = self.generation

        def run():
            try:
                why = fn(*args)
            except Exception as e:
                why = "%s: %s" % (type(e).__name__, e)
            if generation != self.generation:
                self.log("%s%r, from before the control connection was "
                         "opened again: %s" % (fn.__name__, args,
                                               why or "ok"))
                return
            if why:
                self.failed("%s%r" % (fn.__name__, args), why)
            with self.lock:
                self.results.append(why)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.pending.append(t)

    def wait(self):
        """CTL_WAIT: the verdict on every action started since the last."""
        for t in self.pending:
            t.join(self.timeout)
        bad = [w for w in self.results if w] + (
            ["still running"] if any(t.is_alive()
                                     for t in self.pending) else [])
        self.pending, self.results = [], []
        if bad:
            return "%s %d failed: %s" % (CTL_DONE_FAIL, len(bad),
                                         bad[0][:150])
        return CTL_DONE_OK

    def control(self, c):
        """The guest's control connection: one answer line per command
        line, from self.commands; CTL_BYE ends it."""
        with self.lock:
            self.generation += 1
            self.pending, self.results = [], []
        while True:
            line = recv_line(c)
            if not line.endswith(b"\n"):
                return None if not line else "control: %r" % line
            self.log("guest: %s" % line.decode().strip())
            cmd = line.decode().split()
            if cmd[0] == CTL_BYE:
                c.sendall(CTL_DONE_OK.encode() + b"\n")
                return None
            args = [int(a) for a in cmd[1:] if a.isdigit()]
            fn = self.commands.get(cmd[0])
            answer = fn(*args) if fn else "FAIL unknown command"
            if answer is not None:  # None: a command with no answer
                c.sendall(answer.encode() + b"\n")

    def hybrid_connect(self, port, kind=socket.SOCK_STREAM):
        """Connect to the guest's port through the hybrid socket."""
        s = socket.socket(socket.AF_UNIX, kind)
        s.settimeout(self.timeout)
        if kind == socket.SOCK_STREAM:
            s.connect(self.uds)
            s.sendall(b"CONNECT %d\n" % port)
            line = recv_line(s)
        else:
            s.connect(self.uds + "_seqpacket")
            s.send(b"CONNECT %d\n" % port)
            line = s.recv(256)
        if not re.match(rb"OK \d+\n$", line):
            s.close()
            raise OSError("handshake for port %d answered %r" % (port, line))
        return s

    def close(self):
        self.closing = True
        for t in self.acceptors:
            t.join(1)
        for s in self.socks:
            s.close()
