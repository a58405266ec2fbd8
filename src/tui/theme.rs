//! Colours and severity badges: `config/theme.toml` embedded, a user file overlaid.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr as _;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::alert::Severity;

/// The embedded default theme.
pub const DEFAULT_THEME: &str = include_str!("../../config/theme.toml");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeverityFile {
    symbol: Option<String>,
    label: Option<String>,
    fg: Option<String>,
    bg: Option<String>,
    bold: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    severity: BTreeMap<String, SeverityFile>,
    #[serde(default)]
    ui: BTreeMap<String, String>,
}

/// How one severity looks.
#[derive(Debug, Clone, PartialEq)]
pub struct Badge {
    /// Shape that carries the meaning without colour.
    pub symbol: String,
    /// Short label.
    pub label: String,
    /// Style.
    pub style: Style,
}

/// The compiled theme.
#[derive(Debug, Clone)]
pub struct Theme {
    badges: [Badge; 5],
    /// Border of the focused pane.
    pub border_focused: Style,
    /// Other borders.
    pub border: Style,
    /// Table header.
    pub header: Style,
    /// Selected row.
    pub selected: Style,
    /// State side of a diff.
    pub removed: Style,
    /// Observed side of a diff.
    pub added: Style,
    /// Errors.
    pub error: Style,
    /// Success.
    pub ok: Style,
    /// Less important text.
    pub muted: Style,
}

fn color(s: &str) -> Result<Color, String> {
    if let Ok(n) = s.parse::<u8>() {
        return Ok(Color::Indexed(n));
    }
    Color::from_str(s).map_err(|_| format!("unknown colour '{s}'"))
}

impl Theme {
    /// The embedded default.
    #[must_use]
    pub fn default_theme() -> Theme {
        Theme::from_toml(DEFAULT_THEME, None).unwrap_or_else(|_| Theme::plain())
    }

    /// No colours at all (fallback; symbols and labels still show severity).
    #[must_use]
    pub fn plain() -> Theme {
        let badge = |sym: &str, label: &str| Badge {
            symbol: sym.into(),
            label: label.into(),
            style: Style::default(),
        };
        Theme {
            badges: [
                badge("○", "INFO"),
                badge("▽", "LOW"),
                badge("◆", "MED"),
                badge("▲", "HIGH"),
                badge("▲▲", "CRIT"),
            ],
            border_focused: Style::default().add_modifier(Modifier::BOLD),
            border: Style::default(),
            header: Style::default().add_modifier(Modifier::BOLD),
            selected: Style::default().add_modifier(Modifier::REVERSED),
            removed: Style::default(),
            added: Style::default(),
            error: Style::default().add_modifier(Modifier::BOLD),
            ok: Style::default(),
            muted: Style::default(),
        }
    }

    /// The default with a user file overlaid.
    pub fn load(user: Option<&Path>) -> Result<Theme, String> {
        let overlay = match user {
            Some(p) if p.exists() => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read theme '{}': {e}", p.display()))?,
            ),
            _ => None,
        };
        Theme::from_toml(DEFAULT_THEME, overlay.as_deref())
    }

    /// Builds from the default text and an optional overlay.
    pub fn from_toml(default: &str, overlay: Option<&str>) -> Result<Theme, String> {
        let mut base: ThemeFile = toml::from_str(default).map_err(|e| format!("theme: {e}"))?;
        if let Some(text) = overlay {
            let user: ThemeFile = toml::from_str(text).map_err(|e| format!("user theme: {e}"))?;
            for (k, v) in user.severity {
                let b = base.severity.entry(k).or_default();
                b.symbol = v.symbol.or(b.symbol.take());
                b.label = v.label.or(b.label.take());
                b.fg = v.fg.or(b.fg.take());
                b.bg = v.bg.or(b.bg.take());
                b.bold = v.bold.or(b.bold);
            }
            base.ui.extend(user.ui);
        }
        let mut theme = Theme::plain();
        for (i, sev) in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(f) = base.severity.get(sev.as_str()) {
                let b = &mut theme.badges[i];
                if let Some(s) = &f.symbol {
                    b.symbol.clone_from(s);
                }
                if let Some(s) = &f.label {
                    b.label.clone_from(s);
                }
                let mut st = Style::default();
                if let Some(c) = &f.fg {
                    st = st.fg(color(c)?);
                }
                if let Some(c) = &f.bg {
                    st = st.bg(color(c)?);
                }
                if f.bold == Some(true) {
                    st = st.add_modifier(Modifier::BOLD);
                }
                b.style = st;
            }
        }
        for (k, v) in &base.ui {
            let c = color(v)?;
            match k.as_str() {
                "border_focused" => theme.border_focused = Style::default().fg(c),
                "border" => theme.border = Style::default().fg(c),
                "header" => theme.header = Style::default().fg(c).add_modifier(Modifier::BOLD),
                "selected_bg" => {
                    theme.selected = theme.selected.bg(c).remove_modifier(Modifier::REVERSED);
                }
                "selected_fg" => theme.selected = theme.selected.fg(c),
                "removed" => theme.removed = Style::default().fg(c),
                "added" => theme.added = Style::default().fg(c),
                "error" => theme.error = Style::default().fg(c).add_modifier(Modifier::BOLD),
                "ok" => theme.ok = Style::default().fg(c),
                "muted" => theme.muted = Style::default().fg(c),
                other => return Err(format!("theme: unknown ui key '{other}'")),
            }
        }
        Ok(theme)
    }

    /// The badge of a severity.
    #[must_use]
    pub fn badge(&self, s: Severity) -> &Badge {
        &self.badges[s as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_theme_parses_and_has_distinct_symbols() {
        let t = Theme::from_toml(DEFAULT_THEME, None).expect("theme");
        let syms: std::collections::HashSet<_> = [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .iter()
        .map(|s| t.badge(*s).symbol.clone())
        .collect();
        assert_eq!(syms.len(), 5, "each severity needs its own symbol");
        let t = Theme::from_toml(DEFAULT_THEME, Some("[severity.high]\nlabel = \"HI\""))
            .expect("overlay");
        assert_eq!(t.badge(Severity::High).label, "HI");
        assert_eq!(t.badge(Severity::High).symbol, "▲");
        assert!(Theme::from_toml(DEFAULT_THEME, Some("[ui]\nnope = \"red\"")).is_err());
    }
}
