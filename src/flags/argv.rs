//! `@file` expansion, the first step of every program's command line, as
//! Python 2 argparse read the original scripts' (`sendmail.py @args.txt
//! --subject=X`).
//!
//! [`expand`] replaces every argument that starts with `@` by the lines of
//! the named file, one argument per line, the whole line kept (so
//! `--receivers=a@x b@y` stays one argument), as argparse's
//! `fromfile_prefix_chars='@'` did. Files may name further `@files`. Where
//! argparse was unkind we are kinder: blank lines are skipped and CRLF line
//! ends are accepted. Then the program's flags table (see
//! [`super::front`]) turns the expanded list into a canonical one that
//! pico-args reads typed values from.

use super::front;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// How deep `@file` references may nest before we call it a loop.
pub const MAX_DEPTH: usize = 16;

/// Why an `@file` argument could not be expanded.
#[derive(Debug)]
pub enum ArgsError {
    /// The file named after `@` could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The argument after option `after` starts with `@`, so it names an
    /// argument file, and that file could not be read. Its text is not
    /// kept: it is most likely the option's value, and it may be a
    /// password.
    ReadValue {
        after: String,
        source: std::io::Error,
    },
    /// `@files` name each other more than [`MAX_DEPTH`] levels deep.
    TooDeep { path: PathBuf },
    /// An argument or a line of an `@file` is not valid UTF-8.
    NotUtf8 { origin: String },
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Read { path, source } => write!(
                f,
                "read argument file {}: {} (check the path after '@')",
                path.display(),
                source
            ),
            ArgsError::ReadValue { after, source } => write!(
                f,
                "the argument after {after} starts with '@', so it names an argument file, which cannot be read: {source} (its text is not shown; for a value that starts with '@', write {after}=VALUE)"
            ),
            ArgsError::TooDeep { path } => write!(
                f,
                "argument file {}: @files nest more than {} levels (does one include itself?)",
                path.display(),
                MAX_DEPTH
            ),
            ArgsError::NotUtf8 { origin } => write!(f, "{origin}: not valid UTF-8"),
        }
    }
}

impl std::error::Error for ArgsError {}

/// Expands every `@path` argument (recursively) and returns plain strings.
/// The program name must not be included.
/// Warnings about the files read (see `readable_password_warning`) go
/// to the log.
pub fn expand<I>(args: I) -> Result<Vec<String>, ArgsError>
where
    I: IntoIterator<Item = OsString>,
{
    let (out, warnings) = expand_noting(args)?;
    for w in warnings {
        log::warn!("{w}");
    }
    Ok(out)
}

/// [`expand`], handing the warnings back (for `sendmail`, which logs
/// nothing and prints its own).
pub fn expand_noting<I>(args: I) -> Result<(Vec<String>, Vec<String>), ArgsError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for arg in args {
        let arg = arg.into_string().map_err(|bad| ArgsError::NotUtf8 {
            // Named, never shown: it may be a password.
            origin: format!("argument {}", front::name_argument(&bad.to_string_lossy())),
        })?;
        push_expanded(arg, 0, &mut out, &mut warnings)?;
    }
    Ok((out, warnings))
}

fn push_expanded(
    arg: String,
    depth: usize,
    out: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<(), ArgsError> {
    let Some(path) = arg.strip_prefix('@') else {
        out.push(arg);
        return Ok(());
    };
    let path = Path::new(path);
    if depth >= MAX_DEPTH {
        return Err(ArgsError::TooDeep {
            path: path.to_path_buf(),
        });
    }
    // `--password` then `@xyz`: the file name is probably the value.
    let after = out
        .last()
        .filter(|p| p.starts_with('-') && p.len() > 1 && !p.contains('='))
        .map(|p| front::name_argument(p));
    let bytes = std::fs::read(path).map_err(|source| match after {
        Some(after) => ArgsError::ReadValue { after, source },
        None => ArgsError::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ArgsError::NotUtf8 {
        origin: format!("argument file {}", path.display()),
    })?;
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        if let Some(w) = readable_password_warning(path, meta.mode(), &text) {
            warnings.push(w);
        }
    }
    for line in lines(&text) {
        push_expanded(line.to_string(), depth + 1, out, warnings)?;
    }
    Ok(())
}

/// The warning for an argument file that holds a `--password` line and
/// that group or others may read (mode `mode`): the SMTP password of
/// args.txt is then readable by every local account of that group, or
/// all. Given once per path per process (`None` after that, and for a
/// private file or one without a password).
fn readable_password_warning(path: &Path, mode: u32, text: &str) -> Option<String> {
    static WARNED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mode = mode & 0o777;
    let holds_password = lines(text).any(|l| l.trim_start().starts_with("--password"));
    if mode & 0o044 == 0 || !holds_password {
        return None;
    }
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if warned.iter().any(|p| p == path) {
        return None;
    }
    warned.push(path.to_path_buf());
    let who = if mode & 0o004 != 0 {
        "every local account"
    } else {
        "its group"
    };
    Some(format!(
        "argument file {p} holds --password and {who} may read it (mode {mode:04o}); chmod 0600 {p} (logged once)",
        p = path.display()
    ))
}

/// The arguments a file holds: its lines without their `\n` / `\r\n` ends,
/// blank (whitespace-only) lines skipped.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_readable_args_file_with_a_password_is_warned_about_once() {
        let p = Path::new("/etc/pgpw-test/args.txt");
        let text = "--user=u\n--password=s3cret\n";
        assert_eq!(readable_password_warning(p, 0o100600, text), None);
        assert_eq!(
            readable_password_warning(p, 0o100644, "--user=u\n--server=x\n"),
            None,
            "no password, nothing to say"
        );
        let w = readable_password_warning(p, 0o100644, text).expect("warned");
        assert_eq!(
            w,
            "argument file /etc/pgpw-test/args.txt holds --password and every local account may read it (mode 0644); chmod 0600 /etc/pgpw-test/args.txt (logged once)"
        );
        assert!(!w.contains("s3cret"));
        assert_eq!(readable_password_warning(p, 0o100644, text), None, "once");
        let g = Path::new("/etc/pgpw-test/group.txt");
        let w = readable_password_warning(g, 0o100640, text).expect("warned");
        assert!(w.contains("its group may read it (mode 0640)"), "{w}");
    }

    fn tmpfile(name: &str, body: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pgpw-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).expect("create");
        f.write_all(body.as_bytes()).expect("write");
        p
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn at_file_lines_become_whole_arguments() {
        let p = tmpfile(
            "a.txt",
            "--user=u@x\r\n\n--receivers=a@x b@y\n  \n--port=587",
        );
        let got = expand(os(&[&format!("@{}", p.display()), "--subject=X"])).expect("expand");
        assert_eq!(
            got,
            vec![
                "--user=u@x",
                "--receivers=a@x b@y",
                "--port=587",
                "--subject=X"
            ]
        );
    }

    #[test]
    fn nested_at_files_expand_and_loops_are_reported() {
        let inner = tmpfile("inner.txt", "--port=25\n");
        let outer = tmpfile("outer.txt", &format!("--port=587\n@{}\n", inner.display()));
        let got = expand(os(&[&format!("@{}", outer.display())])).expect("expand");
        assert_eq!(got, vec!["--port=587", "--port=25"]);
        let selfref = std::env::temp_dir()
            .join(format!("pgpw-args-{}", std::process::id()))
            .join("loop.txt");
        tmpfile("loop.txt", &format!("@{}\n", selfref.display()));
        let err = expand(os(&[&format!("@{}", selfref.display())])).unwrap_err();
        assert!(matches!(err, ArgsError::TooDeep { .. }), "{err}");
    }

    #[test]
    fn missing_at_file_names_the_path() {
        let err = expand(os(&["@/nonexistent/args.txt"])).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/args.txt"), "{err}");
    }
}
