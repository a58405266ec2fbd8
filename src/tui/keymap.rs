//! Key bindings: `config/keymap.toml` embedded as the default, a user file overlaid by
//! (context, action). The help popup is generated from the same list, so it cannot go stale.

use std::collections::HashMap;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

/// The embedded default keymap.
pub const DEFAULT_KEYMAP: &str = include_str!("../../config/keymap.toml");

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// Anywhere outside text input.
    Global,
    /// The Now board (open drifts) has focus.
    Now,
    /// The feed has focus.
    Feed,
    /// The workspaces view (the reconcile status board) is open.
    Workspaces,
    /// The detail pane has focus.
    Detail,
    /// The rule editor is editing.
    Editor,
    /// The help popup is open.
    Help,
}

impl Context {
    /// Context name as in the file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Now => "now",
            Context::Feed => "feed",
            Context::Workspaces => "workspaces",
            Context::Detail => "detail",
            Context::Editor => "editor",
            Context::Help => "help",
        }
    }
}

/// A key with modifiers (shift is folded into the character for letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl / Alt only.
    pub mods: KeyModifiers,
}

impl Key {
    /// Normalises a terminal key event for lookup.
    #[must_use]
    pub fn from_event(ev: &KeyEvent) -> Key {
        let mut mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match ev.code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            KeyCode::BackTab => {
                mods = KeyModifiers::empty();
                KeyCode::BackTab
            }
            c => c,
        };
        Key { code, mods }
    }

    /// Parses `j`, `G`, `ctrl-d`, `alt-x`, `pgdown`, `f1` …
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::empty();
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse::<u8>().unwrap_or(1))
            }
            c if c.chars().count() == 1 => {
                let ch = c.chars().next().unwrap_or(' ');
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(ch.to_ascii_lowercase())
                } else {
                    KeyCode::Char(ch)
                }
            }
            other => return Err(format!("unknown key '{other}' in '{s}'")),
        };
        Ok(Key { code, mods })
    }
}

/// One binding as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// Action name (`down`, `ack`, …).
    pub action: String,
    /// Keys as written.
    pub keys: Vec<String>,
    /// Help text.
    #[serde(default)]
    pub desc: String,
    /// Short label for the bottom hint bar (none: not hinted).
    #[serde(default)]
    pub hint: String,
    /// The action changes something (a status, the rules): refused in read-only mode.
    #[serde(default)]
    pub write: bool,
}

/// The file: one list per context.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    #[serde(default)]
    global: Vec<Binding>,
    #[serde(default)]
    now: Vec<Binding>,
    #[serde(default)]
    feed: Vec<Binding>,
    #[serde(default)]
    workspaces: Vec<Binding>,
    #[serde(default)]
    detail: Vec<Binding>,
    #[serde(default)]
    editor: Vec<Binding>,
    #[serde(default)]
    help: Vec<Binding>,
}

impl KeymapFile {
    fn lists_mut(&mut self) -> [(Context, &mut Vec<Binding>); 7] {
        [
            (Context::Global, &mut self.global),
            (Context::Now, &mut self.now),
            (Context::Feed, &mut self.feed),
            (Context::Workspaces, &mut self.workspaces),
            (Context::Detail, &mut self.detail),
            (Context::Editor, &mut self.editor),
            (Context::Help, &mut self.help),
        ]
    }
}

/// Compiled keymap.
#[derive(Debug, Clone)]
pub struct Keymap {
    /// Bindings per context in file order (for help).
    pub sections: Vec<(Context, Vec<Binding>)>,
    lookup: HashMap<(Context, Key), String>,
}

impl Keymap {
    /// The embedded default.
    #[must_use]
    pub fn default_keymap() -> Keymap {
        // The embedded file is checked by a unit test; fall back to empty rather than panic.
        Keymap::from_toml(DEFAULT_KEYMAP, None).unwrap_or_else(|_| Keymap {
            sections: Vec::new(),
            lookup: HashMap::new(),
        })
    }

    /// The default with a user file overlaid (entries replace by context + action).
    pub fn load(user: Option<&Path>) -> Result<Keymap, String> {
        let overlay = match user {
            Some(p) if p.exists() => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read keymap '{}': {e}", p.display()))?,
            ),
            _ => None,
        };
        Keymap::from_toml(DEFAULT_KEYMAP, overlay.as_deref())
    }

    /// Builds from the default text and an optional overlay text.
    pub fn from_toml(default: &str, overlay: Option<&str>) -> Result<Keymap, String> {
        let mut base: KeymapFile = toml::from_str(default).map_err(|e| format!("keymap: {e}"))?;
        if let Some(text) = overlay {
            let mut user: KeymapFile =
                toml::from_str(text).map_err(|e| format!("user keymap: {e}"))?;
            for ((_, base_list), (_, user_list)) in
                base.lists_mut().into_iter().zip(user.lists_mut())
            {
                for b in user_list.drain(..) {
                    match base_list.iter_mut().find(|x| x.action == b.action) {
                        Some(existing) => {
                            existing.keys = b.keys;
                            if !b.desc.is_empty() {
                                existing.desc = b.desc;
                            }
                            if !b.hint.is_empty() {
                                existing.hint = b.hint;
                            }
                        }
                        None => base_list.push(b),
                    }
                }
            }
        }
        let mut lookup = HashMap::new();
        let mut sections = Vec::new();
        for (ctx, list) in base.lists_mut() {
            for b in list.iter() {
                for k in &b.keys {
                    let key =
                        Key::parse(k).map_err(|e| format!("keymap [{}]: {e}", ctx.as_str()))?;
                    lookup.insert((ctx, key), b.action.clone());
                }
            }
            sections.push((ctx, std::mem::take(list)));
        }
        Ok(Keymap { sections, lookup })
    }

    /// The action bound to a key in a context.
    #[must_use]
    pub fn action(&self, ctx: Context, ev: &KeyEvent) -> Option<&str> {
        self.lookup
            .get(&(ctx, Key::from_event(ev)))
            .map(String::as_str)
    }

    /// The bindings of a context, in file order.
    pub fn bindings(&self, ctx: Context) -> impl Iterator<Item = &Binding> + '_ {
        self.sections
            .iter()
            .filter(move |(c, _)| *c == ctx)
            .flat_map(|(_, l)| l)
    }

    /// `(first key, hint)` of every hinted binding in `ctx`, in file order, without write
    /// actions when `readonly` (the hint bar is generated from this, so it is always true).
    #[must_use]
    pub fn hints(&self, ctx: Context, readonly: bool) -> Vec<(&str, &str)> {
        self.bindings(ctx)
            .filter(|b| !(b.hint.is_empty() || (readonly && b.write)))
            .filter_map(|b| b.keys.first().map(|k| (k.as_str(), b.hint.as_str())))
            .collect()
    }

    /// Whether an action changes something (refused in read-only mode). The default keymap
    /// decides, so a user overlay cannot turn a write into a read.
    #[must_use]
    pub fn is_write(ctx: Context, action: &str) -> bool {
        WRITE_ACTIONS.contains(&(ctx, action.to_string()))
    }

    /// The first key bound to an action (for hints), as written.
    #[must_use]
    pub fn key_for(&self, ctx: Context, action: &str) -> Option<&str> {
        self.sections
            .iter()
            .filter(|(c, _)| *c == ctx)
            .flat_map(|(_, l)| l)
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map(String::as_str)
    }
}

/// (context, action) pairs marked `write = true` in the embedded keymap.
static WRITE_ACTIONS: std::sync::LazyLock<std::collections::HashSet<(Context, String)>> =
    std::sync::LazyLock::new(|| {
        Keymap::default_keymap()
            .sections
            .iter()
            .flat_map(|(c, l)| l.iter().filter(|b| b.write).map(|b| (*c, b.action.clone())))
            .collect()
    });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keymap_parses_and_overlay_replaces() {
        let km = Keymap::from_toml(DEFAULT_KEYMAP, None).expect("default keymap");
        let j = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
        assert_eq!(km.action(Context::Feed, &j), Some("down"));
        let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(km.action(Context::Feed, &ctrl_d), Some("half_down"));
        let user = "[[feed]]\naction = \"down\"\nkeys = [\"J\"]\n";
        let km = Keymap::from_toml(DEFAULT_KEYMAP, Some(user)).expect("overlay");
        let big_j = KeyEvent::new(KeyCode::Char('J'), KeyModifiers::SHIFT);
        assert_eq!(km.action(Context::Feed, &big_j), Some("down"));
        assert_eq!(km.action(Context::Feed, &j), None);
        assert!(
            Keymap::from_toml(
                DEFAULT_KEYMAP,
                Some("[[feed]]\naction=\"x\"\nkeys=[\"nope\"]")
            )
            .is_err()
        );
    }
}
