-- Payment records found by part of their invoice number (`GET /payments?q=`).
CREATE INDEX payments_invoice_search ON payments USING gin (lower(invoice_number) public.gin_trgm_ops);
