#!/usr/bin/env python3
"""Capture a QEMU 7.2 migration stream after a few qtest writes.

usage: capture.py OUT MACHINE 'QTEST_CMD;QTEST_CMD;...' -- QEMU ARGS...
Runs qemu-system-arm with -accel qtest -qtest stdio, sends the qtest
commands, then over QMP: stop, migrate exec:cat > OUT, waits for completion
and quits QEMU (killing it if it does not exit).
"""
import json, os, socket, subprocess, sys, time

out, machine, cmds = sys.argv[1], sys.argv[2], sys.argv[3]
extra = sys.argv[sys.argv.index('--') + 1:]
sock = '/tmp/fcap/qmp-%d.sock' % os.getpid()
qemu = os.environ.get('NORCOMPAT_QEMU_7_2', 'qemu-system-arm')
argv = [qemu, '-M', machine, '-accel', 'qtest', '-qtest', 'stdio', '-display', 'none',
        '-nodefaults', '-qmp', 'unix:%s,server=on,wait=off' % sock] + extra
p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
try:
    def qtest(line):
        p.stdin.write(line + '\n'); p.stdin.flush()
        while True:
            resp = p.stdout.readline()
            if not resp:
                raise SystemExit('qemu exited')
            if resp.startswith('OK') or resp.startswith('FAIL') or resp.startswith('ERR'):
                print('qtest:', line, '->', resp.strip())
                return resp
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    for c in [c.strip() for c in cmds.split(';') if c.strip()]:
        qtest(c)
    s = socket.socket(socket.AF_UNIX); s.connect(sock)
    f = s.makefile('rw')
    def qmp(cmd, **args):
        f.write(json.dumps({'execute': cmd, 'arguments': args}) + '\n'); f.flush()
        while True:
            m = json.loads(f.readline())
            if 'return' in m or 'error' in m:
                return m
    json.loads(f.readline())
    qmp('qmp_capabilities')
    print(qmp('stop'))
    print(qmp('migrate', uri='exec:cat > %s' % out))
    for _ in range(600):
        st = qmp('query-migrate')['return'].get('status')
        if st in ('completed', 'failed'):
            print('migration', st)
            break
        time.sleep(0.1)
    qmp('quit')
    p.wait(timeout=10)
finally:
    if p.poll() is None:
        p.kill(); p.wait()
