-- receivables: per account and currency, what its invoices charged against
-- what it paid, and what is still open by age, as of a date.
--
-- A period's invoice (its total) falls due on the first day of the next
-- month; payments (facts of kind 'payment' up to the as-of date) settle the
-- oldest invoices first. An open amount is current until its due date, then
-- ages by the days past it: 1-30, 31-60, 61-90, over 90. Invoices of periods
-- that start after the as-of date are left out.
--
-- The as_of query below gives one row with one column, as_of (a date): the
-- view's is the last day with data; `ratewire report receivables --as-of
-- DATE` puts that date in its place.
with as_of as (
    {as_of}
),
charges as (
    select
        i.account,
        i.currency,
        i.period,
        cast(i.total as decimal(38, 10)) as amount,
        cast(i.period || '-01' as date) + interval '1 month' as due
    from invoices i
    cross join as_of a
    where cast(i.period || '-01' as date) <= a.as_of
),
payments as (
    select f.account, f.currency, sum(f.amount) as paid
    from facts f
    cross join as_of a
    where f.kind = 'payment' and f.day <= a.as_of
    group by f.account, f.currency
),
running as (
    select
        c.account,
        c.currency,
        c.due,
        c.amount,
        sum(c.amount) over (
            partition by c.account, c.currency order by c.period rows between unbounded preceding and current row
        ) as through,
        coalesce(p.paid, cast(0 as decimal(38, 10))) as paid
    from charges c
    left join payments p on p.account = c.account and p.currency = c.currency
),
open_items as (
    select
        r.account,
        r.currency,
        r.amount,
        -- What payments left of this invoice, oldest settled first.
        greatest(least(r.amount, r.through - r.paid), cast(0 as decimal(38, 10))) as outstanding,
        cast(a.as_of as int) - cast(r.due as int) as days_late
    from running r
    cross join as_of a
),
aged as (
    select
        account,
        currency,
        sum(amount) as charges,
        sum(case when days_late <= 0 then outstanding else cast(0 as decimal(38, 10)) end) as age_current,
        sum(case when days_late between 1 and 30 then outstanding else cast(0 as decimal(38, 10)) end) as age_1_30,
        sum(case when days_late between 31 and 60 then outstanding else cast(0 as decimal(38, 10)) end) as age_31_60,
        sum(case when days_late between 61 and 90 then outstanding else cast(0 as decimal(38, 10)) end) as age_61_90,
        sum(case when days_late > 90 then outstanding else cast(0 as decimal(38, 10)) end) as age_over_90
    from open_items
    group by account, currency
)
select
    coalesce(g.account, p.account) as account,
    coalesce(g.currency, p.currency) as currency,
    a.as_of,
    coalesce(g.charges, 0) as charges,
    coalesce(p.paid, 0) as payments,
    coalesce(g.charges, 0) - coalesce(p.paid, 0) as balance,
    coalesce(g.age_current, 0) as age_current,
    coalesce(g.age_1_30, 0) as age_1_30,
    coalesce(g.age_31_60, 0) as age_31_60,
    coalesce(g.age_61_90, 0) as age_61_90,
    coalesce(g.age_over_90, 0) as age_over_90
from aged g
full join payments p on p.account = g.account and p.currency = g.currency
cross join as_of a
