//! Running `cpra run` from a test: a port that refuses until opened, the child process with
//! its stderr kept in the test's directory and killed on drop, and a bounded wait.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A TCP port that refuses connections until [`Port::open`], then accepts them.
pub struct Port {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Port {
    pub fn closed() -> Port {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        Port {
            port,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn open(&self) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).expect("rebind the closed port");
        l.set_nonblocking(true).unwrap();
        let stop = self.stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => drop(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub struct Cpra {
    child: Child,
    dir: PathBuf,
    /// This instance's stderr file (others may share `dir`).
    err_path: PathBuf,
}

impl Cpra {
    pub fn start(cfg: &Path, state: &Path, extra: &[&str]) -> Cpra {
        Cpra::start_named(cfg, state, "test-box", extra)
    }

    /// [`Cpra::start`] with this `--name`.
    pub fn start_named(cfg: &Path, state: &Path, name: &str, extra: &[&str]) -> Cpra {
        let dir = cfg.parent().unwrap().to_path_buf();
        let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        let err_path = dir.join(format!("cpra-{n}.stderr"));
        let err = std::fs::File::create(&err_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cpra"))
            .arg("run")
            .arg(cfg)
            .args(["--workers", "1", "--no-pin", "--name", name, "--state-dir"])
            .arg(state)
            .args(extra)
            .env("CPRA_NT_TOKEN", "nt-secret-1")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        Cpra {
            child,
            dir,
            err_path,
        }
    }

    /// The API's address (`--listen 127.0.0.1:0` picks a free port), read from the line cpra
    /// prints when the API is up; waits up to 10 s.
    pub fn api_addr(&self) -> String {
        let mut found = None;
        wait_until(Duration::from_secs(10), || {
            let own = std::fs::read_to_string(&self.err_path).unwrap_or_default();
            found = own.lines().find_map(|l| {
                l.split("dashboard http://")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .map(str::to_string)
            });
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("cpra did not start its API: {}", self.stderr()))
    }

    /// Waits for exit (bounded) and returns its stderr text.
    pub fn wait(mut self, limit: Duration) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                assert!(s.success(), "cpra failed: {}", self.stderr());
                return self.stderr();
            }
            assert!(t0.elapsed() < limit, "cpra did not stop: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id (to read its /proc entries).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn stderr(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
            if e.file_name().to_string_lossy().ends_with(".stderr") {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        out
    }
}

impl Drop for Cpra {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
