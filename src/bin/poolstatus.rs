//! poolstatus: prints the state of pgpool, repmgr, replication and disks; run
//! by hand or by pgpwatch for its mails, or by Nagios/Icinga (`--nagios`).
//! Thin: parsing and loading live in `pgpoolwatch::cli`.

use pgpoolwatch::cli::{self, CliError, Start};
use pgpoolwatch::config::Program;
use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // With --nagios on the line, an error is the plugin's UNKNOWN line.
    match cli::report(Program::Poolstatus, run(args)) {
        Ok(code) | Err(code) => ExitCode::from(code),
    }
}

fn run(args: Vec<OsString>) -> Result<u8, CliError> {
    let (args, settings) = match cli::start_poolstatus(args, &mut std::io::stdout())? {
        Start::Done(code) => return Ok(code),
        Start::Run { args, settings } => (args, settings),
    };
    if args.nagios {
        // Warnings follow the plugin's line on stdout (see main_nagios).
        return Ok(pgpoolwatch::poolstatus::main_nagios(&settings, args.lag));
    }
    cli::print_warnings(Program::Poolstatus, &settings);
    Ok(pgpoolwatch::poolstatus::main_with(&settings, args.json))
}
