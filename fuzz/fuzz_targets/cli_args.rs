//! The three watchers' command lines: `cli::parse_pgpwatch`,
//! `parse_repmgrwatch`, `parse_poolstatus` on the input split on `\n` (raw
//! bytes, so arguments that are not UTF-8 are tried too). A leading `@` is
//! replaced by `_` so no file outside the fuzzer is ever read (`@file`
//! expansion has its own target, args_expand). pgpwatch's overrides are then
//! applied to config.ini.sample. Invariants: no panic; a line with `--help`
//! that parses is a help request; a parsed check period is positive;
//! override errors name their flag or the file.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pgpoolwatch::cli::{self, Parsed};
use pgpoolwatch::config::{Program, Settings};

const SAMPLE: &str = include_str!("../../config.ini.sample");

fuzz_target!(|data: &[u8]| {
    let argv: Vec<OsString> = data
        .split(|&b| b == b'\n')
        .map(|a| {
            let mut a = a.to_vec();
            if a.first() == Some(&b'@') {
                a[0] = b'_';
            }
            OsString::from_vec(a)
        })
        .collect();
    let help = argv
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--help" || a == "-h");

    let pgp = cli::parse_pgpwatch(argv.clone());
    if help && pgp.is_ok() {
        assert!(
            matches!(pgp, Ok(Parsed::Help)),
            "--help did not win: {pgp:?}"
        );
    }
    match pgp {
        Ok(Parsed::Args(a)) => {
            if let Some(d) = a.check_period {
                assert!(!d.is_zero(), "zero check period accepted");
            }
            let overrides = a.overrides();
            if let Err(e) = Settings::parse_with(
                SAMPLE,
                Path::new("sample.ini"),
                Program::Pgpwatch,
                &overrides,
            ) {
                let msg = e.to_string();
                assert!(
                    overrides.iter().any(|o| msg.contains(o.flag)) || msg.contains("sample.ini"),
                    "error names neither flag nor file: {msg}"
                );
            }
        }
        Ok(_) => {}
        Err(e) => {
            let _ = (e.to_string(), e.exit_code());
        }
    }
    for r in [
        cli::parse_repmgrwatch(argv.clone()).map(|_| ()),
        cli::parse_poolstatus(argv).map(|_| ()),
    ] {
        if let Err(e) = r {
            let _ = e.to_string();
        }
    }
});
