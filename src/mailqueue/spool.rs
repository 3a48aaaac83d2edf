//! The mail queue on disk, so a crash (SIGKILL, OOM kill, watchdog abort,
//! reboot) loses no alert: each mail is a file, written and fsync'd (file
//! and directory) before it counts as queued, and removed only after the
//! SMTP server accepted it; at start the files left over are sent in order.
//! Beside them, the watcher's last gate state ([`Spool::add_batch`]), so a
//! restart mails the transition it missed and only that.
//!
//! One directory per program (`[general] state_dir`/pgpwatch, .../repmgrwatch)
//! locked with `flock(2)`, so two watchers never share files. Writes are
//! atomic: a `.tmp` file renamed into place. Each mail carries the gate state
//! of the decision that made it; at start the newest of that and the state
//! file wins, so a crash between writing a decision's mails and its state
//! neither loses nor repeats a mail.
//!
//! Failure is never fatal: a directory that cannot be opened or written
//! leaves the queue in memory (as before the spool) with one error line.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::Class;

const MAIL_MAGIC: &str = "pgpoolwatch-mail 1";
const STATE_MAGIC: &str = "pgpoolwatch-state 1";
const STATE_FILE: &str = "gate.state";
const LOCK_FILE: &str = "lock";

/// One spooled mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub class: Class,
    pub subject: String,
    /// sendmail's `--mail-on-success` layout.
    pub success_layout: bool,
    /// The report was still to be gathered and appended when this was written.
    pub report_pending: bool,
    /// The watcher's gate state after the decision that made this mail.
    pub state: Option<String>,
    /// HTML.
    pub body: String,
}

/// Names a spooled mail (its sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpoolId(pub u64);

/// What a spool held when it was opened.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Mails not yet accepted by the server, oldest first.
    pub mails: Vec<(SpoolId, Entry)>,
    /// The newest gate state (of the state file and the mails).
    pub state: Option<String>,
}

/// Why a spool could not be opened.
#[derive(Debug)]
pub enum SpoolError {
    /// The directory could not be created, read or locked.
    Io { dir: PathBuf, source: io::Error },
    /// Another process holds the lock.
    Locked { dir: PathBuf },
}

impl fmt::Display for SpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoolError::Io { dir, source } => write!(f, "mail spool {}: {source}", dir.display()),
            SpoolError::Locked { dir } => write!(
                f,
                "mail spool {}: used by another process (two watchers of one program need each its own [general] state_dir)",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for SpoolError {}

/// An open, locked spool directory.
pub struct Spool {
    dir: PathBuf,
    /// Holds the flock while open.
    _lock: File,
    next: AtomicU64,
    /// A write failed and was logged; the next success says so.
    failing: AtomicBool,
}

impl fmt::Debug for Spool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Spool({})", self.dir.display())
    }
}

fn mail_name(id: SpoolId) -> String {
    format!("{:016}.mail", id.0)
}

impl Spool {
    /// Opens (creating, mode 0700) and locks `dir`, removes half-written
    /// files and returns what it holds.
    pub fn open(dir: &Path) -> Result<(Spool, Recovered), SpoolError> {
        let io_err = |source| SpoolError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err)?;
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(LOCK_FILE))
            .map_err(io_err)?;
        if !crate::plumbing::os::try_lock_exclusive(&lock).map_err(io_err)? {
            return Err(SpoolError::Locked {
                dir: dir.to_path_buf(),
            });
        }
        let mut recovered = Recovered::default();
        let mut state_seq = 0;
        let mut max_seq = 0;
        if let Some((seq, record)) = read_state(&dir.join(STATE_FILE)) {
            state_seq = seq;
            max_seq = seq;
            recovered.state = Some(record);
        }
        let mut names: Vec<String> = fs::read_dir(dir)
            .map_err(io_err)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        let mut newest_mail_state: Option<(u64, String)> = None;
        for name in names {
            let path = dir.join(&name);
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(seq) = name
                .strip_suffix(".mail")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            max_seq = max_seq.max(seq);
            match fs::read(&path).ok().and_then(|b| decode(&b)) {
                Some(entry) => {
                    if let Some(st) = &entry.state {
                        newest_mail_state = Some((seq, st.clone()));
                    }
                    recovered.mails.push((SpoolId(seq), entry));
                }
                None => {
                    log::warn!(
                        "mail spool {}: {name} cannot be read; moved aside as {name}.bad",
                        dir.display()
                    );
                    let _ = fs::rename(&path, dir.join(format!("{name}.bad")));
                }
            }
        }
        if let Some((seq, st)) = newest_mail_state {
            if seq > state_seq {
                recovered.state = Some(st);
            }
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            _lock: lock,
            next: AtomicU64::new(max_seq + 1),
            failing: AtomicBool::new(false),
        };
        Ok((spool, recovered))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `entry` durably; `None` (logged once per failing spell) when
    /// it could not: the mail then lives in memory only.
    pub fn add(&self, entry: &Entry) -> Option<SpoolId> {
        self.add_batch(std::slice::from_ref(entry), None)
            .pop()
            .flatten()
    }

    /// One decision's mails and then its gate state (when `state` is
    /// given), each file written, fsync'd and renamed into place in that
    /// order, then the directory fsync'd once: all of them count from then
    /// on. A mail's id is `None` when it could not be written.
    pub fn add_batch(&self, entries: &[Entry], state: Option<&str>) -> Vec<Option<SpoolId>> {
        let mut ids = Vec::with_capacity(entries.len());
        let mut any = false;
        for entry in entries {
            let id = SpoolId(self.next.fetch_add(1, Ordering::SeqCst));
            let written = self.write_file(&mail_name(id), &encode(id.0, entry));
            let ok = self.outcome(written, "mail");
            any |= ok;
            ids.push(ok.then_some(id));
        }
        if let Some(record) = state {
            let written = self.write_file(STATE_FILE, &self.state_bytes(record));
            any |= self.outcome(written, "gate state");
        }
        if any {
            let synced = self.sync_dir();
            if !self.outcome(synced, "directory") {
                return vec![None; ids.len()];
            }
        }
        ids
    }

    /// Replaces a spooled mail's content (the report appended).
    pub fn replace(&self, id: SpoolId, entry: &Entry) {
        let written = self
            .write_file(&mail_name(id), &encode(id.0, entry))
            .and_then(|()| self.sync_dir());
        self.outcome(written, "mail");
    }

    /// Removes a mail the server accepted (or the queue dropped).
    pub fn remove(&self, id: SpoolId) {
        let path = self.dir.join(mail_name(id));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // It would be sent again at the next start: say so.
            Err(e) => log::error!(
                "mail spool: cannot remove {} ({e}); it may be sent again at the next start",
                path.display()
            ),
        }
    }

    /// Writes the watcher's gate state durably (the watchers write it with
    /// their mails, through [`Spool::add_batch`]).
    #[cfg(test)]
    fn save_state(&self, record: &str) -> bool {
        let written = self
            .write_file(STATE_FILE, &self.state_bytes(record))
            .and_then(|()| self.sync_dir());
        self.outcome(written, "gate state")
    }

    fn state_bytes(&self, record: &str) -> Vec<u8> {
        let seq = self.next.fetch_add(1, Ordering::SeqCst);
        format!("{STATE_MAGIC}\nseq {seq}\nrecord {}\n", one_line(record)).into_bytes()
    }

    fn outcome(&self, written: io::Result<()>, what: &str) -> bool {
        match written {
            Ok(()) => {
                if self.failing.swap(false, Ordering::SeqCst) {
                    log::info!("mail spool {}: writable again", self.dir.display());
                }
                true
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::SeqCst) {
                    log::error!(
                        "mail spool {}: cannot write the {what}: {e}; mail is queued in memory only \
                         (lost if the process dies) until the directory is writable again \
                         ([general] state_dir)",
                        self.dir.display()
                    );
                } else {
                    log::debug!("mail spool {}: {what}: {e}", self.dir.display());
                }
                false
            }
        }
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    /// `name` with `bytes`: a `.tmp` written and fsync'd, then renamed into
    /// place (the caller fsyncs the directory).
    fn write_file(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join(name))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// `s` on one line (subjects and records never hold line breaks; this
/// keeps a stray one from breaking the file's header).
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::StatusChange => "status-change",
        Class::Reminder => "reminder",
    }
}

/// The file's bytes: header lines, a blank line, the body.
fn encode(seq: u64, e: &Entry) -> Vec<u8> {
    let mut head = format!(
        "{MAIL_MAGIC}\nseq {seq}\nclass {}\nlayout {}\nreport {}\nsubject {}\n",
        class_name(e.class),
        if e.success_layout {
            "success"
        } else {
            "normal"
        },
        if e.report_pending { "pending" } else { "none" },
        one_line(&e.subject),
    );
    if let Some(st) = &e.state {
        head.push_str(&format!("state {}\n", one_line(st)));
    }
    head.push('\n');
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(e.body.as_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Option<Entry> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, body) = text.split_once("\n\n")?;
    let mut lines = head.lines();
    if lines.next()? != MAIL_MAGIC {
        return None;
    }
    let mut e = Entry {
        class: Class::StatusChange,
        subject: String::new(),
        success_layout: false,
        report_pending: false,
        state: None,
        body: body.to_string(),
    };
    let mut subject = false;
    for line in lines {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "class" => {
                e.class = if v == "reminder" {
                    Class::Reminder
                } else {
                    Class::StatusChange
                }
            }
            "layout" => e.success_layout = v == "success",
            "report" => e.report_pending = v == "pending",
            "subject" => {
                e.subject = v.to_string();
                subject = true;
            }
            "state" => e.state = Some(v.to_string()),
            _ => {}
        }
    }
    subject.then_some(e)
}

fn read_state(path: &Path) -> Option<(u64, String)> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next()? != STATE_MAGIC {
        return None;
    }
    let (mut seq, mut record) = (None, None);
    for line in lines {
        match line.split_once(' ') {
            Some(("seq", v)) => seq = v.parse().ok(),
            Some(("record", v)) => record = Some(v.to_string()),
            _ => {}
        }
    }
    Some((seq?, record?))
}

#[cfg(test)]
mod tests;
