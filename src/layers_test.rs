//! Keeps the layer map at the top of `lib.rs` true: every `crate::` path in
//! the non-test sources points to the module's own layer or one below it,
//! and the top-level modules import each other without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `lib.rs`, bottom up.
const LAYERS: &[(&str, &[&str])] = &[
    ("sys", &["plumbing"]),
    (
        "settings",
        &[
            "secret", "account", "ini", "config", "conninfo", "pgpass", "flags",
        ],
    ),
    ("cluster", &["cluster"]),
    ("report", &["poolstatus"]),
    ("serve and mail", &["serve", "mail", "mailqueue"]),
    ("watch", &["watch"]),
    ("cli", &["cli", "every_output"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

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

/// The text with `//` comments and `#[cfg(test)] mod x { ... }` blocks
/// blanked out, line for line (so line numbers still hold).
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
        if lines[i].trim() == "#[cfg(test)]" && next.starts_with("mod ") && next.ends_with('{') {
            let mut depth = 0i32;
            i += 1;
            out.push('\n');
            while i < lines.len() {
                depth += lines[i].matches('{').count() as i32;
                depth -= lines[i].matches('}').count() as i32;
                out.push('\n');
                i += 1;
                if depth <= 0 {
                    break;
                }
            }
            continue;
        }
        out.push_str(lines[i]);
        out.push('\n');
        i += 1;
    }
    out
}

/// Whether `file` is compiled only for tests: a `tests.rs` / `*_tests.rs` /
/// `*_test.rs`,
/// or declared under `#[cfg(test)]` by its parent.
fn test_only(file: &Path) -> bool {
    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if name == "tests" || name.ends_with("_tests") || name.ends_with("_test") {
        return true;
    }
    let Some(dir) = file.parent() else {
        return false;
    };
    let parents = [dir.with_extension("rs"), dir.join("mod.rs")];
    parents.iter().any(|p| {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        lines
            .windows(2)
            .any(|w| w[0] == "#[cfg(test)]" && w[1] == format!("mod {name};"))
    })
}

/// Top-level module → the top-level modules its non-test code names, with
/// the file of each.
fn imports() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&root).expect("under src");
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or("");
        let module = first.trim_end_matches(".rs").to_string();
        if module == "bin" || module == "lib" || test_only(&file) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let code = code_of(&text);
        for (at, _) in code.match_indices("crate::") {
            let dep: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if dep.is_empty() || dep == module {
                continue;
            }
            graph
                .entry(module.clone())
                .or_default()
                .entry(dep)
                .or_default()
                .insert(rel.display().to_string());
        }
    }
    graph
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("pub ").unwrap_or(l.trim());
            l.strip_prefix("mod ")?.strip_suffix(';')
        })
        .filter(|m| *m != "layers_test")
        .collect();
    assert!(modules.len() > 10, "found lib.rs's modules: {modules:?}");
    for m in &modules {
        assert!(
            layer_of(m).is_some(),
            "module {m} is in no layer of layers_test::LAYERS (and lib.rs's map)"
        );
    }
    for (layer, ms) in LAYERS {
        for m in *ms {
            assert!(
                modules.contains(m),
                "layer {layer} names {m}, which lib.rs does not declare"
            );
            assert!(
                lib.contains(&format!("`{m}`")),
                "lib.rs's layer map does not name `{m}`"
            );
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let graph = imports();
    assert!(
        graph
            .get("watch")
            .is_some_and(|d| d.contains_key("cluster")),
        "the scan sees watch's imports: {graph:?}"
    );
    let mut wrong = Vec::new();
    for (module, deps) in &graph {
        let Some(own) = layer_of(module) else {
            continue;
        };
        for (dep, files) in deps {
            match layer_of(dep) {
                Some(l) if l <= own => {}
                Some(l) => wrong.push(format!(
                    "{module} ({}) uses {dep} ({}) in {files:?}",
                    LAYERS[own].0, LAYERS[l].0
                )),
                // `crate::VERSION` and other items of the crate root.
                None => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports from a layer above:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let graph = imports();
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if !done.insert(m.to_string()) {
            return None;
        }
        path.push(m.to_string());
        for dep in graph.get(m).map(|d| d.keys()).into_iter().flatten() {
            if let Some(c) = visit(dep, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    // The graph itself, for `cargo test --lib layers -- --nocapture`.
    for (m, deps) in &graph {
        let names: Vec<&str> = deps.keys().map(String::as_str).collect();
        eprintln!("import graph: {m} -> {}", names.join(", "));
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        let cycle = visit(m, &graph, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap_or_default().join(" -> ")
        );
    }
}

/// The error type of each `Result<T, E>` in `code`, with the line it starts
/// on (1-based). Generics nest (`Result<Vec<(u8, String)>, String>`), and
/// the `>` of a `->` does not close one.
fn result_errors(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("Result<") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let bytes = code.as_bytes();
        let start = at + "Result<".len();
        let (mut depth, mut i, mut last_comma) = (1i32, start, None);
        while i < bytes.len() && depth > 0 {
            match bytes[i] {
                b'<' => depth += 1,
                b'>' if i > 0 && bytes[i - 1] == b'-' => {}
                b'>' => depth -= 1,
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth -= 1,
                b',' if depth == 1 => last_comma = Some(i),
                _ => {}
            }
            i += 1;
        }
        if depth != 0 {
            continue;
        }
        // `io::Result<T>` and the like name no error type.
        let Some(comma) = last_comma else {
            continue;
        };
        let error = code[comma + 1..i - 1].trim().to_string();
        found.push((code[..at].matches('\n').count() + 1, error));
    }
    found
}

/// `file:line: text` of every `Result<_, String>` in the non-test sources.
fn string_errors() -> Vec<String> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        if test_only(&file) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let lines: Vec<&str> = text.lines().collect();
        let rel = format!(
            "src/{}",
            file.strip_prefix(&root).expect("under src").display()
        );
        for (line, error) in result_errors(&code_of(&text)) {
            if matches!(error.as_str(), "String" | "std::string::String") {
                let at = lines.get(line - 1).map_or("", |l| l.trim());
                out.push(format!("{rel}:{line}: {at}"));
            }
        }
    }
    out
}

#[test]
fn the_result_scan_sees_nested_generics_and_arrows() {
    let code = "fn a() -> Result<Vec<(u8, String)>, String> {}\n\
                fn b(f: Result<fn(u8) -> u8, String>) {}\n\
                fn c() -> io::Result<String> {}\n\
                fn d() -> Result<String, Error> {}\n\
                fn e() -> MyResult<u8, String> {}\n";
    let errors: Vec<(usize, String)> = result_errors(code);
    assert_eq!(
        errors,
        vec![
            (1, "String".to_string()),
            (2, "String".to_string()),
            (4, "Error".to_string()),
        ]
    );
    let blanked = code_of("fn x() {}\n#[cfg(test)]\nmod t {\n  fn y() -> Result<(), String> {}\n}\nfn z() -> Result<(), String> {}\n");
    assert_eq!(result_errors(&blanked), vec![(6, "String".to_string())]);
}

/// No non-test function returns `Result<_, String>` (docs/design.md, "Typed
/// all the way"): each layer has its error enum, and text is made once, at
/// the edge.
#[test]
fn no_non_test_code_has_a_string_error() {
    let found = string_errors();
    assert!(
        found.is_empty(),
        "Result<_, String> outside tests (use the layer's error enum):\n{}",
        found.join("\n")
    );
}
