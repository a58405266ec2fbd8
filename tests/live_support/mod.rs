//! Helpers for the live-source tests: a moto server started per test, AWS clients pointed at
//! it, Falco alerts built per `FORMATS.md` §1.7, a pipeline over the embedded catalog, corpus
//! CloudTrail log files on a bucket and a queue ([`cloudtrail`]).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

pub mod cloudtrail;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

/// A moto server on a free loopback port; killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `.venv/bin/moto_server`; fails (never skips) when it is not installed.
pub fn moto() -> Moto {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    assert!(
        bin.exists(),
        "moto's server is missing at {}: run scripts/ci-deps.sh (installs `moto[server]` into .venv)",
        bin.display()
    );
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

/// AWS configuration with moto's static credentials.
pub async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await
}

/// A Falco alert from the cloudtrail plugin (`FORMATS.md` §1.7) with event id `id`.
pub fn falco_ct(id: &str) -> serde_json::Value {
    json!({"hostname":"falco-0",
      "output":"14:11:38.000000000: Notice SG ingress changed (user=alice error=<NA>)",
      "output_fields":{"ct.error":null,"ct.id":id,
        "ct.name":"AuthorizeSecurityGroupIngress","ct.region":"us-east-1","ct.src":"ec2.amazonaws.com",
        "ct.user":"alice","ct.request":"{\"groupId\":\"sg-0123456789abcdef0\"}","evt.time":1_714_572_698_000_000_000_u64},
      "priority":"Notice","rule":"SG ingress changed","source":"aws_cloudtrail","tags":["aws"],
      "time":"2024-05-01T14:11:38.000000000Z"})
}

/// A Falco alert from the gcpaudit plugin (`FORMATS.md` §1.7).
pub fn falco_gcp() -> serde_json::Value {
    json!({"hostname":"falco-0",
      "output":"14:11:40.512000000: Critical bucket public (user=alice@example.com)",
      "output_fields":{"gcp.user":"alice@example.com",
        "gcp.methodName":"storage.setIamPermissions","gcp.resourceName":"projects/_/buckets/my-bucket",
        "gcp.storage.bucket":"my-bucket",
        "gcp.policyDelta":"[{\"action\":\"ADD\",\"member\":\"allUsers\",\"role\":\"roles/storage.objectViewer\"}]",
        "gcp.time":"2024-05-01T14:11:38.123456789Z","evt.time":1_714_572_700_512_000_000_u64},
      "priority":"Critical","rule":"GCP bucket public","source":"gcp_auditlog","tags":["gcp"],
      "time":"2024-05-01T14:11:40.512000000Z"})
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}
