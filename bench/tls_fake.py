#!/usr/bin/python3
"""bench/tls_fake.py BIN_DIR[=NAME] ...: sslmode=prefer against sslmode=disable
with no cluster, for when the sandbox is not at hand (bin/bench tls is the real
measure). A fake pgpool on 127.0.0.1 answers the TLS request with N (as a
pgpool without ssl does), accepts any user without a password, and answers
every query with an error; so every pgpwatch check is one full plain session
that fails at its query (pgpwatch's gate stays closed). For each BIN_DIR and
sslmode: pgpwatch at check_period 0.1 s for SECONDS_PER_RUN (env, default 30) under
`perf stat -e task-clock` (CPU of all threads, start included), CPU per
session, and RSS near the end; then poolstatus RUNS times (env, default
10; its ssh goes to a closed port), CPU and max RSS. Only processes started
here are stopped, by pid. Python 3 standard library only.
"""
import os
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time

SECONDS = int(os.environ.get("SECONDS_PER_RUN", "30"))
RUNS = int(os.environ.get("RUNS", "10"))
SSL_REQUEST, GSS_REQUEST = 80877103, 80877104


def msg(kind, body):
    return kind + struct.pack("!I", len(body) + 4) + body


class Fake(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    sessions = 0


class Handler(socketserver.BaseRequestHandler):
    def read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def handle(self):
        try:
            while True:
                (n,) = struct.unpack("!I", self.read(4))
                body = self.read(n - 4)
                code = struct.unpack("!I", body[:4])[0]
                if code in (SSL_REQUEST, GSS_REQUEST):
                    self.request.sendall(b"N")
                    continue
                break
            self.server.sessions += 1
            out = msg(b"R", struct.pack("!I", 0))
            for k, v in ((b"server_version", b"14.0"), (b"client_encoding", b"UTF8")):
                out += msg(b"S", k + b"\0" + v + b"\0")
            out += msg(b"K", struct.pack("!II", 1, 2)) + msg(b"Z", b"I")
            self.request.sendall(out)
            while True:
                kind = self.read(1)
                (n,) = struct.unpack("!I", self.read(4))
                self.read(n - 4)
                if kind != b"Q":
                    return
                err = b"SERROR\0VERROR\0C42000\0Mfake pgpool: no such query\0\0"
                self.request.sendall(msg(b"E", err) + msg(b"Z", b"I"))
        except (EOFError, OSError):
            return


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def mem_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k = line.split(":", 1)[0]
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(line.split()[1])
    return out


def children(pid):
    """Pids of the direct children of pid, from /proc."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def config(work, port, mode):
    return """[pgp]
pgpool_host = 127.0.0.1
pgpool_port = {port}
bind_address = 127.0.0.1
open_port = {gate}
check_period = 0.1
success_period = 1000000
connect_timeout = 1
mail_on_success = no
sslmode = {mode}

[general]
sendmail = no
poolstatus_user = root
state_dir = {work}/state-{mode}

[poolstatus]
pgpool_host = 127.0.0.1
pgpool_port = {port}
ssh_user = root
ssh_port = {closed}
ssh_key = {work}/key
ssh_known_hosts = {work}/known_hosts
connect_timeout = 1
sslmode = {mode}
""".format(port=port, gate=free_port(), mode=mode, work=work, closed=free_port())


def run(bin_dir, mode, work):
    srv = Fake(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cfg = os.path.join(work, "%s.ini" % mode)
    with open(cfg, "w") as f:
        f.write(config(work, srv.server_address[1], mode))
    log = open(os.path.join(work, "pgpwatch-%s.log" % mode), "ab")
    # perf stat's task-clock: the CPU of every thread, in nanoseconds (the
    # /proc ticks are 10 ms); the run includes the start, the same for all
    perf = os.path.join(work, "perf-%s" % mode)
    p = subprocess.Popen(["perf", "stat", "-x,", "-e", "task-clock", "-o", perf, "timeout", str(SECONDS),
                          os.path.join(bin_dir, "pgpwatch"), "--config", cfg], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, env=dict(os.environ, PGPOOLWATCH_LOG="error"))
    time.sleep(SECONDS - 2)
    out = {}
    for kid in children(children(p.pid)[0])[:1]:  # perf -> timeout -> pgpwatch
        out.update(mem_kb(kid))
    if p.wait(timeout=30) not in (0, 124) or not out:  # 124: timeout ended it
        raise RuntimeError("pgpwatch (%s, %s) failed: see %s" % (bin_dir, mode, log.name))
    with open(perf) as f:
        ms = [float(line.split(",")[0]) for line in f if "task-clock" in line][0]
    out["sessions"] = srv.sessions
    out["cpu_ms_per_session"] = ms / max(1, srv.sessions)
    cpus, rss = [], []
    for _ in range(RUNS):
        q = subprocess.Popen([os.path.join(bin_dir, "poolstatus"), "--config", cfg],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, ru = os.wait4(q.pid, 0)
        cpus.append(ru.ru_utime + ru.ru_stime)
        # /usr/bin/time's: wait4's ru_maxrss here would count this python's
        # RSS at the fork
        with tempfile.NamedTemporaryFile("r") as f:
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name, os.path.join(bin_dir, "poolstatus"),
                            "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rss.append(int(f.read().strip().splitlines()[-1]))
    srv.shutdown()
    srv.server_close()
    out["poolstatus_cpu_ms"] = 1000 * sum(cpus) / len(cpus)
    out["poolstatus_maxrss_kb"] = sorted(rss)[len(rss) // 2]
    return out


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) >= 2 else 2
    work = tempfile.mkdtemp(prefix="pgpoolwatch-tls-fake-")
    open(os.path.join(work, "key"), "w").close()
    open(os.path.join(work, "known_hosts"), "w").close()
    rows = []
    for arg in sys.argv[1:]:
        bin_dir, _, name = arg.partition("=")
        for mode in ("prefer", "disable"):
            r = run(os.path.abspath(bin_dir), mode, work)
            rows.append((name or bin_dir, mode, r))
            sys.stderr.write("%s %s: %r\n" % (name or bin_dir, mode, r))
    print("| binaries | sslmode | pgpwatch CPU per session | pgpwatch VmRSS (anon + file) | poolstatus CPU | poolstatus max RSS |")
    print("|---|---|---|---|---|---|")
    for name, mode, r in rows:
        print("| %s | %s | %.3f ms (%d sessions) | %.1f MB (%.1f + %.1f) | %.1f ms | %.1f MB |" % (
            name, mode, r["cpu_ms_per_session"], r["sessions"], r["VmRSS"] / 1024, r["RssAnon"] / 1024,
            r["RssFile"] / 1024, r["poolstatus_cpu_ms"], r["poolstatus_maxrss_kb"] / 1024))
    print("\nwork dir (configs, logs): %s; %.0f s per pgpwatch run, %d poolstatus runs" % (work, SECONDS, RUNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
