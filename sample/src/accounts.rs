//! The accounts reference data of a generated operator, as CSV.

use std::fmt::Write as _;

use crate::world::{REGIONS, Status, World};

/// The CSV header.
pub const HEADER: &str = "id,plan,currency,time_zone,partner,status,credit_limit,segment,tax_region,activated,balances";

/// Renders every account of `world`, one row each after the header.
#[must_use]
pub fn render(world: &World) -> String {
    let mut out = String::with_capacity(world.accounts.len() * 96 + HEADER.len() + 1);
    out.push_str(HEADER);
    out.push('\n');
    for a in &world.accounts {
        let region = &REGIONS[a.region];
        let status = match a.status {
            Status::Active => "active",
            Status::Pending => "pending",
            Status::Suspended => "suspended",
        };
        let _ = writeln!(
            out,
            "{},{},,{},{},{},{},{},{},{},{}",
            a.id,
            a.plan.map_or("", |p| p.name()),
            region.time_zone,
            a.partner.unwrap_or(""),
            status,
            a.credit_limit,
            a.segment,
            region.tax,
            a.activated.map(|d| d.to_string()).unwrap_or_default(),
            a.balances,
        );
    }
    out
}
