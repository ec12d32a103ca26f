-- The simulated engine records `retainOnDelete`, so a destroy can say which resources stay in the cloud
-- (removed from the stack only), as a real Pulumi destroy does.
ALTER TABLE simulated_resources ADD COLUMN retain_on_delete boolean NOT NULL DEFAULT false;
