//! The flags tables: one static [`Table`] of [`Flag`] rows per program
//! (the watchers' in `crate::cli::watchers`, sendmail's in
//! `crate::mail::options`, beside the code that reads their values). A row
//! says everything the command line knows about a flag (its name and short
//! alias, how many values it takes, what `--help` says about it, its
//! default, whether it must be given, whether it is noticed on a refused
//! line), so that parsing ([`super::front`]) and `--help` ([`Table::options_help`])
//! come from the same place and adding a flag is one row.

/// How many values a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// None: `--insecure`. `--insecure=x` is an error.
    Switch,
    /// Exactly one: `--port 25`, `--port=25`.
    One,
    /// One or more (argparse's `nargs='+'`): `--receivers a b`; the `=`
    /// form takes exactly one.
    OneOrMore,
}

/// Whether a flag must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    No,
    /// Always (sendmail's `--user`, also in `--check` and in a watcher's
    /// args.txt).
    Yes,
    /// Only to send a mail from the command line: not for `sendmail
    /// --check`, nor in a watcher's args.txt, whose mails bring their own
    /// (sendmail's `--subject`).
    ToSend,
}

/// Whose rules apply where the programs differ (see [`super::front`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// sendmail: Python argparse's rules.
    Argparse,
    /// pgpwatch, repmgrwatch, poolstatus.
    Watchers,
}

/// One flag of one program: a row of its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// The full name, with its leading `--`.
    pub name: &'static str,
    /// An exact short spelling (`-h`), if any.
    pub short: Option<&'static str>,
    pub takes: Takes,
    /// What `--help` calls the value (`PATH`); empty for a flag.
    pub value: &'static str,
    /// The `--help` text; `\n` starts a continuation line.
    pub help: &'static str,
    /// The value when the flag is not given; `--help` ends the text with
    /// `(default X)` (`(default empty)` for an empty one).
    pub default: Option<&'static str>,
    pub required: Required,
    /// Noticed even on a line the front refuses, wherever it stands (as
    /// sendmail's `--help`, and poolstatus's `--nagios`, which decides how a
    /// bad line is reported).
    pub early: bool,
}

impl Flag {
    /// A flag that takes no value.
    pub const fn switch(name: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            short: None,
            takes: Takes::Switch,
            value: "",
            help,
            default: None,
            required: Required::No,
            early: false,
        }
    }

    /// A flag that takes one value, called `value` in `--help`.
    pub const fn one(name: &'static str, value: &'static str, help: &'static str) -> Flag {
        Flag {
            takes: Takes::One,
            value,
            ..Flag::switch(name, help)
        }
    }

    /// A flag that takes one or more values (`value ...` in `--help`).
    pub const fn one_or_more(name: &'static str, value: &'static str, help: &'static str) -> Flag {
        Flag {
            takes: Takes::OneOrMore,
            value,
            ..Flag::switch(name, help)
        }
    }

    /// With the short spelling `short`.
    pub const fn short(self, short: &'static str) -> Flag {
        Flag {
            short: Some(short),
            ..self
        }
    }

    /// With a default value.
    pub const fn default(self, value: &'static str) -> Flag {
        Flag {
            default: Some(value),
            ..self
        }
    }

    /// Required as `required` says.
    pub const fn required(self, required: Required) -> Flag {
        Flag { required, ..self }
    }

    /// Noticed even on a refused line.
    pub const fn early(self) -> Flag {
        Flag {
            early: true,
            ..self
        }
    }

    /// The left column of its `--help` line: `-h, --help`, `--config PATH`,
    /// `--receivers ADDR ...`.
    pub fn synopsis(&self) -> String {
        let mut s = match self.short {
            Some(short) => format!("{short}, {}", self.name),
            None => self.name.to_string(),
        };
        match self.takes {
            Takes::Switch => {}
            Takes::One => {
                s.push(' ');
                s.push_str(self.value);
            }
            Takes::OneOrMore => {
                s.push(' ');
                s.push_str(self.value);
                s.push_str(" ...");
            }
        }
        s
    }

    /// The `--help` text, with `(required)` or its default added.
    pub fn help_text(&self) -> String {
        let mut text = self.help.to_string();
        if self.required != Required::No {
            text.push_str(" (required)");
        }
        match self.default {
            None => {}
            Some("") => text.push_str(" (default empty)"),
            Some(d) => text.push_str(&format!(" (default {d})")),
        }
        text
    }
}

/// One program's command line: its flags (in the order `--help` lists
/// them and an ambiguous prefix names its candidates) and dialect.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub program: &'static str,
    pub flags: &'static [Flag],
    pub dialect: Dialect,
}

impl Table {
    /// The row of the flag named `name` (in full).
    pub fn flag(&self, name: &str) -> Option<&'static Flag> {
        self.flags.iter().find(|f| f.name == name)
    }

    /// The flag names, for "did you mean".
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.flags.iter().map(|f| f.name)
    }

    /// The options part of `--help`: one entry per row, in table order,
    /// then `extra` rows (`@FILE`, which is not a flag), each text starting
    /// in one column, two spaces right of the widest left column (that
    /// column on a line of its own when the left one is too wide).
    pub fn options_help(&self, extra: &[(&str, &str)]) -> String {
        let rows: Vec<(String, String)> = self
            .flags
            .iter()
            .map(|f| (f.synopsis(), f.help_text()))
            .chain(extra.iter().map(|(l, r)| (l.to_string(), r.to_string())))
            .collect();
        let width = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .filter(|&n| n <= MAX_LEFT)
            .max()
            .unwrap_or(0);
        let column = 2 + width + 2;
        let mut out = String::new();
        for (left, text) in rows {
            let mut head = format!("  {left}");
            if left.chars().count() > width {
                head.push('\n');
                head.push_str(&" ".repeat(column));
            } else {
                head.push_str(&" ".repeat(column - 2 - left.chars().count()));
            }
            out.push_str(&head);
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                    out.push_str(&" ".repeat(column));
                }
                out.push_str(line);
            }
            out.push('\n');
        }
        out
    }
}

impl Table {
    /// The flags as a Markdown table (docs/operating.md's "Command lines"
    /// come from it): the spelling with its value, and the `--help` text
    /// on one line.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| flag | what it does |\n|---|---|\n");
        for f in self.flags {
            let spelled = match f.short {
                Some(short) => format!(
                    "`{short}`, `{}`",
                    f.synopsis().replacen(&format!("{short}, "), "", 1)
                ),
                None => format!("`{}`", f.synopsis()),
            };
            let text = f.help_text().replace('\n', " ").replace('|', "\\|");
            out.push_str(&format!("| {spelled} | {text} |\n"));
        }
        out
    }
}

/// The widest left column `--help` aligns on.
const MAX_LEFT: usize = 24;
