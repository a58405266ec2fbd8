//! Shared by the team-mode tests (`team_api`, `team_monitor`, `team_rules`): the binary,
//! child processes with their output collected line by line, a test CA and server certificate
//! made with the `openssl` CLI, API tokens made with `tfdrift api token`, and Falco events
//! posted to a daemon's HTTP source.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_tfdrift");

pub type Lines = Arc<Mutex<Vec<String>>>;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn pump(r: impl std::io::Read + Send + 'static) -> Lines {
    let out: Lines = Arc::default();
    let o = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            o.lock().unwrap().push(line);
        }
    });
    out
}

/// A child process with its output collected line by line.
pub struct Proc {
    pub child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdout = pump(child.stdout.take().unwrap());
        let stderr = pump(child.stderr.take().unwrap());
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    pub fn out(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn err(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) for `cond`; on timeout fails with `what` and the context it returns.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + limit;
    loop {
        match cond() {
            Ok(()) => return,
            Err(ctx) if Instant::now() > deadline => panic!("timed out waiting for {what}: {ctx}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for the TLS test: apt-get install openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for 127.0.0.1 signed by it.
pub fn make_certs(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut a = vec!["req", "-x509", "-nodes", "-days", "2"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=tfdrift team test CA",
    ]);
    openssl(dir, &a);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let mut a = vec!["req", "-new", "-nodes"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &a);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "server.ext",
        ],
    );
}

/// `tfdrift api token`: the token and its tokens.yaml line.
pub fn token(name: &str, role: &str) -> (String, String) {
    let out = Command::new(BIN)
        .args(["api", "token", "--name", name, "--role", role])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let (t, l) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(
        !l.contains(t),
        "the tokens.yaml line must not hold the token"
    );
    (t.to_string(), l.to_string())
}

pub fn falco_event(n: usize) -> Value {
    json!({"hostname":"falco-0",
      "output":"SG ingress changed",
      "output_fields":{"ct.error":null,"ct.id":format!("team-{n}"),
        "ct.name":"AuthorizeSecurityGroupIngress","ct.region":"us-east-1","ct.src":"ec2.amazonaws.com",
        "ct.user":"alice","ct.request":format!("{{\"groupId\":\"sg-{n:017x}\"}}"),"evt.time":1_714_572_698_000_000_000_u64},
      "priority":"Notice","rule":"SG ingress changed","source":"aws_cloudtrail","tags":["aws"],
      "time":"2024-05-01T14:11:38.000000000Z"})
}

/// Posts events `range` (newline-delimited, `per` to a request); retries a batch until the
/// daemon accepts it (it may be down for a restart).
pub fn post(falco: &str, range: std::ops::Range<usize>, per: usize, pause: Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let ids: Vec<usize> = range.collect();
    for chunk in ids.chunks(per) {
        let body: String = chunk
            .iter()
            .flat_map(|n| [falco_event(*n).to_string(), "\n".to_string()])
            .collect();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let r = rt.block_on(client.post(falco).body(body.clone()).send());
            if r.as_ref().is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "falco source never accepted: {r:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(pause);
    }
}

/// Starts `tfdrift serve --profile team` on `cfg` and waits until its API serves.
pub fn serve(cfg: &Path) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--no-stdout", "--profile", "team", "--config"])
        .arg(cfg)
        .env("TFDRIFT_LOG", "info");
    let p = Proc::spawn(cmd);
    wait_for("the daemon's API", Duration::from_mins(1), || {
        let e = p.err();
        if e.contains("Serving the team API") {
            Ok(())
        } else {
            Err(e)
        }
    });
    p
}
