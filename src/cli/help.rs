//! The `--help` text of pgpwatch, repmgrwatch and poolstatus.

use super::VERSION;
use crate::config::{self, Program};

const COMMON_HELP: &str =
    "  --config PATH      config.ini to read (default /etc/pgpoolwatch/config.ini,
                     else /root/pgpoolwatch/config.ini: the first that exists)
  --check-config     print the effective settings and warnings, exit 0;
                     or print the problem on one line and exit 2
  -h, --help         print this help
  -V, --version      print the version
  @FILE              read further arguments from FILE, one per line";

/// The `--help` text of `program`: its own options, the common ones, and
/// the config.ini keys it reads (from the key table).
pub(super) fn help(program: Program) -> String {
    let (what, own) = match program {
        Program::Pgpwatch => (
            "Opens [pgp] open_port while the local pgpool answers, closes it when not, and mails status changes.",
            "  --check-period SECS  seconds between checks (overrides [pgp] check_period)
  --success-period N   Status OK mail every N-th check (overrides [pgp] success_period)
  --mail-on-success    send Status OK mails (overrides [pgp] mail_on_success)
  --run-once           check once, print the decision and what a running pgpwatch
                       would do, send the mails, do not open the port\n",
        ),
        Program::Repmgrwatch => (
            "Opens [repmgr] open_port on the lone repmgr master while no pgpool answers (or force_open).",
            "  --run-once         check once, print the decision and what a running repmgrwatch
                     would do (port, mails); no port, no mail; exit 0 on the healthy
                     path (one master, no alarm), else 1\n",
        ),
        Program::Poolstatus => (
            "Prints pgpool's nodes, repmgr's cluster, replication and disk use.",
            "  --json             print the report as JSON
  --nagios           print one line for Nagios/Icinga (POOLSTATUS OK - ... | perfdata),
                     exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad arguments)
  --warning-lag LAG  with --nagios: WARNING when a standby lags more (bytes, or kB/MB/GB/TB, 1024-based)
  --critical-lag LAG with --nagios: CRITICAL when a standby lags more\n",
        ),
    };
    format!(
        "{name} {VERSION}\n{what}\n\nUsage: {name} [OPTIONS]\n\nOptions:\n{own}{COMMON_HELP}\n\n{keys}",
        name = program.name(),
        keys = config::help_text(program),
    )
}
