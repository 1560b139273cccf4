//! The pipeline's checkpoint: every source partition's rating state, kept
//! in the ledger beside the commit whose offsets it goes with.
//!
//! Rating state is held per source partition (the events of an account come
//! on one partition, keyed by account), so that a partition's state can move
//! with it. A rate worker serializes a partition's state when a barrier
//! finds it changed, from each account's entry as serialized at the last
//! barrier it changed at ([`encode_partition_parts`]); the ledger stage
//! keeps the latest bytes of every partition and writes them all with each
//! commit, since recovery reads the latest checkpoint only.
//!
//! The format is binary, [postcard] (varint integers, length-prefixed
//! strings, enum variants by index), as the state is written with every
//! commit and grows with the accounts: `RWST`, the format as a little-endian
//! `u32` (3), then the partitions as a postcard sequence of
//! [`PartitionState`], each with `state` a [`ratewire_rater::Checkpoint`],
//! whose amounts are their magnitude and scale and whose dates are day
//! numbers. Earlier builds wrote format 2, the same with amounts and dates
//! as text, and format 1, JSON (`{"format":1,"partitions":[..]}`); both are
//! still read, so that a ledger written by an earlier build resumes.
//!
//! Postcard encodes fields by position and enum variants by index: a field
//! or variant added to the state is a new format.

use std::collections::BTreeMap;
use std::sync::Arc;

use ratewire_rater::Checkpoint;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::message::PartitionKey;

/// The checkpoint format this build writes.
pub const STATE_FORMAT: u32 = 3;

/// The binary format earlier builds wrote, amounts and dates as text; still
/// read.
const TEXT_AMOUNTS_FORMAT: u32 = 2;

/// The JSON format earlier builds wrote, still read.
const JSON_FORMAT: u32 = 1;

/// The first bytes of a binary checkpoint.
const MAGIC: &[u8; 4] = b"RWST";

/// One partition's state, as restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset after the last one rated into `state`.
    pub next: i64,
    /// Every account's rating state.
    pub state: Checkpoint,
}

/// [`PartitionState`] as format 2 wrote it.
#[derive(Deserialize)]
struct PartitionStateText {
    topic: String,
    partition: i32,
    next: i64,
    state: ratewire_rater::checkpoint_format2::Checkpoint,
}

impl From<PartitionStateText> for PartitionState {
    fn from(p: PartitionStateText) -> Self {
        Self { topic: p.topic, partition: p.partition, next: p.next, state: p.state.into() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonBlob {
    format: u32,
    partitions: Vec<PartitionState>,
}

/// One partition's state serialized, as the rate worker hands it over: one
/// element of the checkpoint's sequence.
pub(crate) fn encode_partition(state: &PartitionState) -> Result<Arc<[u8]>, Error> {
    let mut bytes = Vec::new();
    postcard::serialize_with_flavor(state, Extend(&mut bytes)).map_err(|e| Error::Checkpoint(e.to_string()))?;
    Ok(Arc::from(bytes))
}

/// One account's entry serialized (a [`ratewire_rater::AccountCheckpoint`], or the
/// [`ratewire_rater::AccountView`] that serializes as one): an element of
/// the accounts sequence in the bytes of [`encode_partition`].
pub(crate) fn encode_account(account: &impl Serialize, into: &mut Vec<u8>) -> Result<(), Error> {
    postcard::serialize_with_flavor(account, Extend(into)).map_err(|e| Error::Checkpoint(e.to_string()))
}

/// One partition's state serialized from its accounts' entries, each
/// serialized by [`encode_account`]: the bytes [`encode_partition`] writes
/// for the whole state, without serializing again the accounts that did not
/// change.
pub(crate) fn encode_partition_parts<'a>(
    topic: &str,
    partition: i32,
    next: i64,
    catalog_version: &str,
    accounts: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
) -> Result<Arc<[u8]>, Error> {
    let size: usize = accounts.clone().map(<[u8]>::len).sum();
    let mut bytes = Vec::with_capacity(size + topic.len() + catalog_version.len() + 32);
    // Postcard writes a struct as its fields in order, and a sequence as
    // its length then its elements: the fields of `PartitionState` up to
    // `state.accounts`, then that sequence.
    let head = (topic, partition, next, catalog_version, accounts.len());
    postcard::serialize_with_flavor(&head, Extend(&mut bytes)).map_err(|e| Error::Checkpoint(e.to_string()))?;
    for account in accounts {
        bytes.extend_from_slice(account);
    }
    Ok(Arc::from(bytes))
}

/// The checkpoint of every partition, from their serialized states.
///
/// # Errors
/// [`Error::Checkpoint`] if the count cannot be encoded (it always can).
pub(crate) fn encode(states: &BTreeMap<PartitionKey, Arc<[u8]>>) -> Result<Vec<u8>, Error> {
    let size: usize = states.values().map(|s| s.len()).sum();
    let mut blob = Vec::with_capacity(size + 18);
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(&STATE_FORMAT.to_le_bytes());
    // A postcard sequence is its length (a varint, as postcard writes a
    // usize), then its elements.
    postcard::serialize_with_flavor(&states.len(), Extend(&mut blob)).map_err(|e| Error::Checkpoint(e.to_string()))?;
    for state in states.values() {
        blob.extend_from_slice(state);
    }
    Ok(blob)
}

/// The partitions' states in a checkpoint (none for an empty one: a new
/// ledger), of this format or of format 2 or 1.
///
/// # Errors
/// [`Error::Checkpoint`] when the bytes are not a checkpoint of either.
pub fn decode(checkpoint: &[u8]) -> Result<Vec<PartitionState>, Error> {
    if checkpoint.is_empty() {
        return Ok(Vec::new());
    }
    if checkpoint.first() == Some(&b'{') {
        return decode_json(checkpoint);
    }
    let bad = |reason: String| Error::Checkpoint(reason);
    let rest = checkpoint.strip_prefix(MAGIC).ok_or_else(|| bad("not a ratewire checkpoint".into()))?;
    let (format, rest) = rest.split_first_chunk::<4>().ok_or_else(|| bad("truncated before its format".into()))?;
    let (partitions, rest) = match u32::from_le_bytes(*format) {
        STATE_FORMAT => postcard::take_from_bytes::<Vec<PartitionState>>(rest).map_err(|e| bad(e.to_string()))?,
        TEXT_AMOUNTS_FORMAT => {
            let (text, rest) =
                postcard::take_from_bytes::<Vec<PartitionStateText>>(rest).map_err(|e| bad(e.to_string()))?;
            (text.into_iter().map(PartitionState::from).collect(), rest)
        }
        format => return Err(bad(format!("format {format}; {READ_FORMATS}"))),
    };
    if !rest.is_empty() {
        return Err(bad(format!("{} bytes after the last partition", rest.len())));
    }
    Ok(partitions)
}

/// Postcard's output appended to a `Vec`.
struct Extend<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Extend<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// What a refusal of an unknown format says.
const READ_FORMATS: &str = "this build reads formats 1, 2 and 3";

fn decode_json(checkpoint: &[u8]) -> Result<Vec<PartitionState>, Error> {
    let blob: JsonBlob = serde_json::from_slice(checkpoint).map_err(|e| Error::Checkpoint(e.to_string()))?;
    if blob.format != JSON_FORMAT {
        return Err(Error::Checkpoint(format!("format {}; {READ_FORMATS}", blob.format)));
    }
    Ok(blob.partitions)
}

#[cfg(test)]
mod tests {
    use ratewire_rater::{AccountCheckpoint, AccountStatus, ActionReason, CounterCheckpoint};
    use rust_decimal::Decimal;

    use super::*;

    fn state(topic: &str, partition: i32, next: i64) -> PartitionState {
        PartitionState {
            topic: topic.into(),
            partition,
            next,
            state: Checkpoint { catalog_version: "v1".into(), accounts: Vec::new() },
        }
    }

    fn blob(states: &[PartitionState]) -> Vec<u8> {
        let mut map = BTreeMap::new();
        for s in states {
            let key = PartitionKey { topic: s.topic.as_str().into(), partition: s.partition };
            map.insert(key, encode_partition(s).unwrap());
        }
        encode(&map).unwrap()
    }

    /// An account with every field set.
    fn account() -> AccountCheckpoint {
        let amount = |text: &str| text.parse::<Decimal>().unwrap();
        AccountCheckpoint {
            id: "A-17".into(),
            status: AccountStatus::Suspended,
            plan: Some("mobile-m".into()),
            plan_since: chrono::NaiveDate::from_ymd_opt(2026, 3, 4),
            period: Some("2026-11".into()),
            main: amount("-12.3400"),
            balances: vec![("data-mb".into(), amount("512")), ("minutes".into(), amount("0.5"))],
            counters: vec![CounterCheckpoint { service: "voice".into(), zone: Some("EU".into()), used: amount("61") }],
            fixed_used: vec![("welcome".into(), amount("2.00"))],
            device_day: chrono::NaiveDate::from_ymd_opt(2026, 11, 21),
            devices_today: vec![7, 1 << 40],
            devices_period: vec![7, 9, 1 << 40],
            owed: amount("3.10"),
            owed_due: chrono::NaiveDate::from_ymd_opt(2026, 12, 15),
            blocked: Some(ActionReason::CreditLimit),
            low_notified: true,
        }
    }

    #[test]
    fn partitions_round_trip_through_the_blob() {
        let mut full = state("events", 0, 10);
        full.state.accounts = vec![account(), AccountCheckpoint { id: "B".into(), ..account() }];
        let states = [full, state("events", 1, 7)];
        assert_eq!(decode(&blob(&states)).unwrap(), states);
        assert_eq!(decode(&blob(&[])).unwrap(), []);
        assert_eq!(decode(b"").unwrap(), []);
    }

    #[test]
    fn format_2_is_still_read() {
        // As an earlier build wrote it: amounts and dates as text.
        let mut s = state("t", 3, 300);
        s.state.accounts = vec![account()];
        let format_2 = concat!(
            "52575354 02000000 01 ",                                   // RWST, format 2, one partition
            "0174 06 d804 ",                                           // "t", partition 3, next 300
            "027631 01 ",                                              // "v1", one account
            "0441 2d3137 02 ",                                         // "A-17", suspended (variant 2)
            "01 086d6f62696c652d6d ",                                  // plan "mobile-m"
            "01 0a323032362d30332d3034 01 07323032362d3131 ",          // 2026-03-04, "2026-11"
            "08 2d31322e33343030 ",                                    // main -12.3400
            "02 07646174612d6d62 03353132 076d696e75746573 03302e35 ", // balances
            "01 05766f696365 01 024555 023631 ",                       // counters: voice, EU, 61
            "01 0777656c636f6d65 04322e3030 ",                         // fixed_used: welcome, 2.00
            "01 0a323032362d31312d3231 ",                              // device day
            "02 07 808080808020 03 07 09 808080808020 ",               // devices today, this period
            "04 332e3130 01 0a323032362d31322d3135 ",                  // owed, due
            "01 02 01", // blocked: credit limit (variant 2); low notified
        );
        assert_eq!(decode(&from_hex(format_2)).unwrap(), [s]);
    }

    fn from_hex(hex: &str) -> Vec<u8> {
        let hex = hex.replace(' ', "");
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn the_binary_format_is_pinned() {
        // Postcard writes fields by position and variants by index: if this
        // changes, the checkpoint needs a new format number, and this build
        // must still read format 3.
        let mut s = state("t", 3, 300);
        s.state.accounts = vec![account()];
        let expected = concat!(
            "52575354 03000000 01 ",                     // RWST, format 3, one partition
            "0174 06 d804 ",                             // "t", partition 3, next 300
            "027631 01 ",                                // "v1", one account
            "0441 2d3137 02 ",                           // "A-17", suspended (variant 2)
            "01 086d6f62696c652d6d ",                    // plan "mobile-m"
            "01 bea55a 01 07323032362d3131 ",            // day 739,679 (2026-03-04), zigzag varint, "2026-11"
            "88c407 84 ",                                // main: 123,400 at scale 4, negative
            "02 07646174612d6d62 8004 00 ",              // balances: data-mb 512,
            "076d696e75746573 05 01 ",                   //   minutes 5 at scale 1
            "01 05766f696365 01 024555 3d 00 ",          // counters: voice, EU, 61
            "01 0777656c636f6d65 c801 02 ",              // fixed_used: welcome, 200 at scale 2
            "01 caa95a ",                                // device day 2026-11-21
            "02 07 808080808020 03 07 09 808080808020 ", // devices today, this period
            "b602 02 01 faa95a ",                        // owed 310 at scale 2, due 2026-12-15
            "01 02 01",                                  // blocked: credit limit (variant 2); low notified
        );
        let hex: String = blob(&[s.clone()]).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected.replace(' ', ""));
        assert_eq!(decode(&blob(&[s.clone()])).unwrap(), [s]);
    }

    #[test]
    fn a_partition_from_its_accounts_entries_is_the_whole_partition() {
        for accounts in [vec![], vec![account()], vec![account(), AccountCheckpoint { id: "B".into(), ..account() }]] {
            let mut s = state("events", 300, 1 << 40);
            s.state.accounts = accounts;
            let entries: Vec<Vec<u8>> = s
                .state
                .accounts
                .iter()
                .map(|a| {
                    let mut bytes = Vec::new();
                    encode_account(a, &mut bytes).unwrap();
                    bytes
                })
                .collect();
            let parts = encode_partition_parts(
                &s.topic,
                s.partition,
                s.next,
                &s.state.catalog_version,
                entries.iter().map(Vec::as_slice),
            )
            .unwrap();
            assert_eq!(parts, encode_partition(&s).unwrap());
        }
    }

    #[test]
    fn format_1_json_is_still_read() {
        let mut s = state("events", 2, 41);
        s.state.accounts = vec![account()];
        let json = format!(r#"{{"format":1,"partitions":[{}]}}"#, serde_json::to_string(&s).unwrap());
        assert_eq!(decode(json.as_bytes()).unwrap(), [s]);
    }

    #[test]
    fn a_foreign_or_damaged_checkpoint_is_refused() {
        let refused = |bytes: &[u8], needle: &str| match decode(bytes) {
            Err(Error::Checkpoint(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
            other => panic!("{other:?}"),
        };
        refused(b"state", "not a ratewire checkpoint");
        refused(b"RWS", "not a ratewire checkpoint");
        refused(b"RWST\x02\x00", "truncated");
        refused(b"RWST\x09\x00\x00\x00\x00", "format 9; this build reads formats 1, 2 and 3");
        refused(br#"{"format":9,"partitions":[]}"#, "format 9");
        let good = blob(&[state("events", 0, 10)]);
        refused(&good[..good.len() - 1], "");
        refused(&[good.as_slice(), b"x"].concat(), "1 bytes after");
    }
}
