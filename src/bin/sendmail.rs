//! `sendmail`: drop-in for sendmail.py — `sendmail @args.txt --subject=X --body=...`
//! sends one HTML mail; exit 0 only when the server accepted it, 1 when
//! sending failed, 2 for bad arguments. `sendmail --check @args.txt` logs
//! in and quits without sending. Options: `pgpoolwatch::mail::USAGE`.

use std::process::ExitCode;

use pgpoolwatch::mail::{self, Command, MailError, MailSettings};

fn main() -> ExitCode {
    let args = match pgpoolwatch::args::expand_noting(std::env::args_os().skip(1)) {
        Ok((a, warnings)) => {
            for w in warnings {
                eprintln!("sendmail: warning: {w}");
            }
            a
        }
        Err(e) => return fail(&MailError::Args(e)),
    };
    // argparse acts on -h/--help and --version wherever they stand.
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", mail::USAGE);
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--version") {
        println!("sendmail (pgpoolwatch) {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let command = match Command::from_args(&args) {
        Ok(c) => c,
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
