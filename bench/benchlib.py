"""Shared helpers for bin/bench and bin/soak: the sandbox, watcher processes,
their gates, and /proc figures. Plain python3 standard library (Debian's
/usr/bin/python3), so a clean clone needs nothing else.

Every process started here is remembered by pid and stopped by pid
(`Procs.stop_all`); nothing is ever killed by name.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PYTHON = "/usr/bin/python3"


def log(msg):
    sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Sandbox:
    """bin/sandbox on its own net and directory."""

    def __init__(self, net, base):
        self.net = net
        self.base = base
        self.env = dict(os.environ, SANDBOX_NET=str(net), SANDBOX_DIR=base)

    def pgp(self, k):
        return "127.%d.10.%d" % (self.net, k)

    def db(self, n):
        return "127.%d.20.%d" % (self.net, n)

    def verb(self, *args, check=True, quiet=True):
        r = subprocess.run([os.path.join(ROOT, "bin", "sandbox")] + [str(a) for a in args],
                           env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise RuntimeError("bin/sandbox %s failed (exit %d):\n%s"
                               % (" ".join(map(str, args)), r.returncode, out))
        if not quiet:
            sys.stderr.write(out)
        return out

    def verb_async(self, *args):
        return subprocess.Popen([os.path.join(ROOT, "bin", "sandbox")] + [str(a) for a in args],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def pgpool_pid(self, k):
        # pgpool pads its pid file with NUL bytes: keep the digits of the first line
        try:
            with open(os.path.join(self.base, "pgp%d" % k, "run", "pgpool.pid"), "rb") as f:
                digits = bytes(c for c in f.readline() if 48 <= c <= 57)
            return int(digits or b"0")
        except (OSError, ValueError):
            return 0


def port_state(host, port, timeout=0.5):
    """'open', 'refused' or 'timeout'."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "timeout"
    finally:
        s.close()


def gate_state(host, port, timeout=2.0):
    """The gate's one-line JSON (dict), or None when it does not answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        body = data.split(b"\r\n\r\n", 1)[-1].strip()
        return json.loads(body.decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def wait_until(pred, seconds, step=0.05, what="condition"):
    end = time.monotonic() + seconds
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise TimeoutError("%s not reached within %.0f s" % (what, seconds))
        time.sleep(step)


def proc_cpu_s(pid):
    """user+sys seconds of a process (all its threads) from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


class Procs:
    """Processes we started; stopped by pid only."""

    def __init__(self):
        self.procs = []

    def start(self, argv, log_path, env=None, stdout=None):
        logf = open(log_path, "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else logf, stderr=logf,
                             env=env or os.environ.copy())
        self.procs.append(p)
        return p

    def stop(self, p, grace=15.0):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


def pgp_config(sb, k, period, connect_timeout=1, open_port=5559, sendmail=False, args_txt=None):
    return """# pgpwatch on pgp{k} (bench, SANDBOX_NET={net})
[pgp]
pgpool_host = {pgp}
pgpool_port = 5432
bind_address = {pgp}
open_port = {open_port}
check_period = {period}
success_period = 1000000
mail_on_success = no
connect_timeout = {ct}

[general]
sendmail = {sm}
sendmail_settings_path = {args}
poolstatus_user = postgres
state_dir = {base}/state/pgp{k}

[poolstatus]
pgpool_host = {pgp}
ssh_user = postgres
ssh_port = 2222
ssh_key = {base}/ssh/id_ed25519
ssh_known_hosts = {base}/ssh/known_hosts
connect_timeout = 2
""".format(k=k, net=sb.net, pgp=sb.pgp(k), open_port=open_port, period=period, ct=connect_timeout,
           sm="yes" if sendmail else "no", args=args_txt or sb.base + "/hosts/args.txt", base=sb.base)


def repmgr_config(sb, n, period, connect_timeout=1, check_port=5559, open_port=5560,
                  force_open=False, sendmail=False, args_txt=None):
    return """# repmgrwatch on db{n} (bench, SANDBOX_NET={net})
[repmgr]
pgp_server_1 = {p1}
pgp_server_2 = {p2}
check_port = {check_port}
open_port = {open_port}
node_name = db{n}
bind_address = {db}
repmgr_host = {db}
check_period = {period}
force_open = {fo}
connect_timeout = {ct}

[general]
sendmail = {sm}
sendmail_settings_path = {args}
poolstatus_user = postgres
state_dir = {base}/state/db{n}

[poolstatus]
pgpool_host = {p1}
ssh_user = postgres
ssh_port = 2222
ssh_key = {base}/ssh/id_ed25519
ssh_known_hosts = {base}/ssh/known_hosts
connect_timeout = 2
""".format(n=n, net=sb.net, p1=sb.pgp(1), p2=sb.pgp(2), check_port=check_port, open_port=open_port,
           db=sb.db(n), period=period, fo="yes" if force_open else "no", ct=connect_timeout,
           sm="yes" if sendmail else "no", args=args_txt or sb.base + "/hosts/args.txt", base=sb.base)


def with_fast_path(cfg_text, on):
    """A watcher config with `[general] fast_path` set (bin/bench reaction)."""
    return cfg_text.replace("[general]\n", "[general]\nfast_path = %s\n" % ("yes" if on else "no"), 1)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def children(pid):
    """(pid, state) of the direct children of pid, from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append((int(d), fields[0]))
    return out


def ensure_frozen(sb, k):
    """bin/sandbox freeze-pgpool lists pgpool's children before it stops the
    parent, so a child forked in between (pgpool respawns its children after
    a failover) keeps serving queries: a pgpool that is not frozen at all.
    Freeze again (the parent is stopped now, so the list is complete) until
    every child is stopped. Returns how many extra freezes were needed."""
    extra = 0
    for _ in range(5):
        pid = sb.pgpool_pid(k)
        if not pid:
            raise RuntimeError("pgp%d: cannot read pgpool's pid file under %s" % (k, sb.base))
        running = [c for c, st in children(pid) if st not in ("T", "t", "Z")] if pid else []
        if not running:
            return extra
        extra += 1
        log("pgp%d: %d child(ren) of pgpool %d still running after freeze: freezing again" % (k, len(running), pid))
        sb.verb("freeze-pgpool", k)
    raise RuntimeError("pgp%d: children of pgpool still running after 5 freezes" % k)
