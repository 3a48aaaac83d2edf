//! The one argument front of all four programs: driven by the program's
//! flags table ([`super::table`]), it turns an `@`-expanded argv into a
//! canonical list that pico-args then reads typed values from.
//!
//! What it settles, as Python argparse did for the original scripts: unique
//! prefixes of long options (`--conf` for `--config`; an ambiguous one is an
//! error naming the candidates), `--key value` and `--key=value`, flags that
//! take no value, `nargs='+'` options (sendmail's `--receivers`), short
//! aliases (`-h`), later-wins and defaults. The canonical list names each
//! option at most once, in full, its last occurrence's value(s) kept (or
//! its default), so a reader never has to know about abbreviations or
//! repeats. A line it refuses still says which of the table's early flags
//! it named (sendmail's `--help`, poolstatus's `--nagios`), so the program
//! answers such a line as it was asked to, with no second look at argv.
//!
//! The canonical form is chosen so pico-args cannot mistake a value for an
//! option: a value is written `--key=value`, never as a separate argument,
//! except when pico-args would change it in that form (an empty value, one
//! starting with a quote, which pico-args strips); then it is `--key`,
//! `value`, and such a value is never an option name itself. An option with
//! several values (`nargs='+'`) is written once per value, in order; read it
//! with `values_from_str`.
//!
//! Two dialects keep the programs' command lines as they were: sendmail's is
//! argparse's own (a value may not look like an option, an empty `--key=` is
//! an empty value, an unknown argument is an error at once); the watchers'
//! take any next argument that does not start with `--` as a value, refuse an
//! empty `--key=`, and leave unknown arguments in the list for the reader to
//! name (pico-args' `finish`), so `--help` still wins over them.

use std::ffi::OsString;
use std::fmt;

use super::argv::ArgsError;
use super::table::{Dialect, Flag, Table, Takes};

/// Why a command line could not be put into canonical form.
#[derive(Debug)]
pub enum ArgError {
    /// An `@file` could not be expanded.
    File(ArgsError),
    /// A prefix that more than one option starts with.
    Ambiguous {
        given: String,
        candidates: Vec<&'static str>,
    },
    /// An argument no option accounts for ([`Dialect::Argparse`] only),
    /// as [`name_argument`] names it: never with its value.
    Unrecognized(String),
    /// An option and its value in one argument, separated by whitespace
    /// (an args.txt line `--password Secret`).
    SpaceSeparated { option: &'static str },
    /// An option that takes one value got none; `inline` for `--key=`.
    NoValue { option: &'static str, inline: bool },
    /// An option that takes one or more values got none.
    NoValues { option: &'static str },
    /// A flag was given a value (`--flag=x`).
    FlagValue { option: &'static str },
}

/// The watchers' wording; sendmail words its own (in `crate::mail::options`).
impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::File(e) => write!(f, "{e}"),
            ArgError::Ambiguous { given, candidates } => write!(
                f,
                "ambiguous option: {given} could match {}",
                candidates.join(", ")
            ),
            ArgError::Unrecognized(a) => write!(f, "unrecognized argument: {a}"),
            ArgError::NoValue {
                option,
                inline: true,
            } => write!(f, "{option} needs a value"),
            ArgError::NoValue {
                option,
                inline: false,
            } => write!(f, "{option} needs a value ({option} VALUE)"),
            ArgError::NoValues { option } => write!(f, "{option} needs at least one value"),
            ArgError::FlagValue { option } => write!(f, "{option} takes no value"),
            ArgError::SpaceSeparated { option } => write!(
                f,
                "{option} and its value stand in one argument, separated by a space (in an argument file: write {option}=VALUE, or the value on the next line; the value is not shown)"
            ),
        }
    }
}

impl std::error::Error for ArgError {}

/// How an argument no option accounts for is named in an error: an
/// option's name without what follows it (`--passwd=Secret` is
/// `--passwd (its value is not shown)`), and anything else only by its
/// length. An unknown argument may be a password that lost its option, so
/// a "name" that does not look like one (options are lower-case words
/// joined by `-`) is not shown either.
pub fn name_argument(arg: &str) -> String {
    if arg.len() > 1 && arg.starts_with('-') {
        let end = arg
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(arg.len());
        let name = &arg[..end];
        let plausible = name.len() <= 40
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !plausible {
            return format!(
                "({} characters, not an option of any program; not shown)",
                arg.chars().count()
            );
        }
        if end == arg.len() {
            return name.to_string();
        }
        return format!("{name} (its value is not shown)");
    }
    format!(
        "({} characters, not an option; not shown)",
        arg.chars().count()
    )
}

/// [`name_argument`], with " (did you mean --config?)" when the argument
/// is a plausible option name within a couple of edits of one of `options`
/// (its value, if any, is still not shown).
pub fn name_unknown<'o>(arg: &str, options: impl Iterator<Item = &'o str>) -> String {
    let named = name_argument(arg);
    let name = named.split(' ').next().unwrap_or_default();
    if !name.starts_with("--") {
        return named;
    }
    match crate::plumbing::typo::closest(name, options) {
        Some(o) => format!("{named} (did you mean {o}?)"),
        None => named,
    }
}

/// A command line the front refused, with the early flags it named
/// anywhere (in table order).
#[derive(Debug)]
pub struct Refused {
    pub error: ArgError,
    pub early: Vec<&'static str>,
}

impl Refused {
    /// Whether the refused line named the early flag `name`.
    pub fn named(&self, name: &str) -> bool {
        self.early.contains(&name)
    }
}

/// A command line in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Each option once, in full, then unknown arguments (watchers).
    pub list: Vec<String>,
    /// The options the line gave (defaults not counted), in table order.
    given: Vec<&'static str>,
}

impl Line {
    /// Whether the line gave `name` (in full; a default does not count).
    pub fn given(&self, name: &str) -> bool {
        self.given.contains(&name)
    }

    /// pico-args over the canonical list.
    pub fn arguments(&self) -> pico_args::Arguments {
        pico_args::Arguments::from_vec(self.list.iter().map(OsString::from).collect())
    }
}

impl Table {
    /// `@`-expands `os_args` (program name excluded; the files' warnings
    /// go to the log) and puts the result in canonical form.
    pub fn read(&self, os_args: Vec<OsString>) -> Result<Line, Refused> {
        let mut warnings = Vec::new();
        let line = self.read_noting(os_args, &mut warnings);
        for w in warnings {
            log::warn!("{w}");
        }
        line
    }

    /// [`read`](Self::read), handing the warnings back (for `sendmail`,
    /// which logs nothing and prints its own). An `@file` that cannot be
    /// read leaves the early flags of the unexpanded arguments.
    pub fn read_noting(
        &self,
        os_args: Vec<OsString>,
        warnings: &mut Vec<String>,
    ) -> Result<Line, Refused> {
        match super::argv::expand_noting(os_args.iter().cloned()) {
            Ok((expanded, noted)) => {
                warnings.extend(noted);
                self.line(&expanded)
            }
            Err(e) => {
                let raw: Vec<String> = os_args
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                Err(Refused {
                    error: ArgError::File(e),
                    early: self.early_in(&raw, Vec::new()),
                })
            }
        }
    }

    /// The canonical form of already expanded arguments (see [`Line`]).
    pub fn canonical(&self, args: &[String]) -> Result<Vec<String>, ArgError> {
        self.line(args).map(|l| l.list).map_err(|r| r.error)
    }

    /// The canonical form of already expanded arguments: each option once,
    /// in full, with its last occurrence's values, then the defaults of
    /// those not given; unknown arguments of the watchers' dialect after
    /// them, in their order.
    pub fn line(&self, args: &[String]) -> Result<Line, Refused> {
        // (option, values) in order of last occurrence.
        let mut given: Vec<(&'static Flag, Vec<&str>)> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let at = i;
            let refuse = |error: ArgError, given: &[(&'static Flag, Vec<&str>)]| {
                let seen = given.iter().map(|(f, _)| f.name).collect();
                Err(Refused {
                    error,
                    early: self.early_in(&args[at..], seen),
                })
            };
            let arg = &args[i];
            i += 1;
            let (opt, inline) = match self.option_of(arg) {
                Ok(Some(found)) => found,
                Err(e) => return refuse(e, &given),
                Ok(None) => {
                    // `--password Secret` on one args.txt line.
                    if let Some((name, _)) = arg.split_once(char::is_whitespace) {
                        if let Ok(Some((opt, None))) = self.option_of(name) {
                            if opt.takes != Takes::Switch {
                                let e = ArgError::SpaceSeparated { option: opt.name };
                                return refuse(e, &given);
                            }
                        }
                    }
                    match self.dialect {
                        Dialect::Argparse => {
                            let e = ArgError::Unrecognized(name_unknown(arg, self.names()));
                            return refuse(e, &given);
                        }
                        Dialect::Watchers => {
                            unknown.push(arg.clone());
                            continue;
                        }
                    }
                }
            };
            let values: Vec<&str> = match (opt.takes, inline) {
                (Takes::Switch, None) => Vec::new(),
                (Takes::Switch, Some(_)) => {
                    return refuse(ArgError::FlagValue { option: opt.name }, &given)
                }
                (Takes::One, Some("")) if self.dialect == Dialect::Watchers => {
                    let e = ArgError::NoValue {
                        option: opt.name,
                        inline: true,
                    };
                    return refuse(e, &given);
                }
                (_, Some(v)) => vec![v],
                (Takes::One, None) => match args.get(i) {
                    Some(v) if self.is_value(v) => {
                        i += 1;
                        vec![v.as_str()]
                    }
                    _ => {
                        let e = ArgError::NoValue {
                            option: opt.name,
                            inline: false,
                        };
                        return refuse(e, &given);
                    }
                },
                (Takes::OneOrMore, None) => {
                    let start = i;
                    while i < args.len() && self.is_value(&args[i]) {
                        i += 1;
                    }
                    if start == i {
                        return refuse(ArgError::NoValues { option: opt.name }, &given);
                    }
                    args[start..i].iter().map(String::as_str).collect()
                }
            };
            given.retain(|(o, _)| o.name != opt.name);
            given.push((opt, values));
        }
        let names: Vec<&'static str> = self
            .flags
            .iter()
            .filter(|f| given.iter().any(|(g, _)| g.name == f.name))
            .map(|f| f.name)
            .collect();
        let defaults = self.flags.iter().filter_map(|f| match f.default {
            Some(d) if !names.contains(&f.name) => Some((f, vec![d])),
            _ => None,
        });
        let mut out = Vec::new();
        for (opt, values) in given.into_iter().chain(defaults) {
            if opt.takes == Takes::Switch {
                out.push(opt.name.to_string());
            }
            for v in values {
                if v.is_empty() || v.starts_with('"') || v.starts_with('\'') {
                    out.push(opt.name.to_string());
                    out.push(v.to_string());
                } else {
                    out.push(format!("{}={v}", opt.name));
                }
            }
        }
        out.extend(unknown);
        Ok(Line {
            list: out,
            given: names,
        })
    }

    /// The early flags among `seen` and those `rest` names (each argument
    /// looked up alone: a value never looks like an option), in table order.
    fn early_in(&self, rest: &[String], mut seen: Vec<&'static str>) -> Vec<&'static str> {
        for arg in rest {
            if let Ok(Some((opt, _))) = self.option_of(arg) {
                seen.push(opt.name);
            }
        }
        self.flags
            .iter()
            .filter(|f| f.early && seen.contains(&f.name))
            .map(|f| f.name)
            .collect()
    }

    /// The option `arg` names (exactly, by its short spelling or by a
    /// unique prefix) and its `=value`; `None` for an argument that names
    /// none.
    fn option_of<'s>(
        &self,
        arg: &'s str,
    ) -> Result<Option<(&'static Flag, Option<&'s str>)>, ArgError> {
        if let Some(f) = self.flags.iter().find(|f| f.short == Some(arg)) {
            return Ok(Some((f, None)));
        }
        if !arg.starts_with("--") || arg.len() <= 2 {
            return Ok(None);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        if let Some(o) = self.flag(name) {
            return Ok(Some((o, inline)));
        }
        let hits: Vec<&'static Flag> = self
            .flags
            .iter()
            .filter(|o| name.len() > 2 && o.name.starts_with(name))
            .collect();
        match hits.as_slice() {
            [one] => Ok(Some((one, inline))),
            [] => Ok(None),
            many => Err(ArgError::Ambiguous {
                given: name.to_string(),
                candidates: many.iter().map(|o| o.name).collect(),
            }),
        }
    }

    /// Whether the argument after an option is its value.
    fn is_value(&self, next: &str) -> bool {
        match self.dialect {
            Dialect::Watchers => !next.starts_with("--"),
            // argparse: an argument starting with `-` is an option, except
            // a lone `-` and negative numbers.
            Dialect::Argparse => {
                !(next.len() > 1 && next.starts_with('-') && next[1..].parse::<f64>().is_err())
            }
        }
    }
}

#[cfg(test)]
mod tests;
