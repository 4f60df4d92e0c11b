-- Run checkpoints that retention has pruned: the row stays, its state goes.
--
-- Why: every checkpoint_save is a new row carrying the agent's whole state
-- (up to 1 MiB), and nothing removed them, so a long run's superseded
-- states grew its tenant's storage without bound. The scheduled
-- `checkpoint-prune` job (and `pplane checkpoints prune`) now drops the
-- state of a run's checkpoints beyond the newest N, or written before a
-- retention, and records each as CHECKPOINT_DELETED.
--
-- Why the row is not deleted: its CHECKPOINT_SAVED event names it as its
-- aggregate, and the event log is append-only, so the data gate's "every
-- event's aggregate exists" must keep finding it; trace and diagnose show
-- where a run's checkpoints were. What grows is the state; the row left
-- behind is about the size of the event that recorded it.
--
-- A run's newest checkpoint is never pruned (a resume loads it), and the
-- run checkpoints of LangGraph threads are not pruned here: their state is
-- a pointer, and LangGraph's documents are pruned by thread.
SET LOCAL ROLE pplane_owner;

-- Inside DO, as in migrations 17 and 20: on Citus a DDL statement's own
-- text is sent to the workers, and at the top level that text is the
-- whole file. One change a statement.
--
-- The CHECK says a checkpoint has its state or says when it lost it, never
-- both or neither. Every existing row has its state (the column was NOT
-- NULL) and no pruned_at, so the scan that validating would make under
-- the ALTER's exclusive lock proves nothing: NOT VALID, and rows written
-- from now on are checked.
DO $columns$
BEGIN
    ALTER TABLE run_checkpoints ALTER COLUMN state DROP NOT NULL;
    ALTER TABLE run_checkpoints ADD COLUMN pruned_at timestamptz;
    ALTER TABLE run_checkpoints ADD CONSTRAINT run_checkpoints_pruned_state
        CHECK ((state IS NULL) = (pruned_at IS NOT NULL)) NOT VALID;
END
$columns$;
