-- A receipt's reference (the bank's or the PSP's transaction reference) is recorded once per
-- payment record: the same receipt posted twice is refused, not counted twice. Receipts that
-- already share a reference keep it with their id appended, so the rule can hold.
UPDATE payment_receipts r SET reference = r.reference || ' (#' || r.id || ')'
WHERE r.reference IS NOT NULL AND EXISTS (
    SELECT 1 FROM payment_receipts o
    WHERE o.payment_id = r.payment_id AND o.reference = r.reference
      AND (o.received_at, o.id) < (r.received_at, r.id)
);
CREATE UNIQUE INDEX payment_receipts_reference ON payment_receipts (payment_id, reference)
    WHERE reference IS NOT NULL;
