//! Email against a real SMTP server: aiosmtpd (installed into `.venv` by
//! `scripts/ci-deps.sh`) stores received mail in a maildir; the test reads it back.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tfdrift::notify::settings::ChannelSettings;
use tfdrift::notify::{Channels, Message, NotifySettings, sample_alert};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ok = p.exists()
        && Command::new(&p)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "aiosmtpd is missing: run scripts/ci-deps.sh (installs it into .venv)"
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_real_smtp_server() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let port = free_port();
    let _srv = Kill(
        Command::new(py)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "aiosmtpd did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let yaml = format!(
        "type: email\nsmtp_host: 127.0.0.1\nsmtp_port: {port}\ntls: none\nfrom: tfdrift@example.com\nto: [oncall@example.com]\n"
    );
    let cs: ChannelSettings = serde_saphyr::from_str(&yaml).unwrap();
    let mut settings = NotifySettings::default();
    settings.channels.insert("mail".into(), cs);
    let channels = Channels::from_settings(&settings).unwrap();
    let ch = channels.by_name["mail"].clone();
    ch.send(&Message::Alert {
        alert: Box::new(sample_alert()),
        repeats: 0,
        drift: None,
    })
    .await
    .unwrap();

    let new = maildir.join("new");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mail = loop {
        if let Some(e) = std::fs::read_dir(&new).ok().and_then(|mut d| d.next()) {
            break std::fs::read_to_string(e.unwrap().path()).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no mail arrived in {}",
            new.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        mail.contains("Subject: [tfdrift] HIGH attribute_drift aws_security_group.web"),
        "{mail}"
    );
    assert!(mail.contains("oncall@example.com"));
    assert!(
        mail.contains("text/plain") && mail.contains("text/html"),
        "{mail}"
    );
    assert!(mail.contains("AuthorizeSecurityGroupIngress"));
}
