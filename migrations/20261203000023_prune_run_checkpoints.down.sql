-- Pruned checkpoints cannot get their state back: they keep JSON null as
-- their state (their CHECKPOINT_DELETED events say why), so that the
-- column can be NOT NULL again.
--
-- All of it as the login that migrates, which sees every tenant's rows (the
-- owner's policies would hide them from the UPDATE), and may alter the
-- owner's table. One user for the whole transaction: Citus refuses DDL on
-- shards another user modified in the same transaction. Inside DO, as the
-- up migration (Citus sends a DDL statement's text to the workers).
DO $columns$
BEGIN
    UPDATE run_checkpoints SET state = 'null'::jsonb WHERE state IS NULL;
    ALTER TABLE run_checkpoints DROP CONSTRAINT run_checkpoints_pruned_state;
    ALTER TABLE run_checkpoints DROP COLUMN pruned_at;
    ALTER TABLE run_checkpoints ALTER COLUMN state SET NOT NULL;
END
$columns$;
