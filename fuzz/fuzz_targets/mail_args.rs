//! sendmail's option parser: `mail::options::options_from_args` on the input split on
//! `\n` (one argument per line, as an args.txt would give them), then
//! `validate`. Invariants: no panic; accepted options have a server, a user,
//! at least one receiver without whitespace, a port other than 0 and a
//! timeout greater than 0 and at most a day; a usage error never echoes the
//! password given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgpoolwatch::mail::options::options_from_args;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let args: Vec<String> = text.split('\n').map(str::to_string).collect();
    match options_from_args(&args) {
        Ok(o) => {
            let s = &o.settings;
            assert!(!s.server.trim().is_empty(), "empty server accepted");
            assert!(!s.user.is_empty(), "empty user accepted");
            assert!(!s.receivers.is_empty(), "no receivers accepted");
            for r in &s.receivers {
                assert!(
                    !r.is_empty() && !r.contains(char::is_whitespace),
                    "receiver {r:?}"
                );
            }
            assert_ne!(s.port, 0);
            assert!(!s.timeout.is_zero() && s.timeout.as_secs() <= 86_400);
            assert!(
                o.validate().is_ok(),
                "validate refuses what options_from_args accepted"
            );
            let _ = s.tls.mode_for(s.port);
        }
        Err(e) => {
            let msg = e.to_string();
            // Passwords are never printed: a usage error must not quote
            // (values are quoted as {:?}) a `--password=` value that no
            // other argument holds, raw or quoted.
            for (i, a) in args.iter().enumerate() {
                let Some(pw) = a.strip_prefix("--password=") else {
                    continue;
                };
                let quoted = format!("{pw:?}");
                let elsewhere = args
                    .iter()
                    .enumerate()
                    .any(|(j, b)| j != i && (b.contains(pw) || b.contains(&quoted)));
                if !pw.is_empty() && !elsewhere {
                    assert!(!msg.contains(&quoted), "error echoes the password: {msg}");
                }
            }
            let _ = e.exit_code();
        }
    }
});
