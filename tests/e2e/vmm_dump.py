"""Read the VMM's state dump (SIGUSR1, README "State dump") and say which
side a stalled guest is waiting on.

verdict(stderr) looks at the last dump in a VMM's stderr and returns
(side, why): side is "device" (the device holds work it should have done:
used entries it never signalled, guest TX it never took, data for the
guest with RX buffers free), "guest" (the device has signalled and the
interrupt reached the guest, which does not take it: the line masked,
the vector held in service or behind the priority, or interrupts off), "bed"
(the interrupt is raised and re-sent but is in no local APIC, or sits
there with nothing holding it back: KVM below us lost it; or a vCPU ran
at one RIP in the last two dumps with interrupts on and the same vector
requested above its priority: KVM below us never injected it), "idle" (the
device has nothing to do and nothing unacknowledged: the guest program
or the host half sends nothing) or "unknown" (no complete dump).

A TX interrupt may wait up to 1 ms for company (README, "Few
interrupts"), so a single dump can catch TX entries not yet signalled;
a stalled VMM is dumped twice, 1.5 s apart (ask()), and the last dump
counts; the one before it only shows a vCPU that did not move.
"""

import re
import signal
import time

# One pattern per kind of dump line the verdict reads.
PATTERNS = {k: re.compile(v) for k, v in {
    "dev": r"^dump: (\S+) irq (\d+) status 0x[0-9a-f]+ interrupt_status "
           r"0x([0-9a-f]+) .*irqs_resent (\d+)$",
    "queue": r"^dump: (\S+) q(\d+) ready 1 broken 0 size \d+ last_avail "
             r"(\d+) used_idx (\d+) signalled_used (\d+)( \(invalid\))?"
             r" .*\| guest: avail_idx (\d+) ",
    "pin": r"^dump: ioapic pin (\d+) vector 0x([0-9a-f]+) mask (\d) ",
    "vcpu": r"^dump: vcpu(\d+) rip (0x[0-9a-f]+) .*\(IF (\d)\) "
            r"mp_state (\d+)",
    "lapic": r"^dump: vcpu(\d+) lapic tpr 0x[0-9a-f]+ ppr 0x([0-9a-f]+) "
             r"isr((?: 0x[0-9a-f]+| none)+) irr((?: 0x[0-9a-f]+| none)+) \|",
    "vsock": r"^dump: vsock active 1 .*pending rx: rst (\d+) ctrl (\d+) "
             r"data (\d+) .*\| tx paused (\d+)",
}.items()}


def ask(proc, times=2, pause=1.5):
    """Have the running VMM `proc` write its state dump `times` times,
    `pause` s apart."""
    for _ in range(times):
        if proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(pause)


def dumps(err):
    """The lines of each complete dump in `err` (a dump starts with its
    exit counts), oldest first."""
    lines = [ln for ln in err.splitlines() if ln.startswith("dump: ")]
    starts = [i for i, ln in enumerate(lines)
              if ln.startswith("dump: exits_") and
              (i == 0 or not lines[i - 1].startswith("dump: exits_"))]
    return [lines[a:b] for a, b in zip(starts, starts[1:] + [len(lines)])]


def vectors(field):
    return {int(v, 16) for v in field.split() if v != "none"}


def parse(lines):
    """Each kind of PATTERNS line in one dump: kind -> [groups]."""
    found = {k: [] for k in PATTERNS}
    for ln in lines:
        for kind, rx in PATTERNS.items():
            m = rx.match(ln)
            if m:
                found[kind].append(m.groups())
    return found


def stuck_vcpu(before, after):
    """Why a vCPU counts as stuck below us in two dumps (parse()d), or
    None: runnable at the same RIP in both, interrupts on, and a vector
    requested above its priority in both. A guest that spins takes its
    interrupts between the dumps and is seldom caught with one pending;
    with the same one pending at the same RIP twice, KVM below us does
    not inject (seen in the nested bed, with the RIP where the guest
    kernel maps nothing)."""
    def state(found):
        vcpus = {int(g[0]): (g[1], g[2] == "1", g[3] == "0")
                 for g in found["vcpu"]}
        return {int(g[0]): vcpus[int(g[0])] + (int(g[1], 16),
                                                vectors(g[2]),
                                                vectors(g[3]))
                for g in found["lapic"] if int(g[0]) in vcpus}
    old, new = state(before), state(after)
    for cpu, (rip, intr, runnable, ppr, isr, irr) in sorted(new.items()):
        if cpu not in old or not (intr and runnable) or old[cpu][0] != rip:
            continue
        ahead = max([ppr >> 4] + [v >> 4 for v in isr])
        pending = [v for v in irr & old[cpu][5] if v >> 4 > ahead]
        if pending:
            return ("vcpu%d runnable at %s in both dumps, interrupts on, "
                    "vector 0x%02x requested above PPR 0x%02x and never "
                    "injected" % (cpu, rip, max(pending), ppr))
    return None


# How the tests print a verdict; tools/bed-retry reruns a test whose
# output says STALL % "bed".
STALL = "the stall is %s-side"


def said(err):
    """verdict(err) as the tests print it."""
    side, why = verdict(err)
    return "%s: %s" % (STALL % side, why)


def verdict(err):
    every = dumps(err)
    found = parse(every[-1] if every else [])
    devs = {g[0]: (int(g[1]), int(g[2], 16), int(g[3]))
            for g in found["dev"]}
    queues = [(g[0], int(g[1]), int(g[2]), int(g[3]), int(g[4]),
               g[5] is None, int(g[6])) for g in found["queue"]]
    pins = {int(g[0]): (int(g[1], 16), int(g[2])) for g in found["pin"]}
    vcpus = {int(g[0]): (g[1], int(g[2])) for g in found["vcpu"]}
    lapics = {int(g[0]): (int(g[1], 16), vectors(g[2]), vectors(g[3]))
              for g in found["lapic"]}
    vsock = tuple(int(x) for x in found["vsock"][-1]) if found["vsock"] \
        else None
    if not devs or not queues:
        return "unknown", "no complete state dump"
    for name, q, last_avail, used, signalled, valid, avail in queues:
        if valid and used != signalled:
            return "device", ("%s q%d: used_idx %d published, only %d "
                              "signalled" % (name, q, used, signalled))
    for name, (line, status, resent) in sorted(devs.items()):
        if not status:
            continue
        if not pins:
            return "unknown", "no IOAPIC state in the dump"
        if line not in pins:
            return "guest", ("%s: interrupt 0x%x unacknowledged and IRQ %d "
                             "never programmed" % (name, status, line))
        vec, mask = pins[line]
        what = "%s: interrupt 0x%x unacknowledged (re-sent %d times)" % (
            name, status, resent)
        if mask:
            return "guest", "%s, and the guest masked IRQ %d" % (what, line)
        for cpu, (ppr, isr, irr) in sorted(lapics.items()):
            if vec in isr:
                return "guest", ("%s: vector 0x%02x in service on vcpu%d, "
                                 "never EOIed" % (what, vec, cpu))
            if vec in irr:
                rip, intr = vcpus.get(cpu, ("?", 1))
                held = [v for v in isr if v >> 4 >= vec >> 4]
                if held or ppr >> 4 >= vec >> 4:
                    return "guest", ("%s: vector 0x%02x pending on vcpu%d "
                                     "behind PPR 0x%02x" % (what, vec, cpu,
                                                            ppr))
                if not intr:
                    return "guest", ("%s: vector 0x%02x pending on vcpu%d, "
                                     "interrupts off at %s" % (what, vec,
                                                               cpu, rip))
                return "bed", ("%s: vector 0x%02x pending on vcpu%d with "
                               "interrupts on and nothing ahead of it, at "
                               "%s, never injected" % (what, vec, cpu, rip))
        if lapics:
            return "bed", ("%s: vector 0x%02x on IRQ %d is in no local APIC "
                           "(lost below the device)" % (what, vec, line))
        return "unknown", "%s; no local APIC state in the dump" % what
    for name, q, last_avail, used, signalled, valid, avail in queues:
        if name == "virtio-vsock" and q == 1 and avail != last_avail:
            paused = vsock[3] if vsock else 0
            if not paused:
                return "device", ("virtio-vsock TX: the guest posted up to "
                                  "%d, the device took %d" % (avail,
                                                              last_avail))
    if vsock and sum(vsock[:3]):
        for name, q, last_avail, used, signalled, valid, avail in queues:
            if name == "virtio-vsock" and q == 0 and avail != last_avail:
                return "device", ("virtio-vsock: replies or data pending "
                                  "for the guest with RX buffers free")
    stuck = len(every) > 1 and stuck_vcpu(parse(every[-2]), found)
    if stuck:
        return "bed", stuck
    return "idle", ("every used entry signalled and acknowledged, no guest "
                    "TX waiting: nobody is sending")
