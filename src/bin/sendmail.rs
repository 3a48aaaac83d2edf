//! `sendmail`: drop-in for sendmail.py — `sendmail @args.txt --subject=X --body=...`
//! sends one HTML mail; exit 0 only when the server accepted it, 1 when
//! sending failed, 2 for bad arguments. `sendmail --check @args.txt` logs
//! in and quits without sending. Options: `pgpoolwatch::mail::SENDMAIL`.

use std::process::ExitCode;

use pgpoolwatch::cli;
use pgpoolwatch::mail::{self, Command, MailError, MailSettings, Request};

fn main() -> ExitCode {
    let mut warnings = Vec::new();
    let parsed = mail::options::parse(std::env::args_os().skip(1).collect(), &mut warnings);
    for w in warnings {
        eprintln!("sendmail: warning: {w}");
    }
    let command = match parsed {
        Ok(Request::Help) => {
            print!("{}", cli::sendmail_help());
            return ExitCode::SUCCESS;
        }
        Ok(Request::Version) => {
            println!("sendmail (pgpoolwatch) {}", pgpoolwatch::VERSION);
            return ExitCode::SUCCESS;
        }
        Ok(Request::Run(c)) => c,
        Err(e) => return fail(&e),
    };
    let s: &MailSettings = match &command {
        Command::Send(opts) => &opts.settings,
        Command::Check(s) => s,
    };
    if s.tls.insecure {
        eprintln!(
            "sendmail: warning: --insecure: the certificate of {}:{} is not verified; \
             anyone between here and the server can read the mail and the password",
            s.server, s.port
        );
    }
    let result = match &command {
        Command::Send(opts) => mail::send(opts),
        Command::Check(s) => mail::check(s).map(|()| {
            println!(
                "sendmail: smtp {}:{}: connected, TLS up, login accepted; nothing sent",
                s.server, s.port
            );
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &MailError) -> ExitCode {
    eprintln!("sendmail: {e}");
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
}
