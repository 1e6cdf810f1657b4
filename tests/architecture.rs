//! The workspace's shape, checked: which crate may depend on which, that no library crate
//! pulls in the binary's dependencies (clap, axum, tokio, csv; the exporter may use tokio
//! under its PostgreSQL driver, and csv), and that no module of a
//! crate depends on a module that depends back on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Each library crate, the workspace crates it may depend on (README "Layout"), and the
/// crates it must not pull in, even indirectly: the command line's (clap, csv, anyhow)
/// belong to the binary, the HTTP server's (axum, tokio) to the sidecar.
const LAYERS: &[(&str, &[&str], &[&str])] = &[
    (
        "actlog-core",
        &[],
        &[CLAP, "csv", "anyhow", "axum", "tokio"],
    ),
    (
        "actlog-write",
        &["actlog-core"],
        &[CLAP, "csv", "anyhow", "axum", "tokio"],
    ),
    (
        "actlog-read",
        &["actlog-core"],
        &[CLAP, "csv", "anyhow", "axum", "tokio"],
    ),
    (
        "actlog-serve",
        &["actlog-core", "actlog-write", "actlog-read"],
        &[CLAP, "csv", "anyhow"],
    ),
    // The PostgreSQL driver runs on tokio, and CSV is one of the export's formats; the
    // HTTP server stays out.
    (
        "actlog-export",
        &["actlog-core", "actlog-read"],
        &[CLAP, "anyhow", "axum"],
    ),
];

const CLAP: &str = "clap";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The names of every package in `cargo tree -e normal -p package` (normal dependencies
/// only, transitively).
fn normal_dependencies(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .current_dir(root())
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "-p",
            package,
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn library_crates_depend_only_on_the_layers_below_and_never_on_the_binarys_crates() {
    for (package, allowed, banned) in LAYERS {
        let deps = normal_dependencies(package);
        assert!(deps.contains(*package), "{package}: not in the workspace");
        let workspace: BTreeSet<&str> = deps
            .iter()
            .map(String::as_str)
            .filter(|d| d.starts_with("actlog") && d != package)
            .collect();
        let allowed_set: BTreeSet<&str> = allowed.iter().copied().collect();
        let extra: Vec<_> = workspace.difference(&allowed_set).collect();
        assert!(
            extra.is_empty(),
            "{package} depends on {extra:?}; it may depend only on {allowed:?}"
        );
        let found: Vec<_> = banned.iter().filter(|b| deps.contains(**b)).collect();
        assert!(
            found.is_empty(),
            "{package} pulls in {found:?}, which it must not use"
        );
    }
}

/// The top-level module a source file of a crate belongs to (`scan.rs` and `scan/x.rs`
/// both to `scan`); `None` for the crate root.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (name != "lib" && name != "main").then_some(name)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::name` a line of code names (comments and doc comments left out: a doc
/// link is not a dependency), including those in `use crate::{a, b::c}`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let line = line.split(" //").next().unwrap_or(line);
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if after.starts_with('{') {
                let group = &after[1..after.find('}').unwrap_or(after.len())];
                for item in group.split(',') {
                    let item = item.trim();
                    let name: String = item
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        names.insert(name);
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.insert(name);
                }
            }
            rest = after;
        }
    }
    names
}

/// Module → modules it names, for the crate whose sources are in `src`.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(src, file) else {
            continue;
        };
        let code = std::fs::read_to_string(file).expect("read source");
        let code = code.split("#[cfg(test)]").next().unwrap_or(&code);
        let uses = graph.entry(module.clone()).or_default();
        for name in crate_paths(code) {
            if name != module && modules.contains(&name) {
                uses.insert(name);
            }
        }
    }
    graph
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_depends_on_a_module_that_depends_back_on_it() {
    let mut sources = vec![root().join("src")];
    for (package, _, _) in LAYERS {
        sources.push(root().join("crates").join(package).join("src"));
    }
    for src in sources {
        let graph = module_graph(&src);
        assert!(!graph.is_empty(), "{}: no modules found", src.display());
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "{}: modules depend on each other in a cycle: {}",
                src.display(),
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn the_cycle_check_sees_a_cycle_and_skips_doc_links() {
    let names = crate_paths(
        "use crate::{alpha, beta::X};\n/// see [`crate::gamma`]\nlet x = crate::delta::f(); // crate::eps\n",
    );
    assert_eq!(names, ["alpha", "beta", "delta"].map(String::from).into());
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), ["b".to_owned()].into()),
        ("b".to_owned(), ["c".to_owned()].into()),
        ("c".to_owned(), ["a".to_owned()].into()),
    ]
    .into();
    assert_eq!(find_cycle(&graph).map(|c| c.len()), Some(4));
    let acyclic: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), ["b".to_owned()].into()),
        ("b".to_owned(), BTreeSet::new()),
    ]
    .into();
    assert_eq!(find_cycle(&acyclic), None);
}
