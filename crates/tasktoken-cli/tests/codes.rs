//! One source for the error codes (STYLE.md, "Rules live once"): `tasktoken::Error::CODES`,
//! in DESIGN.md's order. Every other list of them is checked against it here, in the same
//! order: the JS package's (`CODES` in js/src/revocation.js, the `ErrorCode` union in
//! js/types/errors.d.ts, generated from js/src/errors.js, and the hostile-input test's set),
//! the CLI's `--help`, and README's "Error codes". A code added to the core fails this test
//! until every list has it.

mod common;

use common::{run, stdout, TempDir};

const CORE: &[&str] = &tasktoken::Error::CODES;

/// A file of the repository, by its path from the root.
fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The part of `text` after the first `start` and before the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str, what: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("{what}: no {start:?}")) + start.len();
    let len =
        text[from..].find(end).unwrap_or_else(|| panic!("{what}: no {end:?} after {start:?}"));
    &text[from..from + len]
}

/// Every string between `quote`s in `text`, in order.
fn quoted(text: &str, quote: char) -> Vec<String> {
    text.split(quote).skip(1).step_by(2).map(str::to_owned).collect()
}

/// Words of lowercase letters and underscores, in order (the CLI's comma-separated list).
fn words(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n']).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

fn assert_core(list: &[String], what: &str) {
    assert_eq!(list, CORE, "{what} differs from tasktoken::Error::CODES (in DESIGN.md's order)");
}

#[test]
fn the_js_package_lists_the_cores_codes() {
    let revocation = repo_file("js/src/revocation.js");
    let set = between(&revocation, "const CODES = new Set([", "]);", "js/src/revocation.js");
    assert_core(&quoted(set, '"'), "CODES in js/src/revocation.js");

    // Generated from js/src/errors.js by `make types` (checked by `make test-js`).
    let types = repo_file("js/types/errors.d.ts");
    let union = between(&types, "export type ErrorCode =", ";", "js/types/errors.d.ts");
    assert_core(&quoted(union, '"'), "ErrorCode in js/types/errors.d.ts");

    // The hostile-input test accepts the core's codes, then the token service's refusals.
    let negative = repo_file("js/test/negative.test.mjs");
    let set = between(&negative, "const CODES = new Set([", "// The token service", "negative");
    assert_core(&quoted(set, '"'), "CODES in js/test/negative.test.mjs");
}

#[test]
fn the_command_lines_help_lists_the_cores_codes() {
    let dir = TempDir::new();
    let help = stdout(&run(&dir, &["--help"], None));
    let list = between(&help, "where <code> is a stable string:", "\n  2 ", "tasktoken --help");
    assert_core(&words(list), "the exit status text of tasktoken --help");
    // Every subcommand's --help carries the same text (EXIT_STATUS_HELP).
    let verify = stdout(&run(&dir, &["verify", "--help"], None));
    assert!(verify.contains(&help[help.find("Exit status:").expect("exit status")..]));
}

#[test]
fn the_readme_lists_the_cores_codes() {
    let readme = repo_file("README.md");
    let section = between(&readme, "## Error codes\n", " — ", "README.md");
    assert_core(&quoted(section, '`'), "README.md's Error codes");
}
