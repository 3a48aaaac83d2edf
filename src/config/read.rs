//! The second stage: what the file says ([`Ini`], every value with its
//! line) and what the flags say ([`Override`], typed values) become the
//! validated [`Settings`], row by row of [`KEYS`]. A bad value becomes one
//! [`ConfigError`] naming file, line, section and key — or, for a key the
//! program does not read, a warning.

use super::keys::{self, Key, KeyDefault, KEYS, SECTIONS};
use super::types::invalid;
use super::value::Value;
use super::{ConfigError, Problem, Program, Settings};
use crate::ini::{Entry, Ini};
use std::path::{Path, PathBuf};

/// A command-line flag that stands in for a key (pgpwatch's
/// `--check-period 5` is `[pgp] check_period = 5`), with its typed value.
/// The value is checked like the key's (range, cap), and errors name the
/// flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub section: &'static str,
    pub key: &'static str,
    pub value: Value,
    pub flag: &'static str,
}

struct Reader<'a> {
    ini: &'a Ini,
    file: &'a Path,
    overrides: &'a [Override],
    program: Program,
    /// The alias's notes (read as / ignored), in file order of the keys.
    alias_notes: Vec<String>,
    /// Bad values of keys `program` does not read, as warnings.
    ignored: Vec<String>,
}

impl<'a> Reader<'a> {
    fn at(
        &self,
        line: Option<usize>,
        section: &'static str,
        key: &'static str,
        p: Problem,
    ) -> ConfigError {
        ConfigError::new(self.file.to_path_buf(), line, Some(section), Some(key), p)
    }

    /// Reads one row into `s`.
    fn read(&mut self, k: &Key, s: &mut Settings) -> Result<(), ConfigError> {
        if let Some(o) = self
            .overrides
            .iter()
            .rev()
            .find(|o| o.section == k.section && o.key == k.key)
        {
            let flag_error =
                |p| ConfigError::new(PathBuf::from("command line"), None, None, Some(o.flag), p);
            return match k.ty.give(s, &o.value) {
                Some(r) => r.map_err(flag_error),
                None => Err(flag_error(invalid(&o.value.to_string(), k.ty.expected()))),
            };
        }
        let Some((name, entry)) = self.entry(k) else {
            return match k.required_by.iter().find(|p| **p == self.program) {
                Some(p) => Err(self.at(
                    None,
                    k.section,
                    k.key,
                    Problem::Missing {
                        program: *p,
                        section: k.section,
                        no_section: self.ini.section(k.section).is_none(),
                        expected: k.ty.expected(),
                    },
                )),
                None => Ok(()),
            };
        };
        let result = match entry.value.as_deref() {
            None => Err(Problem::NoValue {
                key: name,
                expected: k.ty.expected(),
            }),
            Some(value) => k.ty.read(s, value),
        };
        match result {
            Ok(()) => Ok(()),
            Err(p) => {
                let e = self.at(Some(entry.line), k.section, name, p);
                if k.read_by.contains(&self.program) {
                    return Err(e);
                }
                self.ignored.push(format!(
                    "{e}; ignored: {} does not read this key",
                    self.program.name()
                ));
                Ok(())
            }
        }
    }

    /// The entry a row is read from, and the name it stands under there:
    /// the key, else its alias (with a note either way when the alias is
    /// in the file).
    fn entry(&mut self, k: &Key) -> Option<(&'static str, &'a Entry)> {
        let ini = self.ini;
        let found = ini.get(k.section, k.key);
        let Some(alias) = k.alias else {
            return found.map(|e| (k.key, e));
        };
        let Some(a) = ini.get(k.section, alias) else {
            return found.map(|e| (k.key, e));
        };
        let file = self.file.display();
        let (sec, key) = (k.section, k.key);
        match found {
            Some(e) => {
                self.alias_notes.push(format!(
                    "{file}:{}: [{sec}] {alias} ignored: {key} is set and wins",
                    a.line
                ));
                Some((key, e))
            }
            None => {
                // Should the value be bad, the error ends the reading anyway.
                self.alias_notes.push(format!(
                    "{file}:{}: [{sec}] {alias} (the original's misspelling) read as {key}; rename the key",
                    a.line
                ));
                Some((alias, a))
            }
        }
    }
}

/// Validates what `ini` and `overrides` say into the settings `program`
/// runs with.
pub(super) fn from_ini(
    ini: &Ini,
    source: &Path,
    program: Program,
    overrides: &[Override],
) -> Result<Settings, ConfigError> {
    let mut r = Reader {
        ini,
        file: source,
        overrides,
        program,
        alias_notes: Vec::new(),
        ignored: Vec::new(),
    };
    let mut s = Settings::defaults(program);
    s.source = source.to_path_buf();
    for k in KEYS {
        // A key that follows another starts from its value as just read.
        if let KeyDefault::Follows(sec, key) = k.default {
            if let Some(from) = keys::find(sec, key) {
                k.ty.copy_from(&from.ty, &mut s);
            }
        }
        r.read(k, &mut s)?;
    }
    s.spread_general();
    s.warnings.extend(r.alias_notes);
    s.warnings.extend(r.ignored);
    s.warnings.extend(unknown_warnings(ini, source));
    Ok(s)
}

/// One warning per section or key that no row knows.
fn unknown_warnings(ini: &Ini, source: &Path) -> Vec<String> {
    let file = source.display();
    let mut out = Vec::new();
    // The original's misspelt key has its own note (see `Reader::entry`).
    let known = |section: &str, key: &str| {
        KEYS.iter()
            .any(|k| k.section == section && (k.key == key || k.alias == Some(key)))
    };
    for e in ini.defaults().entries() {
        if !KEYS.iter().any(|k| k.key == e.key) {
            out.push(format!(
                "{file}:{}: [DEFAULT] unknown key '{}' ignored{}",
                e.line,
                e.key,
                did_you_mean(&e.key, KEYS.iter().map(|k| k.key))
            ));
        }
    }
    for s in ini.sections() {
        if !SECTIONS.contains(&s.name.as_str()) {
            let hint = SECTIONS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(s.name.trim()))
                .map(|k| format!(" (did you mean [{k}]? section names are case-sensitive)"))
                .unwrap_or_else(|| format!(" (known sections: {})", SECTIONS.join(", ")));
            out.push(format!(
                "{file}:{}: unknown section [{}] ignored{hint}",
                s.line, s.name
            ));
            continue;
        }
        for e in s.entries() {
            if !known(&s.name, &e.key) {
                let names = KEYS.iter().filter(|k| k.section == s.name).map(|k| k.key);
                out.push(format!(
                    "{file}:{}: [{}] unknown key '{}' ignored{}",
                    e.line,
                    s.name,
                    e.key,
                    did_you_mean(&e.key, names)
                ));
            }
        }
    }
    out
}

/// " (did you mean force_open?)" when one of `names` is within a couple of
/// edits of `word` (a typo: `force_opne`, `chek_period`); "" otherwise.
fn did_you_mean<'a>(word: &str, names: impl Iterator<Item = &'a str>) -> String {
    crate::plumbing::typo::closest(word, names)
        .map(|n| format!(" (did you mean {n}?)"))
        .unwrap_or_default()
}
