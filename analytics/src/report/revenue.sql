-- revenue: usage and recurring fees (no payments, top-ups or adjustments)
-- by period, day, product (service and plan), partner, region (the
-- account's tax region, null without --accounts) and currency. Exact sums.
select
    r.period,
    r.day,
    r.service,
    coalesce(split_part(r.tariff, '@', 1), '') as plan,
    r.partner,
    a.tax_region as region,
    r.currency,
    count(*) as records,
    sum(r.charge) as charge,
    sum(r.discount) as discount,
    sum(r.net) as net,
    sum(r.tax) as tax,
    sum(r.gross) as gross,
    sum(r.partner_share) as partner_share
from rated r
left join accounts a on a.account = r.account
where r.kind in ('usage', 'recurring')
group by r.period, r.day, r.service, coalesce(split_part(r.tariff, '@', 1), ''), r.partner, a.tax_region, r.currency
