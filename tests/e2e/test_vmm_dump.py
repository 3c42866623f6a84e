"""vmm_dump.verdict() on state dumps in the VMM's format, one per kind of
stall it tells apart. Prints "N passed, M failed"; exits 1 on a failure."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmm_dump  # noqa: E402


def dump(status=0, resent=0, rx=(100, 90, 90), tx=(50, 50, 50, 50),
         pin="vector 0x21 mask 0", lapic="isr none irr none",
         ppr="0x10", iflag=1, pending_data=0, tx_paused=0,
         rip="0xffffffff811fd995", mp_state=0):
    """A dump of a VMM whose vsock device (IRQ 6) is in the given state:
    rx = (guest avail_idx, last_avail, used_idx), tx = (guest avail_idx,
    last_avail, used_idx, signalled_used)."""
    return "\n".join([
        "vm: state dump (SIGUSR1)",
        "dump: exits_io 100",
        "dump: exits_mmio 2000",
        "dump: ioapic pin 5 vector 0x20 mask 0 edge remote_irr 0 irr 0 "
        "dest 0x0",
        "dump: ioapic pin 6 %s edge remote_irr 0 irr 0 dest 0x0" % pin,
        "dump: virtio-vsock irq 6 status 0xf interrupt_status 0x%x "
        "features 0x130000002 config_irqs 0 irqs_resent %d" % (status,
                                                              resent),
        "dump: virtio-vsock q0 ready 1 broken 0 size 256 last_avail %d "
        "used_idx %d signalled_used %d notifies 1 irqs 9 suppressed 0 | "
        "guest: avail_idx %d avail_flags 0x0 used_event %d | used_idx %d "
        "used_flags 0x0 avail_event 0" % (rx[1], rx[2], rx[2], rx[0],
                                          rx[2], rx[2]),
        "dump: virtio-vsock q1 ready 1 broken 0 size 256 last_avail %d "
        "used_idx %d signalled_used %d notifies 9 irqs 9 suppressed 0 | "
        "guest: avail_idx %d avail_flags 0x0 used_event %d | used_idx %d "
        "used_flags 0x0 avail_event %d" % (tx[1], tx[2], tx[3], tx[0],
                                           tx[3], tx[2], tx[1]),
        "dump: vsock active 1 gen 1 reset_pending 0 conns 1 rx_pool "
        "popped 4 lent 0 | tx chains held 0 | pending rx: rst 0 ctrl 0 "
        "data %d credit 0 held 0 | tx paused %d | transport resets 0 "
        "event pending 0" % (pending_data, tx_paused),
        "dump: vcpu0 rip %s rsp 0xffffffff81803eb0 rflags 0x%x (IF %d) "
        "mp_state %d" % (rip, 0x246 if iflag else 0x46, iflag, mp_state),
        "dump: vcpu0 lapic tpr 0x10 ppr %s %s | injecting 0 nr 0x00 "
        "shadow 0 nmi_pending 0" % (ppr, lapic),
    ]) + "\n"


STUCK = "0xffffffffc043d20c"  # where the guest kernel maps nothing

CASES = [
    ("idle", dump(), "idle"),
    ("used entries never signalled", dump(tx=(50, 50, 50, 47)), "device"),
    ("guest TX never taken", dump(tx=(55, 50, 50, 50)), "device"),
    ("guest TX held back by credit", dump(tx=(55, 50, 50, 50),
                                          tx_paused=1), "idle"),
    ("data for the guest, RX buffers free", dump(pending_data=1),
     "device"),
    ("line masked by the guest", dump(status=1, resent=9,
                                      pin="vector 0x21 mask 1"), "guest"),
    ("vector in service, never EOIed",
     dump(status=1, resent=9, lapic="isr 0x21 irr none", ppr="0x20"),
     "guest"),
    ("vector behind a higher one in service",
     dump(status=1, resent=9, lapic="isr 0x31 irr 0x21", ppr="0x30"),
     "guest"),
    ("pending with interrupts off",
     dump(status=1, resent=9, lapic="isr none irr 0x21", iflag=0),
     "guest"),
    ("pending, nothing in the way, never injected",
     dump(status=1, resent=9, lapic="isr none irr 0x21"), "bed"),
    ("raised and re-sent, in no local APIC",
     dump(status=1, resent=9), "bed"),
    ("no dump at all", "vmm: error: something\n", "unknown"),
    # Two dumps: a vCPU that did not move with an interrupt it never took.
    ("vCPU at one RIP with a vector pending in both dumps",
     dump(lapic="isr none irr 0xec", ppr="0x00", rip=STUCK) * 2, "bed"),
    ("vCPU that moved between the dumps",
     dump(lapic="isr none irr 0xec", rip=STUCK) +
     dump(lapic="isr none irr 0xec"), "idle"),
    ("vCPU at one RIP, nothing pending the second time",
     dump(lapic="isr none irr 0xec", rip=STUCK) + dump(rip=STUCK), "idle"),
    ("vCPU at one RIP, the vector behind its priority",
     dump(lapic="isr none irr 0xec", ppr="0xe0", rip=STUCK) * 2, "idle"),
    ("halted vCPU at one RIP", dump(lapic="isr none irr 0xec",
                                    mp_state=3) * 2, "idle"),
    ("vCPU at one RIP with interrupts off",
     dump(lapic="isr none irr 0xec", iflag=0, rip=STUCK) * 2, "idle"),
    ("one dump of a vCPU with a vector pending",
     dump(lapic="isr none irr 0xec", rip=STUCK), "idle"),
]


def main():
    failed = 0
    for name, text, want in CASES:
        side, why = vmm_dump.verdict(text)
        ok = side == want
        failed += not ok
        print("%s: %s: %s (%s)" % ("ok" if ok else "FAIL", name, side, why))
    # The last of two dumps counts: an earlier stall that cleared is not
    # reported.
    side, _ = vmm_dump.verdict(dump(tx=(50, 50, 50, 47)) + dump())
    failed += side != "idle"
    print("%s: the last dump counts: %s" % ("ok" if side == "idle" else
                                            "FAIL", side))
    print("%d passed, %d failed" % (len(CASES) + 1 - failed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
