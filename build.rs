//! Build facts for `signal_fish_build_info`: the compiler's `rustc -V` and, in a git checkout,
//! the short commit id. Standard library only, so it adds no build dependency.
//!
//! It reruns only when HEAD or the branch it points to moves (not on every source edit, which
//! would rebuild the library whenever a test file changes).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = run(&rustc, &["-V"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SIGNAL_FISH_RUSTC={version}");

    // A crates.io tarball or a copy without git has no commit: the label is then left out.
    if let Some(sha) = run("git", &["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=SIGNAL_FISH_GIT_SHA={sha}");
        for path in ["HEAD", "packed-refs"] {
            watch_git_path(path);
        }
        if let Some(branch) = run("git", &["symbolic-ref", "-q", "HEAD"]) {
            watch_git_path(&branch);
        }
    }
}

/// Reruns the script when `.git/<path>` changes (resolved by git, so worktrees work too).
fn watch_git_path(path: &str) {
    if let Some(full) = run("git", &["rev-parse", "--git-path", path])
        && Path::new(&full).exists()
    {
        println!("cargo:rerun-if-changed={full}");
    }
}

/// The command's trimmed stdout, if it ran and succeeded with output.
fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}
