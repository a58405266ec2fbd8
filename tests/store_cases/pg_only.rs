//! What is specific to PostgreSQL: replicas starting together migrate once, a newer schema is
//! refused, an older one is upgraded in place, and no error shows a password.

use tfdrift::store::journal::Journal as _;
use tfdrift::store::{PostgresStore, Store as _, StoreError};

use super::{demo_alerts, pg};

/// PostgreSQL: replicas starting together migrate once (the advisory lock), and a database
/// written by a newer tfdrift is refused, naming the server and database.
#[test]
fn postgres_replicas_migrate_together_and_a_newer_schema_is_refused() {
    let url = pg::database();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::open(&pg::settings(&url, 2)).map(drop))
        })
        .collect();
    for o in opened {
        o.join().unwrap().unwrap();
    }
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let s = pg::server();
    assert_eq!(
        s.psql(db, "SELECT version FROM tfdrift_schema"),
        tfdrift::store::postgres::latest_version().to_string()
    );
    assert_eq!(s.psql(db, "SELECT COUNT(*) FROM tfdrift_schema"), "1");
    s.psql(db, "UPDATE tfdrift_schema SET version = 99");
    let err = PostgresStore::open(&pg::settings(&url, 2)).expect_err("refused");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains(db), "{err}");
}

/// PostgreSQL: a password (from the URL, `password_env` or `password_file`) never appears in
/// an error; a missing password source is named.
#[test]
fn postgres_errors_never_show_the_password() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!(
        "postgres://tfd:hunter2-in-url@127.0.0.1:{port}/x?sslmode=disable&connect_timeout=2"
    );
    let err = PostgresStore::open(&pg::settings(&url, 1)).expect_err("nothing listens");
    let msg = err.to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}/x")), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "hunter2-in-file\n").unwrap();
    let mut settings = pg::settings(
        &format!("postgres://tfd@127.0.0.1:{port}/x?sslmode=disable&connect_timeout=2"),
        1,
    );
    settings.password_file = Some(file.display().to_string());
    let msg = PostgresStore::open(&settings)
        .expect_err("refused")
        .to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    settings.password_env = Some("TFDRIFT_TEST_NO_SUCH_VAR".into());
    let msg = PostgresStore::open(&settings)
        .expect_err("two password sources")
        .to_string();
    assert!(msg.contains("keep one"), "{msg}");
    settings.password_file = None;
    let msg = PostgresStore::open(&settings)
        .expect_err("refused")
        .to_string();
    assert!(msg.contains("TFDRIFT_TEST_NO_SUCH_VAR"), "{msg}");
    // What the monitor's header and logs show.
    assert_eq!(
        pg::settings("postgres://tfd:hunter2@db.internal:5432/prod", 1).describe(),
        "postgres://tfd@db.internal:5432/prod"
    );
}

/// PostgreSQL: a database at schema version 2 (written by an older tfdrift) is upgraded in
/// place to the newest version, its rows intact, and records drifts from then on.
#[test]
fn postgres_a_version_2_database_is_migrated() {
    let url = pg::database();
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let s = pg::server();
    let old = tfdrift::store::postgres::MIGRATIONS[..2].join("\n");
    s.psql(
        db,
        &format!(
            "BEGIN; CREATE TABLE tfdrift_schema (version BIGINT NOT NULL); \
             INSERT INTO tfdrift_schema VALUES (2); {old}; \
             INSERT INTO alerts (id, time, kind, severity, provider, resource_type, resource_id, \
             fingerprint, event_id, event_name, recorded_at, json) VALUES ('tfd-old', 0, \
             'attribute_drift', 'high', 'aws', 't', 'i', 'f', 'e', 'n', 0, '{{}}'); COMMIT;"
        ),
    );
    let store = PostgresStore::open(&pg::settings(&url, 2)).unwrap();
    assert_eq!(
        s.psql(db, "SELECT version FROM tfdrift_schema"),
        tfdrift::store::postgres::latest_version().to_string()
    );
    assert_eq!(
        s.psql(db, "SELECT COUNT(*) FROM alerts WHERE id = 'tfd-old'"),
        "1"
    );
    let a = demo_alerts().remove(0);
    let ops: Vec<tfdrift::drift::DriftOp> = tfdrift::drift::occurrences(&a, "demo")
        .into_iter()
        .map(|o| tfdrift::drift::DriftOp::Occur(Box::new(o)))
        .collect();
    let batch = [tfdrift::store::EventRecord {
        seen: &[&a.event.id],
        time: Some(a.time),
        alerts: std::slice::from_ref(&a),
        outbox: &[],
        drifts: &ops,
    }];
    assert_eq!(store.record_batch(&batch).unwrap(), [true]);
    assert_eq!(
        store
            .drifts(&tfdrift::store::DriftFilter::default())
            .unwrap()
            .len(),
        ops.len()
    );
    // The journal (migration 4) was installed by the upgrade: the alert and each drift's
    // opening have their entries.
    let changes = store.changes_since(0, 100).unwrap();
    assert_eq!(changes.len(), 1 + ops.len());
    assert!(
        matches!(&changes[0].item, tfdrift::store::journal::ChangeItem::Alert(r) if r.id == a.id)
    );
}

/// TLS from the URL's `sslmode`: the real daemon connects as a role the server refuses without
/// TLS, verifying the server's certificate against the roots it is given (`SSL_CERT_FILE`: the
/// test CA) and records the demo's alerts; with the system roots only, the same URL fails,
/// saying the certificate is not trusted — never falling back to plaintext.
#[test]
fn postgres_tls_from_sslmode_verifies_the_server() {
    let s = pg::server();
    let url = pg::database();
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let tls_url = format!(
        "postgres://{}@127.0.0.1:{}/{db}?sslmode=require",
        pg::TLS_ONLY_ROLE,
        s.port
    );
    let plain = tls_url.replace("sslmode=require", "sslmode=disable");
    let err = PostgresStore::open(&pg::settings(&plain, 1)).expect_err("refused without TLS");
    assert!(err.to_string().contains("pg_hba.conf"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:\n  d:\n    state: [\"embedded:demo/terraform.tfstate\"]\n    rules: []\n    \
             inputs: [\"embedded:demo/events.jsonl\"]\n    replay: {{loop: false, interval_ms: 0}}\n    \
             store: {{url: \"{tls_url}\", pool: 2}}\n"
        ),
    )
    .unwrap();
    let run = |ca: Option<&std::path::Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tfdrift"));
        cmd.args(["serve", "--profile", "d", "--once", "--config"])
            .arg(&cfg)
            .env("HOME", dir.path())
            .env_remove("SSL_CERT_DIR");
        match ca {
            Some(ca) => cmd.env("SSL_CERT_FILE", ca),
            None => cmd.env_remove("SSL_CERT_FILE"),
        };
        cmd.output().unwrap()
    };
    let untrusted = run(None);
    assert!(!untrusted.status.success());
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(
        stderr.contains("certificate") || stderr.contains("Certificate"),
        "{stderr}"
    );
    let trusted = run(Some(&s.ca()));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&trusted.stdout).lines().count(), 10);
    assert_eq!(s.psql(db, "SELECT COUNT(*) FROM alerts"), "10");
}
