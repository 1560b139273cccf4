//! Interned catalog names.
//!
//! Every rated record names the catalog things that priced it: the service,
//! zone, tariff, balances drawn, discounts, partner and catalog version.
//! A [`Name`] is a pointer to one process-wide copy of such a string, so
//! copying it into a record and dropping the record touch no reference
//! count: a rate worker that books a record and the ledger thread that
//! writes and drops it share no counter.
//!
//! Interned strings are never freed. What is interned is bounded by the
//! distinct names of the catalogs and reference data loaded in the
//! process's life (a reload adds only the names it brings anew), never by
//! the events rated.

use std::fmt;
use std::ops::Deref;

use serde::{Serialize, Serializer};
use ustr::Ustr;

/// An interned catalog name: eight bytes, `Copy`, compared by pointer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Name(Ustr);

impl Name {
    /// The name for `text`, interning it on first sight. Takes a lock:
    /// for loading catalogs, not for rating.
    #[must_use]
    pub fn new(text: &str) -> Self {
        Self(Ustr::from(text))
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        self.0.as_str()
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<&String> for Name {
    fn from(text: &String) -> Self {
        Self::new(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Self {
        Self::new(&text)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: widths and alignment apply, as to a `str`.
        f.pad(self.as_str())
    }
}

/// As the text, so that records and errors print names as strings.
impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_are_one_name() {
        let a = Name::new("voice");
        let b = Name::from(String::from("voice"));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()), "one copy of the text");
        assert_ne!(a, Name::new("voice "));
        assert_eq!(a, "voice");
    }

    #[test]
    fn prints_and_orders_as_its_text() {
        let (a, b) = (Name::new("b-zone"), Name::new("a-zone"));
        assert_eq!(format!("{a} {a:?}"), "b-zone \"b-zone\"");
        assert_eq!(format!("[{a:<8}|{a:>7}]"), "[b-zone  | b-zone]", "padded as a str");
        assert!(b < a);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"b-zone\"");
        assert_eq!(Name::default().as_str(), "");
    }
}
