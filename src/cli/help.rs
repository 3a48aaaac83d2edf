//! The `--help` text of pgpwatch, repmgrwatch and poolstatus: what the
//! program does, its flags (from its table) and the config.ini keys it
//! reads (from the key table).

use super::watchers::{PGPWATCH, POOLSTATUS, REPMGRWATCH};
use super::{table::Table, VERSION};
use crate::config::{self, Program};

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
    let tables = [
        &PGPWATCH,
        &REPMGRWATCH,
        &POOLSTATUS,
        &super::sendmail::TABLE,
    ];
    let mut out = String::new();
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("### {}\n\n{}", t.program, t.markdown()));
    }
    out
}
