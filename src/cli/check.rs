//! What `--check-config` checks beyond the file itself: everything the
//! program will open when it runs. A mail setup that cannot work (args.txt
//! missing, unparseable, without server, sender or receivers, a `--cacert`
//! it names missing) and a TLS or ssh file the configuration names that
//! cannot be read are errors (exit 2); an args.txt holding `--password`
//! that others may read, and a `state_dir` the program cannot write, are
//! warnings (the program runs, less safely).
//!
//! A check that can take so long that the systemd watchdog may kill the
//! process (2 × connect_timeout reaching half of `WatchdogSec`) is a
//! warning too.
//!
//! Files left to their defaults (`~/.postgresql/root.crt`, `~/.ssh/...`)
//! are not reported: a missing default only means "not used". A file
//! readable here may still be unreadable for the service's user when
//! `--check-config` runs as root.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::{CliError, EXIT_USAGE};
use crate::config::tls::TlsSettings;
use crate::config::{Program, Settings};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The program runs, with less safety.
    Warning,
    /// Something the program needs will fail.
    Error,
}

/// One thing `--check-config` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{tag}: {}", self.text)
    }
}

fn error(text: String) -> Finding {
    Finding {
        severity: Severity::Error,
        text,
    }
}

fn warning(text: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        text,
    }
}

/// Everything `program` will use, checked.
pub fn check(program: Program, s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    match program {
        Program::Pgpwatch => {
            watchdog(&mut out, "pgp", s.pgp.connect_timeout, watchdog_interval());
            tls_files(&mut out, "pgp", &s.pgp.tls);
            tls_files(&mut out, "poolstatus", &s.poolstatus.tls);
            ssh_files(&mut out, s);
            mail(&mut out, program, s);
        }
        Program::Repmgrwatch => {
            watchdog(
                &mut out,
                "repmgr",
                s.repmgr.connect_timeout,
                watchdog_interval(),
            );
            tls_files(&mut out, "repmgr", &s.repmgr.tls);
            mail(&mut out, program, s);
        }
        Program::Poolstatus => {
            tls_files(&mut out, "poolstatus", &s.poolstatus.tls);
            ssh_files(&mut out, s);
        }
    }
    out
}

/// `WatchdogSec=` of the shipped units.
pub const UNIT_WATCHDOG: Duration = Duration::from_secs(30);

/// The watchdog interval: `$WATCHDOG_USEC` when systemd set it (run from
/// the unit, e.g. `ExecStartPre=`), else the shipped units' 30 s; whether
/// it was assumed.
fn watchdog_interval() -> (Duration, bool) {
    match std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(us) if us > 0 => (Duration::from_micros(us), false),
        _ => (UNIT_WATCHDOG, true),
    }
}

/// The longest check is about 2 × connect_timeout (a probe, then a second
/// connection); at half the watchdog interval a slow check risks the kill.
fn watchdog(
    out: &mut Vec<Finding>,
    section: &str,
    connect_timeout: Duration,
    (interval, assumed): (Duration, bool),
) {
    let longest = connect_timeout.saturating_mul(2);
    if longest < interval / 2 {
        return;
    }
    let whence = if assumed {
        "assumed: WatchdogSec=30 of the shipped unit; $WATCHDOG_USEC is not set"
    } else {
        "$WATCHDOG_USEC"
    };
    out.push(warning(format!(
        "[{section}] connect_timeout {}: a check may take 2 x {} = {}, half or more of the systemd watchdog interval ({} s, {whence});          a hung peer could get the process killed: lower connect_timeout below {} s or raise WatchdogSec= in a drop-in",
        secs(connect_timeout),
        secs(connect_timeout),
        secs(longest),
        interval.as_secs_f64(),
        interval.as_secs_f64() / 4.0
    )));
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// A file the configuration names: it must exist and be readable.
fn readable(out: &mut Vec<Finding>, what: &str, path: &Path) {
    if let Err(e) = File::open(path) {
        out.push(error(format!("{what} {}: {e}", path.display())));
    }
}

fn tls_files(out: &mut Vec<Finding>, section: &str, tls: &TlsSettings) {
    for (key, path) in [
        ("sslrootcert", &tls.root_cert),
        ("sslcert", &tls.cert),
        ("sslkey", &tls.key),
    ] {
        if let Some(p) = path {
            readable(out, &format!("[{section}] {key}"), p);
        }
    }
}

fn ssh_files(out: &mut Vec<Finding>, s: &Settings) {
    if let Some(p) = &s.poolstatus.ssh_key {
        readable(out, "[poolstatus] ssh_key", p);
    }
    if let Some(p) = &s.poolstatus.ssh_known_hosts {
        readable(out, "[poolstatus] ssh_known_hosts", p);
    }
}

fn mail(out: &mut Vec<Finding>, program: Program, s: &Settings) {
    if !s.general.sendmail {
        return;
    }
    let path = &s.general.sendmail_settings_path;
    if let Err(e) = File::open(path) {
        out.push(error(format!(
            "[general] sendmail_settings_path {}: {e} (sendmail = yes: every mail would fail)",
            path.display()
        )));
        state_dir(out, program, &s.general.state_dir);
        return;
    }
    match crate::mail::read_args_file(path) {
        Err(source) => out.push(error(
            crate::mail::WatcherMailError::Options {
                file: path.clone(),
                source,
            }
            .to_string(),
        )),
        Ok(file) => {
            if let Some(ca) = &file.settings.tls.cacert {
                readable(out, &format!("--cacert in {}:", path.display()), ca);
            }
        }
    }
    if let Some(w) = args_mode_warning(path) {
        out.push(w);
    }
    state_dir(out, program, &s.general.state_dir);
}

/// args.txt holding `--password` must not be readable by group or others.
fn args_mode_warning(path: &Path) -> Option<Finding> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    // --password, or an abbreviation argparse accepts (--pa, --pass=...).
    let has_password = text.lines().any(|l| l.trim_start().starts_with("--pa"));
    has_password.then(|| {
        warning(format!(
            "{} holds --password and is readable by {} (mode {mode:04o}): chmod 600 {} (owner: the user the watcher runs as)",
            path.display(),
            if mode & 0o007 != 0 { "everyone" } else { "its group" },
            path.display()
        ))
    })
}

/// The spool directory, `state_dir/<program>`, must be creatable and writable.
fn state_dir(out: &mut Vec<Finding>, program: Program, dir: &Path) {
    let spool = dir.join(program.name());
    // The nearest part of the path that exists decides.
    let mut at = spool.as_path();
    while !at.exists() {
        match at.parent() {
            Some(p) => at = p,
            None => return,
        }
    }
    let ok = at.is_dir() && crate::plumbing::os::dir_writable(at);
    if !ok {
        out.push(warning(format!(
            "[general] state_dir: {} cannot be {} ({} is not a writable directory); \
             mail would be queued in memory only (lost if the process dies) and the gate state not kept",
            spool.display(),
            if at == spool { "written" } else { "created" },
            at.display()
        )));
    }
}

/// Prints the `--check-config` listing: settings, then one `warning:` line
/// each, then what [`check`] found of the files and directories
/// `program` will use (`warning:`/`error:` lines), then one `warning:` line
/// per host reached below `sslmode=verify-full`. Returns the exit code: 0,
/// or [`EXIT_USAGE`] when something the program needs will fail.
pub fn print_check_config(
    program: Program,
    settings: &Settings,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let mut text = settings.render();
    for w in &settings.warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    let findings = check(program, settings);
    for f in &findings {
        text.push_str(&format!("{f}\n"));
    }
    for w in settings.tls_warnings(program) {
        text.push_str(&format!("warning: {w}\n"));
    }
    out.write_all(text.as_bytes()).map_err(CliError::Output)?;
    let failed = findings.iter().any(|f| f.severity == Severity::Error);
    Ok(if failed { EXIT_USAGE } else { 0 })
}

#[cfg(test)]
mod tests;
