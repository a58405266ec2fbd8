//! The credential detector: finds credentials *anywhere inside* a string (AWS keys, GitHub and
//! Slack tokens, JWTs, PEM private keys, GCP service-account keys, URLs with a password, Azure
//! storage keys, `password=…` style pairs) and replaces just the secret span with [`MASK`].
//!
//! Runs on every string of every alert, so it is built for the common case of "nothing here":
//! one [`RegexSet`] scan rejects a clean string without allocating; only the patterns that hit
//! are then run on their own to find the spans. Patterns are compiled once per process.
//!
//! Precision matters as much as recall (a masked security-group id makes an alert useless), so
//! a 40-character value is only taken for an AWS secret key when context says so: a secret-like
//! key name before it, an `AKIA`/`ASIA` id beside it, or a value that is nothing but 40 mixed-case
//! base64 characters with a `/` or `+` (a git sha or an ARN never is).

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use super::MASK;

/// One kind of credential.
struct Pattern {
    /// Regular expression (compiled into the set and on its own).
    re: &'static str,
    /// Capture group holding the secret (0: the whole match).
    group: usize,
    /// Extra check on the secret span the regex cannot express.
    check: Option<fn(&str) -> bool>,
    /// Only applies when the same string (or a sibling value) holds an AWS access key id.
    needs_key_id: bool,
}

/// No credential pattern matches fewer bytes (`pwd=abcd`).
const MIN_SECRET_LEN: usize = 8;

/// Index of the access-key-id pattern in [`PATTERNS`].
const KEY_ID: usize = 1;

const PATTERNS: &[Pattern] = &[
    // PEM private keys (RSA, EC, OpenSSH, PKCS#8, encrypted, PGP), also with escaped newlines
    // and when the END line was cut off.
    Pattern {
        re: r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\z)",
        group: 0,
        check: None,
        needs_key_id: false,
    },
    // AWS access key ids (long-term and temporary).
    Pattern {
        re: r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)",
        group: 0,
        check: None,
        needs_key_id: false,
    },
    // A 40-character AWS secret access key next to an access key id.
    Pattern {
        re: r"(?:^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
        group: 1,
        check: Some(mixed_base64),
        needs_key_id: true,
    },
    // GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens.
    Pattern {
        re: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?-u:\b)",
        group: 0,
        check: None,
        needs_key_id: false,
    },
    // Slack tokens and incoming-webhook paths; Discord webhook paths.
    Pattern {
        re: r"(?-u:\b)xox[abprse]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]+|discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]+",
        group: 0,
        check: None,
        needs_key_id: false,
    },
    // JSON Web Tokens (header and payload are base64 JSON, so both start `eyJ`).
    Pattern {
        re: r"(?-u:\b)eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
        group: 0,
        check: None,
        needs_key_id: false,
    },
    // GCP service-account JSON key files, base64-encoded (`google_service_account_key`).
    Pattern {
        re: r"(?:ewogICJ0eXBlIjogInNlcnZpY2VfYWNjb3Vu|eyJ0eXBlIjoic2VydmljZV9hY2NvdW50|eyJ0eXBlIjogInNlcnZpY2VfYWNjb3Vu)[A-Za-z0-9+/=]*",
        group: 0,
        check: None,
        needs_key_id: false,
    },
    // The password of a URL (`postgres://app:PASSWORD@db:5432/x`).
    Pattern {
        re: r#"(?i)[a-z][a-z0-9+.-]{1,20}://[^\s/?#@:"'<>]+:([^\s/?#@"'<>]+)@"#,
        group: 1,
        check: None,
        needs_key_id: false,
    },
    // `name=value` / `"name": "value"` with a secret-like name; Azure `AccountKey=`.
    Pattern {
        // The secret-like word may end a longer name (`db_password`, `AWS_SECRET_ACCESS_KEY`),
        // not follow a `:` (`arn:aws:secretsmanager:…:secret:NAME` is a name, not a secret);
        // the separator allows JSON and shell/INI styles; the value stops at quotes, separators
        // and brackets (so `(sensitive)` is never taken for a value).
        re: r#"(?i)(?:^|[^:])(?:secret|secret_?access_?key|secret_?key|passw(?:or)?d|pwd|token|credentials?|api_?key|api-key|private_?key(?:_?id)?|private-key|account_?key|shared_?access_?key|client_?secret|routing_?key|integration_?key)["']?\s*[:=]\s*["']?([^\s"',;&<>(){}\[\]]{4,})"#,
        group: 1,
        check: None,
        needs_key_id: false,
    },
    // Azure SAS signatures, bearer tokens.
    Pattern {
        re: r"(?i)[?&]sig=([A-Za-z0-9%+/=]{16,})|(?i:bearer)\s+([A-Za-z0-9._~+/-]{16,}=*)",
        group: 1,
        check: None,
        needs_key_id: false,
    },
    // Google API keys, Stripe live keys.
    Pattern {
        re: r"(?-u:\b)(?:AIza[0-9A-Za-z_-]{35}|[sr]k_live_[0-9A-Za-z]{16,})",
        group: 0,
        check: None,
        needs_key_id: false,
    },
];

/// Literals at least one of which every pattern needs (the 40-character secret key aside, which
/// needs an access key id): one fast literal search rules out nearly every clean string before
/// the set's automaton runs.
const TRIGGERS: &str = r"(?i:secret|passw|pwd|token|credential|api_?key|api-key|private|account_?key|shared_?access|routing_?key|integration_?key|bearer)|-----BEGIN|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abprse]-|hooks\.slack\.com|discord|eyJ|ewog|://|[?&]sig=|AIza|k_live_";

struct Detector {
    triggers: Regex,
    set: RegexSet,
    each: Vec<Regex>,
}

static DETECTOR: LazyLock<Detector> = LazyLock::new(|| {
    // Constant patterns, each compiled by the unit tests: a failure here is a programming error,
    // and silently masking nothing would be worse than stopping.
    let set = RegexSet::new(PATTERNS.iter().map(|p| p.re)).expect("credential patterns compile");
    let each = PATTERNS
        .iter()
        .map(|p| Regex::new(p.re).expect("credential pattern compiles"))
        .collect();
    let triggers = Regex::new(TRIGGERS).expect("trigger literals compile");
    Detector {
        triggers,
        set,
        each,
    }
});

/// Whether a 40-character span looks like a random base64 key, not a word, hex digest or path:
/// upper- and lower-case letters and a digit.
fn mixed_base64(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(u8::is_ascii_digit)
}

/// Whether `s` holds a run of at least `n` base64 characters (a possible secret key).
fn has_base64_run(s: &str, n: usize) -> bool {
    let mut run = 0;
    for c in s.bytes() {
        if c.is_ascii_alphanumeric() || c == b'/' || c == b'+' {
            run += 1;
            if run >= n {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// A value that is nothing but an AWS secret access key (the AWS documentation's
/// `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`): 40 base64 characters, mixed case, a digit, and a
/// `/` or `+` (which hex digests, ids and names never have).
#[must_use]
pub fn is_bare_aws_secret(s: &str) -> bool {
    let s = s.trim();
    s.len() == 40
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'/' || c == b'+')
        && s.bytes().any(|c| c == b'/' || c == b'+')
        && mixed_base64(s)
}

/// Whether `s` holds an AWS access key id (then a 40-character base64 value beside it is taken
/// for its secret key).
#[must_use]
pub fn has_key_id(s: &str) -> bool {
    s.len() >= 20 && DETECTOR.each[KEY_ID].is_match(s)
}

/// What [`scan`] found in one string.
#[derive(Debug, Default)]
pub struct Scan {
    /// The string with every credential masked; `None` when nothing was found.
    pub masked: Option<String>,
    /// The string held an AWS access key id.
    pub key_id: bool,
    /// A 40-character base64 value was left alone for want of an access key id beside it: a
    /// caller that finds one elsewhere in the same alert scans again with `key_id_nearby`.
    pub pending_secret_key: bool,
}

/// Masks every credential inside `s`. `key_id_nearby`: a sibling value holds an AWS access key
/// id. Returns `None` when nothing was found (no allocation on the common path).
#[must_use]
pub fn mask_text(s: &str, key_id_nearby: bool) -> Option<String> {
    scan(s, key_id_nearby).masked
}

/// [`mask_text`], also saying whether the string held an access key id and whether a possible
/// secret key waits for one.
#[must_use]
pub fn scan(s: &str, key_id_nearby: bool) -> Scan {
    if is_bare_aws_secret(s) {
        return Scan {
            masked: Some(MASK.to_string()),
            ..Scan::default()
        };
    }
    // The common case, a clean string, costs one scan and no allocation.
    let d = &*DETECTOR;
    if s.len() < MIN_SECRET_LEN {
        return Scan::default();
    }
    if !key_id_nearby && !d.triggers.is_match(s) {
        // Nothing here, unless an access key id elsewhere makes a 40-character run a secret key.
        return Scan {
            pending_secret_key: s.len() >= 40 && has_base64_run(s, 40),
            ..Scan::default()
        };
    }
    let hits = d.set.matches(s);
    let mut out = s.to_string();
    let mut changed = false;
    let key_id = hits.matched(KEY_ID);
    let mut pending = false;
    for i in &hits {
        let p = &PATTERNS[i];
        if p.needs_key_id && !key_id && !key_id_nearby {
            pending = true;
            continue;
        }
        let re = &d.each[i];
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for c in re.captures_iter(&out) {
            // Patterns with alternatives put the secret in the first group that took part.
            let m = if p.group == 0 {
                c.get(0)
            } else {
                (p.group..c.len()).find_map(|g| c.get(g))
            };
            let Some(m) = m else { continue };
            if m.as_str() == MASK || p.check.is_some_and(|f| !f(m.as_str())) {
                continue;
            }
            spans.push((m.start(), m.end()));
        }
        if spans.is_empty() {
            continue;
        }
        changed = true;
        for (start, end) in spans.into_iter().rev() {
            out.replace_range(start..end, MASK);
        }
    }
    Scan {
        masked: changed.then_some(out),
        key_id,
        pending_secret_key: pending,
    }
}

/// Whether `s` holds a credential anywhere.
#[must_use]
pub fn looks_like_credential(s: &str) -> bool {
    mask_text(s, false).is_some()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The AWS documentation's example credentials.
    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const GHP: &str = "ghp_1A2b3C4d5E6f7G8h9I0j1K2l3M4n5O6p7Q8r";
    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    /// (input, the secret substrings that must be gone afterwards).
    fn must_mask() -> Vec<(String, Vec<&'static str>)> {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----";
        vec![
            (AKID.into(), vec![AKID]),
            (format!("key {AKID} in text"), vec![AKID]),
            ("ASIAVXK4PQ2HBJ4ZQ6MT".into(), vec!["ASIAVXK4PQ2HBJ4ZQ6MT"]),
            (SECRET.into(), vec![SECRET]),
            (format!("{AKID}:{SECRET}"), vec![AKID, SECRET]),
            (format!("id={AKID} key={SECRET}"), vec![AKID, SECRET]),
            (format!("aws_secret_access_key = {SECRET}"), vec![SECRET]),
            (format!("AWS_SECRET_ACCESS_KEY={SECRET} aws s3 ls"), vec![SECRET]),
            (format!(r#"{{"SecretAccessKey": "{SECRET}"}}"#), vec![SECRET]),
            (format!("token {GHP}"), vec![GHP]),
            (format!("deploy with {GHP}."), vec![GHP]),
            ("gho_16C7e42F292c6912E7710c838347Ae178B4a".into(), vec!["gho_16C7e42F292c6912E7710c838347Ae178B4a"]),
            ("ghu_16C7e42F292c6912E7710c838347Ae178B4a".into(), vec!["16C7e42F292c6912E7710c838347Ae178B4a"]),
            ("ghs_16C7e42F292c6912E7710c838347Ae178B4a".into(), vec!["16C7e42F292c6912E7710c838347Ae178B4a"]),
            ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123".into(), vec!["11ABCDEFG0123456789_abc"]),
            ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".into(), vec!["AbCdEfGhIjKlMnOpQrStUvWx"]),
            ("xoxp-1234-5678-abcdefghij".into(), vec!["abcdefghij"]),
            ("xoxa-2-abcdefghijkl".into(), vec!["abcdefghijkl"]),
            ("xoxr-abcdefghijkl".into(), vec!["abcdefghijkl"]),
            ("https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX".into(), vec!["XXXXSECRETXXXX"]),
            (pem.into(), vec!["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo", "PRIVATE KEY"]),
            (format!("prefix {} suffix", pem.replace('\n', "\\n")), vec!["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo"]),
            ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut".into(), vec!["b3BlbnNzaC1rZXktdjEAAAAA"]),
            (format!("Authorization: Bearer {JWT}"), vec!["SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"]),
            (format!("jwt {JWT}"), vec![JWT]),
            ("postgres://app:Sup3rS3cret@db.internal:5432/app".into(), vec!["Sup3rS3cret"]),
            ("see https://user:pa55w0rd@example.com/x".into(), vec!["pa55w0rd"]),
            ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core.windows.net".into(), vec!["Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6"]),
            ("https://acct.blob.core.windows.net/c?sv=2021&sig=AbCdEfGhIjKlMnOpQrStUv%3D".into(), vec!["AbCdEfGhIjKlMnOpQrStUv"]),
            (r#"{"type": "service_account", "private_key_id": "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"}"#.into(), vec!["3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"]),
            ("ewogICJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIsCiAgInByb2plY3RfaWQiOiAieCIK".into(), vec!["ewogICJ0eXBlIjogInNlcnZpY2VfYWNjb3Vu"]),
            ("db_password=hunter2x".into(), vec!["hunter2x"]),
            ("export API_KEY='abcd1234efgh'".into(), vec!["abcd1234efgh"]),
            ("AIzaSyA1234567890abcdefghijklmnopqrstuv".into(), vec!["AIzaSyA1234567890abcdefghijklmnopqrstuv"]),
        ]
    }

    /// Values that must come through untouched: ids, digests, ARNs, prose.
    const MUST_NOT_MASK: &[&str] = &[
        "sg-0123456789abcdef0",
        "i-1cd73cb9f90ce7504",
        // A 40-character git sha.
        "9fceb02d0ae598e95dc970b74767f19372d61af8",
        // 40-character ARNs and names.
        "arn:aws:iam::123456789012:role/deployer1",
        "arn:aws:s3:::my-bucket-name-0123456789ab",
        "projects/my-project/zones/us-central1-a",
        // 40 characters of base64 alphabet but one case only, or no digit.
        "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmn",
        "AROAVXK4PQ2HL7Z3W5NTB:alice@example.com",
        "AIDAVXK4PQ2HC3RMYT6JE",
        // Not quite an access key id: too short, lower case, longer run.
        "AKIA1234",
        "akiaiosfodnn7example",
        "XAKIAIOSFODNN7EXAMPLEX",
        "ghp_short",
        "xoxb-",
        "https://example.com:8443/path?x=1",
        "mailto:alice@example.com",
        "alice@example.com",
        "secret_arn = arn:aws:secretsmanager:us-east-1:123:secret:x",
        "arn:aws:secretsmanager:us-west-2:123456789012:secret:MySecret-a1b2c3",
        "arn:aws:ssm:us-east-1:123456789012:parameter/app/db-password",
        "token_endpoint=https://login.example.com",
        "rotate the password",
        "kms_key_id = arn:aws:kms:us-east-1:123456789012:key/abc",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "eyJhbGciOiJIUzI1NiJ9",
        "2026-11-27T09:00:00Z",
        "terraform apply -target='aws_security_group.web'",
        "AWS Internal",
        "aws-cli/2.13.5 Python/3.11.4 Linux/6.2 exe/x86_64.ubuntu.22 prompt/off command/ec2.modify-instance-attribute",
        "(sensitive)",
        "password=(sensitive)",
    ];

    #[test]
    fn masks_every_kind_of_credential_anywhere_in_a_string() {
        for (input, secrets) in must_mask() {
            let out = mask_text(&input, false).unwrap_or_else(|| panic!("not masked: {input}"));
            for s in secrets {
                assert!(!out.contains(s), "{s} left in {out:?} (from {input:?})");
            }
            assert!(out.contains(MASK), "{out}");
            // Masking is idempotent.
            assert_eq!(mask_text(&out, false), None, "masked twice: {out}");
        }
    }

    #[test]
    fn leaves_ids_digests_arns_and_prose_alone() {
        for input in MUST_NOT_MASK {
            assert_eq!(mask_text(input, false), None, "masked: {input}");
        }
    }

    #[test]
    fn keeps_the_text_around_a_secret() {
        assert_eq!(
            mask_text(&format!("token {GHP} for ci"), false).unwrap(),
            format!("token {MASK} for ci")
        );
        assert_eq!(
            mask_text("postgres://app:pw123456@db/x", false).unwrap(),
            format!("postgres://app:{MASK}@db/x")
        );
    }

    #[test]
    fn a_secret_key_beside_a_key_id_in_a_sibling_value() {
        let hidden = "Xb7Q9kLm2NpR4sTv6WxYz8AcEgIkMoQsUwYa0CdE";
        assert_eq!(mask_text(&format!("k {hidden}"), false), None);
        assert!(mask_text(&format!("k {hidden}"), true).is_some());
        assert!(has_key_id(&format!("id {AKID}")));
    }
}
