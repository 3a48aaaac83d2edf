//! poolstatus: prints the state of pgpool, repmgr, replication and disks; run
//! by hand or by pgpwatch for its mails. Thin: parsing and loading live in
//! `pgpoolwatch::cli`.

use pgpoolwatch::cli::{self, CliError, Start};
use pgpoolwatch::config::Program;
use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::report(Program::Poolstatus, run()) {
        Ok(code) | Err(code) => ExitCode::from(code),
    }
}

fn run() -> Result<u8, CliError> {
    let args = std::env::args_os().skip(1).collect();
    let (args, settings) = match cli::start_poolstatus(args, &mut std::io::stdout())? {
        Start::Done(code) => return Ok(code),
        Start::Run { args, settings } => (args, settings),
    };
    cli::print_warnings(Program::Poolstatus, &settings);
    Ok(pgpoolwatch::poolstatus::main_with(&settings, args.json))
}
