//! Lifecycle facts: one per lifecycle event booked, with what the event
//! carries beyond its rated record, and one per threshold action, so that
//! finance and the churn models read an account's life from one table.

use rust_decimal::Decimal;

use super::account::AccountState;
use super::period::currency;
use crate::event::{Body, Event};
use crate::money::Currency;
use crate::name::Name;
use crate::record::{Action, ActionKind, Fact, FactKind, FactSource, Side};
use crate::tables::Tables;
use crate::time::Period;

/// The fact of a lifecycle event booked in `period`, with the event's own
/// fields filled in (amount, step, channel, reason); the caller adds what
/// only the rater knows (plans, what is owed). `None` for usage.
pub(crate) fn of_event(tables: &Tables, state: &AccountState, event: &Event, period: Period) -> Option<Fact> {
    let mut fact = Fact {
        event_id: event.id.clone(),
        account: state.id.clone(),
        kind: FactKind::Payment,
        source: FactSource::Event,
        event_time: event.time,
        period,
        amount: Decimal::ZERO,
        currency: currency(tables, state),
        action: None,
        plan: None,
        previous_plan: None,
        channel: None,
        reason: None,
        owed: None,
        owed_due_at: None,
        catalog_version: tables.version,
    };
    match &event.body {
        Body::Usage(_) => return None,
        Body::Payment(money) => fact.amount = money.amount,
        Body::TopUp(money) => (fact.kind, fact.amount) = (FactKind::Topup, money.amount),
        Body::Adjustment { money, reason } => {
            (fact.kind, fact.amount, fact.reason) = (FactKind::Adjustment, money.amount, reason.clone());
        }
        Body::Subscription { action, .. } => (fact.kind, fact.action) = (FactKind::Subscription, Some(*action)),
        Body::SupportContact { channel, reason } => {
            (fact.kind, fact.channel, fact.reason) = (FactKind::SupportContact, channel.clone(), reason.clone());
        }
        Body::Block { reason } => (fact.kind, fact.reason) = (FactKind::Block, reason.clone()),
        Body::Unblock { reason } => (fact.kind, fact.reason) = (FactKind::Unblock, reason.clone()),
    }
    Some(fact)
}

/// Pushes a threshold action and its fact, booked in `period`.
pub(crate) fn act(out: &mut Side<'_>, action: Action, period: Period, currency: Currency, catalog_version: Name) {
    let kind = match action.kind {
        ActionKind::Notify => FactKind::Notify,
        ActionKind::Block => FactKind::Block,
        ActionKind::Unblock => FactKind::Unblock,
    };
    out.facts.push(Fact {
        event_id: action.event_id.clone(),
        account: action.account.clone(),
        kind,
        source: FactSource::Rater,
        event_time: action.time,
        period,
        amount: Decimal::ZERO,
        currency,
        action: None,
        plan: None,
        previous_plan: None,
        channel: None,
        reason: Some(action.reason.name().to_string()),
        owed: None,
        owed_due_at: None,
        catalog_version,
    });
    out.actions.push(action);
}
