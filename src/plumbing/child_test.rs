//! Tests that need a process of their own (its environment, its thread
//! and descriptor counts, a per-process probe): the test binary runs one
//! `#[ignore]`d test alone in a child and reports what it said.

use std::process::Command;

/// Runs test `name` of this test binary alone in a child process,
/// `prepare` setting its environment; prints the child's lines that
/// start with `tag:` and asserts that it passed and said `tag: done`.
pub(crate) fn run_child(name: &str, tag: &str, prepare: impl FnOnce(&mut Command)) {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    prepare(&mut cmd);
    let out = cmd.output().expect("run the child");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mark = format!("{tag}:");
    for line in text.lines().filter_map(|l| l.find(&mark).map(|i| &l[i..])) {
        println!("{line}");
    }
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(
        text.contains(&format!("{tag}: done")),
        "the child ran nothing:\n{text}"
    );
}
