//! `tfdrift rules validate` and `tfdrift rules test`; `rules list|pull|push --connect` work on a
//! team-mode daemon's rules through its API.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tfdrift::alert::Alert;
use tfdrift::catalog::Catalog;
use tfdrift::normalize::{Normalized, normalize_str};
use tfdrift::pipeline::{Engine, EngineOptions, Signals, Stats};
use tfdrift::rules::{run_tests, validate_paths};
use tfdrift::state::StateIndex;

use crate::cli::RulesCommand;

/// Turns a rule test's raw event fixture into alerts with the catalog (no state: every change
/// is unmanaged unless the fixture says otherwise), as the pipeline would.
pub fn event_converter(catalog: Arc<Catalog>) -> impl Fn(&serde_json::Value) -> Vec<Alert> {
    move |raw: &serde_json::Value| -> Vec<Alert> {
        let Ok(mut engine) = Engine::new(
            catalog.clone(),
            Arc::new(StateIndex::default()),
            &EngineOptions::default(),
        ) else {
            return Vec::new();
        };
        let mut units = Vec::new();
        normalize_str(&raw.to_string(), &mut units);
        let mut stats = Stats::default();
        let mut signals = Signals::default();
        units
            .into_iter()
            .filter_map(|u| match u {
                Normalized::Event(ev) => Some(ev),
                _ => None,
            })
            .flat_map(|ev| engine.process(&ev, &mut stats, &mut signals))
            .collect()
    }
}

/// Rule paths given, else `./rules` when it exists, else the embedded packs (extracted to a
/// temporary directory so diagnostics still name real files).
fn resolve(paths: &[PathBuf]) -> anyhow::Result<(Vec<PathBuf>, Option<tempfile::TempDir>)> {
    if !paths.is_empty() {
        return Ok((paths.to_vec(), None));
    }
    let local = PathBuf::from("rules");
    if local.is_dir() {
        return Ok((vec![local], None));
    }
    let dir = tempfile::tempdir()?;
    for (name, bytes) in tfdrift::assets::dir("rules") {
        let path = dir.path().join(name.trim_start_matches("rules/"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    eprintln!("(no ./rules directory: checking the embedded packs)");
    Ok((vec![dir.path().join("")], Some(dir)))
}

pub fn run(cmd: &RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::Validate { paths, profile } => {
            let (paths, _keep) = resolve(paths)?;
            let channels: Vec<String> = match &profile.profile {
                Some(name) => tfdrift::config::load_profile(profile.config.as_deref(), name)?
                    .notify
                    .channels
                    .keys()
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            let diags = validate_paths(&paths, &channels);
            let errors = diags.iter().filter(|d| d.is_error()).count();
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!(
                "{} error(s), {} warning(s) in {}",
                errors,
                diags.len() - errors,
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(if errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        RulesCommand::List { connect, profile } => {
            remote::list(&super::watch::options(connect, profile)?)
        }
        RulesCommand::Pull {
            connect,
            profile,
            file,
            output,
        } => remote::pull(
            &super::watch::options(connect, profile)?,
            file.as_deref(),
            output.as_deref(),
        ),
        RulesCommand::Push {
            file,
            connect,
            profile,
            target,
            base,
        } => remote::push(
            &super::watch::options(connect, profile)?,
            file,
            target.as_deref(),
            base.as_deref(),
        ),
        RulesCommand::Test { paths } => {
            let (paths, _keep) = resolve(paths)?;
            let catalog = Arc::new(Catalog::embedded()?);
            let convert = event_converter(catalog);
            let report = run_tests(&paths, Some(&convert), chrono::Local::now().date_naive());
            println!("{report}");
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// The daemon's rules through its API.
mod remote {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use anyhow::Context as _;
    use tfdrift::api::client::{Client, ClientOptions};
    use tfdrift::api::proto as pb;

    /// What `rules pull -o FILE` remembers beside FILE for `rules push FILE`.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Pulled {
        url: String,
        path: String,
        version: String,
    }

    fn sidecar(file: &Path) -> PathBuf {
        let name = file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        file.with_file_name(format!(".{name}.tfdrift-pull"))
    }

    /// A refusal in words, the gRPC code named (what a script greps for).
    fn refused(url: &str, s: &tonic::Status) -> String {
        match s.code() {
            tonic::Code::Unavailable => {
                format!("cannot reach the daemon at {url}: {}", s.message())
            }
            code => format!(
                "refused by the daemon ({}): {}",
                code_name(code),
                s.message()
            ),
        }
    }

    fn code_name(code: tonic::Code) -> String {
        let words = format!("{code:?}");
        let mut out = String::new();
        for (i, c) in words.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
        tokio::runtime::Runtime::new().context("starting the async runtime")
    }

    /// The daemon's file `name` means: its exact path, or a file name unique among its files;
    /// none given: its only file.
    fn pick(files: &[pb::RuleFileInfo], name: Option<&str>) -> anyhow::Result<String> {
        let all = || {
            files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(name) = name else {
            let rules: Vec<&pb::RuleFileInfo> = files.iter().filter(|f| !f.tests).collect();
            return match rules.as_slice() {
                [one] => Ok(one.path.clone()),
                [] => anyhow::bail!("the daemon has no rule files on disk"),
                _ => anyhow::bail!(
                    "the daemon has several rule files: name one with --file ({})",
                    all()
                ),
            };
        };
        if let Some(f) = files.iter().find(|f| f.path == name) {
            return Ok(f.path.clone());
        }
        let by_name: Vec<&pb::RuleFileInfo> = files
            .iter()
            .filter(|f| Path::new(&f.path).file_name() == Path::new(name).file_name())
            .collect();
        match by_name.as_slice() {
            [one] => Ok(one.path.clone()),
            [] => anyhow::bail!("the daemon has no rule file '{name}' (it has: {})", all()),
            _ => anyhow::bail!(
                "'{name}' names several of the daemon's rule files: give the full path ({})",
                all()
            ),
        }
    }

    async fn files(c: &mut Client) -> Result<pb::ListRulesReply, String> {
        let url = c.url().to_string();
        c.daemon()
            .list_rules(pb::ListRulesRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| refused(&url, &s))
    }

    /// `rules list --connect`.
    pub fn list(opts: &ClientOptions) -> anyhow::Result<ExitCode> {
        runtime()?.block_on(async {
            let mut c = match Client::connect(opts).await {
                Ok(c) => c,
                Err(e) => return fail(&e.to_string()),
            };
            let r = match files(&mut c).await {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            for f in &r.files {
                let saved = if f.saved_by.is_empty() {
                    String::new()
                } else {
                    format!("  saved by {} at {}", f.saved_by, f.saved_at)
                };
                println!("FILE {}  {}{saved}", f.path, f.version);
            }
            for rule in &r.rules {
                let state = if rule.enabled { "enabled" } else { "disabled" };
                println!(
                    "RULE {:<24} {:<8} {state:<8} {}:{}",
                    rule.id, rule.severity, rule.file, rule.line
                );
            }
            if let Some(rl) = &r.reload {
                println!(
                    "{} rule(s) in force; {} reload(s), {} rejected{}",
                    rl.rules_in_force,
                    rl.reloads,
                    rl.failures,
                    if rl.watching { "" } else { " (hot reload off)" }
                );
                for d in &rl.errors {
                    println!("last rejected reload: {}", d.text);
                }
            }
            Ok(ExitCode::SUCCESS)
        })
    }

    #[allow(clippy::unnecessary_wraps)]
    fn fail(msg: &str) -> anyhow::Result<ExitCode> {
        eprintln!("error: {msg}");
        Ok(ExitCode::from(1))
    }

    /// `rules pull --connect [--file NAME] [-o FILE]`.
    pub fn pull(
        opts: &ClientOptions,
        name: Option<&str>,
        output: Option<&Path>,
    ) -> anyhow::Result<ExitCode> {
        runtime()?.block_on(async {
            let mut c = match Client::connect(opts).await {
                Ok(c) => c,
                Err(e) => return fail(&e.to_string()),
            };
            let list = match files(&mut c).await {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            let path = pick(&list.files, name)?;
            let url = c.url().to_string();
            let f = match c
                .daemon()
                .get_rule_file(pb::GetRuleFileRequest { path: path.clone() })
                .await
            {
                Ok(r) => r.into_inner(),
                Err(s) => return fail(&refused(&url, &s)),
            };
            match output {
                Some(out) => {
                    std::fs::write(out, f.text.as_bytes())
                        .with_context(|| format!("writing '{}'", out.display()))?;
                    let mark = Pulled {
                        url: url.clone(),
                        path: f.path.clone(),
                        version: f.version.clone(),
                    };
                    std::fs::write(sidecar(out), serde_json::to_vec(&mark)?).with_context(
                        || format!("writing '{}'", sidecar(out).display()),
                    )?;
                    eprintln!(
                        "pulled {} ({}) from {url} into {}; edit it, then: tfdrift rules push {} --connect {url}",
                        f.path,
                        f.version,
                        out.display(),
                        out.display()
                    );
                }
                None => {
                    use std::io::Write as _;
                    let mut so = std::io::stdout().lock();
                    so.write_all(f.text.as_bytes())?;
                    so.flush()?;
                    eprintln!(
                        "pulled {} ({}); to push an edit: tfdrift rules push FILE --as {} --base {} --connect {url}",
                        f.path, f.version, f.path, f.version
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        })
    }

    /// `rules push FILE --connect [--as NAME] [--base VERSION]`.
    pub fn push(
        opts: &ClientOptions,
        file: &Path,
        target: Option<&str>,
        base: Option<&str>,
    ) -> anyhow::Result<ExitCode> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading '{}' (a UTF-8 rule file)", file.display()))?;
        let mark: Option<Pulled> = std::fs::read(sidecar(file))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        runtime()?.block_on(async {
            let mut c = match Client::connect(opts).await {
                Ok(c) => c,
                Err(e) => return fail(&e.to_string()),
            };
            let url = c.url().to_string();
            let from_mark = mark.as_ref().filter(|m| m.url == url);
            let path = match (target, from_mark) {
                (Some(t), _) => {
                    let list = match files(&mut c).await {
                        Ok(r) => r,
                        Err(e) => return fail(&e),
                    };
                    pick(&list.files, Some(t))?
                }
                (None, Some(m)) => m.path.clone(),
                (None, None) => {
                    let list = match files(&mut c).await {
                        Ok(r) => r,
                        Err(e) => return fail(&e),
                    };
                    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
                    pick(&list.files, name.as_deref())?
                }
            };
            let base = match (base, from_mark) {
                (Some(b), _) => b.to_string(),
                (None, Some(m)) if m.path == path => m.version.clone(),
                _ => {
                    return fail(&format!(
                        "no base version for '{}': pull it first (tfdrift rules pull -o {} …) or give --base VERSION",
                        file.display(),
                        file.display()
                    ));
                }
            };
            let reply = c
                .daemon()
                .save_rule_file(pb::SaveRuleFileRequest {
                    path: path.clone(),
                    text,
                    base_version: base,
                })
                .await;
            let r = match reply {
                Ok(r) => r.into_inner(),
                Err(s) => return fail(&refused(&url, &s)),
            };
            if r.changed {
                let mark = Pulled {
                    url: url.clone(),
                    path,
                    version: r.version.clone(),
                };
                std::fs::write(sidecar(file), serde_json::to_vec(&mark)?)
                    .with_context(|| format!("writing '{}'", sidecar(file).display()))?;
            }
            println!("{} (version {})", r.message, r.version);
            let rl = r.reload.unwrap_or_default();
            for d in &rl.errors {
                println!("{}", d.text);
            }
            let rejected = !rl.errors.is_empty();
            Ok(if r.changed && (!r.reloaded || rejected) {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        })
    }
}
