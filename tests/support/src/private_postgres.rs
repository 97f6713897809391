//! A private PostgreSQL server for a run that must restart it (the chaos run): Debian's `initdb`
//! and `pg_ctl` on a temporary data directory and a free port, trust authentication, owned by the
//! `postgres` user when we run as root (the server refuses to run as root). The machine's shared
//! server is never touched. Stopped, and its directory removed, when dropped.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where Debian installs the server's programs, newest major version first.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists() && bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"))
}

pub struct PrivatePostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Whether this machine can run a private server (Debian's server package is installed).
    pub fn available() -> bool {
        bin_dir().is_some()
    }

    /// Creates a cluster with `initdb` and starts it; panics with the tool's output on failure.
    pub fn start() -> Self {
        let bin = bin_dir().expect("PostgreSQL's server programs under /usr/lib/postgresql/*/bin");
        let dir = std::env::temp_dir().join(format!("paygate-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the private server's directory");
        let as_postgres = running_as_root();
        let server = Self { port: free_port(), dir, bin, as_postgres };
        if as_postgres {
            let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&server.dir).status();
            assert!(chown.is_ok_and(|s| s.success()), "chown the private server's directory to postgres");
        }
        let data = server.data_dir();
        let init =
            server.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        // Sized for five services and a verifier; fsync off because a run's data is thrown away
        // (an immediate stop is still crash recovery from the WAL, which the OS keeps).
        let conf = format!(
            "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 300\nfsync = off\nfull_page_writes = off\nshared_buffers = 256MB\n",
            server.port,
            server.dir.display()
        );
        let auto = Path::new(&data).join("postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&auto).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(&auto, existing).expect("write the private server's settings");
        server.start_server();
        server
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args).current_dir(&self.dir).output().unwrap_or_else(|e| panic!("run {program}: {e}"))
    }

    fn start_server(&self) {
        let log = self.dir.join("server.log").display().to_string();
        let out = self.run("pg_ctl", &["-D", &self.data_dir(), "-l", &log, "-w", "-t", "60", "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server as a crash would (`-m immediate`: no checkpoint, every connection cut),
    /// then starts it again on the same port and data; it recovers from its WAL.
    pub fn restart(&self) {
        let out = self.run("pg_ctl", &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
        self.start_server();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
