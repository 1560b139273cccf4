//! Longest-prefix destination lookup: a digit trie.

/// Index of a destination zone in [`super::Tables::zones`].
pub type ZoneId = u32;

const NONE: u32 = u32::MAX;

/// The most prefixes a destination can match (its digits, plus the empty
/// prefix); bounds the candidate list of one lookup.
pub const MATCHES_MAX: usize = crate::event::DESTINATION_DIGITS_MAX + 1;

/// Maps number prefixes to zones; a lookup returns every zone whose prefix
/// the number starts with, longest first.
#[derive(Debug, Clone)]
pub struct PrefixTable {
    /// `children[node][digit]` is a node index or `NONE`.
    children: Vec<[u32; 10]>,
    /// The zone whose prefix ends at a node, or `NONE`.
    zone: Vec<u32>,
}

impl Default for PrefixTable {
    fn default() -> Self {
        Self { children: vec![[NONE; 10]], zone: vec![NONE] }
    }
}

impl PrefixTable {
    /// Adds a prefix of ASCII digits. Returns the zone that already held
    /// the same prefix, if any (the caller reports it).
    pub fn insert(&mut self, prefix: &str, zone: ZoneId) -> Option<ZoneId> {
        let mut node = 0usize;
        for b in prefix.bytes() {
            let digit = usize::from(b - b'0');
            let next = self.children[node][digit];
            node = if next == NONE {
                let fresh = self.children.len();
                self.children.push([NONE; 10]);
                self.zone.push(NONE);
                self.children[node][digit] = u32::try_from(fresh).unwrap_or(NONE);
                fresh
            } else {
                next as usize
            };
        }
        let previous = self.zone[node];
        self.zone[node] = zone;
        (previous != NONE && previous != zone).then_some(previous)
    }

    /// Writes into `out` the zones matching `number`, longest prefix first,
    /// and returns how many there are.
    pub fn matches(&self, number: &str, out: &mut [ZoneId; MATCHES_MAX]) -> usize {
        let mut found = 0usize;
        let mut node = 0usize;
        let mut push = |zone: u32, found: &mut usize| {
            if zone != NONE && *found < MATCHES_MAX {
                out[*found] = zone;
                *found += 1;
            }
        };
        push(self.zone[0], &mut found);
        for b in number.bytes() {
            let Some(digit) = b.checked_sub(b'0').filter(|d| *d < 10) else { break };
            let next = self.children[node][usize::from(digit)];
            if next == NONE {
                break;
            }
            node = next as usize;
            push(self.zone[node], &mut found);
        }
        out[..found].reverse();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_first() {
        let mut t = PrefixTable::default();
        assert_eq!(t.insert("49", 0), None);
        assert_eq!(t.insert("4915", 1), None);
        assert_eq!(t.insert("1", 2), None);
        assert_eq!(t.insert("49", 3), Some(0));
        t.insert("49", 0);
        let mut out = [0; MATCHES_MAX];
        let n = t.matches("4915123", &mut out);
        assert_eq!(&out[..n], &[1, 0]);
        let n = t.matches("4930", &mut out);
        assert_eq!(&out[..n], &[0]);
        assert_eq!(t.matches("33", &mut out), 0);
        t.insert("", 9);
        let n = t.matches("33", &mut out);
        assert_eq!(&out[..n], &[9]);
    }
}
