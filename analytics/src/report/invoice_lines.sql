-- invoice_lines: one line per account, period, currency, kind, service and
-- plan of the charges an invoice bills (usage, recurring fees, adjustments).
--
-- The sums are exact (ten places, as the ledger keeps them). line_net and
-- line_tax round each line's sum to the cent, half away from zero; line_total
-- is their sum. A tariff that rounds per event or per increment to cents
-- booked amounts that are already whole cents, so rounding their line
-- changes nothing; a tariff that rounds at the invoice line booked them at
-- ten places, and this is where they are rounded (docs/reports.md).
select
    account,
    period,
    currency,
    kind,
    service,
    coalesce(split_part(tariff, '@', 1), '') as plan,
    count(*) as records,
    sum(quantity) as quantity,
    sum(rated_quantity) as rated_quantity,
    sum(allowance_quantity) as allowance_quantity,
    sum(charge) as charge,
    sum(discount) as discount,
    sum(net) as net,
    sum(tax) as tax,
    sum(gross) as gross,
    round(sum(net), 2) as line_net,
    round(sum(tax), 2) as line_tax,
    round(sum(net), 2) + round(sum(tax), 2) as line_total
from rated
where kind in ('usage', 'recurring', 'adjustment')
group by account, period, currency, kind, service, coalesce(split_part(tariff, '@', 1), '')
