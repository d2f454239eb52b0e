#!/usr/bin/env python3
"""record.py - generate randomized CFI command sequences and record real QEMU 7.2
traces for them with ../shared/tools/qemu-oracle/qemu_oracle.py.

The files written next to this script are conformance data for norcompat's v5
devices: `<board>-<seed>.ops.json` is an op list in the DESIGN.md "Entry points"
format (the one `norcompat replay` reads), `<board>-<seed>.trace.json` is what real
QEMU answered for it.  `fact-<board>-<name>.*` are hand-written op lists that check
facts from spec/pflash-cfi01.md and spec/pflash-cfi02.md; their reads carry "expect"
values taken from the spec, and the trace marks each with "match".

Usage (see README.md for the set-up of QEMU and the qtest accelerator module):
    record.py                        # everything: 4 boards x seeds 1..14, plus facts
    record.py --boards musicpal --seeds 3,5-7
    record.py --no-facts / --facts-only
    record.py --generate-only        # write the .ops.json files, run nothing
    record.py --verify               # re-run every stored op list, compare with traces

Seeds 1..12 contain `migrate` ops (mid-operation and quiescent); seeds >= 13 never
migrate (MIGRATE_FREE_SEEDS_FROM).  Generation is deterministic: random.Random is
seeded from (board, seed) only, so re-running rewrites identical op lists.

Stdlib only.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", "..", ".."))
DEFAULT_ORACLE = os.path.normpath(os.path.join(REPO, "..", "shared", "tools",
                                               "qemu-oracle", "qemu_oracle.py"))
MIGRATE_FREE_SEEDS_FROM = 13
MIN_OPS, MAX_OPS = 150, 400

BOARDS = {
    "virt": {
        "family": "cfi01", "machine": "virt", "base": 0x0, "size": "64M",
        "chip": 64 << 20, "window": 64 << 20, "width": 4, "device_width": 2,
        "sector": 0x40000, "writeblock": 4096, "count_mask": 0xFFFF,
        "device": "cfi.pflash01,name=virt.flash0,num-blocks=256,sector-length=0x40000,"
                  "width=4,device-width=2,id0=0x89,id1=0x18",
    },
    "versatilepb": {
        "family": "cfi01", "machine": "versatilepb", "base": 0x34000000, "size": "64M",
        "chip": 64 << 20, "window": 64 << 20, "width": 4, "device_width": 0,
        "sector": 0x40000, "writeblock": 2048, "count_mask": 0xFFFFFFFF,
        "device": "cfi.pflash01,name=versatile.flash,num-blocks=256,sector-length=0x40000,"
                  "width=4,id0=0x89,id1=0x18",
    },
    "musicpal": {
        "family": "cfi02", "machine": "musicpal", "base": 0xfe000000, "size": "8M",
        "chip": 8 << 20, "window": 32 << 20, "width": 2, "mappings": 4,
        "sector": 0x10000, "u0": 0xAAA, "u1": 0x554, "cfi": 0xAA, "alias_step": 0x1000,
        "device": "cfi.pflash02,name=musicpal.flash,num-blocks=128,sector-length=0x10000,"
                  "width=2,mappings=4,id0=0xBF,id1=0x236D,unlock-addr0=0x5555,"
                  "unlock-addr1=0x2AAA",
    },
    "xilinx-zynq-a9": {
        "family": "cfi02", "machine": "xilinx-zynq-a9", "base": 0xe2000000, "size": "64M",
        "chip": 64 << 20, "window": 64 << 20, "width": 1, "mappings": 1,
        "sector": 0x20000, "u0": 0x555, "u1": 0x2AA, "cfi": 0x55, "alias_step": 0x800,
        "device": "cfi.pflash02,name=zynq.pflash,num-blocks=512,sector-length=0x20000,"
                  "width=1,id0=0x66,id1=0x22,unlock-addr0=0x555,unlock-addr1=0x2AA",
    },
}


# ---------------------------------------------------------------------------
# op constructors

def hx(v):
    return "0x%x" % v


def W(addr, val, width, note=None):
    op = {"op": "write", "addr": hx(addr), "width": width,
          "val": hx(val & ((1 << (8 * width)) - 1))}
    if note:
        op["note"] = note
    return op


def R(addr, width, expect=None, note=None):
    op = {"op": "read", "addr": hx(addr), "width": width}
    if expect is not None:
        op["expect"] = hx(expect)
    if note:
        op["note"] = note
    return op


def STEP(ns=None, note=None):
    op = {"op": "step"}
    if ns is not None:
        op["ns"] = ns
    if note:
        op["note"] = note
    return op


def RESET(note=None):
    op = {"op": "reset"}
    if note:
        op["note"] = note
    return op


def MIGRATE(note=None):
    op = {"op": "migrate"}
    if note:
        op["note"] = note
    return op


def check_ops(board, ops):
    """Every access naturally aligned, width 1/2/4, inside the device window."""
    win = BOARDS[board]["window"]
    for i, op in enumerate(ops):
        if op["op"] in ("read", "write"):
            a, w = int(op["addr"], 16), op["width"]
            assert w in (1, 2, 4), (board, i, op)
            assert a % w == 0, (board, i, op)
            assert 0 <= a and a + w <= win, (board, i, op)
        else:
            assert op["op"] in ("step", "reset", "migrate"), (board, i, op)


# ---------------------------------------------------------------------------
# generator base

class Gen:
    def __init__(self, board, seed, migrate):
        self.b = BOARDS[board]
        self.board = board
        self.rng = random.Random(zlib.crc32(board.encode()) * 1000 + seed)
        self.allow_migrate = migrate
        self.ops = []
        self.n_mig = 0
        self.n_reset = 0
        self.max_mig = self.rng.randint(2, 4) if migrate else 0
        self.max_reset = self.rng.randint(1, 3)
        self.target = self.rng.randint(MIN_OPS + 20, MAX_OPS - 40)

    # --- helpers
    def emit(self, *ops):
        self.ops.extend(ops)

    def chance(self, p):
        return self.rng.random() < p

    def rwidth(self):
        return self.rng.choice((1, 2, 4, 4, 2, 4))

    def align(self, a, w):
        return a - (a % w)

    def interrupt(self, where, p=0.35):
        """A point inside an operation where a migrate or reset may happen."""
        frac = len(self.ops) / float(self.target)
        want_mig = self.n_mig < self.max_mig
        # force migrations to actually happen in migrating sequences
        force = want_mig and frac > (self.n_mig + 1) / (self.max_mig + 1.0)
        if want_mig and (force or self.chance(p)):
            self.n_mig += 1
            self.emit(MIGRATE(note="mid-op: " + where))
            return True
        if self.n_reset < self.max_reset and self.chance(p / 3):
            self.n_reset += 1
            self.emit(RESET(note="mid-op: " + where))
            return True
        return False

    def quiescent(self):
        if self.n_mig < self.max_mig and self.chance(0.25):
            self.n_mig += 1
            self.emit(MIGRATE(note="quiescent"))
        elif self.n_reset < self.max_reset and self.chance(0.2):
            self.n_reset += 1
            self.emit(RESET(note="quiescent"))

    def generate(self):
        segs = self.segments()
        names = [s[0] for s in segs]
        weights = [s[1] for s in segs]
        funcs = dict((s[0], s[2]) for s in segs)
        self.prologue()
        while len(self.ops) < self.target:
            before = len(self.ops)
            name = self.rng.choices(names, weights)[0]
            funcs[name]()
            if len(self.ops) > MAX_OPS - 10:
                del self.ops[before:]
                break
            self.quiescent()
        self.epilogue()
        return self.ops

    def prologue(self):
        pass

    def epilogue(self):
        pass


# ---------------------------------------------------------------------------
# cfi01 (Intel): virt (width 4, device-width 2), versatilepb (width 4, legacy)

class Cfi01Gen(Gen):
    def __init__(self, board, seed, migrate):
        Gen.__init__(self, board, seed, migrate)
        nblk = self.b["chip"] // self.b["sector"]
        self.hot = [0, 1] + self.rng.sample(range(2, nblk), 3) + [nblk - 1]
        self.legacy = self.b["device_width"] == 0

    def addr(self, w=4, anywhere=0.1):
        r = self.rng.random()
        S = self.b["sector"]
        if r < anywhere:
            a = self.rng.randrange(0, self.b["chip"])
        else:
            blk = self.rng.choice(self.hot)
            r = self.rng.random()
            if r < 0.65:
                off = self.rng.randrange(0, 0x3000)
            elif r < 0.85:
                off = self.rng.randrange(0, S)
            else:
                off = S - self.rng.randrange(1, 0x1000)
            a = blk * S + off
        return self.align(a, w)

    def cmd(self, b, addr=None):
        """A command write as a driver issues it: mostly 32-bit to the whole bank."""
        w = self.rng.choice((4, 4, 4, 4, 2, 1))
        if addr is None:
            addr = self.rng.choice((0, 0, self.addr(4), self.addr(4), 0x154, 0xAAA8))
        addr = self.align(addr, w)
        if w == 4 and self.chance(0.6):
            val = b | (b << 16)          # the same command to both x16 lanes
        elif w == 4 and self.chance(0.2):
            val = b | (self.rng.randrange(256) << 8) | (self.rng.randrange(1 << 16) << 16)
        else:
            val = b
        self.emit(W(addr, val, w))

    def data(self, w):
        r = self.rng.random()
        if r < 0.4:
            v = self.rng.randrange(1 << 32)
        elif r < 0.55:
            v = 0
        elif r < 0.65:
            v = 0xFFFFFFFF
        elif r < 0.8:
            v = self.rng.choice((0x12345678, 0xDEADBEEF, 0x0000FFFF, 0xA5A55A5A, 0x00F000F0))
        else:
            v = self.rng.randrange(1 << 16)
        return v & ((1 << (8 * w)) - 1)

    def reads(self, n, near=None, status=False):
        for _ in range(n):
            w = self.rwidth()
            if near is not None and self.chance(0.6):
                a = self.align(near + self.rng.choice((0, 0, 0, 4, 8, 2, 1)), w)
            else:
                a = self.addr(w)
            self.emit(R(a, w))

    def read_array(self):
        self.cmd(self.rng.choice((0xFF, 0xFF, 0xFF, 0x00, 0xF0)))

    def segments(self):
        return [
            ("program", 14, self.seg_program),
            ("erase", 6, self.seg_erase),
            ("buffer", 12, self.seg_buffer),
            ("status", 5, self.seg_status),
            ("clear", 4, self.seg_clear),
            ("id", 6, self.seg_id),
            ("cfi", 6, self.seg_cfi),
            ("lock", 3, self.seg_lock),
            ("ra", 4, self.seg_ra),
            ("garbage", 3, self.seg_garbage),
            ("reads", 8, self.seg_reads),
        ]

    def prologue(self):
        self.reads(self.rng.randint(1, 3))

    def epilogue(self):
        self.emit(W(0, 0xFF, 4, note="final read array"))
        for blk in self.hot[:3]:
            self.emit(R(blk * self.b["sector"], 4))

    # --- segments
    def seg_program(self):
        for _ in range(self.rng.randint(1, 3)):
            w = self.rng.choice((4, 4, 4, 2, 1))
            a = self.addr(w)
            setup = self.rng.choice((0x40, 0x40, 0x10))
            self.cmd(setup, addr=a if self.chance(0.7) else None)
            self.ops[-1]["note"] = "program"
            self.interrupt("program setup (wcycle 1)", p=0.1)
            self.emit(W(a, self.data(w), w))
            self.reads(self.rng.randint(0, 2), near=a)
            self.interrupt("after program (status mode)", p=0.12)
            if self.chance(0.85):
                self.read_array()
                self.emit(R(self.align(a, 4), 4))
                if self.chance(0.3):
                    self.emit(R(a, w))

    def seg_erase(self):
        a = self.addr(4)
        self.cmd(0x20, addr=a)
        self.ops[-1]["note"] = "block erase"
        if self.chance(0.3):
            self.reads(1, near=a)
        self.interrupt("erase setup (wcycle 1)", p=0.1)
        r = self.rng.random()
        if r < 0.7:
            self.cmd(0xD0, addr=a)
        elif r < 0.8:
            self.cmd(0xFF, addr=a)
        else:
            self.cmd(self.rng.choice((0x00, 0x50, 0x70, 0x90, 0x20, 0x01, 0x2F, 0xB0)), addr=a)
        self.reads(self.rng.randint(1, 3), near=a)
        if self.chance(0.2):
            self.cmd(0x50)
            self.cmd(0x70)
            self.reads(1)
        self.read_array()
        self.emit(R(a, 4))
        self.reads(self.rng.randint(0, 2), near=a)

    def seg_buffer(self):
        WB = self.b["writeblock"]
        variant = self.rng.choices(
            ("normal", "count0", "outside", "straddle", "abort", "short", "hibits"),
            (10, 3, 2, 2, 3, 1, 2 if not self.legacy else 0))[0]
        ca = self.addr(4, anywhere=0.05)            # count-cycle address
        win = ca - ca % WB
        dw = self.rng.choice((4, 4, 4, 2, 1))
        n = 1 if variant == "count0" else self.rng.randint(1, 10)
        # data start inside the window (realistic drivers write count and data to the
        # same program region)
        start = self.align(self.rng.choice((ca, ca, win, win + self.rng.randrange(WB))), dw)
        if start + n * dw > win + WB:
            start = self.align(win + WB - n * dw, dw)
        if variant == "outside":
            other = (win + WB * self.rng.choice((1, 2, 5, -1))) % self.b["chip"]
            start = self.align(other + self.rng.randrange(0, WB // 2), dw)
        elif variant == "straddle":
            start = win + WB - dw * self.rng.randint(1, max(1, n - 1))
        self.cmd(0xE8, addr=ca if self.chance(0.7) else None)
        self.ops[-1]["note"] = "write to buffer (%s)" % variant
        if self.chance(0.4):
            self.reads(self.rng.randint(1, 2), near=ca)   # poll SR.7 (XSR)
        self.interrupt("buffer setup (wcycle 1)", p=0.08)
        cnt = n - 1
        cw = self.rng.choice((4, 4, 2))
        cval = cnt
        if variant == "hibits":
            cval = cnt | 0xABCD0000 if cw == 4 else cnt
        elif cw == 4 and not self.legacy and self.chance(0.5):
            cval = cnt | (cnt << 16)
        self.emit(W(self.align(ca, cw), cval, cw))
        writes = n if variant != "short" else max(0, n - self.rng.randint(1, 2))
        mid = self.rng.randrange(0, writes + 1)
        for i in range(writes):
            if i == mid:
                self.interrupt("mid-buffer data (wcycle 2)", p=0.3)
            a = start + i * dw
            if a + dw > self.b["chip"]:
                a = self.align(a % self.b["chip"], dw)
            self.emit(W(a, self.data(dw), dw))
        if writes == mid:
            self.interrupt("buffer before confirm (wcycle 3)", p=0.3)
        if self.chance(0.2):
            self.reads(1, near=ca)
        if variant == "abort":
            self.cmd(self.rng.choice((0xFF, 0x00, 0x70, 0x50, 0xE8, 0x01, 0x2D)))
        else:
            self.cmd(0xD0, addr=ca if self.chance(0.5) else None)
        self.reads(self.rng.randint(1, 2), near=ca)
        self.interrupt("after buffer confirm", p=0.08)
        if variant in ("outside", "straddle") and self.chance(0.6):
            self.cmd(0x50)
        self.read_array()
        for i in range(min(writes, self.rng.randint(1, 3))):
            a = self.align(start + i * dw, 4)
            if a + 4 <= self.b["chip"]:
                self.emit(R(a, 4))

    def seg_status(self):
        self.cmd(0x70)
        self.ops[-1]["note"] = "read status"
        self.reads(self.rng.randint(1, 3))
        self.interrupt("status mode (0x70)", p=0.1)
        if self.chance(0.6):
            self.read_array()

    def seg_clear(self):
        self.cmd(0x50)
        self.ops[-1]["note"] = "clear status"
        self.reads(self.rng.randint(0, 2))
        if self.chance(0.6):
            self.cmd(0x70)
            self.reads(1)
            self.read_array()

    def id_addr(self, w):
        if self.legacy:
            a = self.rng.choice((0, 0, 4, 8, 0x100, 0x104, 0x40, self.addr(4)))
        else:
            a = self.rng.choice((0, 0, 4, 4, 8, 0xC, 0x400, 0x404, 0x3FC, 0x40000, self.addr(4)))
        if w < 4 and self.chance(0.3):
            a += self.rng.choice((0, 2, 1, 3))
        return self.align(a, w)

    def seg_id(self):
        self.cmd(0x90)
        self.ops[-1]["note"] = "read identifier"
        for i in range(self.rng.randint(2, 7)):
            w = self.rwidth()
            self.emit(R(self.id_addr(w), w))
            if i == 1:
                self.interrupt("ID mode (0x90)", p=0.25)
        r = self.rng.random()
        if r < 0.2:
            self.cmd(0x90)      # re-enter, then more reads
            self.reads(1)
        if r < 0.3:
            self.cmd(0x70)
            self.reads(1)
        self.read_array()
        self.reads(self.rng.randint(0, 2))

    def cfi_addr(self, w):
        n = self.rng.choice((self.rng.randrange(0x10, 0x52), self.rng.randrange(0, 0x60),
                             self.rng.randrange(0x10, 0x32)))
        a = 4 * n
        if self.legacy and self.chance(0.2):
            a += 0x100 * self.rng.randint(1, 3)       # legacy answers wrap every 256 bytes
        if w < 4:
            a += self.rng.choice((0, 0, 2, 1, 3))
        return self.align(a, w)

    def seg_cfi(self):
        self.cmd(0x98, addr=self.rng.choice((0x154, 0xAA, 0, 0x55 * 4)))
        self.ops[-1]["note"] = "CFI query"
        k = self.rng.randint(4, 14)
        mig_at = self.rng.randrange(k)
        for i in range(k):
            w = self.rwidth()
            self.emit(R(self.cfi_addr(w), w))
            if i == mig_at:
                self.interrupt("CFI query mode", p=0.3)
            if self.chance(0.12):
                # exit attempts other than 0xFF: ignored in CFI mode
                self.cmd(self.rng.choice((0x00, 0xF0, 0x50, 0x70, 0x90, 0xD0, 0x98)))
        self.cmd(0xFF)
        self.reads(self.rng.randint(0, 2))

    def seg_lock(self):
        a = self.addr(4)
        self.cmd(0x60, addr=a)
        self.ops[-1]["note"] = "lock/unlock"
        self.cmd(self.rng.choice((0x01, 0xD0, 0x01, 0xD0, 0xFF, 0x2F)), addr=a)
        self.reads(self.rng.randint(1, 2), near=a)
        self.read_array()

    def seg_ra(self):
        self.read_array()
        self.reads(self.rng.randint(1, 3))

    def seg_garbage(self):
        for _ in range(self.rng.randint(1, 3)):
            b = self.rng.choice([x for x in range(256)
                                 if x not in (0x10, 0x20, 0x40, 0x60, 0x98, 0xE8)])
            w = self.rng.choice((1, 2, 4))
            self.emit(W(self.addr(w, anywhere=0.5), b | (self.rng.randrange(256) << 8), w,
                        note="garbage"))
            if self.chance(0.5):
                self.reads(1)
        self.read_array()

    def seg_reads(self):
        self.reads(self.rng.randint(2, 8))


# ---------------------------------------------------------------------------
# cfi02 (AMD): musicpal (width 2, 8 MiB x 4 mappings), xilinx-zynq-a9 (width 1)

class Cfi02Gen(Gen):
    def __init__(self, board, seed, migrate):
        Gen.__init__(self, board, seed, migrate)
        self.C = self.b["chip"]
        self.S = self.b["sector"]
        self.nw = self.b["width"]           # native bus width for commands
        self.stride = 2 if self.nw == 2 else 1
        nsec = self.C // self.S
        self.hot = [0, 1] + self.rng.sample(range(2, nsec), 4) + [nsec - 1]
        self.chip_erased = False

    def mirror(self, a, p=0.3):
        if self.b["mappings"] > 1 and self.chance(p):
            a += self.C * self.rng.randrange(1, self.b["mappings"])
        return a

    def caddr(self, base):
        """Command address: exact, 11-bit alias, sector-relative, or a mirror."""
        r = self.rng.random()
        a = base
        if r < 0.15:
            a = base + self.b["alias_step"] * self.rng.randint(1, 15)     # high bits ignored
        elif r < 0.25:
            a = base + self.S * self.rng.choice(self.hot)                # sector base + U0
        return self.mirror(a, p=0.2) % self.b["window"]

    def cmd(self, b, at=None):
        a = self.caddr(at if at is not None else 0)
        w = self.nw
        if at is None and self.chance(0.25):
            w = self.rng.choice((1, 2, 4))
            a = self.align(a, w)
        self.emit(W(a, b, w))

    def unlock(self):
        self.cmd(0xAA, self.b["u0"])
        self.cmd(0x55, self.b["u1"])

    def sector_addr(self, sec=None):
        if sec is None:
            sec = self.rng.choice(self.hot)
        off = self.rng.choice((0, 0, self.rng.randrange(0, 0x100), self.rng.randrange(self.S)))
        return self.mirror(sec * self.S + off)

    def daddr(self, w, sec=None):
        a = self.sector_addr(sec)
        return self.align(a, w)

    def data(self, w):
        r = self.rng.random()
        if r < 0.45:
            v = self.rng.randrange(1 << 32)
        elif r < 0.6:
            v = self.rng.choice((0x1234, 0xFF0F, 0x00F0, 0x55, 0xA5, 0x0055, 0x00A5))
        elif r < 0.7:
            v = 0xF0F0F0F0          # 0xF0 during a pending program is data
        elif r < 0.8:
            v = 0
        else:
            v = self.rng.randrange(1 << 16)
        return v & ((1 << (8 * w)) - 1)

    def reads(self, n, near=None):
        for _ in range(n):
            w = self.rwidth()
            if near is not None and self.chance(0.7):
                a = near + self.rng.choice((0, 0, 0, 2, 4, 1, self.S))
            else:
                a = self.sector_addr()
            a = self.align(a % self.b["window"], w)
            self.emit(R(a, w))

    def segments(self):
        return [
            ("program", 14, self.seg_program),
            ("sector_erase", 12, self.seg_sector_erase),
            ("chip_erase", 1, self.seg_chip_erase),
            ("bypass", 6, self.seg_bypass),
            ("autoselect", 6, self.seg_autoselect),
            ("cfi", 5, self.seg_cfi),
            ("f0", 3, self.seg_f0),
            ("read_run", 3, self.seg_read_run),
            ("steps", 3, self.seg_steps),
            ("garbage", 3, self.seg_garbage),
            ("reads", 6, self.seg_reads),
        ]

    def prologue(self):
        self.reads(self.rng.randint(1, 2))

    def epilogue(self):
        self.emit(STEP(note="let pending timers fire"))
        self.emit(W(0, 0xF0, self.nw, note="final reset command"))
        for sec in self.hot[:3]:
            self.emit(R(sec * self.S, self.rng.choice((1, 2, 4))))

    # --- segments
    def seg_program(self):
        for k in range(self.rng.randint(1, 3)):
            w = self.rng.choice((self.nw, self.nw, self.nw, 1, 2, 4))
            a = self.daddr(w)
            self.unlock()
            self.cmd(0xA0, self.b["u0"])
            if k == 0:
                self.ops[-3]["note"] = "program"
            if self.chance(0.25):
                self.reads(self.rng.randint(1, 2), near=a)   # status while 0xA0 pending
            if self.chance(0.04):
                self.interrupt("program pending (after 0xA0)", p=1.0)
            self.emit(W(a, self.data(w), w))
            self.reads(self.rng.randint(0, 2), near=a)

    def erase_setup(self):
        self.unlock()
        self.cmd(0x80, self.b["u0"])
        self.unlock()

    def seg_sector_erase(self):
        secs = [self.rng.choice(self.hot)]
        self.erase_setup()
        self.ops[-5]["note"] = "sector erase"
        a0 = self.sector_addr(secs[0])
        self.emit(W(self.align(a0, self.nw), 0x30, self.nw))
        # more sectors inside the 50 us window
        for _ in range(self.rng.choice((0, 0, 0, 1, 1, 2, 3))):
            if self.chance(0.3):
                self.emit(STEP(self.rng.choice((5000, 10000, 20000))))
            if self.chance(0.2):
                self.reads(1, near=a0)
            s = self.rng.choice(self.hot)
            secs.append(s)
            self.emit(W(self.align(self.sector_addr(s), self.nw), 0x30, self.nw))
        self.reads(self.rng.randint(1, 4), near=a0)
        self.interrupt("inside the 50 us erase window", p=0.12)
        plan = self.rng.choices(("wait", "suspend", "abort", "leave"), (6, 6, 1, 1))[0]
        if plan == "wait":
            self.steps_until_done(a0)
        elif plan == "suspend":
            if self.chance(0.6):
                self.emit(STEP(self.rng.choice((50000, 60000, 100000, 300000))))
                self.reads(self.rng.randint(0, 2), near=a0)
            self.emit(W(self.align(self.caddr(0), self.nw), 0xB0, self.nw, note="erase suspend"))
            self.interrupt("erase suspended", p=0.2)
            sa = secs[0] * self.S
            other = [s for s in self.hot if s not in secs]
            for _ in range(self.rng.randint(1, 3)):
                r = self.rng.random()
                if r < 0.35:
                    # a long run crosses the lazy ROMD threshold (43rd device read)
                    n = self.rng.randint(40, 50)
                    w = self.rng.choice((self.nw, 2, 4))
                    addr = self.align(self.mirror(sa + self.rng.randrange(0, 0x40)), w)
                    for _ in range(n):
                        self.emit(R(addr, w))
                elif r < 0.6:
                    self.reads(self.rng.randint(2, 5), near=self.mirror(sa))
                elif r < 0.8 and other:
                    # program outside the suspended sector(s) ... and inside
                    w = self.nw
                    tgt = self.daddr(w, sec=self.rng.choice(other + secs))
                    self.unlock()
                    self.cmd(0xA0, self.b["u0"])
                    self.emit(W(tgt, self.data(w), w))
                    self.reads(1, near=tgt)
                else:
                    # no new erase while suspended (RESET at wcycle 5)
                    self.erase_setup()
                    self.emit(W(self.align(self.sector_addr(), self.nw), 0x30, self.nw))
                    self.reads(1, near=sa)
            self.interrupt("erase suspended, before resume", p=0.15)
            if self.chance(0.25):
                self.unlock()
                self.cmd(0x80, self.b["u0"])
                self.emit(W(self.align(self.caddr(0), self.nw), 0x30, self.nw,
                            note="resume from wcycle 3 (cmd 0x80)"))
            else:
                self.emit(W(self.align(self.caddr(0), self.nw), 0x30, self.nw, note="resume"))
            self.reads(self.rng.randint(1, 3), near=sa)
            self.steps_until_done(sa)
        elif plan == "abort":
            self.cmd(0xF0)         # RESET inside the window: the timer stays armed
            self.reads(self.rng.randint(1, 3), near=a0)
        # "leave": continue with whatever comes next while the erase runs

    def steps_until_done(self, a):
        r = self.rng.random()
        if r < 0.4:
            self.emit(STEP())
            self.reads(self.rng.randint(1, 2), near=a)
            self.interrupt("erase running (DQ3=1)", p=0.15)
            self.emit(STEP())
        elif r < 0.8:
            for ns in self.rng.sample((10000, 50000, 50000, 600000, 600000, 1200000),
                                      self.rng.randint(1, 3)):
                self.emit(STEP(ns))
                self.reads(self.rng.randint(1, 2), near=a)
                if ns == 50000:
                    self.interrupt("erase running (DQ3=1)", p=0.1)
        else:
            self.emit(STEP(50000))
            self.reads(2, near=a)
            self.emit(STEP())
        self.reads(self.rng.randint(1, 3), near=a)

    def seg_chip_erase(self):
        if self.chip_erased:
            return self.seg_reads()
        self.chip_erased = True
        self.erase_setup()
        self.ops[-5]["note"] = "chip erase"
        self.cmd(0x10, self.b["u0"])
        self.reads(self.rng.randint(1, 3))
        if self.chance(0.5):
            self.cmd(0xF0)                 # ignored during chip erase
            self.cmd(0xB0)                 # ignored too
            self.reads(2)
        self.interrupt("chip erase running", p=0.3)
        if self.chance(0.5):
            self.emit(STEP(600000))
            self.reads(1)
        self.emit(STEP())
        self.reads(self.rng.randint(1, 3))

    def seg_bypass(self):
        self.unlock()
        self.cmd(0x20, self.b["u0"])
        self.ops[-3]["note"] = "unlock bypass"
        for i in range(self.rng.randint(1, 4)):
            w = self.rng.choice((self.nw, self.nw, 2, 4))
            a = self.daddr(w)
            anyaddr = self.align(self.rng.choice((self.caddr(self.b["u0"]), a,
                                                  self.sector_addr())), self.nw)
            self.emit(W(anyaddr, 0xA0, self.nw))
            self.emit(W(a, self.data(w), w))
            self.reads(self.rng.randint(0, 2), near=a)
            if i == 0:
                self.interrupt("in unlock bypass", p=0.25)
        if self.chance(0.2):
            # erase in bypass: 0x80 anywhere, then AA/55, then 0x30; completion -> BYPASS
            self.emit(W(self.align(self.sector_addr(), self.nw), 0x80, self.nw))
            self.unlock()
            a = self.align(self.sector_addr(), self.nw)
            self.emit(W(a, 0x30, self.nw))
            self.reads(1, near=a)
            self.emit(STEP())
            self.reads(1, near=a)
            self.emit(STEP())
            self.reads(1, near=a)
        r = self.rng.random()
        if r < 0.4:
            self.emit(W(self.align(self.sector_addr(), self.nw), 0x90, self.nw))
            self.emit(W(self.align(self.sector_addr(), self.nw), 0x00, self.nw,
                        note="bypass exit 90/00"))
        elif r < 0.65:
            self.emit(W(self.align(self.sector_addr(), self.nw), 0x00, self.nw,
                        note="bypass exit lone 00"))
        elif r < 0.85:
            self.cmd(0xF0)
        else:
            self.interrupt("left in unlock bypass", p=0.6)
            self.emit(W(self.align(self.sector_addr(), self.nw), 0xA0, self.nw))
            self.emit(W(self.daddr(self.nw), self.data(self.nw), self.nw))
        self.reads(self.rng.randint(1, 2))

    def id_reads(self, n):
        for _ in range(n):
            w = self.rng.choice((self.nw, self.nw, 1, 2, 4))
            idx = self.rng.choice((0, 0, 1, 1, 2, 0x0E, 0x0F, 3, self.rng.randrange(0x80)))
            a = idx * self.stride
            if self.chance(0.3):
                a += self.S * self.rng.choice(self.hot)
            a = self.align(self.mirror(a, 0.2), w)
            self.emit(R(a, w))

    def cfi_reads(self, n):
        for _ in range(n):
            w = self.rng.choice((self.nw, self.nw, 1, 2, 4))
            idx = self.rng.choice((self.rng.randrange(0x10, 0x4D), self.rng.randrange(0x10, 0x31),
                                   self.rng.randrange(0x40, 0x4D), self.rng.randrange(0x80)))
            a = idx * self.stride
            if self.chance(0.2):
                a += self.rng.choice((0x100, self.S * self.rng.choice(self.hot)))
            a = self.align(self.mirror(a, 0.2), w)
            self.emit(R(a, w))

    def seg_autoselect(self):
        self.unlock()
        self.cmd(0x90, self.b["u0"])
        self.ops[-3]["note"] = "autoselect"
        k = self.rng.randint(2, 6)
        self.id_reads(k)
        self.interrupt("autoselect", p=0.2)
        if self.chance(0.45):
            self.cmd(0x98, self.b["cfi"])
            self.ops[-1]["note"] = "CFI inside autoselect"
            self.cfi_reads(self.rng.randint(2, 6))
            self.interrupt("CFI inside autoselect", p=0.2)
            self.cmd(0xF0)         # back to autoselect
            self.id_reads(self.rng.randint(1, 3))
        self.cmd(0xF0) if self.chance(0.8) else \
            self.emit(W(self.align(self.sector_addr(), self.nw), 0x00, self.nw))
        self.reads(self.rng.randint(0, 2))

    def seg_cfi(self):
        self.cmd(0x98, self.b["cfi"])
        self.ops[-1]["note"] = "CFI query"
        k = self.rng.randint(4, 14)
        at = self.rng.randrange(k)
        for i in range(k):
            self.cfi_reads(1)
            if i == at:
                self.interrupt("CFI query mode", p=0.25)
        if self.chance(0.75):
            self.cmd(0xF0)
        else:
            self.emit(W(self.align(self.sector_addr(), self.nw), self.rng.randrange(256),
                        self.nw, note="any write leaves CFI"))
        self.reads(self.rng.randint(0, 2))

    def seg_f0(self):
        self.cmd(0xF0)
        self.reads(self.rng.randint(0, 2))

    def seg_read_run(self):
        w = self.rng.choice((1, 2, 4))
        a = self.align(self.sector_addr(), w)
        for _ in range(self.rng.randint(40, 50) if self.chance(0.5) else self.rng.randint(3, 10)):
            self.emit(R(a, w))

    def seg_steps(self):
        self.emit(STEP(self.rng.choice((None, 10000, 50000, 600000))))
        self.reads(self.rng.randint(0, 2))

    def seg_garbage(self):
        for _ in range(self.rng.randint(1, 3)):
            r = self.rng.random()
            if r < 0.4:
                # a broken unlock: AA then something else
                self.cmd(0xAA, self.b["u0"])
                self.emit(W(self.align(self.sector_addr(), self.nw),
                            self.rng.choice((0x55, 0x00, 0xA0, 0x90)), self.nw, note="garbage"))
            elif r < 0.6:
                # x16-style vs x8-style addresses mixed up
                wrong = 0xAAA if self.nw == 1 else 0x555 & ~1
                self.emit(W(wrong, 0xAA, self.nw, note="garbage: wrong unlock address"))
                self.cmd(0x55, self.b["u1"])
                self.emit(W(wrong, 0x90, self.nw))
                self.reads(1)
            else:
                w = self.rng.choice((1, 2, 4))
                b = self.rng.choice([x for x in range(256)
                                     if x not in (0xAA, 0x98, 0x30, 0xB0)])
                self.emit(W(self.align(self.rng.randrange(self.b["window"]), w), b, w,
                            note="garbage"))
            if self.chance(0.4):
                self.reads(1)
        self.cmd(0xF0)

    def seg_reads(self):
        self.reads(self.rng.randint(2, 8))


def generate(board, seed):
    migrate = seed < MIGRATE_FREE_SEEDS_FROM
    cls = Cfi01Gen if BOARDS[board]["family"] == "cfi01" else Cfi02Gen
    ops = cls(board, seed, migrate).generate()
    check_ops(board, ops)
    assert MIN_OPS <= len(ops) <= MAX_OPS, (board, seed, len(ops))
    if not migrate:
        assert not any(o["op"] == "migrate" for o in ops)
    return ops


# ---------------------------------------------------------------------------
# hand-written fact op lists; "expect" values come from the spec files

def facts():
    F = {}

    # ---- cfi01, arm virt (width 4, device-width 2, writeblock 4096)
    v = []
    v += [W(0x2000, 0xE8, 4, note="spec cfi01 7.6 walk-through"), R(0x2000, 4, 0x00800080)]
    v += [W(0x2000, 0x1, 4), W(0x2000, 0x11111111, 4), W(0x2004, 0x22222222, 4)]
    v += [R(0x2000, 4, 0x00800080), W(0x2000, 0xD0, 4), R(0x2000, 4, 0x00800080)]
    v += [W(0, 0xFF, 4), R(0x2000, 4, 0x11111111), R(0x2004, 4, 0x22222222),
          R(0x2008, 4, 0xFFFFFFFF)]
    v += [W(0, 0xE8, 4, note="7.6: count at 0x0, data at 0x2000 (outside window)"),
          W(0, 0x0, 4), W(0x2000, 0x33333333, 4), R(0x2000, 4, 0x00900090),
          W(0, 0xD0, 4), R(0x2000, 4, 0x11111111, note="D0 aborted: RA, nothing written")]
    v += [W(0, 0x50, 4, note="clear SR.4"), W(0, 0x70, 4), R(0, 4, 0x0)]
    v += [W(0x3000, 0xE8, 4, note="7.6: count 0 at 0x3000, one data write"),
          W(0x3000, 0x0, 4), W(0x3000, 0xAABBCCDD, 4), W(0x3000, 0xD0, 4),
          R(0x3000, 4, 0x00800080), W(0, 0xFF, 4), R(0x3000, 4, 0xAABBCCDD)]
    v += [W(0x5000, 0xE8, 4, note="7.6: count at 0x5000, data 0x5FFC and 0x6000"),
          W(0x5000, 0x1, 4), W(0x5FFC, 0x44444444, 4), W(0x6000, 0x55555555, 4),
          R(0x5000, 4, 0x00900090), W(0x5000, 0xD0, 4), R(0x5FFC, 4, 0xFFFFFFFF),
          R(0x6000, 4, 0xFFFFFFFF)]
    v += [W(0x7000, 0xE8, 4, note="stale SR.4 (from 0x6000) blocks a good buffered write"),
          W(0x7000, 0x0, 4), W(0x7000, 0x66666666, 4), R(0x7000, 4, 0x00900090),
          W(0x7000, 0xD0, 4), R(0x7000, 4, 0xFFFFFFFF), W(0, 0x50, 4, note="clear SR.4"),
          W(0x7000, 0xE8, 4), W(0x7000, 0x0, 4), W(0x7000, 0x66666666, 4),
          W(0x7000, 0xD0, 4), W(0, 0xFF, 4), R(0x7000, 4, 0x66666666)]
    v += [W(0x8000, 0xE8, 4, note="7.6: count 0xFFFF0001 masked to 1 (two writes)"),
          W(0x8000, 0xFFFF0001, 4), W(0x8000, 0x77777777, 4), W(0x8004, 0x88888888, 4),
          W(0x8000, 0xD0, 4), W(0, 0xFF, 4), R(0x8000, 4, 0x77777777), R(0x8004, 4, 0x88888888)]
    v += [W(0x9000, 0xE8, 4, note="non-D0 confirm aborts, SR unchanged"),
          W(0x9000, 0x0, 4), W(0x9000, 0x12121212, 4), W(0x9000, 0xFF, 4),
          R(0x9000, 4, 0xFFFFFFFF)]
    v += [W(0x10000, 0x40, 4, note="program overwrites (no AND)"), W(0x10000, 0x12345678, 4),
          R(0x10000, 4, 0x00800080), R(0x10000, 2, 0x0080), R(0x10000, 1, 0x80),
          W(0x10000, 0x40, 4), W(0x10000, 0x0000FFFF, 4), W(0, 0xFF, 4),
          R(0x10000, 4, 0x0000FFFF)]
    v += [W(0x10000, 0x20, 4, note="erase on setup; 0xFF confirm does not undo it"),
          W(0x10000, 0xFF, 4), R(0x10000, 4, 0xFFFFFFFF)]
    v += [W(0x40000, 0x40, 4), W(0x40000, 0x0, 4), W(0x40004, 0x20, 4, note="bad confirm"),
          W(0x40004, 0x2F, 4), R(0x40000, 4, 0xFFFFFFFF), W(0, 0x70, 4),
          R(0, 4, 0x00800080, note="bad confirm sets no error bit")]
    v += [W(0, 0x50, 4, note="0x50 clears SR.7"), W(0, 0x70, 4), R(0, 4, 0x0),
          W(0, 0x40, 4), W(0x80, 0x0, 4), R(0, 4, 0x00800080), W(0, 0xFF, 4)]
    v += [W(0x154, 0x98, 4, note="CFI 8.3"), R(0x40, 4, 0x00510051), R(0x44, 4, 0x00520052),
          R(0x48, 4, 0x00590059), R(0x40, 2, 0x0051), R(0x42, 2, 0x0051), R(0x40, 1, 0x51),
          R(0x41, 1, 0x51), R(0x43, 1, 0x51), R(0x148, 4, 0x0), R(0x9C, 4, 0x00190019),
          R(0xA8, 4, 0x000B000B), R(0xB4, 4, 0x00FF00FF), R(0xBC, 4, 0x00000000),
          R(0xC0, 4, 0x00020002), R(0xFC, 4, 0x00010001), R(0x140, 4, 0x0)]
    for b in (0x00, 0x50, 0x70, 0x90, 0xF0):
        v += [W(0, b, 4, note="ignored in CFI mode"), R(0x40, 4, 0x00510051)]
    v += [W(0, 0xFF, 4), R(0x40, 4, 0xFFFFFFFF)]
    v += [W(0, 0x90, 4, note="ID 8.3"), R(0, 4, 0x00890089), R(4, 4, 0x00180018), R(8, 4, 0),
          R(0x400, 4, 0x00890089), R(0x404, 4, 0x00180018), R(0x40000, 4, 0x00890089),
          R(0, 2, 0x0089), R(0, 1, 0x89), W(0, 0xFF, 4)]
    v += [W(0, 0x60, 4, note="lock: no state"), W(0, 0x01, 4), R(0, 4, 0x00800080),
          W(0, 0x60, 4), W(0, 0xD0, 4), R(0, 4, 0x00800080), W(0, 0xFF, 4)]
    v += [W(0xA000, 0xE8, 4, note="reset drops an open buffer"), W(0xA000, 0x1, 4),
          W(0xA000, 0x99999999, 4), RESET(), R(0xA000, 4, 0xFFFFFFFF),
          W(0xA004, 0xAAAAAAAA, 4), W(0xA000, 0xD0, 4), W(0, 0xFF, 4),
          R(0xA004, 4, 0xFFFFFFFF, note="after reset these are commands, not data")]
    F["virt-basics"] = ("virt", v)

    m = []
    m += [W(0x154, 0x98, 4, note="migration in CFI mode: ROMD not restored (15.4)"),
          R(0x40, 4, 0x00510051), MIGRATE(), R(0x40, 4, 0xFFFFFFFF),
          W(0, 0x70, 4, note="ignored: still CFI"), R(0x40, 4, 0xFFFFFFFF),
          W(0, 0xFF, 4), W(0, 0x90, 4), R(0, 4, 0x00890089), W(0, 0xFF, 4)]
    m += [W(0, 0x90, 4, note="migration in ID mode"), R(0, 4, 0x00890089), MIGRATE(),
          R(0, 4, 0xFFFFFFFF), W(0, 0x90, 4), R(0, 4, 0x00890089), W(0, 0xFF, 4)]
    m += [W(0x100, 0x40, 4, note="migration in status mode"), W(0x100, 0x5A5A5A5A, 4),
          R(0, 4, 0x00800080), MIGRATE(), R(0x100, 4, 0x5A5A5A5A), W(0, 0x70, 4),
          R(0x100, 4, 0x00800080), W(0, 0xFF, 4)]
    m += [W(0x2000, 0xE8, 4, note="migration mid-buffer (wcycle 2)"), W(0x2000, 0x3, 4),
          W(0x2000, 0x11111111, 4), W(0x2004, 0x22222222, 4), MIGRATE(),
          W(0x2008, 0x33333333, 4), W(0x200C, 0x44444444, 4), W(0x2000, 0xD0, 4),
          R(0x2000, 4, 0x11111111, note="status still reads as array data after D0"),
          R(0x200C, 4, 0x44444444), W(0, 0x70, 4), R(0, 4, 0x00800080), W(0, 0xFF, 4)]
    m += [W(0x3000, 0xE8, 4, note="migration at wcycle 3 (before confirm)"), W(0x3000, 0x0, 4),
          W(0x3000, 0x55555555, 4), MIGRATE(), W(0x3000, 0xD0, 4), W(0, 0xFF, 4),
          R(0x3000, 4, 0x55555555)]
    m += [W(0, 0x50, 4, note="status is migrated"), W(0, 0x70, 4), R(0, 4, 0), MIGRATE(),
          W(0, 0x70, 4), R(0, 4, 0), W(0, 0xFF, 4)]
    F["virt-migration"] = ("virt", m)

    # ---- cfi01, versatilepb (width 4, legacy, writeblock 2048)
    p = []
    p += [W(0, 0x90, 4, note="legacy ID 8.3"), R(0, 4, 0x00008918), R(0, 2, 0x8918),
          R(0, 1, 0x18), R(4, 4, 0), R(0x100, 4, 0x00008918), W(0, 0xFF, 4)]
    p += [W(0, 0x98, 4, note="legacy CFI 8.3"), R(0x40, 4, 0x51), R(0x44, 4, 0x52),
          R(0x48, 4, 0x59), R(0x140, 4, 0x51), R(0x9C, 4, 0x1A), R(0xA8, 4, 0x0B),
          R(0xB4, 4, 0xFF), R(0xB8, 4, 0x00), R(0xBC, 4, 0x00), R(0xC0, 4, 0x04),
          R(0xC4, 4, 0x50), R(0xFC, 4, 0x01), R(0x100, 4, 0x00), R(0x40, 2, 0x51),
          R(0x40, 1, 0x51), W(0, 0xFF, 4)]
    p += [W(0, 0x70, 4, note="legacy status replication"), R(0, 4, 0x00800080),
          R(0, 2, 0x0080), R(0, 1, 0x80), W(0, 0xFF, 4)]
    p += [W(0x800, 0xE8, 4, note="window is 2048 bytes"), W(0x800, 0x1, 4),
          W(0xFFC, 0x11111111, 4), W(0x1000, 0x22222222, 4), R(0, 4, 0x00900090),
          W(0, 0xD0, 4), R(0xFFC, 4, 0xFFFFFFFF), W(0, 0x50, 4)]
    p += [W(0x800, 0xE8, 4), W(0x800, 0x1, 4), W(0xFF8, 0x33333333, 4), W(0xFFC, 0x44444444, 4),
          W(0, 0xD0, 4), R(0, 4, 0x00800080), W(0, 0xFF, 4), R(0xFF8, 4, 0x33333333),
          R(0xFFC, 4, 0x44444444)]
    p += [W(0x1000, 0xE8, 4, note="legacy count mask is 32 bits: 0x10001 is not 1"),
          W(0x1000, 0x00010001, 4), W(0x1000, 0x55555555, 4), W(0x1004, 0x66666666, 4),
          W(0x1000, 0xD0, 4, note="consumed as data"), W(0x1008, 0xFF, 4, note="consumed as data"),
          R(0x1000, 4, 0x00800080), RESET(), R(0x1000, 4, 0xFFFFFFFF)]
    F["versatilepb-basics"] = ("versatilepb", p)

    # ---- cfi02, musicpal (width 2: unlock 0xAAA/0x554, CFI at 0xAA)
    def U():
        return [W(0xAAA, 0xAA, 2), W(0x554, 0x55, 2)]

    def SE(a):
        return U() + [W(0xAAA, 0x80, 2)] + U() + [W(a, 0x30, 2)]
    s = []
    s += SE(0x10000)
    s[0]["note"] = "spec cfi02 10: measured status sequence from power-on"
    s += [R(0x10000, 2, 0x44), R(0x10000, 2, 0x00), R(0x10000, 2, 0x44)]
    s += [STEP(50000, note="DQ3 rises")]
    s += [R(0x10000, 2, 0x08), R(0x10000, 2, 0x4C), R(0x10000, 2, 0x08)]
    s += [W(0, 0xB0, 2, note="suspend")]
    s += [R(0x10000, 2, 0x04 if i % 2 == 0 else 0x00) for i in range(43)]
    s += [R(0x10000, 2, 0xFFFF, note="44th read: lazy ROMD"), R(0x10000, 2, 0xFFFF)]
    s += [W(0, 0x30, 2, note="resume")]
    s += [R(0x10000, 2, 0x48), R(0x10000, 2, 0x0C), R(0x10000, 2, 0x48)]
    s += [STEP(note="completion, expected at clock 562000"), R(0x10000, 2, 0xFFFF)]
    s += U() + [W(0xAAA, 0xA0, 2), R(0x20000, 2, 0x80), R(0x20000, 2, 0xC0),
              W(0x20000, 0x1234, 2), R(0x20000, 2, 0x1234)]
    F["musicpal-status-sequence"] = ("musicpal", s)

    t = []
    t += SE(0x30000)
    t[0]["note"] = "spec cfi02 11: one sector done at t+562000"
    t += [STEP(49999), R(0x30000, 2, 0x44), STEP(1), R(0x30000, 2, 0x08), STEP(511999),
          R(0x30000, 2, 0x4C), STEP(1, note="clock 562000"), R(0x30000, 2, 0xFFFF)]
    t += SE(0x40000) + [STEP(10000), W(0x50000, 0x30, 2, note="second sector in window")]
    t[-8]["note"] = "two sectors: done at last + 50000 + 1024000"
    t += [STEP(49999), R(0x40000, 2, 0x00), STEP(1), R(0x40000, 2, 0x4C), STEP(1023999),
          R(0x40000, 2, 0x08), STEP(1, note="clock 1646000"), R(0x40000, 2, 0xFFFF),
          R(0x50000, 2, 0xFFFF)]
    t += U() + [W(0xAAA, 0xA0, 2), W(0x60000, 0x1234, 2), R(0x60000, 2, 0x1234)]
    t += U() + [W(0xAAA, 0x80, 2)] + U() + [W(0xAAA, 0x10, 2, note="chip erase: 4096 ms")]
    t += [R(0, 2, 0x44), W(0, 0xF0, 2, note="ignored in chip erase"),
          W(0, 0xB0, 2, note="ignored in chip erase"), STEP(4095999999), R(0, 2, 0x00),
          STEP(1, note="clock 4097646000"), R(0, 2, 0xFFFF), R(0x60000, 2, 0xFFFF),
          STEP(note="nothing pending: clock must not move")]
    F["musicpal-timing"] = ("musicpal", t)

    r = []
    r += SE(0x10000)
    r[0]["note"] = "spec cfi02 11: device reset inside the 50 us window"
    r += [R(0x10000, 2, 0x44), RESET(), R(0x10000, 2, 0xFFFF),
          STEP(50000, note="stale window timer: common completion"), R(0x10000, 2, 0xFFFF)]
    r += SE(0x20000)
    r[-1]["note"] = "next one-sector erase takes 2 x 512 us"
    r += [STEP(50000), R(0x20000, 2, 0x08), STEP(512000), R(0x20000, 2, 0x4C),
          STEP(511999), R(0x20000, 2, 0x08), STEP(1), R(0x20000, 2, 0xFFFF)]
    r += SE(0x30000)
    r[-1]["note"] = "device reset while the erase runs (DQ3=1)"
    r += [STEP(50000), R(0x30000, 2, 0x4C), RESET(), R(0x30000, 2, 0xFFFF),
          STEP(600000, note="stale timer completes")]
    r += SE(0x40000)
    r[-1]["note"] = "next sector erase completes at its 50 us deadline"
    r += [R(0x40000, 2, 0x08), STEP(49999), R(0x40000, 2, 0x4C), STEP(1),
          R(0x40000, 2, 0xFFFF)]
    r += SE(0x50000)
    r[-1]["note"] = "F0 inside window, then autoselect aborted by the stale timer"
    r += [W(0, 0xF0, 2)] + U() + [W(0xAAA, 0x90, 2), R(0, 2, 0xBF), STEP(50000),
                                R(0, 2, 0xFFFF, note="timer completion ended autoselect")]
    r += [STEP(note="no pending timer"), R(0x50000, 2, 0xFFFF)]
    F["musicpal-reset-timers"] = ("musicpal", r)

    a = []
    a += U() + [W(0xAAA, 0x90, 2, note="autoselect 9"), R(0, 2, 0xBF), R(2, 2, 0x236D),
              R(4, 2, 0), R(0x1C, 2, 0), R(0x1E, 2, 0), R(0, 4, 0xBF), R(2, 1, 0x6D),
              R(3, 1, 0x6D), R(0x10000, 2, 0xBF), R(0x10002, 2, 0x236D),
              R(0x100, 2, 0xBF), R(0x800000, 2, 0xBF, note="mirror"),
              R(0x20, 2, 0xFFFF, note="unlisted index: array data")]
    a += [W(0xAA, 0x98, 2, note="CFI inside autoselect"), R(0x20, 2, 0x51), R(0x22, 2, 0x52),
          R(0x24, 2, 0x59), W(0, 0xF0, 2, note="back to autoselect"), R(0, 2, 0xBF),
          R(2, 2, 0x236D), W(0, 0xF0, 2), R(0, 2, 0xFFFF)]
    cfi = [0x51, 0x52, 0x59, 0x02, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x27, 0x36,
           0x00, 0x00, 0x07, 0x00, 0x09, 0x0C, 0x01, 0x00, 0x0A, 0x0D, 0x17, 0x02, 0x00,
           0x00, 0x00, 0x01, 0x7F, 0x00, 0x00, 0x01]
    a += [W(0xAA, 0x98, 2, note="CFI table 12")]
    a += [R(2 * (0x10 + i), 2, x) for i, x in enumerate(cfi)]
    pri = [0x50, 0x52, 0x49, 0x31, 0x30, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
    a += [R(2 * (0x40 + i), 2, x) for i, x in enumerate(pri)]
    a += [R(0x9A, 2, 0, note="index 0x4D reads 0"), R(0x20, 4, 0x51), R(0x21, 1, 0x51),
          R(0x120, 2, 0x51, note="repeats every 256 bytes"), R(0x1000020, 2, 0x51),
          W(0x20, 0x00, 2, note="any write leaves CFI"), R(0x20, 2, 0xFFFF)]
    a += [W(0xAAAA, 0xAA, 2, note="high unlock bits ignored (16.3 step 6)"),
          W(0x5554, 0x55, 2), W(0xAAAA, 0x90, 2), R(0, 2, 0xBF), W(0, 0xF0, 2)]
    a += [W(0x10AA, 0x98, 2, note="98 at word 0x855 enters CFI"), R(0x20, 2, 0x51),
          W(0, 0xF0, 2)]
    a += U() + [W(0xAAA, 0xA0, 2, note="program ANDs"), W(0x70000, 0x1234, 2)] + U() + \
        [W(0xAAA, 0xA0, 2), W(0x70000, 0xFF0F, 2), R(0x70000, 2, 0x1204)]
    a += U() + [W(0xAAA, 0xA0, 2, note="F0 while program pending is data"),
              W(0x70002, 0xF0, 2), R(0x70002, 2, 0x00F0)]
    a += U() + [W(0xAAA, 0xA0, 2, note="mirrors"), W(0x800000 + 0x70004, 0xABCD, 2),
              R(0x70004, 2, 0xABCD), R(0x1870004, 2, 0xABCD)]
    F["musicpal-autoselect-cfi-program"] = ("musicpal", a)

    b = []
    b += U() + [W(0xAAA, 0x20, 2, note="unlock bypass 16.3 step 5"),
              W(0xAAA, 0xA0, 2), W(0x80000, 0x01, 2), W(0xAAA, 0xA0, 2), W(0x80002, 0x23, 2),
              W(0xAAA, 0xA0, 2), W(0x80004, 0x45, 2), W(0xC, 0xA0, 2), W(0x80006, 0x67, 2),
              W(0x80000, 0x00, 2, note="bypass reset (lone 00)"),
              W(0xAAA, 0xA0, 2), W(0x80008, 0x89, 2),
              R(0x80000, 2, 0x0001), R(0x80002, 2, 0x0023), R(0x80004, 2, 0x0045),
              R(0x80006, 2, 0x0067), R(0x80008, 2, 0xFFFF)]
    b += U() + [W(0xAAA, 0x20, 2, note="bypass exit with 90/00"), W(0x1234, 0x90, 2),
              R(0, 2, 0xBF), W(0, 0x00, 2), R(0, 2, 0xFFFF), W(0xAAA, 0xA0, 2),
              W(0x8000A, 0x0, 2), R(0x8000A, 2, 0xFFFF)]
    b += U() + [W(0xAAA, 0x20, 2, note="device reset keeps bypass but wcycle 0"), RESET(),
              W(0x10, 0xA0, 2, note="bare A0 at wcycle 0 resets (clears bypass)"),
              W(0x8000C, 0x0, 2), R(0x8000C, 2, 0xFFFF)]
    b += U() + [W(0xAAA, 0x20, 2, note="device reset keeps bypass: unlock, A0 anywhere"),
              RESET()] + U() + [W(0x10, 0xA0, 2), W(0x8000C, 0x0, 2), R(0x8000C, 2, 0x0),
                                W(0, 0x00, 2, note="lone 00 exits bypass")]
    b += U() + [W(0xAAA, 0x20, 2, note="migration loses bypass"), MIGRATE()] + U() + \
        [W(0x10, 0xA0, 2, note="not U0 and no bypass: RESET"), W(0x8000E, 0x0, 2),
         R(0x8000E, 2, 0xFFFF)]
    b += SE(0x90000)
    b[-1]["note"] = "migration mid-erase loses the busy status"
    b += [R(0x90000, 2, None), MIGRATE(), R(0x90000, 2, 0xFFFF),
          STEP(note="no timer after migration")]
    b += U() + [W(0xAAA, 0x90, 2, note="migration in autoselect"), R(0, 2, 0xBF), MIGRATE(),
              R(0, 2, 0xFFFF)]
    b += SE(0xA0000) + [STEP(50000), W(0, 0xB0, 2, note="migration while suspended"),
                         R(0xA0000, 2, None), MIGRATE(), R(0xA0000, 2, 0xFFFF),
                         W(0, 0x30, 2, note="resume after migration just RESETs"),
                         R(0xA0000, 2, 0xFFFF), STEP(note="nothing pending")]
    b += SE(0xB0000)
    b[-1]["note"] = "suspend inside the window: full erase time from resume"
    b += [STEP(10000), W(0, 0xB0, 2), R(0xB0000, 2, None), R(0xC0000, 2, 0xFFFF),
          *U(), W(0xAAA, 0xA0, 2), W(0xB0000, 0x0, 2, note="ignored: suspended sector"),
          *U(), W(0xAAA, 0xA0, 2), W(0xC0000, 0x0, 2, note="other sector: programmed"),
          R(0xC0000, 2, 0x0), W(0, 0x30, 2), STEP(511999), R(0xB0000, 2, None), STEP(1),
          R(0xB0000, 2, 0xFFFF)]
    F["musicpal-bypass-migration"] = ("musicpal", b)

    # ---- cfi02, xilinx-zynq-a9 (width 1: unlock 0x555/0x2AA, CFI at 0x55)
    def Z():
        return [W(0x555, 0xAA, 1), W(0x2AA, 0x55, 1)]
    z = []
    z += Z() + [W(0x555, 0x90, 1, note="autoselect x8"), R(0, 1, 0x66), R(1, 1, 0x22),
              R(0, 2, 0x66), R(2, 1, 0), R(0x20000, 1, 0x66), W(0, 0xF0, 1), R(0, 1, 0xFF)]
    z += [W(0xAAA, 0xAA, 1, note="x16-style addresses fail on x8"), W(0x554, 0x55, 1),
          W(0xAAA, 0x90, 1), R(0, 1, 0xFF), W(0, 0xF0, 1)]
    z += [W(0x55, 0x98, 1, note="CFI x8"), R(0x10, 1, 0x51), R(0x11, 1, 0x52), R(0x12, 1, 0x59),
          R(0x27, 1, 0x1A), R(0x2C, 1, 0x01), R(0x2D, 1, 0xFF), R(0x2E, 1, 0x01),
          R(0x2F, 1, 0x00), R(0x30, 1, 0x02), R(0x40, 1, 0x50), R(0x46, 1, 0x02),
          R(0x10, 4, 0x51), R(0x110, 1, 0x51), W(0, 0xF0, 1)]
    z += Z() + [W(0x555, 0xA0, 1, note="32-bit program writes 4 bytes"),
              W(0x1000, 0x12345678, 4), R(0x1000, 4, 0x12345678), R(0x1003, 1, 0x12)]
    z += [W(0x555 + 0x800, 0xAA, 1, note="11-bit compare: 0xD55 == 0x555"),
          W(0x2AA + 0x3000, 0x55, 1), W(0x555 + 0x10000, 0x90, 1), R(0, 1, 0x66), W(0, 0xF0, 1)]
    z += Z() + [W(0x555, 0x80, 1)] + Z() + [W(0x40000, 0x30, 1, note="sector erase x8"),
                                        R(0x40000, 1, None), STEP(49999), R(0x40000, 1, None),
                                        STEP(1), STEP(511999), R(0x40000, 1, None), STEP(1),
                                        R(0x40000, 1, 0xFF)]
    F["zynq-basics"] = ("xilinx-zynq-a9", z)

    # ---- full CFI tables, expected values built from spec cfi01 11 / cfi02 12
    def cfi01_table(dev_len_log2, region):
        t = [0] * 0x52
        t[0x10:0x31] = [0x51, 0x52, 0x59, 0x01, 0x00, 0x31, 0x00, 0x00, 0x00, 0x00, 0x00,
                        0x45, 0x55, 0x00, 0x00, 0x07, 0x07, 0x0A, 0x00, 0x04, 0x04, 0x04,
                        0x00, dev_len_log2, 0x02, 0x00, 0x0B, 0x00, 0x01] + region
        t[0x31:0x36] = [0x50, 0x52, 0x49, 0x31, 0x30]
        t[0x3F] = 0x01
        return t

    def cfi02_table(chip_log2, region):
        t = [0] * 0x4D
        t[0x10:0x31] = [0x51, 0x52, 0x59, 0x02, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
                        0x27, 0x36, 0x00, 0x00, 0x07, 0x00, 0x09, 0x0C, 0x01, 0x00, 0x0A,
                        0x0D, chip_log2, 0x02, 0x00, 0x00, 0x00, 0x01] + region
        t[0x40:0x4D] = [0x50, 0x52, 0x49, 0x31, 0x30, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
                        0x00, 0x00]
        return t

    tv = cfi01_table(0x19, [0xFF, 0x00, 0x00, 0x02])
    c = [W(0, 0x98, 4, note="virt: whole CFI table, readl 4N, replicated per x16 lane")]
    c += [R(4 * n, 4, (tv[n] | tv[n] << 16) if n < 0x52 else 0) for n in range(0x58)]
    c += [R(0x400 + 0x40, 4, 0, note="device-width mode: CFI does not wrap")]
    c += [W(0, 0xFF, 4)]
    F["virt-cfi-table"] = ("virt", c)

    tp = cfi01_table(0x1A, [0xFF, 0x00, 0x00, 0x04])
    c = [W(0, 0x98, 4, note="versatilepb: whole CFI table, legacy: one byte at 4N")]
    c += [R(4 * n, 4, tp[n]) for n in range(0x40)]
    c += [R(0x100 + 4 * n, 4, tp[n], note="wraps every 256 bytes") for n in (0x10, 0x11, 0x3F)]
    c += [R(0x200 + 2, 2, tp[0x20], note="readw 4N+2 -> same index"),
          R(0x45, 1, tp[0x11]), W(0, 0xFF, 4)]
    F["versatilepb-cfi-table"] = ("versatilepb", c)

    tz = cfi02_table(0x1A, [0xFF, 0x01, 0x00, 0x02])
    c = [W(0x55, 0x98, 1, note="zynq: whole CFI table at byte N")]
    c += [R(n, 1, tz[n] if n < 0x4D else 0) for n in range(0x60)]
    c += [R(0x40, 4, 0x50), R(0x42, 2, 0x49), R(0x3F0000 + 0x10, 1, 0x51), W(0, 0xF0, 1)]
    F["zynq-cfi-table"] = ("xilinx-zynq-a9", c)

    tm = cfi02_table(0x17, [0x7F, 0x00, 0x00, 0x01])
    c = [W(0xAA, 0x98, 2, note="musicpal: whole CFI table at byte 2N")]
    c += [R(2 * n, 2, tm[n] if n < 0x4D else 0) for n in range(0x80)]
    c += [W(0, 0xF0, 2)]
    F["musicpal-cfi-table"] = ("musicpal", c)

    # ---- cfi01 odds and ends
    o = []
    o += [W(0, 0x50, 4, note="0xE8 setup sets SR.7 again"), W(0, 0x70, 4), R(0, 4, 0),
          W(0, 0xE8, 4), R(0, 4, 0x00800080), W(0, 0xFF, 4, note="abort at wcycle 1? 0xFF = count")]
    o += [W(0, 0xD0, 4, note="count 0xFF: still collecting data"), R(0, 4, 0x00800080),
          RESET(note="leave the buffered write"), W(0, 0x70, 4), R(0, 4, 0x00800080)]
    o += [W(0, 0x50, 4, note="erase setup sets SR.7"), W(0x80000, 0x20, 4), R(0, 4, 0x00800080),
          W(0, 0xD0, 4), W(0, 0x50, 4), RESET(note="reset sets status 0x80"), W(0, 0x70, 4),
          R(0, 4, 0x00800080), W(0, 0xFF, 4)]
    o += [W(0x100, 0x40, 4, note="byte program at a sub-word offset"), W(0x101, 0x12, 1),
          W(0, 0xFF, 4), R(0x100, 4, 0xFFFF12FF), W(0x100, 0x40, 4), W(0x102, 0x3456, 2),
          W(0, 0xFF, 4), R(0x100, 4, 0x345612FF), R(0x102, 2, 0x3456), R(0x101, 1, 0x12)]
    o += [W(0x4000, 0xE8, 4, note="buffer: each write consumes one count whatever its width"),
          W(0x4000, 0x2, 4), W(0x4000, 0xAAAA, 2), W(0x4002, 0xBB, 1), W(0x4004, 0xCCCCCCCC, 4),
          W(0x4000, 0xD0, 4), R(0x4000, 4, 0x00800080), W(0, 0xFF, 4),
          R(0x4000, 4, 0xFFBBAAAA), R(0x4004, 4, 0xCCCCCCCC)]
    o += [W(0x4800, 0xE8, 4, note="buffer data may come in any order inside the window"),
          W(0x4FFC, 0x1, 2), W(0x4FFC, 0x11111111, 4), W(0x4000 + 0x800, 0x22222222, 4),
          W(0, 0xD0, 4), W(0, 0xFF, 4), R(0x4800, 4, 0x22222222), R(0x4FFC, 4, 0x11111111)]
    o += [W(0x8000, 0x60, 4, note="0x60 then a bad byte: RA"), W(0x8000, 0x2F, 4),
          R(0x8000, 4, 0xFFFFFFFF), W(0x8000, 0x60, 4), W(0x8000, 0xFF, 4), R(0, 4, 0xFFFFFFFF)]
    o += [W(0, 0x70, 4, note="status at any address and width"), R(0x3FFFFFC, 4, 0x00800080),
          R(0x1234, 2, 0x0080), R(0x2345, 1, 0x80), W(0, 0x00, 4, note="0x00 = read array"),
          R(0x100, 4, 0x345612FF)]
    o += [W(0, 0x90, 4, note="0x90 keeps wcycle 0: next write is a command"),
          W(0, 0x98, 4), R(0x40, 4, 0x00510051), W(0, 0xFF, 4)]
    o += [W(0, 0x98, 4, note="step 0 and bare step: nothing pending on cfi01"), STEP(0),
          STEP(), STEP(1000), R(0x40, 4, 0x00510051), W(0, 0xFF, 4)]
    F["virt-odds"] = ("virt", o)

    # ---- cfi02 lazy ROMD counting and reset/suspend interplay
    def suspend(a):
        return SE(a) + [STEP(50000), W(0, 0xB0, 2)]

    z2 = []
    z2 += suspend(0x10000)
    z2[0]["note"] = "F0 does not clear the lazy read counter"
    z2 += [R(0x10000, 2) for _ in range(30)]
    z2 += [W(0, 0xF0, 2, note="RESET via pre-check")] + [R(0x10000, 2) for _ in range(12)]
    z2 += [R(0x10000, 2, None, note="43rd counted read: still status"),
           R(0x10000, 2, 0xFFFF, note="44th: ROMD")]
    z2 += [W(0, 0x30, 2, note="resume"), STEP()]
    z2 += suspend(0x20000)
    z2[-1]["note"] = "0xB0 at wcycle 0 clears the lazy read counter"
    z2 += [R(0x20000, 2) for _ in range(30)]
    z2 += [W(0, 0xB0, 2, note="ignored, but ROMD off + counter 0")]
    z2 += [R(0x20000, 2) for _ in range(42)]
    z2 += [R(0x20000, 2, None, note="43rd after B0: still status"),
           R(0x20000, 2, 0xFFFF, note="44th: ROMD")]
    z2 += [W(0, 0x30, 2, note="resume"), STEP()]
    z2 += suspend(0x30000)
    z2[-1]["note"] = "reads at wcycle 1 are not counted"
    z2 += [R(0x30000, 2) for _ in range(10)]
    z2 += [W(0xAAA, 0xAA, 2, note="wcycle 0 write: counter = 0")]
    z2 += [R(0x30000, 2) for _ in range(30)]
    z2 += [W(0x554, 0x00, 2, note="RESET from wcycle 1; counter not touched")]
    z2 += [R(0x30000, 2) for _ in range(42)]
    z2 += [R(0x30000, 2, None, note="43rd counted read: still status"),
           R(0x30000, 2, 0xFFFF, note="44th: ROMD")]
    z2 += [W(0, 0x30, 2, note="resume"), STEP()]
    z2 += suspend(0x40000)
    z2[-1]["note"] = "device reset keeps suspend, ROMD state and the lazy counter"
    z2 += [R(0x40000, 2) for _ in range(20)]
    z2 += [RESET()] + [R(0x40000, 2) for _ in range(22)]
    z2 += [R(0x40000, 2, None, note="43rd counted read (across the reset): still status"),
           R(0x40000, 2, 0xFFFF, note="44th: ROMD"),
           W(0, 0x30, 2, note="resume after reset works"), R(0x40000, 2, None),
           STEP(), R(0x40000, 2, 0xFFFF)]
    F["musicpal-lazy-romd"] = ("musicpal", z2)

    x = []
    x += SE(0x10000)
    x[0]["note"] = "F0 after DQ3 rose is ignored; erase still completes"
    x += [STEP(50000), W(0, 0xF0, 2), R(0x10000, 2, None), STEP(512000),
          R(0x10000, 2, 0xFFFF)]
    x += U() + [W(0xAAA, 0x20, 2, note="erase in bypass returns to bypass"),
                W(0x20000, 0xA0, 2), W(0x20000, 0x0, 2), W(0x1234, 0x80, 2)] + U() + \
        [W(0x20000, 0x30, 2), R(0x20000, 2, None), STEP(), STEP(), R(0x20000, 2, 0xFFFF),
         W(0x3456, 0xA0, 2, note="still in bypass: A0 anywhere"), W(0x20002, 0x0, 2),
         R(0x20002, 2, 0x0), W(0, 0xF0, 2, note="F0 leaves bypass")]
    x += [W(0x800AAA, 0xAA, 2, note="unlock through mirrors"), W(0x1800554, 0x55, 2),
          W(0x1000AAA, 0x90, 2), R(0x1800000, 2, 0xBF), W(0x800000, 0xF0, 2)]
    x += SE(0x50000)
    x[-1]["note"] = "step 0 fires nothing; bare step jumps to the window deadline"
    x += [STEP(0), R(0x50000, 2, None), STEP(), R(0x50000, 2, None), STEP(),
          R(0x50000, 2, 0xFFFF)]
    x += suspend(0x60000)
    x[-1]["note"] = "erase command while suspended RESETs at wcycle 5"
    x += U() + [W(0xAAA, 0x80, 2)] + U() + [W(0x70000, 0x30, 2), R(0x70000, 2, 0xFFFF),
                                            STEP(), R(0x60000, 2, None),
                                            W(0, 0x30, 2), STEP(), R(0x60000, 2, 0xFFFF)]
    x += SE(0x90000)
    x[-1]["note"] = "same sector queued twice doubles the time"
    x += [W(0x90000, 0x30, 2), STEP(50000), STEP(512000), R(0x90000, 2, None),
          STEP(512000), R(0x90000, 2, 0xFFFF)]
    x += [W(0xAAA, 0xAA, 2, note="reads during the erase unlock sequence: array data"),
          W(0x554, 0x55, 2), W(0xAAA, 0x80, 2), R(0xA0000, 2, 0xFFFF), W(0xAAA, 0xAA, 2),
          R(0xA0000, 2, 0xFFFF), W(0, 0xF0, 2)]
    x += U() + [W(0xAAA, 0x90, 2, note="readl/readb in autoselect"), R(0, 1, 0xBF),
                R(1, 1, 0xBF), R(4, 4, 0), R(0x1C, 4, 0), W(0, 0xF0, 2)]
    F["musicpal-misc"] = ("musicpal", x)

    for name, (board, ops) in F.items():
        for op in ops:
            if op.get("expect") is None:
                op.pop("expect", None)
        check_ops(board, ops)
    return F


# ---------------------------------------------------------------------------
# running

def write_ops(path, ops):
    with open(path, "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(o, separators=(",", ":")) for o in ops) + "\n]\n")


def run_oracle(args, board, ops_path, trace_path):
    b = BOARDS[board]
    cmd = [sys.executable, args.oracle, b["machine"], hx(b["base"]), b["size"], ops_path,
           "-o", trace_path, "--qemu", args.qemu, "--module-dir", args.module_dir]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stderr.strip()


def parse_seeds(s):
    out = []
    for part in s.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out += list(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--seeds", default="1-14")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--oracle", default=DEFAULT_ORACLE)
    ap.add_argument("--qemu", default="qemu-system-arm")
    ap.add_argument("--module-dir", default=os.environ.get("QEMU_MODULE_DIR", "/tmp/qtest-accel"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-facts", action="store_true")
    ap.add_argument("--facts-only", action="store_true")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--verify", action="store_true",
                    help="re-run stored op lists and compare with the stored traces")
    args = ap.parse_args()

    jobs = []   # (name, board, ops)
    if not args.facts_only:
        for board in args.boards.split(","):
            for seed in parse_seeds(args.seeds):
                jobs.append(("%s-%d" % (board, seed), board, generate(board, seed)))
    if not args.no_facts:
        for name, (board, ops) in facts().items():
            if board in args.boards.split(","):
                jobs.append(("fact-" + name, board, ops))

    if args.verify:
        return verify(args, jobs)

    os.makedirs(args.out, exist_ok=True)
    for name, board, ops in jobs:
        write_ops(os.path.join(args.out, name + ".ops.json"), ops)
    total = sum(len(j[2]) for j in jobs)
    print("%d op lists, %d ops" % (len(jobs), total))
    if args.generate_only:
        return 0

    def one(job):
        name, board, ops = job
        rc, err = run_oracle(args, board, os.path.join(args.out, name + ".ops.json"),
                             os.path.join(args.out, name + ".trace.json"))
        return name, rc, err

    bad = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as ex:
        for name, rc, err in ex.map(one, jobs):
            tr = json.load(open(os.path.join(args.out, name + ".trace.json")))
            mism = [t for t in tr["trace"] if t.get("match") is False]
            status = "ok" if rc == 0 else ("EXPECT-MISMATCH" if rc == 1 else "ERROR")
            print("%-40s %-16s %4d ops%s" % (name, status, len(tr["trace"]),
                                             "  " + err if rc == 2 else ""))
            for t in mism:
                print("    op %d: read %s w%d = %s, spec expects %s  (%s)" % (
                    t["i"], t["addr"], t["width"], t["hex"], t["expect"], t.get("note", "")))
            if "error" in tr:
                bad += 1
    return 1 if bad else 0


def verify(args, jobs):
    bad = 0
    for name, board, ops in jobs:
        ops_path = os.path.join(args.out, name + ".ops.json")
        stored = json.load(open(ops_path))
        if stored != ops:
            print("%s: generator output differs from the stored op list" % name)
            bad += 1
            continue
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            run_oracle(args, board, ops_path, tmp.name)
            new = json.load(open(tmp.name))
        old = json.load(open(os.path.join(args.out, name + ".trace.json")))
        va = [t.get("val") for t in old["trace"]]
        vb = [t.get("val") for t in new["trace"]]
        same = va == vb and old["image_sha256"] == new["image_sha256"]
        print("%-40s %s" % (name, "same" if same else "DIFFERENT"))
        bad += not same
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
