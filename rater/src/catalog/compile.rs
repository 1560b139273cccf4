//! One pass from a parsed catalog file to [`Tables`], collecting every
//! problem with its position.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use chrono::NaiveDate;
use fixedbitset::FixedBitSet;
use rust_decimal::Decimal;
use toml::Spanned;

use super::Diagnostic;
use super::model::{
    Amount, BandSpec, CatalogFile, ModelName, Name, PlanSpec, Proration, RateSpec, RoundingSpec, ScheduleSpec,
};
use crate::money::{AMOUNT_MAX, Currency, QUANTITY_MAX, Rounding, TARIFF_DECIMALS_MAX, UNIT_PRICE_MAX};
use crate::name::Name as Interned;
use crate::tables::{
    BalanceDef, BalanceId, DAY_TYPES, Discount, DiscountOff, HOLIDAY, MAIN_BALANCE_NAME, Model, Override, Partner,
    Plan, PlanVersion, PrefixTable, Rate, RateIndex, Recurring, Schedule, Service, ServiceId, Tables, Tax, Thresholds,
    Tier, ZoneId,
};
use crate::time::DAY_SECONDS;

/// Compiles `file` (parsed from `text`), or lists every problem.
pub(super) fn compile(text: &str, file: &CatalogFile) -> Result<Tables, Vec<Diagnostic>> {
    let mut c = Compiler { text, problems: Vec::new() };
    let tables = c.tables(file);
    if c.problems.is_empty() {
        Ok(tables)
    } else {
        c.problems.sort_by_key(|d| (d.line, d.col));
        Err(c.problems)
    }
}

struct Compiler<'t> {
    text: &'t str,
    problems: Vec<Diagnostic>,
}

/// Names resolved so far, for references from later sections.
struct Names {
    services: HashMap<String, ServiceId>,
    service_units: Vec<String>,
    units: Vec<String>,
    service_count: usize,
    zones: HashMap<String, ZoneId>,
    zone_count: u32,
    schedules: HashMap<String, u32>,
    schedule_bands: Vec<Vec<String>>,
    balances: HashMap<String, BalanceId>,
    plans: HashMap<String, u32>,
}

impl Compiler<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.problems.push(Diagnostic::at(self.text, span.start, message.into()));
    }

    fn tables(&mut self, file: &CatalogFile) -> Tables {
        if file.version.get_ref().trim().is_empty() {
            self.error(file.version.span(), "version must not be empty");
        }
        let currency = self.currency(&file.currency);
        let rounding = self.rounding(file.rounding.as_ref(), Rounding::default());

        let mut services = Vec::new();
        let mut names = Names {
            services: HashMap::new(),
            service_units: Vec::new(),
            units: Vec::new(),
            service_count: file.services.len(),
            zones: HashMap::new(),
            zone_count: 0,
            schedules: HashMap::new(),
            schedule_bands: Vec::new(),
            balances: HashMap::new(),
            plans: HashMap::new(),
        };
        for (name, spec) in &file.services {
            self.identifier(name, "service");
            let unit = spec.unit.get_ref().trim().to_string();
            if unit.is_empty() {
                self.error(spec.unit.span(), format!("service {}: unit must not be empty", name.get_ref()));
            }
            let quantity_max = spec.quantity_max.as_ref().map(|q| self.positive(q, "quantity_max"));
            names.services.insert(name.get_ref().clone(), id32(services.len()));
            names.service_units.push(unit.clone());
            services.push(Service {
                name: Interned::new(name.get_ref().as_str()),
                is_duration: unit == "second",
                unit_id: intern(&mut names.units, &unit),
                unit,
                quantity_max,
            });
        }

        let mut zones = Vec::new();
        let mut prefixes = PrefixTable::default();
        let mut prefix_owner: HashMap<&str, &str> = HashMap::new();
        for (name, list) in &file.zones {
            self.identifier(name, "zone");
            let id = id32(zones.len());
            names.zones.insert(name.get_ref().clone(), id);
            zones.push(Interned::new(name.get_ref().as_str()));
            for prefix in list {
                let p = prefix.get_ref().as_str();
                if !p.bytes().all(|b| b.is_ascii_digit()) {
                    self.error(prefix.span(), format!("zone {}: prefix {p:?} must be digits only", name.get_ref()));
                    continue;
                }
                if let Some(other) = prefix_owner.insert(p, name.get_ref()) {
                    self.error(
                        prefix.span(),
                        format!("zone {}: prefix {p:?} is already in zone {other}", name.get_ref()),
                    );
                    continue;
                }
                prefixes.insert(p, id);
            }
        }
        names.zone_count = id32(zones.len());

        let calendars = self.calendars(file);
        let schedules = self.schedules(file, &calendars, &mut names);
        let balances = self.balances(file, &mut names);
        let default_plan_currency = currency;

        // Plan ids first, so that discounts may name any plan.
        for (i, name) in file.plans.keys().enumerate() {
            self.identifier(name, "plan");
            names.plans.insert(name.get_ref().clone(), id32(i));
        }
        let mut plans = Vec::new();
        for (name, spec) in &file.plans {
            plans.push(self.plan(name, spec, default_plan_currency, rounding, &names));
        }

        let discounts = self.discounts(file, &names);
        let mut overrides: Vec<Vec<Override>> = Vec::new();
        let mut override_ids: HashMap<String, u32> = HashMap::new();
        for spec in &file.overrides {
            let account = spec.account.get_ref().clone();
            let context = format!("override for account {account}");
            let valid_from = spec.valid_from.as_ref().and_then(|d| self.date(d));
            let valid_to = spec.valid_to.as_ref().and_then(|d| self.date(d));
            self.window(valid_from, valid_to, spec.valid_to.as_ref().map(Spanned::span), &context);
            let rates = self.rate_index(&spec.rates, rounding, &names, &context);
            let slot = *override_ids.entry(account.clone()).or_insert_with(|| {
                overrides.push(Vec::new());
                id32(overrides.len() - 1)
            });
            overrides[slot as usize].push(Override {
                valid_from,
                valid_to,
                tariff_id: Interned::new(&format!("override:{account}")),
                rates,
            });
        }

        let mut partners = Vec::new();
        let mut partner_ids = HashMap::new();
        for (name, spec) in &file.partners {
            let share_percent = self.percent(&spec.share_percent, &format!("partner {}", name.get_ref()));
            let services = spec.services.as_ref().map(|s| self.service_list(s, &names));
            partner_ids.insert(name.get_ref().clone(), id32(partners.len()));
            partners.push(Partner {
                id: Interned::new(name.get_ref().as_str()),
                share_percent,
                share_factor: share_percent / Decimal::ONE_HUNDRED,
                services,
            });
        }
        let mut taxes = Vec::new();
        let mut tax_ids = HashMap::new();
        for (name, spec) in &file.taxes {
            let rate_percent = self.percent(&spec.rate_percent, &format!("tax {}", name.get_ref()));
            let exempt = self.service_list(&spec.exempt_services, &names);
            tax_ids.insert(name.get_ref().clone(), id32(taxes.len()));
            taxes.push(Tax { rate_percent, rate_factor: rate_percent / Decimal::ONE_HUNDRED, exempt });
        }
        let t = &file.thresholds;
        let thresholds = Thresholds {
            low_balance: t.low_balance.as_ref().map(|a| self.non_negative(a, "thresholds.low_balance")),
            notify_exhausted: t.notify_exhausted,
            block_over_credit_limit: t.block_over_credit_limit,
            unpaid_block_after_days: t.unpaid_block_after_days,
        };

        Tables {
            version: Interned::new(file.version.get_ref().trim()),
            currency,
            service_ids: names.services.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            services,
            zones,
            prefixes,
            schedules,
            balance_ids: names.balances.clone(),
            balances,
            plan_ids: names.plans.clone(),
            plans,
            discounts,
            overrides,
            override_ids,
            partners,
            partner_ids,
            taxes,
            tax_ids,
            units: names.units.clone(),
            thresholds,
        }
    }

    fn identifier(&mut self, name: &Name, what: &str) {
        let n = name.get_ref();
        let ok = !n.is_empty()
            && n.len() <= crate::event::ID_BYTES_MAX
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !ok {
            self.error(name.span(), format!("{what} name {n:?} must be letters, digits, '_', '-' or '.'"));
        }
    }

    fn currency(&mut self, code: &Name) -> Currency {
        Currency::parse(code.get_ref()).unwrap_or_else(|| {
            self.error(
                code.span(),
                format!("currency {:?} is not a three-letter ISO 4217 code such as EUR", code.get_ref()),
            );
            Currency::parse("XXX").unwrap_or_else(|| unreachable!("XXX is a currency code"))
        })
    }

    fn rounding(&mut self, spec: Option<&Spanned<RoundingSpec>>, default: Rounding) -> Rounding {
        let Some(spec) = spec else { return default };
        let r = spec.get_ref();
        if r.decimals > TARIFF_DECIMALS_MAX {
            self.error(spec.span(), format!("rounding.decimals is {}; at most {TARIFF_DECIMALS_MAX}", r.decimals));
        }
        Rounding { decimals: r.decimals.min(TARIFF_DECIMALS_MAX), mode: r.mode, at: r.at }
    }

    fn non_negative(&mut self, a: &Spanned<Amount>, what: &str) -> Decimal {
        let v = a.get_ref().0;
        if v.is_sign_negative() && !v.is_zero() {
            self.error(a.span(), format!("{what} is {v}; it must not be negative"));
        }
        self.bounded(a, what)
    }

    fn positive(&mut self, a: &Spanned<Amount>, what: &str) -> Decimal {
        let v = a.get_ref().0;
        if v <= Decimal::ZERO {
            self.error(a.span(), format!("{what} is {v}; it must be greater than zero"));
        }
        self.bounded(a, what)
    }

    /// Every number of a catalog is within [`AMOUNT_MAX`], so that no charge
    /// built from it can overflow (see `money`).
    fn bounded(&mut self, a: &Spanned<Amount>, what: &str) -> Decimal {
        let v = a.get_ref().0;
        if v.abs() > AMOUNT_MAX {
            self.error(a.span(), format!("{what} is {v}; it may be at most {AMOUNT_MAX}"));
        }
        v
    }

    /// The highest price per unit of quantity a rate charges is within
    /// [`UNIT_PRICE_MAX`].
    fn unit_price(&mut self, model: &Model, rate_unit: Decimal, span: Range<usize>, context: &str) {
        let (price, per) = match model {
            Model::Flat(p) | Model::PerDevice { price: p, .. } => (*p, rate_unit),
            Model::Banded { prices, .. } => (prices.iter().copied().max().unwrap_or_default(), rate_unit),
            Model::Graduated(tiers) | Model::Volume(tiers) => {
                (tiers.iter().map(|t| t.price).max().unwrap_or_default(), rate_unit)
            }
            Model::Package { size, price } => (*price, *size),
            Model::Percentage(_) => return,
        };
        if per <= Decimal::ZERO {
            return; // Reported where the unit or size was read.
        }
        if price.checked_div(per).is_none_or(|unit| unit > UNIT_PRICE_MAX) {
            self.error(
                span,
                format!(
                    "{context}: a price of {price} per {per} units charges more than {UNIT_PRICE_MAX} per unit; \
                     use a larger rate_unit (or package_size) or a smaller price"
                ),
            );
        }
    }

    fn percent(&mut self, a: &Spanned<Amount>, what: &str) -> Decimal {
        let v = a.get_ref().0;
        if v < Decimal::ZERO || v > Decimal::ONE_HUNDRED {
            self.error(a.span(), format!("{what}: percent {v} is outside 0 to 100"));
        }
        v
    }

    fn date(&mut self, d: &Spanned<toml::value::Datetime>) -> Option<NaiveDate> {
        let v = d.get_ref();
        let date = match (v.date, v.time) {
            (Some(date), None) => {
                NaiveDate::from_ymd_opt(i32::from(date.year), u32::from(date.month), u32::from(date.day))
            }
            _ => None,
        };
        if date.is_none() {
            self.error(d.span(), format!("{v} is not a plain date such as 2026-11-01"));
        }
        date
    }

    fn window(&mut self, from: Option<NaiveDate>, to: Option<NaiveDate>, span: Option<Range<usize>>, what: &str) {
        if let (Some(from), Some(to), Some(span)) = (from, to, span)
            && to <= from
        {
            self.error(span, format!("{what}: valid_to {to} is not after valid_from {from}"));
        }
    }

    fn lookup<T: Copy>(&mut self, map: &HashMap<String, T>, name: &Name, what: &str) -> Option<T> {
        let found = map.get(name.get_ref()).copied();
        if found.is_none() {
            let mut known: Vec<&str> = map.keys().map(String::as_str).collect();
            known.sort_unstable();
            let known =
                if known.is_empty() { "none are defined".to_string() } else { format!("known: {}", known.join(", ")) };
            self.error(name.span(), format!("unknown {what} {:?} ({known})", name.get_ref()));
        }
        found
    }

    fn service_list(&mut self, list: &[Name], names: &Names) -> Vec<ServiceId> {
        list.iter().filter_map(|n| self.lookup(&names.services, n, "service")).collect()
    }

    fn calendars(&mut self, file: &CatalogFile) -> HashMap<String, HashSet<NaiveDate>> {
        let mut calendars = HashMap::new();
        for (name, spec) in &file.calendars {
            self.identifier(name, "calendar");
            let dates = spec.holidays.iter().filter_map(|d| self.date(d)).collect();
            calendars.insert(name.get_ref().clone(), dates);
        }
        calendars
    }

    fn schedules(
        &mut self,
        file: &CatalogFile,
        calendars: &HashMap<String, HashSet<NaiveDate>>,
        names: &mut Names,
    ) -> Vec<Schedule> {
        let mut schedules = Vec::new();
        for (name, spec) in &file.schedules {
            self.identifier(name, "schedule");
            let schedule = self.schedule(name, spec, calendars);
            names.schedules.insert(name.get_ref().clone(), id32(schedules.len()));
            names.schedule_bands.push(schedule.bands.clone());
            schedules.push(schedule);
        }
        schedules
    }

    fn schedule(
        &mut self,
        name: &Name,
        spec: &ScheduleSpec,
        calendars: &HashMap<String, HashSet<NaiveDate>>,
    ) -> Schedule {
        let sname = name.get_ref();
        let mut ranges: [Vec<BandRange>; DAY_TYPES] = Default::default();
        let mut bands = Vec::new();
        for (band_id, (band_name, band)) in spec.bands.iter().enumerate() {
            let band_id = u16::try_from(band_id).unwrap_or(u16::MAX);
            bands.push(band_name.get_ref().clone());
            let days = self.day_types(sname, band_name.get_ref(), band);
            for hours in &band.hours {
                let Some((start, end)) = parse_hours(hours.get_ref()) else {
                    self.error(
                        hours.span(),
                        format!("schedule {sname}, band {}: {:?} is not a range such as \"08:00-20:00\" (end after start, at most 24:00)", band_name.get_ref(), hours.get_ref()),
                    );
                    continue;
                };
                for &d in &days {
                    ranges[d].push((start, end, band_id, hours.span()));
                }
            }
        }
        let holidays = match &spec.calendar {
            None => HashSet::new(),
            Some(cal) => {
                if ranges[HOLIDAY].is_empty() {
                    self.error(
                        cal.span(),
                        format!(
                            "schedule {sname} names calendar {:?} but no band has days = [\"holiday\"]",
                            cal.get_ref()
                        ),
                    );
                }
                match calendars.get(cal.get_ref()) {
                    Some(dates) => dates.clone(),
                    None => {
                        let known: HashMap<String, ()> = calendars.keys().map(|k| (k.clone(), ())).collect();
                        self.lookup(&known, cal, "calendar");
                        HashSet::new()
                    }
                }
            }
        };
        let mut days: [Vec<(u32, u16)>; DAY_TYPES] = Default::default();
        // (span, problem) -> day names, so that one mistake on five weekdays
        // is one message.
        let mut issues: Vec<(Range<usize>, String, Vec<&str>)> = Vec::new();
        let mut issue = |span: Range<usize>, problem: String, day: &'static str| match issues
            .iter_mut()
            .find(|(s, p, _)| s.start == span.start && *p == problem)
        {
            Some((_, _, list)) => list.push(day),
            None => issues.push((span, problem, vec![day])),
        };
        for (d, list) in ranges.iter_mut().enumerate() {
            if d == HOLIDAY && list.is_empty() {
                continue;
            }
            list.sort_by_key(|r| (r.0, r.1));
            let mut covered_to = 0u32;
            let mut last_span = name.span();
            for (start, end, band, span) in list.iter().cloned() {
                if start < covered_to {
                    issue(
                        span.clone(),
                        format!("{} overlaps another band", hhmm_range(start, end.min(covered_to))),
                        DAY_NAMES[d],
                    );
                } else if start > covered_to {
                    issue(
                        span.clone(),
                        format!("{} is not covered by any band", hhmm_range(covered_to, start)),
                        DAY_NAMES[d],
                    );
                }
                if end > covered_to {
                    days[d].push((start.max(covered_to), band));
                    covered_to = end;
                }
                last_span = span;
            }
            if covered_to < DAY_SECONDS {
                issue(
                    last_span,
                    format!("{} is not covered by any band", hhmm_range(covered_to, DAY_SECONDS)),
                    DAY_NAMES[d],
                );
            }
            if days[d].is_empty() {
                days[d].push((0, 0));
            }
        }
        for (span, problem, day_list) in issues {
            self.error(span, format!("schedule {sname}: {} {problem}", day_list.join(",")));
        }
        if days[HOLIDAY].is_empty() {
            days[HOLIDAY] = days[0].clone();
        }
        let mut holidays: Vec<NaiveDate> = holidays.into_iter().collect();
        holidays.sort_unstable();
        Schedule { name: sname.clone(), bands, days, holidays }
    }

    fn day_types(&mut self, schedule: &str, band: &str, spec: &BandSpec) -> Vec<usize> {
        let mut out = Vec::new();
        for day in &spec.days {
            match day.get_ref().as_str() {
                "weekdays" => out.extend(0..5),
                "weekend" => out.extend(5..7),
                "all" => out.extend(0..7),
                other => match DAY_NAMES.iter().position(|d| *d == other) {
                    Some(i) => out.push(i),
                    None => self.error(
                        day.span(),
                        format!("schedule {schedule}, band {band}: {other:?} is not a day (mon..sun, holiday, weekdays, weekend, all)"),
                    ),
                },
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn balances(&mut self, file: &CatalogFile, names: &mut Names) -> Vec<BalanceDef> {
        let mut out = vec![BalanceDef {
            name: Interned::new(MAIN_BALANCE_NAME),
            unit: None,
            unit_id: None,
            priority: u32::MAX,
            services: None,
            zones: None,
            expires: false,
            rollover_max: None,
        }];
        names.balances.insert(MAIN_BALANCE_NAME.to_string(), 0);
        for (name, spec) in &file.balances {
            let bname = name.get_ref();
            if bname == MAIN_BALANCE_NAME {
                self.error(
                    name.span(),
                    "balance main is built in (the account's money balance, drawn last); choose another name",
                );
                continue;
            }
            self.identifier(name, "balance");
            let unit = spec.unit.get_ref().trim();
            let unit = (unit != "money").then(|| unit.to_string());
            let services = spec.services.as_ref().map(|s| self.service_list(s, names));
            if let (Some(unit), Some(list)) = (&unit, &spec.services) {
                for s in list {
                    if let Some(&id) = names.services.get(s.get_ref()) {
                        let service_unit = &names.service_units[id as usize];
                        if service_unit != unit {
                            self.error(
                                s.span(),
                                format!(
                                    "balance {bname} counts {unit} but service {} is measured in {service_unit}",
                                    s.get_ref()
                                ),
                            );
                        }
                    }
                }
            }
            if let Some(unit) = &unit
                && !names.service_units.iter().any(|u| u == unit)
            {
                self.error(
                    spec.unit.span(),
                    format!("balance {bname}: no service is measured in {unit:?} (use \"money\" for a money balance)"),
                );
            }
            let zones = spec.zones.as_ref().map(|z| {
                z.iter()
                    .filter_map(|n| self.lookup(&names.zones, n, "zone"))
                    .map(|id| id as usize)
                    .collect::<FixedBitSet>()
            });
            let unit_id = unit.as_ref().map(|u| intern(&mut names.units, u));
            let expires = spec.expires.unwrap_or(unit.is_some());
            let rollover_max =
                spec.rollover_max.as_ref().map(|r| self.non_negative(r, &format!("balance {bname}: rollover_max")));
            if let (Some(r), false) = (&spec.rollover_max, expires) {
                self.error(r.span(), format!("balance {bname}: rollover_max needs a balance that expires"));
            }
            names.balances.insert(bname.clone(), id32(out.len()));
            out.push(BalanceDef {
                name: Interned::new(bname.as_str()),
                unit,
                unit_id,
                priority: spec.priority,
                services,
                zones,
                expires,
                rollover_max,
            });
        }
        out
    }

    fn plan(
        &mut self,
        name: &Name,
        spec: &PlanSpec,
        default_currency: Currency,
        rounding: Rounding,
        names: &Names,
    ) -> Plan {
        let pname = name.get_ref();
        let currency = spec.currency.as_ref().map_or(default_currency, |c| self.currency(c));
        let rounding = self.rounding(spec.rounding.as_ref(), rounding);
        if spec.versions.is_empty() {
            self.error(name.span(), format!("plan {pname} has no versions"));
        }
        let mut versions: Vec<PlanVersion> = Vec::new();
        for (n, v) in spec.versions.iter().enumerate() {
            let context = format!("plan {pname} version {}", n + 1);
            let Some(effective_from) = self.date(&v.effective_from) else { continue };
            if let Some(prev) = versions.last()
                && effective_from <= prev.effective_from
            {
                self.error(
                    v.effective_from.span(),
                    format!(
                        "{context}: effective_from {effective_from} is not after the previous version's {}",
                        prev.effective_from
                    ),
                );
            }
            let mut fee_ids = HashSet::new();
            let mut recurring = Vec::new();
            for fee in &v.recurring {
                if !fee_ids.insert(fee.id.get_ref().clone()) {
                    self.error(
                        fee.id.span(),
                        format!("{context}: recurring fee {:?} is listed twice", fee.id.get_ref()),
                    );
                }
                self.identifier(&fee.id, "recurring fee");
                let amount = self.non_negative(&fee.amount, &format!("{context}: recurring fee amount"));
                recurring.push(Recurring {
                    id: Interned::new(fee.id.get_ref().as_str()),
                    amount,
                    proration: fee.proration.unwrap_or(Proration::Daily),
                    rounding,
                });
            }
            let mut grants = Vec::new();
            for g in &v.grants {
                let amount = self.positive(&g.amount, &format!("{context}: grant amount"));
                if let Some(b) = self.lookup(&names.balances, &g.balance, "balance") {
                    if b == 0 {
                        self.error(
                            g.balance.span(),
                            format!("{context}: grants go to allowance or bonus balances, not main"),
                        );
                    }
                    grants.push((b, amount));
                }
            }
            let rates = self.rate_index(&v.rates, rounding, names, &context);
            versions.push(PlanVersion {
                effective_from,
                tariff_id: Interned::new(&format!("{pname}@{effective_from}")),
                recurring,
                grants,
                rates,
            });
        }
        Plan { id: Interned::new(pname.as_str()), currency, versions }
    }

    fn rate_index(&mut self, specs: &[RateSpec], rounding: Rounding, names: &Names, context: &str) -> RateIndex {
        let mut index = RateIndex::new(names.service_count, names.zone_count as usize);
        for spec in specs {
            let Some(service) = self.lookup(&names.services, &spec.service, "service") else { continue };
            let zone = match &spec.zone {
                None => None,
                Some(z) => match self.lookup(&names.zones, z, "zone") {
                    Some(z) => Some(z),
                    None => continue,
                },
            };
            let where_ = format!(
                "{context}, rate {}{}",
                spec.service.get_ref(),
                spec.zone.as_ref().map(|z| format!("/{}", z.get_ref())).unwrap_or_default()
            );
            let Some(rate) = self.rate(spec, rounding, names, service, zone, &where_) else { continue };
            if !index.insert(service, zone, rate) {
                self.error(
                    spec.service.span(),
                    format!("{where_}: a rate for this service and zone is already defined"),
                );
            }
        }
        index
    }

    fn rate(
        &mut self,
        spec: &RateSpec,
        rounding: Rounding,
        names: &Names,
        service: ServiceId,
        zone: Option<ZoneId>,
        context: &str,
    ) -> Option<Rate> {
        let model_name = *spec.model.get_ref();
        let unit = names.service_units[service as usize].as_str();
        // Which optional fields each model reads; any other is a mistake.
        let used: &[&str] = match model_name {
            ModelName::PerUnit => {
                &["price", "schedule", "band_prices", "rate_unit", "increments", "connect_fee", "minimum", "maximum"]
            }
            ModelName::Graduated | ModelName::Volume => {
                &["tiers", "rate_unit", "increments", "connect_fee", "minimum", "maximum"]
            }
            ModelName::Package => &["price", "package_size", "increments"],
            ModelName::Percentage => &["percent", "connect_fee", "minimum", "maximum"],
            ModelName::PerDevice => &["price", "per"],
        };
        let present: [(&str, Option<Range<usize>>); 11] = [
            ("price", spec.price.as_ref().map(Spanned::span)),
            ("schedule", spec.schedule.as_ref().map(Spanned::span)),
            ("band_prices", spec.band_prices.as_ref().and_then(|b| b.keys().next().map(Spanned::span))),
            ("rate_unit", spec.rate_unit.as_ref().map(Spanned::span)),
            ("increments", spec.increments.as_ref().map(Spanned::span)),
            ("connect_fee", spec.connect_fee.as_ref().map(Spanned::span)),
            ("minimum", spec.minimum.as_ref().map(Spanned::span)),
            ("maximum", spec.maximum.as_ref().map(Spanned::span)),
            ("tiers", spec.tiers.as_ref().and_then(|t| t.first().map(|t| t.price.span()))),
            ("package_size", spec.package_size.as_ref().map(Spanned::span)),
            ("percent", spec.percent.as_ref().map(Spanned::span)),
        ];
        for (field, span) in present {
            if let (Some(span), false) = (span, used.contains(&field)) {
                self.error(span, format!("{context}: {field} is not used by model {}", model_label(model_name)));
            }
        }
        if let (Some(per), false) = (&spec.per, model_name == ModelName::PerDevice) {
            self.error(per.span(), format!("{context}: per is not used by model {}", model_label(model_name)));
        }
        let required = |c: &mut Self, value: Option<&Spanned<Amount>>, field: &str| -> Option<Decimal> {
            match value {
                Some(v) => Some(c.non_negative(v, &format!("{context}: {field}"))),
                None => {
                    c.error(spec.model.span(), format!("{context}: model {} needs {field}", model_label(model_name)));
                    None
                }
            }
        };
        let model = match model_name {
            ModelName::PerUnit => match (&spec.price, &spec.schedule, &spec.band_prices) {
                (Some(p), None, None) => Model::Flat(self.non_negative(p, &format!("{context}: price"))),
                (None, Some(schedule), Some(prices)) => self.banded(schedule, prices, names, context)?,
                _ => {
                    self.error(
                        spec.model.span(),
                        format!("{context}: per_unit needs either price, or schedule with band_prices"),
                    );
                    return None;
                }
            },
            ModelName::Graduated | ModelName::Volume => {
                let tiers = self.tiers(spec, context)?;
                if model_name == ModelName::Graduated { Model::Graduated(tiers) } else { Model::Volume(tiers) }
            }
            ModelName::Package => Model::Package {
                size: match &spec.package_size {
                    Some(s) => self.positive(s, &format!("{context}: package_size")),
                    None => required(self, None, "package_size")?,
                },
                price: required(self, spec.price.as_ref(), "price")?,
            },
            ModelName::Percentage => {
                if unit != "money" {
                    self.error(
                        spec.service.span(),
                        format!("{context}: percentage rates need a service measured in money, not {unit}"),
                    );
                }
                let percent = spec.percent.as_ref().map(|p| self.percent(p, context));
                Model::Percentage(percent.or_else(|| required(self, None, "percent"))?)
            }
            ModelName::PerDevice => {
                let Some(per) = &spec.per else {
                    self.error(
                        spec.model.span(),
                        format!("{context}: model per_device needs per = \"day\" or \"month\""),
                    );
                    return None;
                };
                Model::PerDevice { per: *per.get_ref(), price: required(self, spec.price.as_ref(), "price")? }
            }
        };
        let rate_unit =
            spec.rate_unit.as_ref().map_or(Decimal::ONE, |r| self.positive(r, &format!("{context}: rate_unit")));
        let increments = match &spec.increments {
            None => None,
            Some(inc) => match inc.get_ref().as_slice() {
                [first, next]
                    if first.0 > Decimal::ZERO
                        && next.0 > Decimal::ZERO
                        && first.0 <= QUANTITY_MAX
                        && next.0 <= QUANTITY_MAX =>
                {
                    Some((first.0, next.0))
                }
                _ => {
                    self.error(
                        inc.span(),
                        format!(
                            "{context}: increments must be two positive numbers [first, next] of at most \
                             {QUANTITY_MAX}, such as [60, 1]"
                        ),
                    );
                    None
                }
            },
        };
        self.unit_price(&model, rate_unit, spec.model.span(), context);
        let rounding = self.rounding(spec.rounding.as_ref(), rounding);
        if rounding.at == crate::money::RoundAt::Increment && (increments.is_none() || model_name != ModelName::PerUnit)
        {
            let span = spec.rounding.as_ref().map_or(spec.model.span(), Spanned::span);
            self.error(span, format!("{context}: rounding at = \"increment\" needs a per_unit rate with increments"));
        }
        let amount = |c: &mut Self, v: &Option<Spanned<Amount>>, field: &str| {
            v.as_ref().map(|v| c.non_negative(v, &format!("{context}: {field}")))
        };
        let minimum = amount(self, &spec.minimum, "minimum");
        let maximum = amount(self, &spec.maximum, "maximum");
        if let (Some(min), Some(max), Some(span)) = (minimum, maximum, spec.maximum.as_ref().map(Spanned::span))
            && max < min
        {
            self.error(span, format!("{context}: maximum {max} is below minimum {min}"));
        }
        Some(Rate {
            model,
            rate_unit,
            increments,
            connect_fee: amount(self, &spec.connect_fee, "connect_fee").unwrap_or_default(),
            minimum,
            maximum,
            rounding,
            counter: service * (names.zone_count + 1) + zone.map_or(0, |z| z + 1),
        })
    }

    fn banded(
        &mut self,
        schedule: &Name,
        prices: &BTreeMap<Name, Spanned<Amount>>,
        names: &Names,
        context: &str,
    ) -> Option<Model> {
        let id = self.lookup(&names.schedules, schedule, "schedule")?;
        let bands = &names.schedule_bands[id as usize];
        let mut by_band = vec![None; bands.len()];
        for (band, price) in prices {
            match bands.iter().position(|b| b == band.get_ref()) {
                Some(i) => by_band[i] = Some(self.non_negative(price, &format!("{context}: band price"))),
                None => self.error(
                    band.span(),
                    format!(
                        "{context}: schedule {} has no band {:?} (bands: {})",
                        schedule.get_ref(),
                        band.get_ref(),
                        bands.join(", ")
                    ),
                ),
            }
        }
        let missing: Vec<&str> =
            bands.iter().zip(&by_band).filter(|(_, p)| p.is_none()).map(|(b, _)| b.as_str()).collect();
        if !missing.is_empty() {
            self.error(schedule.span(), format!("{context}: band_prices has no price for band {}", missing.join(", ")));
            return None;
        }
        Some(Model::Banded { schedule: id, prices: by_band.into_iter().map(Option::unwrap_or_default).collect() })
    }

    fn tiers(&mut self, spec: &RateSpec, context: &str) -> Option<Vec<Tier>> {
        let Some(list) = spec.tiers.as_ref().filter(|t| !t.is_empty()) else {
            self.error(spec.model.span(), format!("{context}: tiered models need tiers"));
            return None;
        };
        let mut tiers = Vec::with_capacity(list.len());
        let mut previous = Decimal::ZERO;
        for (i, t) in list.iter().enumerate() {
            let last = i + 1 == list.len();
            let price = self.non_negative(&t.price, &format!("{context}: tier price"));
            let up_to = match (&t.up_to, last) {
                (Some(u), false) => {
                    let v = u.get_ref().0;
                    if v <= previous {
                        self.error(u.span(), format!("{context}: tier {} up_to {v} is not above the previous bound {previous}; tiers must be in increasing order", i + 1));
                    }
                    previous = v;
                    Some(v)
                }
                (None, false) => {
                    self.error(
                        t.price.span(),
                        format!("{context}: tier {} needs up_to (only the last tier is open-ended)", i + 1),
                    );
                    None
                }
                (Some(u), true) => {
                    self.error(u.span(), format!("{context}: the last tier must be open-ended (no up_to)"));
                    None
                }
                (None, true) => None,
            };
            tiers.push(Tier { up_to, price });
        }
        Some(tiers)
    }

    fn discounts(&mut self, file: &CatalogFile, names: &Names) -> Vec<Discount> {
        let mut ids = HashSet::new();
        let mut out = Vec::new();
        for spec in &file.discounts {
            let context = format!("discount {}", spec.id.get_ref());
            self.identifier(&spec.id, "discount");
            if !ids.insert(spec.id.get_ref().clone()) {
                self.error(spec.id.span(), format!("{context} is defined twice"));
            }
            let off = match (&spec.percent, &spec.amount) {
                (Some(p), None) => DiscountOff::Percent(self.percent(p, &context) / Decimal::ONE_HUNDRED),
                (None, Some(a)) => DiscountOff::FixedPerPeriod(self.positive(a, &format!("{context}: amount"))),
                _ => {
                    self.error(spec.id.span(), format!("{context}: give exactly one of percent or amount"));
                    continue;
                }
            };
            let valid_from = spec.valid_from.as_ref().and_then(|d| self.date(d));
            let valid_to = spec.valid_to.as_ref().and_then(|d| self.date(d));
            self.window(valid_from, valid_to, spec.valid_to.as_ref().map(Spanned::span), &context);
            out.push(Discount {
                id: Interned::new(spec.id.get_ref().as_str()),
                off,
                services: spec.services.as_ref().map(|s| self.service_list(s, names)),
                recurring: spec.recurring,
                plans: spec
                    .plans
                    .as_ref()
                    .map(|p| p.iter().filter_map(|n| self.lookup(&names.plans, n, "plan")).collect()),
                segments: spec.segments.as_ref().map(|s| s.iter().map(|n| n.get_ref().clone()).collect()),
                accounts: spec.accounts.as_ref().map(|s| s.iter().map(|n| n.get_ref().clone()).collect()),
                valid_from,
                valid_to,
            });
        }
        out
    }
}

/// A band's hours on one day type: (start second, end second, band, where
/// in the file).
type BandRange = (u32, u32, u16, Range<usize>);

const DAY_NAMES: [&str; DAY_TYPES] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"];

fn model_label(m: ModelName) -> &'static str {
    match m {
        ModelName::PerUnit => "per_unit",
        ModelName::Graduated => "graduated",
        ModelName::Volume => "volume",
        ModelName::Package => "package",
        ModelName::Percentage => "percentage",
        ModelName::PerDevice => "per_device",
    }
}

/// The index of `unit` in `units`, added if new.
fn intern(units: &mut Vec<String>, unit: &str) -> u32 {
    match units.iter().position(|u| u == unit) {
        Some(i) => id32(i),
        None => {
            units.push(unit.to_string());
            id32(units.len() - 1)
        }
    }
}

fn id32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Parses `HH:MM-HH:MM` into seconds of day, end exclusive, `24:00` allowed.
fn parse_hours(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    let (start, end) = (parse_hhmm(a.trim())?, parse_hhmm(b.trim())?);
    (start < end && end <= DAY_SECONDS).then_some((start, end))
}

fn parse_hhmm(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 3600 + m * 60)
}

fn hhmm_range(start: u32, end: u32) -> String {
    format!("{:02}:{:02}-{:02}:{:02}", start / 3600, start % 3600 / 60, end / 3600, end % 3600 / 60)
}
