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
