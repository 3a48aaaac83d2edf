//! The shape of the source tree that docs/design.md and issue 9 ask for, checked
//! so it does not drift: one module of `unsafe` code, and no source file
//! over about 500 lines apart from test files.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            let rel = p
                .strip_prefix(root)
                .expect("under the root")
                .display()
                .to_string();
            (rel, text)
        })
        .collect()
}

#[test]
fn only_the_os_module_uses_unsafe() {
    let files = sources();
    assert!(files.len() > 20, "found the sources: {}", files.len());
    let mut offenders = Vec::new();
    for (name, text) in &files {
        let uses = text.lines().any(|l| {
            let code = l.split("//").next().unwrap_or("");
            code.contains("unsafe {")
                || code.contains("unsafe fn")
                || code.contains("allow(unsafe_code)")
        });
        if uses && name != "src/plumbing/os.rs" {
            offenders.push(name.clone());
        }
    }
    assert!(
        offenders.is_empty(),
        "unsafe outside src/plumbing/os.rs: {offenders:?}"
    );
    let lib = &files
        .iter()
        .find(|(n, _)| n == "src/lib.rs")
        .expect("lib.rs")
        .1;
    assert!(
        lib.contains("#![deny(unsafe_code)]"),
        "lib.rs denies unsafe code"
    );
}

#[test]
fn no_source_file_is_over_about_500_lines_but_test_files() {
    let long: Vec<(String, usize)> = sources()
        .into_iter()
        .filter(|(name, _)| !name.ends_with("/tests.rs") && !name.ends_with("fixture_tests.rs"))
        .map(|(name, text)| (name, text.lines().count()))
        .filter(|(_, n)| *n > 520)
        .collect();
    assert!(long.is_empty(), "files over 520 lines: {long:?}");
}
