//! Runs the real `terraform` CLI in tests: the AWS provider comes from the filesystem mirror
//! (`/opt/tf-plugins`, or `TF_PLUGIN_MIRROR`) through a CLI config that forbids downloads. The
//! config is one file, `tests/tf_support/cli.tfrc` (a template: `@MIRROR@` is the mirror's
//! path), shared with `scripts/proof/run.sh`. A missing terraform or provider fails the test
//! with what to install; it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The provider version the mirror holds (and configurations pin).
pub const AWS_PROVIDER: &str = "5.100.0";

/// The filesystem mirror of providers.
pub fn mirror() -> PathBuf {
    std::env::var_os("TF_PLUGIN_MIRROR")
        .map_or_else(|| PathBuf::from("/opt/tf-plugins"), PathBuf::from)
}

/// Fails with what is missing unless terraform and the mirrored AWS provider are installed.
pub fn require() {
    let ok = std::process::Command::new("terraform")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "terraform is not on PATH: install terraform >= 1.5 (see /work/shared/design/DEPENDENCIES.md; \
         CI's .ci/run installs it)"
    );
    let provider = mirror().join(format!(
        "registry.terraform.io/hashicorp/aws/{AWS_PROVIDER}"
    ));
    assert!(
        provider.is_dir(),
        "the hashicorp/aws {AWS_PROVIDER} provider is missing from the filesystem mirror {}: \
         run `terraform providers mirror {}` with a configuration pinning it, or set TF_PLUGIN_MIRROR",
        provider.display(),
        mirror().display()
    );
}

/// The shared CLI config template (`@MIRROR@` stands for the mirror's path).
pub const CLI_CONFIG_TEMPLATE: &str = include_str!("cli.tfrc");

/// The CLI config for `mirror`: providers from the filesystem mirror only, never downloaded.
pub fn cli_config(mirror: &Path) -> String {
    CLI_CONFIG_TEMPLATE.replace("@MIRROR@", &mirror.display().to_string())
}

/// Writes the CLI config for [`mirror`] to `path` (for `TF_CLI_CONFIG_FILE`).
pub fn write_cli_config(path: &Path) {
    std::fs::write(path, cli_config(&mirror())).unwrap();
}

/// A terraform working directory with its own CLI config (mirror only, no downloads).
pub struct Terraform {
    pub dir: PathBuf,
    cli_config: PathBuf,
}

impl Terraform {
    /// Writes `main_tf` into `dir` and a CLI config next to it.
    pub fn new(dir: &Path, main_tf: &str) -> Self {
        require();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("main.tf"), main_tf).unwrap();
        let cli_config = dir.join("cli.tfrc");
        write_cli_config(&cli_config);
        Self {
            dir: dir.to_path_buf(),
            cli_config,
        }
    }

    /// Runs `terraform ARGS` in the directory (no input, no colour, no checkpoint calls, no
    /// ambient AWS credentials); panics with its output when it fails. Returns stdout.
    pub async fn run(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::new("terraform")
            .arg(format!("-chdir={}", self.dir.display()))
            .args(args)
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("TF_WORKSPACE")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("running terraform");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "terraform {} failed ({}):\n{stdout}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}
