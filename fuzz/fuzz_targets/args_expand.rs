//! `@file` expansion: `flags::argv::expand` and `flags::argv::lines`.
//!
//! The input is split on NUL into up to four files f0..f3 (written to a
//! private temp dir) plus a command line (the fifth piece, one argument per
//! line, `@` lines meaning files). Every `@...` line is rewritten to name one
//! of our files, so nothing outside the temp dir is ever read, and nesting
//! stays bounded: f<i> may only name f<j> with j > i, and f3 may name itself
//! once (a loop, which must end in `TooDeep`). Invariants: no panic; a file
//! without `@` lines expands to exactly `lines()`; no expanded argument holds
//! a newline or is blank, none starts with `@`; the front puts the list in
//! canonical form naming each option once.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgpoolwatch::flags::argv::{self as args, ArgsError};

const FILES: usize = 4;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("pgpw-fuzz-args-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create fuzz temp dir");
        d
    })
}

fn file(i: usize) -> PathBuf {
    dir().join(format!("f{i}"))
}

/// Rewrites the `@` lines of file `me` (None: the command line) so they name
/// only files after it; bytes after the `@` choose which.
fn rewrite(piece: &[u8], me: Option<usize>) -> Vec<u8> {
    let first_allowed = me.map_or(0, |i| i + 1);
    let mut self_ref_used = false;
    let mut out = Vec::with_capacity(piece.len() + 64);
    for (n, line) in piece.split(|&b| b == b'\n').enumerate() {
        if n > 0 {
            out.push(b'\n');
        }
        let Some(rest) = line.strip_prefix(b"@") else {
            out.extend_from_slice(line);
            continue;
        };
        let pick = rest.first().copied().unwrap_or(0) as usize;
        let target = if first_allowed < FILES {
            Some(first_allowed + pick % (FILES - first_allowed))
        } else if !self_ref_used {
            self_ref_used = true;
            me
        } else {
            None
        };
        match target {
            Some(t) => out.extend_from_slice(format!("@{}", file(t).display()).as_bytes()),
            // A second self-reference would grow exponentially: keep it literal.
            None => out.extend_from_slice(rest),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut pieces: Vec<&[u8]> = data.splitn(FILES + 1, |&b| b == 0).collect();
    pieces.resize(FILES + 1, b"");
    let mut has_at = [false; FILES];
    for i in 0..FILES {
        let body = rewrite(pieces[i], Some(i));
        has_at[i] = body.split(|&b| b == b'\n').any(|l| l.starts_with(b"@"));
        std::fs::write(file(i), &body).expect("write fuzz temp file");
        // lines() on its own: pieces without '\n', none blank.
        if let Ok(text) = std::str::from_utf8(&body) {
            for l in args::lines(text) {
                assert!(!l.contains('\n') && !l.trim().is_empty(), "bad line {l:?}");
            }
        }
    }
    let cmd = rewrite(pieces[FILES], None);
    let argv: Vec<OsString> = cmd
        .split(|&b| b == b'\n')
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    let result = args::expand(argv.clone());

    // A file without @ lines expands to exactly its lines.
    for i in 0..FILES {
        if has_at[i] {
            continue;
        }
        let one = args::expand(vec![OsString::from(format!("@{}", file(i).display()))]);
        let body = std::fs::read(file(i)).expect("read back");
        match (std::str::from_utf8(&body), one) {
            (Ok(text), Ok(got)) => {
                let want: Vec<&str> = args::lines(text).collect();
                assert_eq!(got, want, "f{i} expands to something else than its lines");
            }
            (Err(_), Err(ArgsError::NotUtf8 { .. })) => {}
            (t, r) => panic!("f{i}: utf8 {:?} but expand {:?}", t.is_ok(), r),
        }
    }

    match result {
        Ok(list) => {
            for a in &list {
                assert!(!a.starts_with('@'), "unexpanded @file left: {a:?}");
            }
            // The front over what was expanded (sendmail's flags table):
            // no panic, and each option at most once in canonical form
            // (`--receivers` once per value).
            if let Ok(line) = pgpoolwatch::mail::SENDMAIL.line(&list) {
                let mut seen: Vec<&str> = Vec::new();
                for a in line.list.iter().filter(|a| a.starts_with("--")) {
                    let name = a.split('=').next().unwrap_or(a);
                    if name != "--receivers" {
                        assert!(!seen.contains(&name), "{name} twice in {:?}", line.list);
                        seen.push(name);
                    }
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
