//! The deployment artifacts in deploy/ say what the guide says: the Kubernetes manifests parse
//! as YAML and carry the documented keys (replicas, the PostgreSQL URL from a Secret, the
//! profile from a ConfigMap — parsed by tfdrift's own config loader —, probes on /healthz,
//! the metrics and API ports, a non-root read-only container), the systemd unit passes
//! `systemd-analyze verify` with its hardening keys, and the container build is multi-stage and
//! non-root.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel)
}

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(deploy(rel)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no entry named {name} in {list}"))
}

#[test]
fn kubernetes_manifests_carry_the_documented_keys() {
    let dep = yaml("kubernetes/deployment.yaml");
    let cm = yaml("kubernetes/configmap.yaml");
    let svc = yaml("kubernetes/service.yaml");
    let secret = yaml("kubernetes/secret.example.yaml");
    let kust = yaml("kubernetes/kustomization.yaml");

    assert_eq!(dep["kind"], "Deployment");
    assert!(dep["spec"]["replicas"].as_u64().unwrap() >= 2, "replicas");
    let labels = &dep["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&dep["spec"]["selector"]["matchLabels"], labels);
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["args"][0], "serve");

    // The PostgreSQL URL comes from the Secret, under a key the example Secret has.
    let env = &c["env"];
    let url = &named(env, "TFDRIFT_PG_URL")["valueFrom"]["secretKeyRef"];
    assert_eq!(url["name"], secret["metadata"]["name"]);
    let key = url["key"].as_str().unwrap();
    assert!(
        secret["stringData"][key]
            .as_str()
            .unwrap()
            .starts_with("postgres://")
    );

    // Probes on /healthz at the metrics port; the ports the Service targets exist.
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe}");
    }
    let metrics_port = named(&c["ports"], "metrics")["containerPort"]
        .as_u64()
        .unwrap();
    let api_port = named(&c["ports"], "api")["containerPort"].as_u64().unwrap();
    assert_eq!(&svc["spec"]["selector"], labels);
    for p in ["api", "metrics"] {
        assert_eq!(named(&svc["spec"]["ports"], p)["targetPort"], p);
    }

    // The ConfigMap is mounted where TFDRIFT_CONFIG points, and its profile is one tfdrift
    // accepts, with the store on PostgreSQL and listeners on the container's ports.
    let config_vol = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["configMap"]["name"] == cm["metadata"]["name"])
        .expect("the ConfigMap is a volume");
    let mount = named(&c["volumeMounts"], config_vol["name"].as_str().unwrap());
    let config_path = named(env, "TFDRIFT_CONFIG")["value"].as_str().unwrap();
    assert_eq!(
        Path::new(config_path).parent().unwrap(),
        Path::new(mount["mountPath"].as_str().unwrap())
    );
    let file = Path::new(config_path)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let mut text = cm["data"][file].as_str().unwrap().to_string();
    for (var, value) in [
        (
            "${SQS_QUEUE_URL}",
            "https://sqs.eu-west-1.amazonaws.com/1/q",
        ),
        ("${AWS_REGION}", "eu-west-1"),
        ("${TFDRIFT_PG_URL}", "postgres://tfdrift@db/tfdrift"),
    ] {
        assert!(text.contains(var), "{var}");
        let name = &var[2..var.len() - 1];
        assert!(
            env.as_array().unwrap().iter().any(|e| e["name"] == name),
            "the Deployment sets {name}"
        );
        text = text.replace(var, value);
    }
    let parsed = tfdrift::config::parse_config("configmap.yaml", &text).unwrap();
    let prod = &parsed.profiles["prod"];
    let store = prod.store.as_ref().unwrap();
    assert_eq!(store.url.as_deref(), Some("postgres://tfdrift@db/tfdrift"));
    assert!(store.path.is_none(), "the replicas share PostgreSQL");
    // The password file is where the Secret's item is mounted.
    let pw = Path::new(store.password_file.as_deref().unwrap());
    let secret_vol = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["secret"]["secretName"] == secret["metadata"]["name"])
        .unwrap();
    let secret_mount = named(&c["volumeMounts"], secret_vol["name"].as_str().unwrap());
    assert_eq!(
        pw.parent().unwrap(),
        Path::new(secret_mount["mountPath"].as_str().unwrap())
    );
    let item = named_item(&secret_vol["secret"]["items"], pw);
    assert!(secret["stringData"][item].is_string());
    let listen_port = |v: &str| v.rsplit(':').next().unwrap().parse::<u64>().unwrap();
    assert_eq!(
        listen_port(&prod.metrics.as_ref().unwrap().listen),
        metrics_port
    );
    assert_eq!(listen_port(&prod.api.as_ref().unwrap().listen), api_port);

    for r in kust["resources"].as_array().unwrap() {
        assert!(
            deploy("kubernetes").join(r.as_str().unwrap()).is_file(),
            "{r}"
        );
    }
}

/// The Secret key whose item path is the password file's name.
fn named_item<'a>(items: &'a Value, file: &Path) -> &'a str {
    let name = file.file_name().unwrap().to_str().unwrap();
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == name)
        .and_then(|i| i["key"].as_str())
        .unwrap_or_else(|| panic!("no Secret item mounted as {name}"))
}

#[test]
fn systemd_unit_is_hardened_and_verifies() {
    let text = std::fs::read_to_string(deploy("systemd/tfdrift.service")).unwrap();
    for key in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=tfdrift",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
    ] {
        assert!(text.contains(key), "the unit lacks {key:?}");
    }
    // `verify` checks the binary exists: point the unit at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("tfdrift.service");
    std::fs::write(
        &unit,
        text.replace("/usr/local/bin/tfdrift", env!("CARGO_BIN_EXE_tfdrift")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "systemd-analyze: {e}: install the Debian package systemd (scripts/ci-deps.sh does)"
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Unknown keys and bad values are only warnings (exit 0): none may be printed.
    assert!(
        !stderr.contains("tfdrift.service"),
        "systemd-analyze complains:\n{stderr}"
    );
}

#[test]
fn container_build_is_multi_stage_and_non_root() {
    let text = std::fs::read_to_string(deploy("container/Containerfile")).unwrap();
    let stages = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(stages >= 2, "multi-stage");
    assert!(text.contains("--locked"));
    assert!(
        text.contains("--no-default-features"),
        "no terminal UI in the image"
    );
    let user = text
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER line");
    let uid = user[5..].split(':').next().unwrap().trim();
    assert!(uid != "0" && uid != "root", "{user}");
    assert!(text.contains("COPY --from=build"));
}
