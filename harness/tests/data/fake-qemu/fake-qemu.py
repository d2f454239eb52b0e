#!/usr/bin/env python3
"""A fake qemu-system-* for norcompat's QEMU driver tests (harness/tests/qemu_driver.rs).

It starts as real QEMU does under the harness: it parses `-qtest unix:PATH` and
`-qmp unix:PATH`, connects to both sockets (the harness listens), sends the QMP
greeting and accepts `qmp_capabilities`. It answers the qtest commands the
harness sends (reads see what was written, `clock_step` moves a clock) and the
QMP commands it uses (`stop`, `cont`, `system_reset` with its RESET event,
`migrate` and `migrate-incoming` with `exec:` URIs, `query-status`,
`query-migrate`), so it passes `locate()`'s probe (`-version`, then
`clock_step 1` answered `OK 1`).

Then it misbehaves as told, by `--fake-mode=MODE` (e.g. through a version
file's `[emulator] args`) or the environment variable FAKE_QEMU_MODE:

  crash       writes a message on stderr and exits 3 on a qtest command
  hang        writes a message on stderr and stops answering anything
  garbage     answers a qtest command with a line that is not OK/FAIL/IRQ
  binary      answers a qtest command with bytes that are not UTF-8
  fail        answers a qtest command with FAIL
  exit-early  writes a message on stderr and exits 2 before connecting
  no-connect  writes a message on stderr and never connects
  bad-json    answers a QMP command (after the handshake) with non-JSON
  inmigrate   never finishes an incoming migration (as QEMU 7.2 on an empty
              stream): query-status stays `inmigrate`
  (none)      behaves

`--fake-fail-after=N` (or FAKE_QEMU_FAIL_AFTER) lets the first N commands of
the channel the mode concerns (qtest, or QMP for bad-json) be answered
normally. `--fake-incoming-only` misbehaves only in a process started with
`-incoming`. `--fake-stream=FILE` is the stream `migrate` writes (otherwise a
bare header). Every run but `-version` first names its pid on stderr
(`fake-qemu: started, pid N`). `--fake-grandchild` starts a `sleep` child first and names its
pid on stderr (`fake-qemu: grandchild pid N`), to check that killing QEMU
kills what it started.
"""

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

VERSION_LINE = "QEMU emulator version 7.2.0 (norcompat fake-qemu)"
# QEMU_VM_FILE_MAGIC, QEMU_VM_FILE_VERSION 3, QEMU_VM_EOF.
BARE_STREAM = b"QEVM\x00\x00\x00\x03\x1f"


def say(msg):
    sys.stderr.write("fake-qemu: " + msg + "\n")
    sys.stderr.flush()


def options(argv):
    o = {
        "qtest": None,
        "qmp": None,
        "incoming": "-incoming" in argv,
        "mode": os.environ.get("FAKE_QEMU_MODE", ""),
        "after": int(os.environ.get("FAKE_QEMU_FAIL_AFTER", "0")),
        "incoming_only": False,
        "stream": None,
        "grandchild": False,
    }
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-qtest", "-qmp") and i + 1 < len(argv):
            v = argv[i + 1]
            if v.startswith("unix:"):
                o[a[1:]] = v[len("unix:"):].split(",")[0]
            i += 1
        elif a.startswith("--fake-mode="):
            o["mode"] = a.split("=", 1)[1]
        elif a.startswith("--fake-fail-after="):
            o["after"] = int(a.split("=", 1)[1])
        elif a == "--fake-incoming-only":
            o["incoming_only"] = True
        elif a.startswith("--fake-stream="):
            o["stream"] = a.split("=", 1)[1]
        elif a == "--fake-grandchild":
            o["grandchild"] = True
        i += 1
    if o["incoming_only"] and not o["incoming"]:
        o["mode"] = ""
    return o


def hang():
    say("hanging (mode hang)")
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(3600)


class Fake:
    def __init__(self, o, qtest, qmp):
        self.o = o
        self.qtest = qtest
        self.qmp = qmp
        self.mem = {}
        self.clock = 0
        self.status = "inmigrate" if o["incoming"] else "running"
        self.qtest_count = 0
        self.qmp_count = 0

    def misbehaves(self, count):
        return count >= self.o["after"]

    def qtest_answer(self, line):
        mode = self.o["mode"]
        if mode in ("crash", "hang", "garbage", "binary", "fail"):
            n = self.qtest_count
            self.qtest_count += 1
            if self.misbehaves(n):
                if mode == "crash":
                    say("crashed on purpose (mode crash) at '%s'" % line)
                    os._exit(3)
                if mode == "hang":
                    hang()
                if mode == "garbage":
                    say("answering garbage (mode garbage)")
                    return b"BANANA 42\n"
                if mode == "binary":
                    say("answering bytes (mode binary)")
                    return b"OK \xff\xfe\n"
                if mode == "fail":
                    return b"FAIL unknown command\n"
        words = line.split()
        if not words:
            return b"FAIL empty\n"
        cmd = words[0]
        if cmd.startswith("read") and len(cmd) == 5 and len(words) == 2:
            return ("OK 0x%x\n" % self.mem.get(int(words[1], 0), 0)).encode()
        if cmd.startswith("write") and len(cmd) == 6 and len(words) == 3:
            self.mem[int(words[1], 0)] = int(words[2], 0)
            return b"OK\n"
        if cmd == "clock_step":
            self.clock += int(words[1], 0) if len(words) > 1 else 1000
            return ("OK %d\n" % self.clock).encode()
        if cmd == "read" and len(words) == 3:
            return ("OK 0x" + "00" * int(words[2], 0) + "\n").encode()
        return b"FAIL unknown command\n"

    def qmp_answer(self, line):
        msg = json.loads(line)
        cmd = msg.get("execute")
        args = msg.get("arguments", {})
        if cmd != "qmp_capabilities" and self.o["mode"] == "bad-json":
            n = self.qmp_count
            self.qmp_count += 1
            if self.misbehaves(n):
                say("answering non-JSON (mode bad-json)")
                return [b"this is { not JSON\n"]
        ret = {}
        events = []
        if cmd == "query-status":
            ret = {"status": self.status, "running": self.status == "running"}
        elif cmd == "stop":
            self.status = "paused"
        elif cmd == "cont":
            self.status = "running"
        elif cmd == "system_reset":
            events.append({"event": "RESET", "data": {"guest": False}})
        elif cmd == "migrate":
            path = args["uri"].split(">", 1)[1].strip()
            if self.o["stream"]:
                shutil.copyfile(self.o["stream"], path)
            else:
                with open(path, "wb") as f:
                    f.write(BARE_STREAM)
            self.status = "postmigrate"
        elif cmd == "query-migrate":
            ret = {"status": "completed"}
        elif cmd == "migrate-incoming":
            if self.o["mode"] == "inmigrate":
                say("waiting for a stream forever (mode inmigrate)")
            else:
                self.status = "running"
        elif cmd in ("qmp_capabilities", "quit"):
            pass
        else:
            return [(json.dumps({"error": {"class": "CommandNotFound",
                                           "desc": "fake: no %s" % cmd}}) + "\n").encode()]
        out = [(json.dumps({"return": ret}) + "\n").encode()]
        out += [(json.dumps(e) + "\n").encode() for e in events]
        if cmd == "quit":
            sys.exit(0)
        return out

    def run(self):
        bufs = {self.qtest: b"", self.qmp: b""}
        while True:
            ready, _, _ = select.select([self.qtest, self.qmp], [], [])
            for s in ready:
                data = s.recv(65536)
                if not data:
                    # The harness went away: so does QEMU.
                    sys.exit(0)
                bufs[s] += data
                while b"\n" in bufs[s]:
                    line, bufs[s] = bufs[s].split(b"\n", 1)
                    line = line.decode()
                    if s is self.qtest:
                        s.sendall(self.qtest_answer(line))
                    else:
                        for m in self.qmp_answer(line):
                            s.sendall(m)


def main(argv):
    if "-version" in argv:
        print(VERSION_LINE)
        return 0
    o = options(argv)
    say("started, pid %d" % os.getpid())
    if o["grandchild"]:
        child = subprocess.Popen(["sleep", "1000"])
        say("grandchild pid %d" % child.pid)
    if o["mode"] == "exit-early":
        say("exiting before connecting (mode exit-early)")
        return 2
    if o["mode"] == "no-connect":
        say("not connecting (mode no-connect)")
        while True:
            time.sleep(3600)
    if not o["qtest"] or not o["qmp"]:
        say("-qtest unix:PATH and -qmp unix:PATH are required")
        return 1
    qtest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    qtest.connect(o["qtest"])
    qmp = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    qmp.connect(o["qmp"])
    greeting = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},
                                    "package": "norcompat fake-qemu"},
                        "capabilities": ["oob"]}}
    qmp.sendall((json.dumps(greeting) + "\n").encode())
    Fake(o, qtest, qmp).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
