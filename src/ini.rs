//! A reader for `config.ini` with exactly the rules of Python 2.7's
//! `ConfigParser.RawConfigParser`, because operators keep the original
//! scripts' file byte for byte and it must mean the same thing here.
//!
//! What it covers (each rule has a row in `tests/fixtures/ini/`):
//! - `[section]` headers: the name is everything between `[` and the first
//!   `]` (case-sensitive, not stripped); text after the `]` is ignored. A
//!   section seen again is merged into the first; a later duplicate key wins
//!   (keeping the key's first position).
//! - `key = value`, `key: value`: the first `=` or `:` splits. Keys are
//!   right-stripped and folded to lower case (ASCII only, as Python 2 did on
//!   byte strings). A line without `=` or `:` is a key with no value.
//! - Values are stripped of whitespace; `""` means the empty string. An
//!   inline comment starts at the *first* `;` of the value, and only if the
//!   character before it is whitespace (Python 2 looks only at the first `;`).
//! - Whole-line comments: a line starting with `#` or `;`, or whose first word
//!   is `rem` in any case (`rem = 1` is a comment too!). Blank lines are skipped
//!   and do not end a value.
//! - A line starting with whitespace continues the previous value (stripped,
//!   joined with `\n`); comment handling does not apply to it.
//! - `[DEFAULT]` values are inherited by every section ([`Ini::get`]).
//! - Errors: a key before any section header; a line that is neither header
//!   nor key (`= x`, or an indented line with no value to continue); an
//!   indented line after a key without value (Python 2 crashed there); a line
//!   that is not UTF-8 (comment lines may hold any bytes).
//!
//! Every entry keeps the line number of its key, so later stages can name it.
//!
//! Why not rust-ini: after our own line pass has applied all of the rules
//! above, rust-ini would only be a map, and it can neither hold a key without
//! value nor a line number, so a parallel structure would be needed anyway.
//! Python 3's `configparser` differs from Python 2 in several of these rules;
//! `tests/gen_ini_cases.py` records where.

use std::fmt;

/// One `key = value` as the file says it (after Python 2's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, right-stripped and lower-cased.
    pub key: String,
    /// The value; `None` for a key line without `=` or `:`.
    pub value: Option<String>,
    /// 1-based line number of the key (of the last definition when repeated).
    pub line: usize,
}

/// A `[section]` with its own entries (not those inherited from DEFAULT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets, exactly as written.
    pub name: String,
    /// 1-based line number of the first header of this name (0 for an
    /// absent DEFAULT section).
    pub line: usize,
    entries: Vec<Entry>,
}

impl Section {
    fn new(name: &str, line: usize) -> Section {
        Section {
            name: name.to_string(),
            line,
            entries: Vec::new(),
        }
    }

    /// The section's own entries in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The section's own entry for `key` (folded as keys are).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        let key = fold_key(key);
        self.entries.iter().find(|e| e.key == key)
    }

    fn set(&mut self, entry: Entry) {
        match self.entries.iter_mut().find(|e| e.key == entry.key) {
            Some(old) => *old = entry,
            None => self.entries.push(entry),
        }
    }
}

/// A parsed `config.ini`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ini {
    defaults: Section,
    sections: Vec<Section>,
}

/// Why a file is not a valid Python 2 ini file. Every variant names the
/// 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IniError {
    /// A key (or other text) stands before the first `[section]` header.
    MissingSectionHeader { line: usize, text: String },
    /// The line is neither a header, a key, a comment nor a continuation.
    BadLine { line: usize, text: String },
    /// An indented line follows a key that has no value to continue.
    ContinuesValueless { line: usize, key: String },
    /// The line is not valid UTF-8.
    NotUtf8 { line: usize },
}

impl IniError {
    /// The 1-based line the error is on.
    pub fn line(&self) -> usize {
        match self {
            IniError::MissingSectionHeader { line, .. }
            | IniError::BadLine { line, .. }
            | IniError::ContinuesValueless { line, .. }
            | IniError::NotUtf8 { line } => *line,
        }
    }
}

impl IniError {
    /// What is wrong with the line, without the `line N: ` that `Display`
    /// puts first (the configuration error names the line itself).
    pub fn what(&self) -> IniWhat<'_> {
        IniWhat(self)
    }
}

/// [`IniError::what`]: the problem of the line, without its number.
#[derive(Debug, Clone, Copy)]
pub struct IniWhat<'a>(&'a IniError);

impl fmt::Display for IniWhat<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IniError::MissingSectionHeader { text, .. } => write!(
                f,
                "{text:?} stands before any [section] header (expected a header such as [pgp] first)"
            ),
            IniError::BadLine { text, .. } => write!(
                f,
                "cannot read {text:?} (expected [section], key = value, a comment, or an indented continuation after a value)"
            ),
            IniError::ContinuesValueless { key, .. } => write!(
                f,
                "indented line continues key '{key}', which has no value (expected key = value before it, or no indentation)"
            ),
            IniError::NotUtf8 { .. } => write!(f, "not valid UTF-8 (save the file as UTF-8)"),
        }
    }
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line(), self.what())
    }
}

impl std::error::Error for IniError {}

/// Python 2's `isspace` on a byte string: ASCII space, \t \n \v \f \r.
fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Python 2's `str.strip()` on a byte string.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_py_space(c as u8))
}

fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(|c: char| c.is_ascii() && is_py_space(c as u8))
}

/// Keys are folded as Python 2's `optionxform` did on byte strings.
pub fn fold_key(key: &str) -> String {
    py_rstrip(key).to_ascii_lowercase()
}

impl Ini {
    /// Parses text (see the module doc for the rules).
    pub fn parse(text: &str) -> Result<Ini, IniError> {
        Ini::parse_bytes(text.as_bytes())
    }

    /// Parses raw file bytes. Lines are split on `\n` only (a `\r` before it
    /// is whitespace and stripped with the value, as in Python 2 on Unix).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Ini, IniError> {
        let mut ini = Ini {
            defaults: Section::new("DEFAULT", 0),
            sections: Vec::new(),
        };
        // Where new keys go: None before any header, Some(None) for DEFAULT,
        // Some(Some(i)) for sections[i].
        let mut cur: Option<Option<usize>> = None;
        // The key a continuation line would extend.
        let mut optname: Option<String> = None;
        let mut raw_lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        if raw_lines.last().is_some_and(|l| l.is_empty()) {
            raw_lines.pop();
        }
        for (i, raw) in raw_lines.into_iter().enumerate() {
            let lineno = i + 1;
            // Blank and comment lines first: they may hold any bytes.
            if raw.iter().all(|&b| is_py_space(b)) || matches!(raw.first(), Some(b'#' | b';')) {
                continue;
            }
            if matches!(raw.first(), Some(b'r' | b'R')) {
                let word: &[u8] = raw.split(|&b| is_py_space(b)).next().unwrap_or(raw);
                if word.eq_ignore_ascii_case(b"rem") {
                    continue;
                }
            }
            let line = std::str::from_utf8(raw).map_err(|_| IniError::NotUtf8 { line: lineno })?;
            let first = raw[0];
            if is_py_space(first) && cur.is_some() && optname.is_some() {
                let key = optname.clone().unwrap_or_default();
                let section = ini.section_mut(cur);
                let value = py_strip(line);
                match section.entries.iter_mut().find(|e| e.key == key) {
                    Some(Entry { value: Some(v), .. }) => {
                        v.push('\n');
                        v.push_str(value);
                    }
                    _ => {
                        return Err(IniError::ContinuesValueless { line: lineno, key });
                    }
                }
                continue;
            }
            if let Some(name) = section_header(line) {
                cur = Some(
                    if let Some(idx) = ini.sections.iter().position(|s| s.name == name) {
                        Some(idx)
                    } else if name == "DEFAULT" {
                        if ini.defaults.line == 0 {
                            ini.defaults.line = lineno;
                        }
                        None
                    } else {
                        ini.sections.push(Section::new(name, lineno));
                        Some(ini.sections.len() - 1)
                    },
                );
                optname = None;
                continue;
            }
            if cur.is_none() {
                return Err(IniError::MissingSectionHeader {
                    line: lineno,
                    text: line.to_string(),
                });
            }
            let Some(entry) = option_line(line, lineno) else {
                return Err(IniError::BadLine {
                    line: lineno,
                    text: line.to_string(),
                });
            };
            optname = Some(entry.key.clone());
            ini.section_mut(cur).set(entry);
        }
        Ok(ini)
    }

    fn section_mut(&mut self, cur: Option<Option<usize>>) -> &mut Section {
        match cur.flatten() {
            Some(idx) if idx < self.sections.len() => &mut self.sections[idx],
            _ => &mut self.defaults,
        }
    }

    /// The `[DEFAULT]` section (empty, line 0, when the file has none).
    pub fn defaults(&self) -> &Section {
        &self.defaults
    }

    /// The sections other than DEFAULT, in order of first appearance.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The section named exactly `name` (not DEFAULT).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The entry for `key` in `section`, falling back to `[DEFAULT]` as
    /// Python's `get` does. `None` when the section does not exist.
    pub fn get(&self, section: &str, key: &str) -> Option<&Entry> {
        let sect = self.section(section)?;
        sect.entry(key).or_else(|| self.defaults.entry(key))
    }

    /// Every entry `section` sees: DEFAULT's first, then the section's own
    /// (an own key replaces the inherited one in place), as Python's `items`.
    pub fn items(&self, section: &str) -> Vec<&Entry> {
        let Some(sect) = self.section(section) else {
            return Vec::new();
        };
        let mut out: Vec<&Entry> = self.defaults.entries.iter().collect();
        for e in &sect.entries {
            match out.iter_mut().find(|o| o.key == e.key) {
                Some(slot) => *slot = e,
                None => out.push(e),
            }
        }
        out
    }
}

/// Python 2's `SECTCRE = r'\[(?P<header>[^]]+)\]'`, matched at the start.
fn section_header(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let end = rest.find(']')?;
    if end == 0 {
        return None;
    }
    Some(&rest[..end])
}

/// Python 2's `OPTCRE_NV` plus the value handling of `_read`.
fn option_line(line: &str, lineno: usize) -> Option<Entry> {
    let first = *line.as_bytes().first()?;
    if first == b':' || first == b'=' || is_py_space(first) {
        return None;
    }
    let Some(split) = line.find([':', '=']) else {
        return Some(Entry {
            key: fold_key(line),
            value: None,
            line: lineno,
        });
    };
    let key = fold_key(&line[..split]);
    let mut value =
        line[split + 1..].trim_start_matches(|c: char| c.is_ascii() && is_py_space(c as u8));
    if let Some(pos) = value.find(';') {
        let bytes = value.as_bytes();
        // Python's optval[pos-1]: the last character when pos is 0.
        let before = if pos == 0 {
            bytes[bytes.len() - 1]
        } else {
            bytes[pos - 1]
        };
        if is_py_space(before) {
            value = &value[..pos];
        }
    }
    let mut value = py_strip(value);
    if value == "\"\"" {
        value = "";
    }
    Some(Entry {
        key,
        value: Some(value.to_string()),
        line: lineno,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn escape(s: &str) -> String {
        s.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .replace('\t', "\\t")
    }

    /// The same dump `tests/gen_ini_cases.py` writes.
    fn dump(result: &Result<Ini, IniError>) -> Vec<String> {
        let ini = match result {
            Ok(ini) => ini,
            Err(e) => return vec![format!("error\t{}", e.line())],
        };
        let mut out = vec!["section\tDEFAULT".to_string()];
        let push = |out: &mut Vec<String>, e: &Entry| match &e.value {
            Some(v) => out.push(format!("item\t{}\t{}", escape(&e.key), escape(v))),
            None => out.push(format!("novalue\t{}", escape(&e.key))),
        };
        for e in ini.defaults().entries() {
            push(&mut out, e);
        }
        for s in ini.sections() {
            out.push(format!("section\t{}", escape(&s.name)));
            for e in ini.items(&s.name) {
                push(&mut out, e);
            }
        }
        out
    }

    #[test]
    fn case_table_from_configparser() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ini");
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("tests/fixtures/ini")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "ini"))
            .collect();
        inputs.sort();
        assert!(
            inputs.len() >= 25,
            "only {} cases in {}",
            inputs.len(),
            dir.display()
        );
        for input in &inputs {
            let name = input
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .to_string();
            let bytes = std::fs::read(input).expect("read case");
            let expected_text =
                std::fs::read_to_string(input.with_extension("expected")).expect("read expected");
            let expected: Vec<&str> = expected_text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .collect();
            let got = dump(&Ini::parse_bytes(&bytes));
            assert_eq!(got, expected, "case {name}");
        }
    }

    #[test]
    fn entries_keep_their_line_numbers() {
        let ini = Ini::parse("# c\n[pgp]\ncheck_period = 1\n  2\n\nopen_port=5\n[DEFAULT]\nx=1\n[pgp]\nopen_port=6\n")
            .expect("parse");
        let pgp = ini.section("pgp").expect("pgp");
        assert_eq!(pgp.line, 2);
        assert_eq!(pgp.entry("check_period").map(|e| e.line), Some(3));
        assert_eq!(
            pgp.entry("CHECK_PERIOD").and_then(|e| e.value.clone()),
            Some("1\n2".to_string())
        );
        // A later duplicate wins and carries its own line.
        assert_eq!(pgp.entry("open_port").map(|e| e.line), Some(10));
        assert_eq!(ini.get("pgp", "x").map(|e| e.line), Some(8));
        assert_eq!(ini.defaults().line, 7);
    }

    #[test]
    fn errors_name_their_line() {
        let e = Ini::parse("[a]\nk=1\n= x\n").unwrap_err();
        assert_eq!(e.line(), 3);
        assert!(e.to_string().starts_with("line 3: "), "{e}");
        let e = Ini::parse("\n\nkey=1\n").unwrap_err();
        assert!(
            matches!(e, IniError::MissingSectionHeader { line: 3, .. }),
            "{e:?}"
        );
        let e = Ini::parse_bytes(b"[a]\n# \xff comment is fine\nk=\xff\n").unwrap_err();
        assert_eq!(e, IniError::NotUtf8 { line: 3 });
        let e = Ini::parse("[a]\nflag\n  more\n").unwrap_err();
        assert!(
            matches!(e, IniError::ContinuesValueless { line: 3, .. }),
            "{e:?}"
        );
    }
}
