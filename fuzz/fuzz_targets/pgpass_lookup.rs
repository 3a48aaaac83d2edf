//! `.pgpass` lookup: the input's first line is the query
//! `host:port:database:user` (split on the first three `:`, port read as a
//! number, 5432 when it is not one); the rest is the file, written with mode
//! 0600 by this process so `lookup` reads it (credentials user "": not in
//! /etc/passwd, so the file must be this process's, as it is). Invariants: no panic; a line built from the
//! query with libpq's escaping (`\:` and `\\`), put first, always yields its
//! password; a result is a password some line holds.
#![no_main]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgpoolwatch::pgpass;

fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("pgpw-fuzz-pgpass-{}", std::process::id())))
}

fn write_0600(body: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path())
        .expect("create fuzz pgpass file");
    f.write_all(body).expect("write fuzz pgpass file");
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

fuzz_target!(|data: &[u8]| {
    let (query, file) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let query = String::from_utf8_lossy(query);
    let mut q = query.splitn(4, ':');
    let host = q.next().unwrap_or("").to_string();
    let port: u16 = q.next().unwrap_or("").parse().unwrap_or(5432);
    let database = q.next().unwrap_or("").to_string();
    let user = q.next().unwrap_or("").to_string();

    write_0600(file);
    match pgpass::lookup(path(), "", &host, port, &database, &user) {
        Ok(Some(pw)) => {
            let pw = pw.expose();
            // The password is the unescaped tail of some line: at most as
            // long as the file.
            assert!(pw.len() <= file.len(), "password longer than the file");
        }
        Ok(None) => {}
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path().display().to_string()),
                "error names no file: {msg}"
            );
        }
    }

    // Round trip: our own escaped line, first in the file, must match. Lines
    // starting with '#' are comments and a value cannot hold a line end.
    let pw = String::from_utf8_lossy(file)
        .chars()
        .take(32)
        .collect::<String>();
    let fields = [&host, &database, &user, &pw];
    if host.starts_with('#') || fields.iter().any(|f| f.contains('\n') || f.contains('\r')) {
        return;
    }
    let line = format!(
        "{}:{}:{}:{}:{}\n",
        escape(&host),
        port,
        escape(&database),
        escape(&user),
        escape(&pw)
    );
    let mut body = line.into_bytes();
    body.extend_from_slice(file);
    write_0600(&body);
    let got = pgpass::lookup(path(), "", &host, port, &database, &user);
    assert_eq!(
        got.ok().flatten().as_ref().map(|s| s.expose()),
        Some(pw.as_str()),
        "own line not matched"
    );
});
