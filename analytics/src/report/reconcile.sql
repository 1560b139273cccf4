-- reconcile: every check of `ratewire report reconcile`, one row each, with
-- what was expected, what was found, the tolerance and whether it holds.
--
-- 1. Events consumed (the source offsets the manifests cover) = events
--    rated (distinct event ids of records that are not generated: fees,
--    grants and expiries come with the event that triggered them) + events
--    rejected.
-- 2. The manifests' ledger totals = the sums of the files they list, per
--    table and column.
-- 3. The manifests' gross = invoiced gross + the gross of records no
--    invoice bills (payments, top-ups, ...).
-- 4. Each invoice's total = its exact gross, within the line rounding: at
--    most one cent per line (half a cent on its net and on its tax).
with events as (
    select
        (select coalesce(sum(to_offset - from_offset), 0) from ledger_offsets) as consumed,
        (select count(distinct event_id) from rated where kind not in ('recurring', 'grant', 'expiry')) as rated_events,
        (select count(*) from rejects) as rejected_events
),
files as (
    select 'rated' as table_name, 'rows' as measure, cast(count(*) as decimal(38, 10)) as value from rated
    union all select 'rated', 'gross', coalesce(sum(gross), 0) from rated
    union all select 'rated', 'net', coalesce(sum(net), 0) from rated
    union all select 'rated', 'tax', coalesce(sum(tax), 0) from rated
    union all select 'draws', 'rows', cast(count(*) as decimal(38, 10)) from draws
    union all select 'draws', 'amount', coalesce(sum(amount), 0) from draws
    union all select 'rejects', 'rows', cast(count(*) as decimal(38, 10)) from rejects
    union all select 'facts', 'rows', cast(count(*) as decimal(38, 10)) from facts
    union all select 'facts', 'amount', coalesce(sum(amount), 0) from facts
),
invoiced as (
    select coalesce(sum(gross), 0) as gross from invoices
),
not_invoiced as (
    select coalesce(sum(gross), 0) as gross from rated where kind not in ('usage', 'recurring', 'adjustment')
),
checks as (
    select
        1 as check_order,
        'events consumed = rated + rejected' as check_name,
        'all sources' as subject,
        cast(consumed as decimal(38, 10)) as expected,
        cast(rated_events + rejected_events as decimal(38, 10)) as actual,
        cast(0 as decimal(38, 10)) as tolerance
    from events
    union all
    select
        2,
        'ledger totals = files',
        m.table_name || '.' || m.measure,
        m.value,
        coalesce(f.value, cast(0 as decimal(38, 10))),
        cast(0 as decimal(38, 10))
    from ledger_totals m
    left join files f on f.table_name = m.table_name and f.measure = m.measure
    union all
    select
        3,
        'ledger gross = invoiced + not invoiced',
        'rated.gross',
        m.value,
        cast(i.gross + o.gross as decimal(38, 10)),
        cast(0 as decimal(38, 10))
    from ledger_totals m
    cross join invoiced i
    cross join not_invoiced o
    where m.table_name = 'rated' and m.measure = 'gross'
    union all
    select
        4,
        'invoice total = gross to the cent',
        account || ' ' || period || ' ' || currency,
        gross,
        cast(total as decimal(38, 10)),
        cast(0.01 as decimal(38, 10)) * lines
    from invoices
)
select
    check_order,
    check_name,
    subject,
    expected,
    actual,
    actual - expected as difference,
    tolerance,
    abs(actual - expected) <= tolerance as ok
from checks
