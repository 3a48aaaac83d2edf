//! What sendmail.py's options say, as plain types: [`MailOptions`] (one
//! mail from the `sendmail` command line), [`Command`] (send, or `--check`)
//! and [`ArgsFile`] (what a watcher takes from args.txt); sendmail's flags
//! table ([`SENDMAIL`]), and the reading of a command line or an args.txt
//! by it ([`parse`], [`options_from_args`], [`read_args_file`]).
//!
//! The table lives here, in the mail layer, not with the program entry
//! points in `cli`, because the watchers read args.txt again at every mail
//! (so an edit takes effect at the next one), and this layer sends them:
//! it reads the file itself, through the flags front of the settings layer
//! (`crate::flags`). `sendmail --help` is made from [`SENDMAIL`] in `cli`.

use crate::flags::{Dialect, Flag, Required, Table};

use super::{Failover, Layout, MailError, MailSettings, Message};

mod parse;

pub use parse::{options_from_args, parse, read_args_file, Request};

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

/// sendmail's flags, in the order `--help` lists them and an ambiguous
/// prefix names its candidates. `--help` and `--version` are early: they
/// win wherever they stand, over every other error but an unreadable
/// `@file`.
pub const SENDMAIL: Table = Table {
    program: "sendmail",
    flags: &[
        Flag::one("--user", "USER", "SMTP login name").required(Required::Yes),
        Flag::one("--password", "PASSWORD", "SMTP password; never printed")
            .required(Required::Yes),
        Flag::one("--server", "SERVER", "SMTP server host name or address")
            .required(Required::Yes),
        Flag::one("--port", "PORT", "SMTP port").default("587"),
        Flag::one("--sender", "SENDER", "From address and envelope sender")
            .required(Required::Yes),
        Flag::one("--subject", "SUBJECT", "Subject").required(Required::ToSend),
        Flag::one_or_more(
            "--receivers",
            "ADDR",
            "one or more values, each holding one or more\naddresses separated by spaces; every address gets\nthe mail",
        )
        .required(Required::Yes),
        Flag::one("--body", "BODY", "HTML body text").default(""),
        Flag::one(
            "--failed-node",
            "NODE",
            "with --new-master, adds a Failed Node / New Master\nparagraph",
        )
        .default("none"),
        Flag::one("--new-master", "NODE", "see --failed-node").default("none"),
        Flag::switch("--mail-on-success", "use the 'PGPOOL Success Mail' body layout"),
        Flag::one(
            "--cacert",
            "PATH",
            "also trust the CA certificate(s) in this PEM file",
        ),
        Flag::switch(
            "--insecure",
            "do not verify the server's certificate (only for an\ninternal relay with a self-signed certificate; a\nwarning is printed)",
        ),
        Flag::one(
            "--tls",
            "MODE",
            "starttls (STARTTLS required) or implicit (TLS from\nthe first byte); default implicit on port 465,\nstarttls on every other port",
        ),
        Flag::one(
            "--timeout",
            "SECS",
            "limit for the TCP connect and for each TLS handshake\nand server reply; the whole delivery is abandoned\nafter 4 x SECS",
        )
        .default("30"),
        Flag::switch(
            "--check",
            "test the settings: connect, TLS, login, quit;\nsend nothing",
        ),
        Flag::switch("--help", "show this help and exit")
            .short("-h")
            .early(),
        Flag::switch("--version", "show the version and exit").early(),
    ],
    dialect: Dialect::Argparse,
};
