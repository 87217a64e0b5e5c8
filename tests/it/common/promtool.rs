//! Runs Prometheus's `promtool` (Debian package `prometheus`). A missing promtool fails the test
//! with the package to install: a check that silently skips proves nothing.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool ARGS`, feeding `stdin` if given, and asserts it succeeds.
pub fn check(args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "promtool not runnable ({err}): install Debian package prometheus (.ci/run does)"
            )
        });
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin piped")
            .write_all(text.as_bytes())
            .expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
