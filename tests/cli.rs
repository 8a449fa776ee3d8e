//! The command line itself: shell completions and the manual page, generated from the same
//! definition as `--help`.

use crate::util::mxray;

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = mxray(&["completions", shell], None);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        for verb in ["explain", "diagnose", "verify", "logs", "lab"] {
            assert!(out.stdout.contains(verb), "{shell} lacks {verb}");
        }
    }
    let out = mxray(&["completions", "tcsh"], None);
    assert_eq!(out.code, 2, "an unknown shell is a usage error");
    let man = mxray(&["man"], None);
    assert_eq!(man.code, 0, "{}", man.stderr);
    assert!(man.stdout.contains(".TH mxray 1"), "{}", man.stdout);
    assert!(man.stdout.contains("diagnose"));
}

/// A full disk on standard output (/dev/full) is an environment error that says it was
/// standard output, for every verb; nothing panics (clap_complete would, writing directly).
#[test]
fn a_full_standard_output_is_named_for_every_verb() {
    let log = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/logs/postfix-debian12.log"
    );
    let runs: &[&[&str]] = &[
        &["explain", "421"],
        &["explain", "421", "--json"],
        &["logs", log],
        &["logs", log, "--json"],
        &["logs", log, "--events"],
        &["completions", "bash"],
        &["man"],
    ];
    for args in runs {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mxray"))
            .args(*args)
            .stdout(full)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run mxray");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("writing to standard output: No space left on device"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A state file that cannot be created names the path and the reason.
#[test]
fn an_unusable_state_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "alice@example.test\n").expect("write list");
    let state = dir.path().join("no/such/dir/job.db");
    let out = mxray(
        &[
            "verify",
            "--input",
            list.to_str().expect("utf-8 path"),
            "--state",
            state.to_str().expect("utf-8 path"),
            "--resolver",
            "127.0.0.1:9",
        ],
        None,
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("state file {}", state.display()))
            && out.stderr.contains("No such file or directory"),
        "{}",
        out.stderr
    );
}
