-- Money the provider gave back on a receipt (Stripe's refunds): the receipt keeps what was
-- refunded in all, and the payment record's amount paid goes down by it. `charged` is what
-- the provider took when it was more than was owed (the receipt counts only what was owed):
-- refunding that excess first leaves the debt paid.
ALTER TABLE payment_receipts ADD COLUMN refunded numeric(14, 2) NOT NULL DEFAULT 0
    CHECK (refunded >= 0 AND refunded <= amount);
ALTER TABLE payment_receipts ADD COLUMN charged numeric(14, 2) CHECK (charged >= amount);
