//! The embedded catalog compiles and maps its own examples.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use tfdrift::catalog::Catalog;

#[test]
fn embedded_catalog_compiles() {
    let cat = Catalog::embedded().expect("embedded catalog must compile");
    assert!(cat.len() > 100, "only {} events mapped", cat.len());
}

/// No event name is mapped twice for one source (hand-written and generated files, or two
/// entries of one file): lookup would have to pick one, and it never guesses.
#[test]
fn no_event_is_mapped_twice_for_one_source() {
    let cat = Catalog::embedded().unwrap();
    let twice: Vec<_> = cat
        .name_counts()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    assert!(twice.is_empty(), "mapped more than once: {twice:#?}");
}

/// A profile's own catalog directory maps a call the built-in catalog does not know: `replay`
/// with the profile alerts on it (without the profile it is unsupported), `catalog show`
/// names the user's file, `catalog check` counts it per file, and a typo in a type is
/// refused with file:line:column and a suggestion.
#[test]
fn profile_catalog_files_extend_the_catalog_without_a_release() {
    use assert_cmd::Command;
    let bin = env!("CARGO_BIN_EXE_tfdrift");
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("my-mappings");
    std::fs::create_dir(&cat).unwrap();
    std::fs::write(
        cat.join("widgets.yaml"),
        "provider: aws\nsource: widgets.amazonaws.com\nevents:\n  - name: SetWidgetAttributes\n    kind: update\n    id: request.topicArn\n    type: aws_sns_topic\n    attributes:\n      - { path: display_name, from: request.displayName }\n",
    )
    .unwrap();
    let cfg = dir.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:\n  mine:\n    rules: []\n    catalog: [\"{}\"]\n",
            cat.display()
        ),
    )
    .unwrap();
    let record = serde_json::json!({
        "eventVersion": "1.08", "eventSource": "widgets.amazonaws.com",
        "eventName": "SetWidgetAttributes", "eventTime": "2026-12-01T10:00:00Z",
        "eventID": "5c1a7f0e-0000-4000-8000-000000000001", "readOnly": false,
        "awsRegion": "eu-west-1", "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::111122223333:user/alice"},
        "requestParameters": {"topicArn": "arn:aws:sns:eu-west-1:111122223333:alerts", "displayName": "pager"}
    });
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, format!("{record}\n")).unwrap();

    let with = Command::new(bin)
        .args(["replay", "--config"])
        .arg(&cfg)
        .args(["--profile", "mine"])
        .arg(&events)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&with.stdout);
    assert!(
        out.contains("aws_sns_topic") && out.contains("arn:aws:sns:eu-west-1:111122223333:alerts"),
        "the profile's mapping alerts: {out}\n{}",
        String::from_utf8_lossy(&with.stderr)
    );
    let without = Command::new(bin)
        .arg("replay")
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&without.stdout).contains("aws_sns_topic"),
        "without the profile the call is unsupported"
    );

    let show = Command::new(bin)
        .args(["catalog", "--config"])
        .arg(&cfg)
        .args(["--profile", "mine", "show", "SetWidgetAttributes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{text}");
    assert!(
        text.contains("widgets.yaml") && text.contains("aws_sns_topic [display_name]"),
        "{text}"
    );

    let check = Command::new(bin)
        .args(["catalog", "--config"])
        .arg(&cfg)
        .args(["--profile", "mine", "check"])
        .arg(&events)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("1 mutating events, 1 mapped"), "{text}");
    assert!(
        text.contains("mapped by") && text.contains("widgets.yaml"),
        "{text}"
    );

    std::fs::write(
        cat.join("widgets.yaml"),
        "provider: aws\nsource: widgets.amazonaws.com\nevents:\n  - name: SetWidgetAttributes\n    kind: update\n    id: request.topicArn\n    type: aws_sns_topik\n",
    )
    .unwrap();
    let bad = Command::new(bin)
        .args(["replay", "--config"])
        .arg(&cfg)
        .args(["--profile", "mine"])
        .arg(&events)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success(), "{err}");
    assert!(err.contains("widgets.yaml:7:11"), "{err}");
    assert!(err.contains("did you mean 'aws_sns_topic'"), "{err}");
}
