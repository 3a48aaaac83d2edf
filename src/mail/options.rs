//! What sendmail.py's options say, as plain types: [`MailOptions`] (one
//! mail from the `sendmail` command line), [`Command`] (send, or `--check`)
//! and [`ArgsFile`] (what a watcher takes from args.txt).
//!
//! The command line itself is read in the cli layer (`crate::cli::sendmail`,
//! sendmail's flags table), the top of the layer map, which this layer must
//! not name. The watchers read args.txt again at every mail, so that
//! reader is handed down once at start ([`read_args_with`], as a logger is
//! installed) and [`read_args_file`] calls it.

use std::path::Path;
use std::sync::OnceLock;

use super::{Failover, Layout, MailError, MailSettings, Message};

/// Everything sendmail.py's options say. `Debug` masks the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOptions {
    /// Server, login, addresses, TLS and timeout.
    pub settings: MailSettings,
    pub subject: String,
    pub body: String,
    /// `none` unless given.
    pub failed_node: String,
    /// `none` unless given.
    pub new_master: String,
    pub mail_on_success: bool,
}

impl Default for MailOptions {
    fn default() -> Self {
        MailOptions {
            settings: MailSettings::default(),
            subject: String::new(),
            body: String::new(),
            failed_node: "none".to_string(),
            new_master: "none".to_string(),
            mail_on_success: false,
        }
    }
}

impl MailOptions {
    /// Checks what the command line cannot leave to the server:
    /// non-empty server/user, well-formed addresses.
    pub fn validate(&self) -> Result<(), MailError> {
        self.settings.validate()
    }

    /// The mail these options describe: the Failed Node / New Master
    /// paragraph only when both are given and neither is `none`.
    pub fn message(&self) -> Message {
        let failover =
            (self.failed_node != "none" && self.new_master != "none").then(|| Failover {
                failed_node: self.failed_node.clone(),
                new_master: self.new_master.clone(),
            });
        Message {
            subject: self.subject.clone(),
            body: self.body.clone(),
            layout: if self.mail_on_success {
                Layout::Success
            } else {
                Layout::Normal
            },
            failover,
        }
    }
}

/// What a `sendmail` command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send one mail.
    Send(MailOptions),
    /// `--check`: log in with these settings and quit (the options a
    /// watcher's args.txt must hold are required; `--subject` is not).
    Check(MailSettings),
}

/// What a watcher takes from args.txt (`[general] sendmail_settings_path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgsFile {
    pub settings: MailSettings,
    /// args.txt holds `--mail-on-success`: the original then sent every
    /// watcher mail in the success layout (its own options came after the
    /// file and never switched it off), and so do we.
    pub success_layout: bool,
}

impl ArgsFile {
    /// `msg` as it is sent with this file: never a failover paragraph
    /// (args.txt's `--failed-node`/`--new-master` are sendmail's, for
    /// pgpool's failover script), the success layout when the file asks.
    pub fn message_for(&self, msg: &Message) -> Message {
        let mut m = msg.clone();
        m.failover = None;
        if self.success_layout {
            m.layout = Layout::Success;
        }
        m
    }
}

/// How args.txt is read: as sendmail reads its command line `@args.txt`
/// (`@`-files inside it expanded, later lines winning), `--subject` not
/// required.
pub type ArgsFileReader = fn(&Path) -> Result<ArgsFile, MailError>;

static READER: OnceLock<ArgsFileReader> = OnceLock::new();

/// Hands down the args.txt reader (the cli layer does, before a watcher
/// runs). The first one stays.
pub fn read_args_with(reader: ArgsFileReader) {
    let _ = READER.set(reader);
}

/// Reads args.txt with the reader handed down by [`read_args_with`].
pub fn read_args_file(path: &Path) -> Result<ArgsFile, MailError> {
    match READER.get() {
        Some(read) => read(path),
        None => Err(MailError::Usage(format!(
            "{}: no args.txt reader was handed to the mail layer (a program that sends watcher mail calls mail::read_args_with first)",
            path.display()
        ))),
    }
}
