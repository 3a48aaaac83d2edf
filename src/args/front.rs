//! The one argument front of all four programs: it turns an `@`-expanded
//! argv into a canonical list that pico-args then reads typed values from.
//!
//! What it settles, as Python argparse did for the original scripts: unique
//! prefixes of long options (`--conf` for `--config`; an ambiguous one is an
//! error naming the candidates), `--key value` and `--key=value`, flags that
//! take no value, `nargs='+'` options (sendmail's `--receivers`), short
//! aliases (`-h`) and later-wins. The canonical list names each option at
//! most once, in full, its last occurrence's value(s) kept, so a reader never
//! has to know about abbreviations or repeats.
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

use super::ArgsError;

/// How many values an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// None: `--insecure`. `--insecure=x` is an error.
    Flag,
    /// Exactly one: `--port 25`, `--port=25`.
    One,
    /// One or more (argparse's `nargs='+'`): `--receivers a b`; the `=`
    /// form takes exactly one.
    OneOrMore,
}

/// One long option a program knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt {
    /// The full name, with its leading `--`.
    pub name: &'static str,
    pub takes: Takes,
}

impl Opt {
    pub const fn flag(name: &'static str) -> Opt {
        Opt {
            name,
            takes: Takes::Flag,
        }
    }

    pub const fn one(name: &'static str) -> Opt {
        Opt {
            name,
            takes: Takes::One,
        }
    }

    pub const fn one_or_more(name: &'static str) -> Opt {
        Opt {
            name,
            takes: Takes::OneOrMore,
        }
    }
}

/// Whose rules apply where the programs differ (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// sendmail: Python argparse's rules.
    Argparse,
    /// pgpwatch, repmgrwatch, poolstatus.
    Watchers,
}

/// A program's command line: its options (in the order candidates of an
/// ambiguous prefix are listed), short aliases and dialect.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    pub options: &'a [Opt],
    /// Exact short spellings of long options: `("-h", "--help")`.
    pub aliases: &'a [(&'static str, &'static str)],
    pub dialect: Dialect,
}

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

/// The watchers' wording; sendmail words its own (`mail::options`).
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

impl<'a> Spec<'a> {
    /// `@`-expands `os_args` (program name excluded) and hands the
    /// canonical list to pico-args.
    pub fn front(&self, os_args: Vec<OsString>) -> Result<pico_args::Arguments, ArgError> {
        let expanded = super::expand(os_args).map_err(ArgError::File)?;
        self.arguments(&expanded)
    }

    /// pico-args over the canonical form of already expanded arguments.
    pub fn arguments(&self, args: &[String]) -> Result<pico_args::Arguments, ArgError> {
        let list = self.canonical(args)?;
        Ok(pico_args::Arguments::from_vec(
            list.into_iter().map(OsString::from).collect(),
        ))
    }

    /// The canonical form of already expanded arguments: each option once,
    /// in full, with its last occurrence's values; unknown arguments of
    /// the watchers' dialect after them, in their order.
    pub fn canonical(&self, args: &[String]) -> Result<Vec<String>, ArgError> {
        // (option, values) in order of last occurrence.
        let mut given: Vec<(&Opt, Vec<&str>)> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            let Some((opt, inline)) = self.option_of(arg)? else {
                // `--password Secret` on one args.txt line.
                if let Some((name, _)) = arg.split_once(char::is_whitespace) {
                    if let Ok(Some((opt, None))) = self.option_of(name) {
                        if opt.takes != Takes::Flag {
                            return Err(ArgError::SpaceSeparated { option: opt.name });
                        }
                    }
                }
                match self.dialect {
                    Dialect::Argparse => {
                        let names = self.options.iter().map(|o| o.name);
                        return Err(ArgError::Unrecognized(name_unknown(arg, names)));
                    }
                    Dialect::Watchers => {
                        unknown.push(arg.clone());
                        continue;
                    }
                }
            };
            let values: Vec<&str> = match (opt.takes, inline) {
                (Takes::Flag, None) => Vec::new(),
                (Takes::Flag, Some(_)) => return Err(ArgError::FlagValue { option: opt.name }),
                (Takes::One, Some("")) if self.dialect == Dialect::Watchers => {
                    return Err(ArgError::NoValue {
                        option: opt.name,
                        inline: true,
                    })
                }
                (_, Some(v)) => vec![v],
                (Takes::One, None) => match args.get(i) {
                    Some(v) if self.is_value(v) => {
                        i += 1;
                        vec![v.as_str()]
                    }
                    _ => {
                        return Err(ArgError::NoValue {
                            option: opt.name,
                            inline: false,
                        })
                    }
                },
                (Takes::OneOrMore, None) => {
                    let start = i;
                    while i < args.len() && self.is_value(&args[i]) {
                        i += 1;
                    }
                    if start == i {
                        return Err(ArgError::NoValues { option: opt.name });
                    }
                    args[start..i].iter().map(String::as_str).collect()
                }
            };
            given.retain(|(o, _)| o.name != opt.name);
            given.push((opt, values));
        }
        let mut out = Vec::new();
        for (opt, values) in given {
            if opt.takes == Takes::Flag {
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
        Ok(out)
    }

    /// The option `arg` names (exactly, by alias or by a unique prefix)
    /// and its `=value`; `None` for an argument that names none.
    fn option_of<'s>(&self, arg: &'s str) -> Result<Option<(&'a Opt, Option<&'s str>)>, ArgError> {
        if let Some(&(_, long)) = self.aliases.iter().find(|(short, _)| *short == arg) {
            return Ok(self
                .options
                .iter()
                .find(|o| o.name == long)
                .map(|o| (o, None)));
        }
        if !arg.starts_with("--") || arg.len() <= 2 {
            return Ok(None);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg, None),
        };
        if let Some(o) = self.options.iter().find(|o| o.name == name) {
            return Ok(Some((o, inline)));
        }
        let hits: Vec<&'a Opt> = self
            .options
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
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        Opt::one("--subject"),
        Opt::one("--server"),
        Opt::one_or_more("--receivers"),
        Opt::flag("--insecure"),
        Opt::one("--password"),
        Opt::flag("--help"),
    ];

    fn spec(dialect: Dialect) -> Spec<'static> {
        Spec {
            options: OPTS,
            aliases: &[("-h", "--help")],
            dialect,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn canon(d: Dialect, v: &[&str]) -> Vec<String> {
        spec(d)
            .canonical(&s(v))
            .unwrap_or_else(|e| panic!("{v:?}: {e}"))
    }

    #[test]
    fn prefixes_aliases_and_later_wins_give_one_entry_per_option() {
        for d in [Dialect::Argparse, Dialect::Watchers] {
            assert_eq!(
                canon(
                    d,
                    &["--subj", "A", "--insec", "-h", "--subject=B", "--serv", "m"]
                ),
                s(&["--insecure", "--help", "--subject=B", "--server=m"]),
                "{d:?}"
            );
        }
        let e = spec(Dialect::Argparse)
            .canonical(&s(&["--s=x"]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ambiguous option: --s could match --subject, --server"
        );
    }

    #[test]
    fn receivers_take_values_up_to_the_next_option_and_a_later_list_replaces() {
        let got = canon(
            Dialect::Argparse,
            &[
                "--receivers",
                "a",
                "b c",
                "--receivers",
                "d",
                "-",
                "--insecure",
            ],
        );
        assert_eq!(got, s(&["--receivers=d", "--receivers=-", "--insecure"]));
        let e = spec(Dialect::Argparse)
            .canonical(&s(&["--receivers=a", "b"]))
            .unwrap_err();
        assert!(
            matches!(e, ArgError::Unrecognized(ref a) if a == "(1 characters, not an option; not shown)"),
            "{e}"
        );
        let e = spec(Dialect::Argparse)
            .canonical(&s(&["--receivers", "--insecure"]))
            .unwrap_err();
        assert!(
            matches!(
                e,
                ArgError::NoValues {
                    option: "--receivers"
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn values_that_pico_args_would_misread_survive_the_round_trip() {
        // A value that is an option name, an empty one, quoted ones.
        let line = [
            "--password=--insecure",
            "--subject=",
            "--server='quoted'",
            "--receivers",
            "\"x",
            "-1",
        ];
        let mut p = spec(Dialect::Argparse)
            .arguments(&s(&line))
            .expect("canonical");
        assert!(!p.contains("--insecure"), "a value taken for a flag");
        let pw: Option<String> = p.opt_value_from_str("--password").expect("password");
        let subject: Option<String> = p.opt_value_from_str("--subject").expect("subject");
        let server: Option<String> = p.opt_value_from_str("--server").expect("server");
        let receivers: Vec<String> = p.values_from_str("--receivers").expect("receivers");
        assert_eq!(pw.as_deref(), Some("--insecure"));
        assert_eq!(subject.as_deref(), Some(""));
        assert_eq!(server.as_deref(), Some("'quoted'"));
        assert_eq!(receivers, s(&["\"x", "-1"]));
        assert!(p.finish().is_empty());
    }

    #[test]
    fn dialects_differ_where_the_programs_did() {
        // Watchers: `-x` is a value, `--key=` is refused, unknowns are kept.
        assert_eq!(
            canon(Dialect::Watchers, &["stray", "--server", "-x", "--bogus"]),
            s(&["--server=-x", "stray", "--bogus"])
        );
        let w = spec(Dialect::Watchers);
        let texts: Vec<String> = [
            &["--server="][..],
            &["--server", "--insecure"],
            &["--insecure=1"],
        ]
        .iter()
        .map(|v| w.canonical(&s(v)).unwrap_err().to_string())
        .collect();
        assert_eq!(
            texts,
            s(&[
                "--server needs a value",
                "--server needs a value (--server VALUE)",
                "--insecure takes no value"
            ])
        );
        // Argparse: `-x` is an option, `--key=` is an empty value, an
        // unknown argument is an error at once.
        let a = spec(Dialect::Argparse);
        assert!(matches!(
            a.canonical(&s(&["--server", "-x"])),
            Err(ArgError::NoValue {
                option: "--server",
                inline: false
            })
        ));
        assert_eq!(
            canon(Dialect::Argparse, &["--server="]),
            s(&["--server", ""])
        );
        for (bad, named) in [
            ("stray", "(5 characters, not an option; not shown)"),
            ("--", "--"),
            ("--bogus", "--bogus"),
            (
                "--passwd=Secret",
                "--passwd (its value is not shown) (did you mean --password?)",
            ),
            (
                "--Secret-Pass",
                "(13 characters, not an option of any program; not shown)",
            ),
        ] {
            assert!(
                matches!(a.canonical(&s(&[bad])), Err(ArgError::Unrecognized(ref x)) if x == named),
                "{bad}"
            );
        }
    }
}
