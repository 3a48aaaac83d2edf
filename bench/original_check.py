#!/usr/bin/python3
"""Baseline for bin/bench: checks done the way the original scripts did them.

NOT the original code (Python 2.7 is not installable on Debian 12; this is
python3): a small script of ours that issues the same commands, one after
another, as the original watchers' check loops (docs/compatibility.md):

  pgp     one pgpwatch check = `runuser -l postgres -c '<python3>
          original_poolstatus.py ...'` (psql show pool_nodes, repmgr cluster
          show over ssh, replication and event queries with psql, ps and df
          over ssh), healthy iff it exits 0
  repmgr  one repmgrwatch check = `runuser -u postgres -- repmgr -f CONF
          cluster show` plus a TCP connect (no timeout, as the original) to
          each pgpool's check port
  gate    the original's port: bind + listen, never accept; a client
          connects and closes COUNT times (bounded by --max-seconds)

It runs --count checks back to back (--period 0) or with --period seconds of
sleep between them (the original slept check_period after each check) and
prints one JSON line: wall seconds of each check, CPU seconds (user+sys) of
this loop process and of all its waited-for children (runuser, python3,
psql, ssh, repmgr), and this process's VmRSS in kB.
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


def vmrss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tcp_check(host, port):
    # The original had no timeout: a black-holed pgpool blocks here.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["pgp", "repmgr", "gate"])
    p.add_argument("--sandbox", required=True, help="SANDBOX_DIR")
    p.add_argument("--net", type=int, required=True, help="SANDBOX_NET")
    p.add_argument("--pgpool", type=int, default=1)
    p.add_argument("--db", type=int, default=1)
    p.add_argument("--check-port", type=int, default=5432)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--period", type=float, default=0.0)
    p.add_argument("--gate-port", type=int, default=5590)
    p.add_argument("--max-seconds", type=float, default=20.0)
    p.add_argument("--timeout", type=float, default=1.0)
    a = p.parse_args()
    sb = a.sandbox
    pgp = lambda k: "127.%d.10.%d" % (a.net, k)

    if a.mode == "gate":
        return gate(a)

    if a.mode == "pgp":
        inner = " ".join([
            "/usr/bin/python3", os.path.join(HERE, "original_poolstatus.py"), pgp(a.pgpool),
            sb + "/ssh/id_ed25519", sb + "/ssh/known_hosts",
            "/usr/lib/postgresql/15/bin/repmgr", sb + "/db{n}/repmgr.conf"])
        check = lambda: subprocess.run(["runuser", "-l", "postgres", "-c", inner],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    else:
        conf = "%s/db%d/repmgr.conf" % (sb, a.db)

        def check():
            r = subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/repmgr",
                                "-f", conf, "cluster", "show"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd="/tmp")
            masters = [l for l in r.stdout.decode("utf-8", "replace").splitlines()
                       if "|" in l and l.split("|")[2].strip() in ("primary", "master")]
            up = [tcp_check(pgp(k), a.check_port) for k in (1, 2)]
            return r.returncode == 0 and len(masters) == 1 and len(up) == 2

    walls, oks = [], 0
    s0, c0 = cpu()
    for i in range(a.count):
        t = time.monotonic()
        oks += 1 if check() else 0
        walls.append(time.monotonic() - t)
        if a.period and i + 1 < a.count:
            time.sleep(a.period)
    s1, c1 = cpu()
    print(json.dumps({"mode": a.mode, "checks": a.count, "healthy": oks, "wall_s": walls,
                      "cpu_self_s": s1 - s0, "cpu_children_s": c1 - c0, "vmrss_kb": vmrss_kb()}))
    return 0


def gate(a):
    host = "127.%d.10.%d" % (a.net, a.pgpool)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, a.gate_port))
    srv.listen(5)  # and never accept(), as the original
    ok = fail = 0
    t0 = time.monotonic()
    while ok + fail < a.count and time.monotonic() - t0 < a.max_seconds:
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.settimeout(a.timeout)
        try:
            c.connect((host, a.gate_port))
            ok += 1
        except OSError:
            fail += 1
        finally:
            c.close()
    dt = time.monotonic() - t0
    srv.close()
    print(json.dumps({"mode": "gate", "attempted": ok + fail, "answered": ok, "failed": fail,
                      "seconds": dt, "client_timeout_s": a.timeout, "listen_backlog": 5}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
