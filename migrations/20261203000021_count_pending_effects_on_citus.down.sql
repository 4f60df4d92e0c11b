-- Nothing to undo: the counts this migration set are what the store keeps
-- from here, and migration 20's rollback drops them with their columns.
-- An older binary on Citus neither moves nor reads them.
SET LOCAL ROLE pplane_owner;
