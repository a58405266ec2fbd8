//! `tfdrift state show --profile P` with remote state: real corpus states on moto (`s3://`) and
//! fake-gcs-server (`gs://`) next to a local file, read with the profile's `remote_state`
//! endpoints. Every loaded state is shown; a remote that cannot be read is named on stderr
//! with what to check, the others are still shown, and the exit status is 1.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::gcs_support;
use crate::live_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use tfdrift::state::parse_state;

const BUCKET: &str = "tfstate";
const S3_STATE: &str = "bufbuild__terraform-modules-bufstream/aws/terraform.tfstate";
const GCS_STATE: &str = "nl253__TerraformInfrastructure/iam-role/terraform.tfstate";
const LOCAL_STATE: &str = "nl253__TerraformInfrastructure/sns/terraform.tfstate";
/// A secret that must never reach the output.
const SECRET: &str = "sekrit-5f2c9a";

fn corpus_state(rel: &str) -> std::path::PathBuf {
    common::corpus().join("tfstate").join(rel)
}

/// Managed resource addresses of a corpus state, sorted.
fn addresses(rel: &str) -> Vec<String> {
    let mut v: Vec<String> = parse_state("x", &std::fs::read(corpus_state(rel)).unwrap())
        .unwrap()
        .into_iter()
        .map(|r| r.address)
        .collect();
    v.sort();
    v
}

/// Runs `tfdrift state show` with `args` in `home` (moto's credentials, `SECRET` as the key).
async fn state_show(home: &Path, args: &[&str]) -> std::process::Output {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    tokio::task::spawn_blocking(move || {
        Command::cargo_bin("tfdrift")
            .unwrap()
            .args(["state", "show"])
            .args(&args)
            .env("HOME", &home)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("TFDRIFT_CONFIG")
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .current_dir(&home)
            .timeout(Duration::from_mins(3))
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `state_file` → sorted addresses of the JSON rows.
fn rows(stdout: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        out.entry(v["state_file"].as_str().unwrap().to_string())
            .or_default()
            .push(v["address"].as_str().unwrap().to_string());
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_show_reads_s3_and_gcs_states_of_the_profile() {
    let moto = live_support::moto();
    let sdk = live_support::sdk(&moto.url).await;
    let s3 = tfdrift::collect::s3_client(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3.put_object()
        .bucket(BUCKET)
        .key("app/terraform.tfstate")
        .body(std::fs::read(corpus_state(S3_STATE)).unwrap().into())
        .send()
        .await
        .unwrap();
    // Cut off mid-write.
    s3.put_object()
        .bucket(BUCKET)
        .key("bad/terraform.tfstate")
        .body(b"{\"version\": 4, \"resources\": [".to_vec().into())
        .send()
        .await
        .unwrap();
    let gcs = gcs_support::fake_gcs();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/storage/v1/b", gcs.url))
        .json(&serde_json::json!({ "name": BUCKET }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    let r = http
        .post(format!(
            "{}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name=app%2Fdefault.tfstate",
            gcs.url
        ))
        .body(std::fs::read(corpus_state(GCS_STATE)).unwrap())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "upload: {}", r.status());

    let home = tempfile::tempdir().unwrap();
    let local = corpus_state(LOCAL_STATE).display().to_string();
    let config = home.path().join("tfdrift.yaml");
    std::fs::write(
        &config,
        format!(
            "profiles:\n  ok:\n    state: ['{local}', s3://{BUCKET}/app/terraform.tfstate, gs://{BUCKET}/app]\n    \
             remote_state: {{endpoint_url: '{}', gcs_endpoint_url: '{}'}}\n  \
             broken:\n    state: ['{local}', s3://{BUCKET}/app/terraform.tfstate, gs://{BUCKET}/app, s3://no-such-bucket/x.tfstate, gs://no-such-bucket/app, s3://{BUCKET}/bad/terraform.tfstate]\n    \
             remote_state: {{endpoint_url: '{}', gcs_endpoint_url: '{}'}}\n",
            moto.url, gcs.url, moto.url, gcs.url
        ),
    )
    .unwrap();
    let config = config.display().to_string();

    // Every state of the profile, local and remote, exit 0.
    let out = state_show(
        home.path(),
        &["--profile", "ok", "--config", &config, "--json"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let got = rows(&out.stdout);
    let s3_name = format!("s3://{BUCKET}/app/terraform.tfstate");
    let gs_name = format!("gs://{BUCKET}/app/default.tfstate");
    assert_eq!(got.get(&s3_name), Some(&addresses(S3_STATE)), "{got:?}");
    assert_eq!(got.get(&gs_name), Some(&addresses(GCS_STATE)), "{got:?}");
    let local_rows: Vec<&Vec<String>> = got
        .iter()
        .filter(|(k, _)| !k.starts_with("s3://") && !k.starts_with("gs://"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(local_rows, vec![&addresses(LOCAL_STATE)], "{got:?}");
    assert!(stderr.contains("2 remote state objects"), "{stderr}");

    // The table names the remote resources too.
    let out = state_show(home.path(), &["--profile", "ok", "--config", &config]).await;
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    for a in addresses(S3_STATE).iter().chain(&addresses(GCS_STATE)) {
        assert!(table.contains(a.as_str()), "{a} missing from\n{table}");
    }

    // Unreadable remotes: the others are still shown, each failure is named with what to
    // check, the exit status is 1, and no secret is printed.
    let out = state_show(
        home.path(),
        &["--profile", "broken", "--config", &config, "--json"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        rows(&out.stdout),
        got,
        "the readable states are still shown"
    );
    for (location, hint) in [
        ("s3://no-such-bucket/x.tfstate", "remote_state.endpoint_url"),
        ("gs://no-such-bucket/app", "remote_state.gcs_endpoint_url"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.starts_with("error: remote state not read") && l.contains(location))
            .unwrap_or_else(|| panic!("{location} not named in\n{stderr}"));
        assert!(line.contains(hint), "{line}");
    }
    // A corrupt object: its parse error says what to do; no credential hint.
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: remote state not read: s3://tfstate/bad/terraform.tfstate"))
        .unwrap_or_else(|| panic!("the corrupt state is not named in\n{stderr}"));
    assert!(
        line.contains("not valid JSON") && !line.contains("credentials"),
        "{line}"
    );
    assert!(
        stderr.contains("3 remote state location(s) could not be read"),
        "{stderr}"
    );
    // One line per failure: not the live refresher's "keeping the last good copy" log too,
    // and no raw HTTP response.
    assert!(
        !stderr.contains("last good copy") && !stderr.contains("raw: Response"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET) && !String::from_utf8_lossy(&out.stdout).contains(SECRET));
}
