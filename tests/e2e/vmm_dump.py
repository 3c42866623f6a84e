"""Read the VMM's state dump (SIGUSR1, README "State dump") and say which
side a stalled guest is waiting on.

verdict(stderr) looks at the last dump in a VMM's stderr and returns
(side, why): side is "device" (the device holds work it should have done:
used entries it never signalled, guest TX it never took, data for the
guest with RX buffers free), "guest" (the device has signalled and the
interrupt reached the guest, which does not take it: the line masked,
the vector held in service or behind the priority, or interrupts off), "bed"
(the interrupt is raised and re-sent but is in no local APIC, or sits
there with nothing holding it back: KVM below us lost it), "idle" (the
device has nothing to do and nothing unacknowledged: the guest program
or the host half sends nothing) or "unknown" (no complete dump).

A TX interrupt may wait up to 1 ms for company (README, "Few
interrupts"), so a single dump can catch TX entries not yet signalled;
a stalled VMM is dumped twice, 1.5 s apart, and the last dump counts.
"""

import re

DEV = re.compile(r"^dump: (\S+) irq (\d+) status 0x[0-9a-f]+ interrupt_status "
                 r"0x([0-9a-f]+) .*irqs_resent (\d+)$")
QUEUE = re.compile(r"^dump: (\S+) q(\d+) ready 1 broken 0 size \d+ last_avail "
                   r"(\d+) used_idx (\d+) signalled_used (\d+)( \(invalid\))?"
                   r" .*\| guest: avail_idx (\d+) ")
PIN = re.compile(r"^dump: ioapic pin (\d+) vector 0x([0-9a-f]+) mask (\d) "
                 r"(\w+) remote_irr (\d) irr (\d)")
VCPU = re.compile(r"^dump: vcpu(\d+) rip (0x[0-9a-f]+) .*\(IF (\d)\) "
                  r"mp_state (\d+)$")
LAPIC = re.compile(r"^dump: vcpu(\d+) lapic tpr 0x([0-9a-f]+) ppr "
                   r"0x([0-9a-f]+) isr((?: 0x[0-9a-f]+| none)+) "
                   r"irr((?: 0x[0-9a-f]+| none)+) \|")
VSOCK = re.compile(r"^dump: vsock active 1 .*pending rx: rst (\d+) ctrl (\d+) "
                   r"data (\d+) .*\| tx paused (\d+)")


def last_dump(err):
    """The lines of the last complete dump in `err` (a dump starts with
    its exit counts), or []."""
    lines = [ln for ln in err.splitlines() if ln.startswith("dump: ")]
    starts = [i for i, ln in enumerate(lines)
              if ln.startswith("dump: exits_") and
              (i == 0 or not lines[i - 1].startswith("dump: exits_"))]
    return lines[starts[-1]:] if starts else []


def vectors(field):
    return {int(v, 16) for v in field.split() if v != "none"}


def verdict(err):
    dump = last_dump(err)
    devs, queues, pins, vcpus, lapics, vsock = {}, [], {}, {}, {}, None
    for ln in dump:
        m = DEV.match(ln)
        if m:
            devs[m.group(1)] = (int(m.group(2)), int(m.group(3), 16),
                                int(m.group(4)))
        m = QUEUE.match(ln)
        if m:
            queues.append((m.group(1), int(m.group(2)), int(m.group(3)),
                           int(m.group(4)), int(m.group(5)),
                           m.group(6) is None, int(m.group(7))))
        m = PIN.match(ln)
        if m:
            pins[int(m.group(1))] = (int(m.group(2), 16), int(m.group(3)))
        m = VCPU.match(ln)
        if m:
            vcpus[int(m.group(1))] = (m.group(2), int(m.group(3)))
        m = LAPIC.match(ln)
        if m:
            lapics[int(m.group(1))] = (int(m.group(3), 16),
                                       vectors(m.group(4)),
                                       vectors(m.group(5)))
        m = VSOCK.match(ln)
        if m:
            vsock = tuple(int(g) for g in m.groups())
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
    return "idle", ("every used entry signalled and acknowledged, no guest "
                    "TX waiting: nobody is sending")
