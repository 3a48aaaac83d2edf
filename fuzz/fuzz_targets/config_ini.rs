//! config.ini reader: `Ini::parse_bytes` on arbitrary bytes, then
//! `Settings::parse` for each program. Invariants: no panic; error and entry
//! line numbers lie within the file; text and byte parsing agree; a valid
//! configuration renders for `--check-config`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pgpoolwatch::config::{Program, Settings};
use pgpoolwatch::ini::Ini;

fuzz_target!(|data: &[u8]| {
    // Lines as Ini counts them: split on '\n', a final empty piece dropped.
    let lines = data.split(|&b| b == b'\n').count() - usize::from(data.ends_with(b"\n"));
    let parsed = Ini::parse_bytes(data);
    match &parsed {
        Ok(ini) => {
            for s in ini.sections() {
                assert!(s.line >= 1 && s.line <= lines, "section line {}", s.line);
                for e in s.entries() {
                    assert!(e.line >= 1 && e.line <= lines, "entry line {}", e.line);
                    assert_eq!(e.key, pgpoolwatch::ini::fold_key(&e.key), "key not folded");
                    assert!(ini.get(&s.name, &e.key).is_some(), "own key not found");
                }
                let _ = ini.items(&s.name);
            }
        }
        Err(e) => {
            assert!(
                e.line() >= 1 && e.line() <= lines,
                "error line {} of {lines}",
                e.line()
            );
            let _ = e.to_string();
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(Ini::parse(text), parsed, "parse and parse_bytes disagree");
    for program in [Program::Pgpwatch, Program::Repmgrwatch, Program::Poolstatus] {
        match Settings::parse(text, Path::new("fuzz.ini"), program) {
            Ok(s) => {
                let out = s.render();
                assert!(out.starts_with("# effective settings from fuzz.ini\n"));
                assert!(s.pgp.rise >= 1 && s.pgp.fall >= 1 && s.repmgr.rise >= 1);
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("fuzz.ini"),
                    "error does not name the file: {msg}"
                );
            }
        }
    }
});
