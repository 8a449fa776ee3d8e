//! Real MTAs for the live tests: a lab and a daemon in network and mount namespaces of their
//! own (loopback only), stopped whatever happens; a Postfix instance of the test's own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::require;

/// tests/fixtures/queue/NAME: the lab world and the Postfix instance's files.
fn fixture(name: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "queue",
        name,
    ]
    .iter()
    .collect()
}

/// The live tests start daemons and mount over /etc/passwd in a namespace: root only, and the
/// tools they need installed. Missing ones fail, naming the package.
pub fn require_live(user: &str) {
    assert!(
        rustix::process::getuid().is_root(),
        "{user} start a real MTA in network and mount namespaces of their own: run them as root (bash .ci/test does)"
    );
    for (program, package) in [
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("ip", "iproute2"),
    ] {
        require(program, package, user);
    }
}

/// A lab (tests/fixtures/queue/world.toml) and whatever `daemon` starts, in new network and
/// mount namespaces (loopback only, private mounts), held by one shell in a process group of
/// its own. Dropping it runs `stop` there, then kills the group: nothing outlives the test,
/// even a failing one.
pub struct Netns {
    holder: Child,
    /// Commands run in the namespaces before the group is killed (`postfix stop`).
    pub stop: Vec<Vec<String>>,
}

impl Netns {
    /// `prelude` runs first in the namespaces (mounts), `daemon` after the lab is up.
    pub fn start(dir: &Path, prelude: &str, daemon: &str) -> Netns {
        std::fs::copy(fixture("world.toml"), dir.join("world.toml")).expect("world");
        let script = format!(
            "set -e\nip link set lo up\n{prelude}\n\"$MXRAY\" lab serve world.toml --smtp-port 2525 --ready-file lab.json > lab.out 2>&1 &\n{daemon}\nwait\n"
        );
        use std::os::unix::process::CommandExt;
        let holder = Command::new("unshare")
            .args(["--net", "--mount", "--", "bash", "-c", &script])
            .current_dir(dir)
            .env("MXRAY", env!("CARGO_BIN_EXE_mxray"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("holder.err")).expect("holder.err"))
            .process_group(0)
            .spawn()
            .expect("unshare (package util-linux)");
        let ns = Netns {
            holder,
            stop: Vec::new(),
        };
        ns.wait_for(dir, &[dir.join("lab.json")], "the lab");
        ns
    }

    /// Waits until every path exists (20 s at most), failing with the namespace's errors.
    pub fn wait_for(&self, dir: &Path, paths: &[PathBuf], what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !paths.iter().all(|p| p.exists()) {
            let err = std::fs::read_to_string(dir.join("holder.err")).unwrap_or_default();
            let lab = std::fs::read_to_string(dir.join("lab.out")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "{what} did not start in the namespace (unshare --net --mount needs root): {err}\n{lab}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `program args` inside the namespaces.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.args([
            "-t",
            &self.holder.id().to_string(),
            "-n",
            "-m",
            "--",
            program,
        ])
        .args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for argv in &self.stop {
            let _ = self
                .command(
                    &argv[0],
                    &argv[1..].iter().map(String::as_str).collect::<Vec<_>>(),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let pid = rustix::process::Pid::from_child(&self.holder);
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.holder.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        let _ = self.holder.wait();
    }
}

/// Runs `cmd` with `input` on its standard input; panics with its errors unless it succeeds.
pub fn feed(mut cmd: Command, input: &str, what: &str) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temp dir the MTAs' own users can walk into (tempfile makes it 0700).
pub fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

pub fn ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A Postfix instance of the test's own in `d` (config in `d/conf`, queue and data beside it;
/// no SMTP listener; lab domains routed by IP: tests/fixtures/queue/postfix-main.cf), with
/// `overrides` (`name = value`) set over the fixture's. Returns the config directory.
pub fn postfix_instance(d: &Path, overrides: &[&str]) -> PathBuf {
    require("postfix", "postfix", "the live Postfix tests");
    let conf = d.join("conf");
    for sub in ["conf", "spool", "data"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    let main = std::fs::read_to_string(fixture("postfix-main.cf")).expect("main.cf");
    std::fs::write(
        conf.join("main.cf"),
        main.replace("@DIR@", &d.display().to_string()),
    )
    .expect("main.cf");
    std::fs::copy(fixture("postfix-transport"), d.join("transport")).expect("transport");
    std::fs::copy("/usr/share/postfix/master.cf.dist", conf.join("master.cf"))
        .expect("master.cf.dist (package postfix)");
    let c = conf.to_str().expect("path");
    ok(
        Command::new("postconf").args(["-c", c, "-M#", "smtp/inet"]),
        "postconf -M#",
    );
    ok(
        Command::new("postconf").args(["-c", c, "-F", "*/*/chroot = n"]),
        "postconf -F",
    );
    for o in overrides {
        ok(
            Command::new("postconf").args(["-c", c, "-e", o]),
            "postconf -e",
        );
    }
    ok(
        Command::new("chown").arg("postfix").arg(d.join("data")),
        "chown postfix",
    );
    ok(
        Command::new("postfix").args(["-c", c, "check"]),
        "postfix check",
    );
    conf
}

/// The lab and the Postfix instance configured in `c`, started in their namespaces; returns
/// once Postfix takes mail. Dropping the result stops Postfix, then everything else.
pub fn start_postfix(d: &Path, c: &str) -> Netns {
    let mut ns = Netns::start(
        d,
        "",
        &format!("postfix -c {c} start-fg > postfix.out 2>&1 &"),
    );
    ns.stop
        .push(vec!["postfix".into(), "-c".into(), c.into(), "stop".into()]);
    ns.wait_for(d, &[d.join("spool/public/pickup")], "Postfix");
    ns
}
