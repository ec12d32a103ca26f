-- Automatic resumption (issue 14): an attempt that ended without finishing (its replica was lost, its
-- lease expired, the service shut down past its grace) is queued again under the same operation id; the
-- next attempt may not start before `resume_after` (its back-off).
ALTER TABLE operations ADD COLUMN resume_after timestamptz;

-- A hub update waiting to resume is still `queued`; it must not stop a fresh one being queued (nor the other
-- way round): coalescing stays one fresh queued hub update per hub stack, and joiners take the oldest queued.
DROP INDEX operations_one_queued_hub_update;
CREATE UNIQUE INDEX operations_one_queued_hub_update ON operations (provider)
  WHERE status = 'queued' AND intent = 'hub-update' AND attempt = 0;
