//! pgpwatch: beside each pgpool, opens `[pgp] open_port` for the GSLB while
//! pgpool is healthy. Thin: parsing and loading live in `pgpoolwatch::cli`.

use pgpoolwatch::cli::{self, CliError, Start};
use pgpoolwatch::config::Program;
use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::report(Program::Pgpwatch, run()) {
        Ok(code) | Err(code) => ExitCode::from(code),
    }
}

fn run() -> Result<u8, CliError> {
    let args = std::env::args_os().skip(1).collect();
    let (args, settings) = match cli::start_pgpwatch(args, &mut std::io::stdout())? {
        Start::Done(code) => return Ok(code),
        Start::Run { args, settings } => (args, settings),
    };
    cli::print_warnings(Program::Pgpwatch, &settings);
    if settings.general.sendmail {
        // Before any thread: it may set and restore SSL_CERT_FILE.
        pgpoolwatch::mail::trust::settle_at_start();
    }
    pgpoolwatch::plumbing::logging::init_logging();
    pgpoolwatch::serve::raise_fd_limit();
    Ok(pgpoolwatch::watch::run_pgpwatch(
        settings,
        args.overrides(),
        args.run_once,
    ))
}
