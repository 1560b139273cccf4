//! How an error reaches the terminal: the error and its causes on one
//! line, as `{:#}` prints them, but without a cause that its parent
//! already shows. Most of the workspace's typed errors put their source's
//! message into their own (`"{path}: {source}"`), so the plain chain said
//! every message two or three times.

use std::error::Error;

/// `error` and each cause not already shown by its parent, joined by
/// `": "`.
pub fn error_text(error: &(dyn Error + 'static)) -> String {
    let mut text = String::new();
    let mut parent = String::new();
    let mut cause = Some(error);
    while let Some(e) = cause {
        let own = e.to_string();
        if !parent.contains(&own) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&own);
        }
        parent = own;
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::io;

    use super::error_text;

    /// An error that shows its source in its own message, as the
    /// workspace's `"{path}: {source}"` variants do.
    #[derive(Debug)]
    struct Showing(&'static str, io::Error);

    impl fmt::Display for Showing {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}: {}", self.0, self.1)
        }
    }

    impl std::error::Error for Showing {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    fn not_found() -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, "no such file")
    }

    #[test]
    fn a_cause_its_parent_shows_is_said_once() {
        let error = anyhow::Error::new(Showing("ledger/table=rated", not_found())).context("ledger failed");
        assert_eq!(error_text(error.as_ref()), "ledger failed: ledger/table=rated: no such file");
    }

    #[test]
    fn causes_a_context_does_not_show_are_kept() {
        let error = anyhow::Error::new(not_found()).context("reading ratewire.toml").context("loading the config");
        assert_eq!(error_text(error.as_ref()), "loading the config: reading ratewire.toml: no such file");
        assert_eq!(error_text(error.as_ref()), format!("{error:#}"), "the same as anyhow's when nothing repeats");
    }
}
