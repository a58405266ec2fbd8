//! Clipboard: the system clipboard through arboard when there is a display, else OSC 52 (the
//! terminal sets its clipboard; works over SSH and inside tmux with `set-clipboard on`).

use std::io::Write as _;

/// How a copy was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The system clipboard.
    System,
    /// OSC 52 escape sequence to the terminal.
    Osc52,
}

/// Holds the system clipboard open (on X11 the contents vanish when it is dropped).
#[derive(Default)]
pub struct Clipboard {
    system: Option<arboard::Clipboard>,
    tried: bool,
    /// `TFDRIFT_CLIPBOARD=osc52` forces OSC 52 (remote sessions with a local display set).
    force_osc52: bool,
}

impl std::fmt::Debug for Clipboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clipboard")
            .field("system", &self.system.is_some())
            .finish_non_exhaustive()
    }
}

impl Clipboard {
    /// A clipboard that connects lazily.
    #[must_use]
    pub fn new() -> Clipboard {
        Clipboard {
            force_osc52: std::env::var("TFDRIFT_CLIPBOARD").is_ok_and(|v| v == "osc52"),
            ..Clipboard::default()
        }
    }

    /// Copies text: arboard first, OSC 52 when that fails.
    pub fn copy(&mut self, text: &str) -> Result<Method, String> {
        if !self.force_osc52 {
            if !self.tried {
                self.tried = true;
                match arboard::Clipboard::new() {
                    Ok(c) => self.system = Some(c),
                    Err(e) => tracing::debug!(error = %e, "No system clipboard; using OSC 52"),
                }
            }
            if let Some(c) = &mut self.system {
                match c.set_text(text.to_string()) {
                    Ok(()) => return Ok(Method::System),
                    Err(e) => tracing::debug!(error = %e, "System clipboard failed; using OSC 52"),
                }
            }
        }
        let mut out = std::io::stdout();
        crossterm::execute!(
            out,
            crossterm::clipboard::CopyToClipboard::to_clipboard_from(text)
        )
        .and_then(|()| out.flush())
        .map_err(|e| format!("OSC 52 write failed: {e}"))?;
        Ok(Method::Osc52)
    }
}
