//! Helpers for end-to-end tests: run the built binary with arguments and optional stdin, and
//! capture exit code, stdout and stderr.

use std::io::Write;
use std::process::{Command, Stdio};

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The docs/schema/ documents the command prints (from its verb), which [`json`] and
    /// [`json_lines`] check every parsed document against.
    pub docs: &'static [&'static str],
}

/// Runs `mxray ARGS` with `stdin` piped in (or an empty stdin), colour off unless asked.
pub fn mxray(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mxray"));
    cmd.args(args)
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1");
    run(cmd, stdin)
}

/// Like [`mxray`] but with the environment left as the caller sets it on `cmd`.
pub fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn mxray");
    {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        if let Some(s) = stdin {
            pipe.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("wait for mxray");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        docs: docs_printed_by(&args),
    }
}

/// Which published documents a command line prints with --json: by its verb.
fn docs_printed_by(args: &[String]) -> &'static [&'static str] {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let verb = args.iter().position(|a| {
        [
            "explain", "diagnose", "verify", "logs", "lab", "records", "queue",
        ]
        .contains(&a.as_str())
    });
    match verb.map(|i| (args[i].as_str(), args.get(i + 1).map(String::as_str))) {
        Some(("explain", _)) => &["explain", "bounce"],
        Some(("diagnose", _)) => &["diagnose"],
        Some(("records", Some("fix"))) => &["records-fix"],
        Some(("records", _)) if has("--check-flattened") => &["records-drift"],
        Some(("records", _)) => &["records"],
        Some(("verify", _)) if has("--preflight") => &["preflight"],
        Some(("verify", _)) => &["verify"],
        Some(("logs", _)) if has("--follow") => &["logs-follow-event"],
        Some(("logs", _)) if has("--events") => &["logs-event"],
        Some(("logs", _)) => &["logs"],
        Some(("queue", _)) => &["queue"],
        Some(("lab", Some("demo"))) => &["lab-demo"],
        Some(("lab", Some("serve"))) => &["lab-ready", "lab-stats"],
        _ => &[],
    }
}

/// Panics unless `value` is valid against one of the docs/schema/ documents named (the
/// published JSON Schemas, compiled once).
pub fn conforms(docs: &[&str], value: &serde_json::Value) {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static VALIDATORS: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    let validators = VALIDATORS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
        std::fs::read_dir(&dir)
            .expect("docs/schema")
            .map(|e| e.expect("docs/schema entry").path())
            .filter_map(|p| {
                let name = p
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".schema.json")?
                    .to_string();
                let text = std::fs::read_to_string(&p).expect("read schema");
                let schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
                let v = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", p.display()));
                Some((name, v))
            })
            .collect()
    });
    let mut problems = Vec::new();
    for doc in docs {
        let v = validators
            .get(*doc)
            .unwrap_or_else(|| panic!("no docs/schema/{doc}.schema.json"));
        let errors: Vec<String> = v
            .iter_errors(value)
            .take(5)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            return;
        }
        problems.push(format!("{doc}: {}", errors.join("; ")));
    }
    if !docs.is_empty() {
        panic!("document does not match its schema: {problems:?}\n{value}");
    }
}

/// The JSON Lines of standard output (lines that are not JSON are left out).
/// Each is checked against the command's published schema.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    let docs: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for d in &docs {
        conforms(out.docs, d);
    }
    docs
}

/// Standard output as one JSON document, checked against the command's published schema.
pub fn json(out: &Output) -> serde_json::Value {
    let doc = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.stdout));
    conforms(out.docs, &doc);
    doc
}

/// A lab started in-process from a scenario (mxray_lab::LabHandle, on its own runtime), living
/// as long as the test binary, with its CA in a file and the flags that point mxray at it.
pub struct TestLab {
    handle: mxray_lab::LabHandle,
    _dir: tempfile::TempDir,
    pub ca_file: std::path::PathBuf,
}

impl TestLab {
    pub fn start(scenario_toml: &str, name: &str) -> TestLab {
        let handle =
            mxray_lab::LabHandle::from_toml(scenario_toml, name, mxray_lab::LabOptions::default())
                .unwrap_or_else(|e| panic!("starting lab {name}: {e}"));
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("lab-ca.pem");
        std::fs::write(&ca_file, handle.ca_pem()).expect("write CA file");
        TestLab {
            handle,
            _dir: dir,
            ca_file,
        }
    }

    pub fn lab(&self) -> &mxray_lab::Lab {
        self.handle.lab()
    }

    pub fn resolver(&self) -> std::net::SocketAddr {
        self.handle.resolver()
    }

    pub fn smtp_port(&self) -> u16 {
        self.handle.smtp_port()
    }

    /// The MTA-STS policy server's port, when the world publishes a policy.
    pub fn https_port(&self) -> Option<u16> {
        self.handle.info().https_port
    }

    /// `--resolver IP:PORT --smtp-port N --ca-file PEM`.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--resolver".into(),
            self.handle.resolver().to_string(),
            "--smtp-port".into(),
            self.handle.smtp_port().to_string(),
            "--ca-file".into(),
            self.ca_file.display().to_string(),
        ]
    }
}

/// Runs `mxray ARGS` with the lab's flags appended.
pub fn mxray_lab(lab: &TestLab, args: &[&str]) -> Output {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(lab.flags());
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    mxray(&refs, None)
}

/// Panics unless `program` is on PATH, naming the Debian package that provides it: a missing
/// tool is a failure, never a silent skip. `user` says who needs it ("the examples").
pub fn require(program: &str, package: &str, user: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{user} use {program}: install the {package} package (apt-get install {package}; bash .ci/test does)"
    );
}
