//! The docs a user gets in a clone link only inside the clone: every Markdown link in the
//! README, `docs/`, `tuning.md` and the load generator's README is an anchor of its own file
//! or a file of the repository (with an existing anchor when it names one). Links to the web
//! or out of the repository (`../…` past the root) would break for a reader of the clone.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The Markdown files checked, relative to the repository root.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = ["README.md", "tuning.md", "loadgen/README.md"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let dir = Path::new(ROOT).join("docs");
    for entry in std::fs::read_dir(&dir).expect("docs/ exists") {
        let path = entry.expect("a docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(Path::new("docs").join(path.file_name().expect("a file name")));
        }
    }
    docs
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown text's headings (outside fenced blocks).
fn anchors(text: &str) -> HashSet<String> {
    let mut fenced = false;
    let mut out = HashSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of `[text](target)` links outside fenced blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop code spans, where `](` may appear literally.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// Where a relative link from `doc` points, if it stays inside the repository.
fn resolve(doc: &Path, target: &str) -> Option<PathBuf> {
    let mut path = PathBuf::new();
    for part in doc
        .parent()
        .unwrap_or(Path::new(""))
        .join(target)
        .components()
    {
        match part {
            Component::Normal(p) => path.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !path.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(path)
}

fn check(doc: &Path, text: &str) -> Vec<String> {
    let own = anchors(text);
    let mut problems = Vec::new();
    for target in links(text) {
        let (file, fragment) = match target.split_once('#') {
            Some((file, fragment)) => (file, Some(fragment)),
            None => (target.as_str(), None),
        };
        if target.contains("://") || target.starts_with("mailto:") {
            problems.push(format!(
                "{}: link out of the repository: {target}",
                doc.display()
            ));
            continue;
        }
        if file.is_empty() {
            if let Some(fragment) = fragment.filter(|f| !own.contains(*f)) {
                problems.push(format!("{}: no heading for #{fragment}", doc.display()));
            }
            continue;
        }
        let Some(path) = resolve(doc, file) else {
            problems.push(format!(
                "{}: link leaves the repository: {target}",
                doc.display()
            ));
            continue;
        };
        let full = Path::new(ROOT).join(&path);
        if !full.exists() {
            problems.push(format!("{}: no such file: {target}", doc.display()));
            continue;
        }
        if let Some(fragment) = fragment {
            let other = std::fs::read_to_string(&full).unwrap_or_default();
            if !anchors(&other).contains(fragment) {
                problems.push(format!("{}: no heading for {target}", doc.display()));
            }
        }
    }
    problems
}

#[test]
fn docs_link_only_inside_the_repository() {
    let mut problems = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(Path::new(ROOT).join(&doc))
            .unwrap_or_else(|e| panic!("read {}: {e}", doc.display()));
        problems.extend(check(&doc, &text));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_link_check_catches_what_it_should() {
    let doc = Path::new("docs/x.md");
    let text = "# Top\n[a](#top) [b](#nowhere) [c](https://example.com) [d](../../outside.md) \
                [e](../README.md#where-we-differ-from-010) [f](missing.md) `[g](#code)`\n";
    let problems = check(doc, text);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems.iter().any(|p| p.contains("#nowhere")));
    assert!(problems.iter().any(|p| p.contains("https://example.com")));
    assert!(problems.iter().any(|p| p.contains("outside.md")));
    assert!(problems.iter().any(|p| p.contains("missing.md")));
    assert_eq!(
        anchor("Where we differ from 0.1.0"),
        "where-we-differ-from-010"
    );
}
