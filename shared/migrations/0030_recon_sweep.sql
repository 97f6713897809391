-- Reconciliation without a bill (shared/src/recon/sweep.rs): a provider that offers no bill or
-- settlement download (LINE Pay) is reconciled by a query sweep, a batch of kind 'sweep' whose
-- lines are the provider's answers to a query of each payment and refund we finished that day.
ALTER TABLE recon_batches DROP CONSTRAINT recon_batches_kind_known;
ALTER TABLE recon_batches ADD CONSTRAINT recon_batches_kind_known
    CHECK (kind IN ('trade', 'settlement', 'sweep'));
