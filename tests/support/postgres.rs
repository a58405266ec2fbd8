//! A real PostgreSQL server for the tests, from Debian's `postgresql-15` package: `initdb` in
//! a temp dir, `pg_ctl start` on a free loopback port with its socket in that dir, one server
//! per test binary shared by its tests, and a fresh database per test ([`database`]).
//!
//! Tests run as root here and in CI, and `initdb` refuses root: the server then runs as
//! `nobody` (through `runuser`, part of util-linux, on every Debian). A watchdog shell waits
//! for the test process to exit, then stops the server (`-m immediate`) and removes the dir:
//! the test harness has no global teardown, and a server must not outlive its tests.
//!
//! The server speaks TLS too, with a certificate for 127.0.0.1 from a CA made here with the
//! `openssl` CLI ([`Server::ca`]); the role [`TLS_ONLY_ROLE`] is refused without TLS.
//!
//! Missing binaries fail the test, naming the package to install (no skip).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The running server.
pub struct Server {
    /// Loopback TCP port.
    pub port: u16,
    /// `/usr/lib/postgresql/N/bin`.
    pub bin: PathBuf,
    /// The temp dir (data, socket, log).
    pub dir: PathBuf,
    /// Whether the server runs as `nobody` (the tests run as root).
    as_nobody: bool,
}

/// A role the server lets in over TLS only (`pg_hba.conf`: `hostnossl … reject`).
pub const TLS_ONLY_ROLE: &str = "tlsonly";

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
        .collect();
    found.sort();
    // Prefer 15 (what CI installs), else the newest there is.
    if let Some(b) = found
        .iter()
        .find(|b| b.starts_with("/usr/lib/postgresql/15"))
    {
        return b.clone();
    }
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: \
             install the Debian package postgresql-15 (`apt-get install postgresql-15`, or run scripts/ci-deps.sh)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Server {
    /// A command running `prog` as the server's user.
    fn cmd(&self, prog: &str) -> Command {
        as_user(self.as_nobody, &self.bin.join(prog))
    }

    /// `postgres://` URL of database `db` on this server (superuser `postgres`, trust auth).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// The CA (PEM) that signed the server's certificate (for `127.0.0.1`).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Runs SQL as the superuser on `db`, returns psql's output (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn as_user(nobody: bool, prog: &Path) -> Command {
    if nobody {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(prog);
        c
    } else {
        Command::new(prog)
    }
}

fn run(mut c: Command, what: &str) {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI makes the test server's TLS certificate: apt-get install openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=tfdrift test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &csr);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("san.ext");
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
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start() -> Server {
    let bin = bin_dir();
    let as_nobody = is_root();
    // As `nobody`, the server must reach its dir: under /tmp, not a $TMPDIR below root's home.
    let base = if as_nobody {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix("tfdrift-pg-")
        .tempdir_in(base)
        .expect("temp dir")
        .keep();
    certificates(&dir);
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod server.key");
    }
    if as_nobody {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("-R").arg("nobody:").arg(&dir);
                c
            },
            "chown the PostgreSQL temp dir to nobody",
        );
    }
    let data = dir.join("data");
    let mut init = as_user(as_nobody, &bin.join("initdb"));
    init.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    run(init, "initdb");
    // The TLS-only role: refused without TLS (first matching line wins).
    let hba = data.join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    std::fs::write(
        &hba,
        format!("hostnossl all {TLS_ONLY_ROLE} all reject\n{rules}"),
    )
    .expect("pg_hba.conf");
    let port = free_port();
    let server = Server {
        port,
        bin,
        dir: dir.clone(),
        as_nobody,
    };
    let mut ctl = server.cmd("pg_ctl");
    ctl.arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-w", "-t", "120", "-o"])
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 \
             -c synchronous_commit=off -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}",
            dir.display(),
            cert = dir.join("server.pem").display(),
            key = dir.join("server.key").display(),
        ))
        .arg("start");
    run(ctl, "pg_ctl start (see server.log in the temp dir)");
    server.psql(
        "postgres",
        &format!("CREATE ROLE {TLS_ONLY_ROLE} LOGIN SUPERUSER"),
    );
    // The watchdog: stop the server and remove its dir when this test process is gone.
    let stop = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; {runas}'{ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        runas = if as_nobody {
            "runuser -u nobody -- "
        } else {
            ""
        },
        ctl = server.bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    // Not waited for: it outlives this process on purpose.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the PostgreSQL watchdog");
    server
}

/// The shared server, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(start)
}

/// A fresh, empty database on the shared server; returns its URL.
pub fn database() -> String {
    let s = server();
    let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
    s.psql("postgres", &format!("CREATE DATABASE {name}"));
    s.url(&name)
}

/// `store:` settings for a fresh database with a pool of `pool`.
pub fn settings(url: &str, pool: usize) -> tfdrift::store::StoreSettings {
    tfdrift::store::StoreSettings {
        url: Some(url.to_string()),
        pool: Some(pool),
        ..tfdrift::store::StoreSettings::default()
    }
}
