//! The `--help` texts: pgpwatch's, repmgrwatch's and poolstatus's (what
//! the program does, its flags from its table and the config.ini keys it
//! reads from the key table), sendmail's (its usage lines and its flags
//! table, which lives in the mail layer), and docs/operating.md's tables
//! of all four.

use super::watchers::{PGPWATCH, POOLSTATUS, REPMGRWATCH};
use crate::config::{self, Program};
use crate::flags::{Required, Table, Takes};
use crate::mail::options::SENDMAIL;
use crate::VERSION;

/// `@FILE`, which is not a flag, in every program's option list.
const AT_FILE: (&str, &str) = ("@FILE", "read further arguments from FILE, one per line");

/// The flags table of `program`.
pub fn table_of(program: Program) -> &'static Table {
    match program {
        Program::Pgpwatch => &PGPWATCH,
        Program::Repmgrwatch => &REPMGRWATCH,
        Program::Poolstatus => &POOLSTATUS,
    }
}

/// The `--help` text of `program`.
pub fn help(program: Program) -> String {
    let what = match program {
        Program::Pgpwatch => {
            "Opens [pgp] open_port while the local pgpool answers, closes it when not, and mails status changes."
        }
        Program::Repmgrwatch => {
            "Opens [repmgr] open_port on the lone repmgr master while no pgpool answers (or force_open)."
        }
        Program::Poolstatus => "Prints pgpool's nodes, repmgr's cluster, replication and disk use.",
    };
    format!(
        "{name} {VERSION}\n{what}\n\nUsage: {name} [OPTIONS]\n\nOptions:\n{options}\n{keys}",
        name = program.name(),
        options = table_of(program).options_help(&[AT_FILE]),
        keys = config::help_text(program),
    )
}

/// docs/operating.md's "Command lines": every program's flags table, in
/// Markdown (a test keeps the doc equal to it).
pub fn flags_markdown() -> String {
    let tables = [&PGPWATCH, &REPMGRWATCH, &POOLSTATUS, &SENDMAIL];
    let mut out = String::new();
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("### {}\n\n{}", t.program, t.markdown()));
    }
    out
}

/// The flags that choose what sendmail does rather than how it sends: left
/// out of the usage line's option list.
const SENDMAIL_MODES: &[&str] = &["--check", "--help", "--version"];

const SENDMAIL_ABOUT: &str = "\
Sends one HTML mail through an SMTP server with TLS and login, like
sendmail.py. Exit status 0 only when the server accepted the mail, 1 when
sending failed, 2 for bad arguments.

With --check (e.g. `sendmail --check @/root/pgpoolwatch/args.txt`), it
connects, starts TLS, logs in and quits without sending: exit 0 when the
login was accepted, else one line saying which step failed (--subject is
not needed then).
";

const SENDMAIL_AT_FILE: (&str, &str) = (
    "@ARGS_FILE",
    "read arguments from a file, one per line (args.txt);\narguments after it override the file's",
);

/// sendmail's `--help` text: the usage lines, what sendmail does, and its
/// flags table ([`SENDMAIL`]).
pub fn sendmail_help() -> String {
    let mut items = vec!["[@ARGS_FILE ...]".to_string()];
    for f in SENDMAIL
        .flags
        .iter()
        .filter(|f| !SENDMAIL_MODES.contains(&f.name))
    {
        let item = match f.takes {
            Takes::Switch => f.name.to_string(),
            Takes::One => format!("{} {}", f.name, f.value),
            Takes::OneOrMore => format!("{} {v} [{v} ...]", f.name, v = f.value),
        };
        items.push(if f.required == Required::No {
            format!("[{item}]")
        } else {
            item
        });
    }
    let lead = "usage: sendmail ";
    let mut usage = lead.to_string();
    let mut width = lead.len();
    for (i, item) in items.iter().enumerate() {
        if i > 0 && width + 1 + item.len() > 79 {
            usage.push('\n');
            usage.push_str(&" ".repeat(lead.len()));
            width = lead.len();
        } else if i > 0 {
            usage.push(' ');
            width += 1;
        }
        usage.push_str(item);
        width += item.len();
    }
    format!(
        "{usage}\n       sendmail --check [@ARGS_FILE ...] [options as above]\n\n{SENDMAIL_ABOUT}\n{}",
        SENDMAIL.options_help(&[SENDMAIL_AT_FILE])
    )
}
