-- invoices: one invoice per account, period (calendar month on the
-- account's clock) and currency: the sums of its invoice_lines.
--
-- gross is the exact sum of what the ledger booked; total is the sum of the
-- rounded line totals, what the customer is billed; rounding is the
-- difference.
select
    account,
    period,
    currency,
    count(*) as lines,
    sum(records) as records,
    sum(charge) as charge,
    sum(discount) as discount,
    sum(net) as net,
    sum(tax) as tax,
    sum(gross) as gross,
    sum(line_net) as total_net,
    sum(line_tax) as total_tax,
    sum(line_total) as total,
    sum(line_total) - sum(gross) as rounding
from invoice_lines
group by account, period, currency
