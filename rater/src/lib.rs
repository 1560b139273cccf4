//! ratewire's domain core: events, exact money, the tariff catalog, compiled
//! tariff tables, balances and the rating function. Synchronous and pure:
//! no async, no Kafka, no Arrow.
//!
//! The central types:
//! - [`Event`], decoded from JSON by [`decode`] (or a [`Reject`] with a
//!   stable [`RejectCode`] naming the field at fault);
//! - [`Tables`], compiled from a TOML catalog by [`catalog::load`], shared
//!   behind a [`CatalogHandle`] that swaps atomically on reload;
//! - [`Accounts`], the customers' reference data;
//! - [`Rater`], which rates events into an [`Output`] of [`Rated`] records,
//!   [`Rejected`] events, threshold [`Action`]s and lifecycle [`Fact`]s.
//!
//! ```
//! use std::sync::Arc;
//! use ratewire_rater::{Accounts, Output, Rater, RaterConfig, catalog, decode};
//!
//! let tables = catalog::parse(r#"
//!     version = "doc-1"
//!     currency = "EUR"
//!     [services.sms]
//!     unit = "message"
//!     [[plans.basic.versions]]
//!     effective_from = 2026-01-01
//!     [[plans.basic.versions.rates]]
//!     service = "sms"
//!     model = "per_unit"
//!     price = "0.09"
//! "#, "catalog.toml").unwrap();
//! let accounts = Accounts::parse_csv("id,plan\nA1,basic\n", "accounts.csv").unwrap();
//! let mut rater = Rater::new(Arc::new(tables), Arc::new(accounts), RaterConfig::default());
//! let event = decode(br#"{"v":1,"id":"e1","kind":"usage","account":"A1",
//!     "time":"2026-11-03T10:00:00Z","service":"sms","quantity":2}"#).unwrap();
//! let mut out = Output::default();
//! rater.rate(&event, event.time, &mut out);
//! assert_eq!(out.rated[0].gross.to_string(), "0.18");
//! ```

pub mod accounts;
pub mod catalog;
pub mod clock;
pub mod dedup;
pub mod event;
pub mod money;
mod name;
mod rate;
pub mod record;
pub mod reject;
mod snapshot;
pub mod tables;
pub mod time;

pub use accounts::{AccountRef, AccountStatus, Accounts};
pub use catalog::{Diagnostic, LoadError};
pub use event::{Body, Event, decode, decode_bounded};
pub use name::Name;
pub use rate::{
    AccountCheckpoint, AccountState, AccountView, Checkpoint, CounterCheckpoint, PERIODS_CATCH_UP_MAX, PREFETCH_EVENTS,
    Rater, RaterConfig, RestoreError, checkpoint_format2, to_increments,
};
pub use record::{
    AccountId, Action, ActionKind, ActionReason, Applied, Draw, Draws, EventId, Fact, FactKind, FactSource, Output,
    Rated, RecordKind, Rejected,
};
pub use reject::{Reject, RejectCode};
pub use snapshot::CatalogHandle;
pub use tables::Tables;
