#!/usr/bin/python3
"""Baseline for bin/bench: what the original poolstatus.py did, command by command.

NOT the original script (that was Python 2.7, which Debian 12 cannot install):
a small script of ours that issues the same external commands the original
issued, one after another, each a new process, no timeouts (docs/compatibility.md):

  psql  show pool_nodes on the pgpool (user pgpool, database postgres)
  ssh   the master: repmgr cluster show
  psql  the master: pg_stat_replication
  psql  the master: current WAL location;  psql  the slave: last received WAL location
  ssh   the master: ps (WAL sender);       ssh   the slave: ps (WAL receiver)
  psql  the master: number of repmgr events (all, last 24 h)
  ssh   the master: df /;                   ssh   the slave: df /

Like the original it reads two backends only (the master and the first
standby). It runs as postgres (the original was started with
`runuser -l postgres -c poolstatus.py`) and exits 0 when every command
succeeded, 1 otherwise (the original raised and exited non-zero when
`show pool_nodes` failed).

usage: original_poolstatus.py PGPOOL_HOST SSH_KEY KNOWN_HOSTS REPMGR_BIN REPMGR_CONF_PATTERN
       (REPMGR_CONF_PATTERN has {n}: the repmgr.conf of node n on its host)
"""
import subprocess
import sys

PSQL = "/usr/bin/psql"


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sys.stdout.write(p.stdout.decode("utf-8", "replace"))
    return p.returncode == 0, p.stdout.decode("utf-8", "replace")


def psql(host, sql, user="pgpool", db="postgres"):
    return run([PSQL, "-X", "-h", host, "-p", "5432", "-U", user, "-d", db, "-c", sql])


def main():
    pgpool, key, known, repmgr_bin, conf_pat = sys.argv[1:6]

    def ssh(host, command):
        return run(["ssh", "-n", "-i", key, "-o", "UserKnownHostsFile=" + known,
                    "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                    "-p", "2222", "postgres@" + host, command])

    ok, out = psql(pgpool, "show pool_nodes")
    if not ok:
        print("Traceback: show pool_nodes failed")
        return 1
    master = slave = None
    master_id = slave_id = None
    for line in out.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) < 7 or not cols[0].isdigit():
            continue
        role = cols[6]
        if role in ("primary", "master") and master is None:
            master, master_id = cols[1], int(cols[0]) + 1
        elif role in ("standby", "slave") and slave is None:
            slave, slave_id = cols[1], int(cols[0]) + 1
    if master is None or slave is None:
        print("Traceback: no master/slave in show pool_nodes")
        return 1
    results = [
        ssh(master, repmgr_bin + " -f " + conf_pat.format(n=master_id) + " cluster show")[0],
        psql(master, "select * from pg_stat_replication")[0],
        psql(master, "select pg_current_wal_lsn()")[0],
        psql(slave, "select pg_last_wal_receive_lsn()")[0],
        ssh(master, "ps aux | grep 'walsender' | grep -v grep")[0],
        ssh(slave, "ps aux | grep 'walreceiver' | grep -v grep")[0],
        psql(master, "select count(*) from repmgr.events", "repmgr", "repmgr")[0],
        psql(master, "select count(*) from repmgr.events where event_timestamp > now() - interval '24 hours'",
             "repmgr", "repmgr")[0],
        ssh(master, "df /")[0],
        ssh(slave, "df /")[0],
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
