//! The suite's own shape, checked so it does not drift: plain `cargo test`
//! runs anywhere (no root, no cluster) because every test that needs more
//! is `#[ignore]`d with one of [`REASONS`], which libtest prints beside the
//! test's name and counts as "ignored" in its result line; `bin/test` runs
//! them (`cargo test --test it -- --ignored`). tests/README.md indexes
//! every module and support file and names what each module's ignored tests
//! need, as tagged here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// How every ignore reason ends: the two ways to run the test.
const RUN: &str = ": bin/test runs it, or cargo test -- --include-ignored";

/// The reasons a test may be ignored for (tag in tests/README.md, the
/// reason before [`RUN`]). `#[ignore = "..."]` takes a literal, so each
/// test spells its reason out; this list is what they must match.
pub const REASONS: &[(&str, &str)] = &[
    (
        "cluster",
        "needs the sandbox cluster (root, bin/install-deps)",
    ),
    (
        "PowerDNS",
        "needs PowerDNS 4.7 (pdns-server, pdns-backend-bind)",
    ),
    (
        "trixie root",
        "needs root and the trixie root of bin/roots (PowerDNS 4.9)",
    ),
    ("root", "needs root"),
    (
        "SMTP server",
        "needs the capture SMTP server (python3-aiosmtpd)",
    ),
    ("systemd-analyze", "needs systemd-analyze (package systemd)"),
];

/// Calls that start a real server (or need root) when a test makes them
/// itself: such a test must be ignored with a reason.
const STARTS_A_SERVER: &[&str] = &["Cluster::", "Mailbox::start", "Gslb::start", "Container::"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The modules `tests/it/main.rs` declares, support excepted.
fn modules() -> Vec<String> {
    let main = read(&root().join("tests/it/main.rs"));
    let mods: Vec<String> = main
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .filter(|m| *m != "support")
        .map(str::to_string)
        .collect();
    assert!(mods.len() > 10, "read the modules of main.rs: {mods:?}");
    mods
}

/// One test of a module: its name, its ignore reason, its body.
struct Test {
    name: String,
    ignore: Option<String>,
    body: String,
}

fn tests_of(path: &Path) -> Vec<Test> {
    let text = read(path);
    let mut out = Vec::new();
    for chunk in text.split("\n#[test]\n").skip(1) {
        let ignore = chunk
            .lines()
            .take_while(|l| !l.starts_with("fn "))
            .find_map(|l| l.trim().strip_prefix("#[ignore"))
            .map(|rest| {
                rest.trim_start_matches(" = \"")
                    .trim_end_matches("\"]")
                    .to_string()
            });
        let name = chunk
            .lines()
            .find_map(|l| l.strip_prefix("fn "))
            .and_then(|l| l.split('(').next())
            .unwrap_or_else(|| panic!("{}: a #[test] without its fn", path.display()))
            .to_string();
        let body = chunk.split("\n}\n").next().unwrap_or(chunk).to_string();
        out.push(Test { name, ignore, body });
    }
    out
}

fn tag_of(reason: &str) -> Option<&'static str> {
    let head = reason.strip_suffix(RUN)?;
    REASONS.iter().find(|(_, r)| *r == head).map(|(t, _)| *t)
}

#[test]
fn every_ignored_test_says_what_it_needs_and_every_server_test_is_ignored() {
    let mut files: Vec<PathBuf> = modules()
        .iter()
        .map(|m| root().join(format!("tests/it/{m}.rs")))
        .collect();
    for e in std::fs::read_dir(root().join("tests/it/support")).expect("tests/it/support") {
        let p = e.expect("dir entry").path();
        if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
    let mut problems = Vec::new();
    let (mut ran, mut ignored) = (0, 0);
    for f in &files {
        let rel = f.strip_prefix(root()).expect("under the root").display();
        for t in tests_of(f) {
            match &t.ignore {
                Some(reason) if tag_of(reason).is_none() => problems.push(format!(
                    "{rel}: {}: ignored for {reason:?}, not one of suite_index::REASONS \
                     followed by {RUN:?} (bin/test runs every ignored test of tests/it)",
                    t.name
                )),
                Some(_) => ignored += 1,
                None => {
                    ran += 1;
                    if let Some(call) = STARTS_A_SERVER.iter().find(|c| t.body.contains(*c)) {
                        problems.push(format!(
                            "{rel}: {}: calls {call} but plain cargo test runs it: \
                             add #[ignore = \"<one of suite_index::REASONS>{RUN}\"]",
                            t.name
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        ran > 10 && ignored > 50,
        "read the tests: {ran} run, {ignored} ignored"
    );
}

/// The `Needs` column of tests/README.md's row for `module`.
fn readme_needs(readme: &str, module: &str) -> Option<BTreeSet<String>> {
    let cell = format!("| [`{module}`](it/{module}.rs) |");
    let row = readme.lines().find(|l| l.starts_with(&cell))?;
    let needs = row.trim_end_matches('|').rsplit('|').next()?.trim();
    Some(
        needs
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty() && *n != "nothing")
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn tests_readme_indexes_every_module_with_what_it_needs() {
    let readme = read(&root().join("tests/README.md"));
    let mut problems = Vec::new();
    for m in modules() {
        let want: BTreeSet<String> = tests_of(&root().join(format!("tests/it/{m}.rs")))
            .iter()
            .filter_map(|t| t.ignore.as_deref().and_then(tag_of))
            .map(str::to_string)
            .collect();
        match readme_needs(&readme, &m) {
            None => problems.push(format!("{m}: no row starting \"| [`{m}`](it/{m}.rs) |\"")),
            Some(got) if got != want => problems.push(format!(
                "{m}: Needs says {got:?}, its ignored tests need {want:?}"
            )),
            Some(_) => {}
        }
    }
    for e in std::fs::read_dir(root().join("tests/it/support")).expect("tests/it/support") {
        let name = e.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        if !readme.contains(&format!("(it/support/{name})")) {
            problems.push(format!("support/{name}: not linked as (it/support/{name})"));
        }
    }
    assert!(
        problems.is_empty(),
        "tests/README.md is out of date:\n{}",
        problems.join("\n")
    );
}
