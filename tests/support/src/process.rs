//! Running a paygate binary as a real process, as an operator would: with an environment, reading
//! its output, sending it signals, and waiting for it to exit.
//!
//! Services log in JSON for these tests (`LOG_FORMAT=json`), so the helper can find the address
//! the service bound (`HTTP_ADDR=127.0.0.1:0` picks a free port) in its "listening" line.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Output of a process that ran to its end.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `bin` with `args` and `env` until it exits; panics if it takes longer than `within`.
pub async fn run_to_exit(bin: &str, args: &[&str], env: &[(&str, &str)], within: Duration) -> Finished {
    let mut cmd = Command::new(bin);
    cmd.args(args).envs(env.iter().copied()).stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(within, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{bin} {args:?} did not exit within {within:?}"))
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    Finished {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A service process started by a test. Killed if dropped while running.
pub struct ServiceProcess {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    pub name: String,
}

impl ServiceProcess {
    /// Starts `bin` with `env` (plus `LOG_FORMAT=json`), collecting stdout and stderr lines.
    pub fn spawn(bin: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn_with_args(bin, &[], env)
    }

    /// [`ServiceProcess::spawn`] with command-line arguments (a payctl command to kill mid-way).
    pub fn spawn_with_args(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        for stream in [Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>, Box::new(stderr)] {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lock().unwrap().push(line);
                }
            });
        }
        let name = bin.rsplit('/').next().unwrap_or(bin).to_owned();
        Self { child, output, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Every line printed so far.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// The `addr` field of the first log line whose message contains `needle`.
    pub fn logged_addr(&self, needle: &str) -> Option<String> {
        self.output().iter().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            let fields = v.get("fields")?;
            let message = fields.get("message")?.as_str()?;
            if !message.contains(needle) {
                return None;
            }
            fields.get("addr")?.as_str().map(str::to_owned)
        })
    }

    /// Waits until the service logs the address it serves HTTP on, and returns `http://addr`.
    pub async fn http_base(&self, within: Duration) -> String {
        let addr =
            crate::eventually_some(&format!("{} to log its HTTP address", self.name), within, || async {
                self.logged_addr("listening")
            })
            .await;
        format!("http://{addr}")
    }

    /// Sends a signal by name (TERM, INT, KILL) with the system's `kill`.
    pub async fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .await
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits for the process to exit and returns its exit code (None if a signal ended it).
    pub async fn wait(&mut self, within: Duration) -> Option<i32> {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!("{} did not exit within {within:?}; output:\n{}", self.name, self.output().join("\n"))
            })
            .expect("wait for the process");
        status.code()
    }
}

/// The path of a workspace binary, built next to the test executables (target/<profile>/NAME).
/// `cargo test --workspace` and `cargo nextest run --workspace` build every binary first.
pub fn workspace_binary(name: &str) -> String {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test binary> → target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built; run `cargo build --workspace --bins` first", path.display());
    path.to_string_lossy().into_owned()
}
