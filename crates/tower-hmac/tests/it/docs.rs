//! Every example in this crate's documentation is written for a user, who depends on `tower-hmac`
//! alone: none names `tower_hmac_core` (the workspace README's are compiled in
//! `examples/user-crate`, which has no such dependency).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::Path;

fn doc_lines(path: &Path, out: &mut Vec<(String, usize, String)>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            doc_lines(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
        let text = std::fs::read_to_string(path).unwrap();
        let is_md = path.extension().is_some_and(|e| e == "md");
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if is_md || trimmed.starts_with("///") || trimmed.starts_with("//!") {
                out.push((path.display().to_string(), i + 1, line.to_owned()));
            }
        }
    }
}

#[test]
fn no_doc_example_names_the_core_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut lines = Vec::new();
    doc_lines(&root.join("src"), &mut lines);
    doc_lines(&root.join("README.md"), &mut lines);
    assert!(lines.len() > 100, "the docs were not found");
    let offending: Vec<_> = lines
        .iter()
        .filter(|(_, _, line)| line.contains("tower_hmac_core"))
        .map(|(file, n, line)| format!("{file}:{n}: {line}"))
        .collect();
    assert!(
        offending.is_empty(),
        "doc lines a user cannot compile (use tower_hmac::protocol):\n{}",
        offending.join("\n")
    );
}

#[test]
fn every_rejection_code_is_in_the_protocol_document() {
    let protocol = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PROTOCOL.md"
    ))
    .unwrap();
    for kind in tower_hmac::RejectionKind::ALL {
        assert!(
            protocol.contains(&format!("`{}`", kind.code())),
            "docs/PROTOCOL.md does not name {}",
            kind.code()
        );
    }
}
