-- LangGraph threads, checkpoints, channel blobs and pending writes: what a
-- LangGraph checkpointer (`pplane-langgraph`'s PplaneSaver, through
-- `pplane serve`) stores, under the same rules as every other table.
--
-- The mapping (docs/langgraph.md): a LangGraph thread is one run of the
-- plane. Its first checkpoint ingests a signal on channel `langgraph` whose
-- source id is the thread id (so two first checkpoints racing make one run,
-- by the signal's idempotency key) and starts that run; langgraph_threads
-- then maps the thread to its run, and every later write finds it by key.
-- Each stored checkpoint is also a run checkpoint (run_checkpoints, with its
-- CHECKPOINT_SAVED event), so trace, diagnose and the data gate see threads
-- as they see runs; the row here carries LangGraph's own document.
--
-- The shapes follow LangGraph's checkpoint contract and were checked with a
-- prototype against its conformance suite before this migration was written:
-- * channel values are stored once per (channel, version), not per
--   checkpoint: a super-step changes a few channels, and a checkpoint names
--   the versions it sees in checkpoint->'channel_versions';
-- * pending writes are keyed by (checkpoint, task, index), so a task's
--   writes stored twice are stored once. They carry no foreign key to their
--   checkpoint: with asynchronous durability LangGraph may store a task's
--   writes before the checkpoint's own put has landed.
-- * LangGraph's own keys are text (thread ids are any string, checkpoint ids
--   sortable UUIDv6 strings), bounded so no caller stores a megabyte key, and
--   unique per tenant; as everywhere in the plane, the primary key is
--   (tenant_id, id) with a UUIDv7 from the application. A thread's id is its
--   run's id.
--
-- Rows are deleted (delete_thread, delete_for_runs, prune): the history of
-- what happened stays in the event log and in run_checkpoints; these tables
-- hold the documents, which are what grows.
SET LOCAL ROLE pplane_owner;

CREATE TABLE langgraph_threads (
    tenant_id  uuid         NOT NULL,
    -- The thread's run.
    id         uuid         NOT NULL,
    thread_id  varchar(255) NOT NULL,
    created_at timestamptz  NOT NULL DEFAULT now(),
    updated_at timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT langgraph_threads_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT langgraph_threads_thread_key UNIQUE (tenant_id, thread_id),
    CONSTRAINT langgraph_threads_tenant_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (tenant_id) ON DELETE RESTRICT,
    CONSTRAINT langgraph_threads_run_fkey FOREIGN KEY (tenant_id, id)
        REFERENCES runs (tenant_id, id) ON DELETE RESTRICT
);

CREATE TABLE langgraph_checkpoints (
    tenant_id            uuid         NOT NULL,
    id                   uuid         NOT NULL,
    thread_id            varchar(255) NOT NULL,
    checkpoint_ns        varchar(255) NOT NULL,
    checkpoint_id        varchar(255) NOT NULL,
    parent_checkpoint_id varchar(255),
    -- The run checkpoint this document belongs to (its CHECKPOINT_SAVED).
    run_checkpoint_id    uuid         NOT NULL,
    -- metadata.run_id: one invocation of the graph (delete_for_runs).
    langgraph_run_id     varchar(255),
    -- The checkpoint without its channel values (those are blobs).
    checkpoint           jsonb        NOT NULL,
    metadata             jsonb        NOT NULL,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    updated_at           timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT langgraph_checkpoints_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT langgraph_checkpoints_key UNIQUE (tenant_id, thread_id, checkpoint_ns, checkpoint_id),
    CONSTRAINT langgraph_checkpoints_tenant_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (tenant_id) ON DELETE RESTRICT,
    CONSTRAINT langgraph_checkpoints_thread_fkey FOREIGN KEY (tenant_id, thread_id)
        REFERENCES langgraph_threads (tenant_id, thread_id) ON DELETE RESTRICT,
    CONSTRAINT langgraph_checkpoints_run_checkpoint_fkey FOREIGN KEY (tenant_id, run_checkpoint_id)
        REFERENCES run_checkpoints (tenant_id, id) ON DELETE RESTRICT,
    CONSTRAINT langgraph_checkpoints_document_size CHECK (octet_length(checkpoint::text) <= 1048576),
    CONSTRAINT langgraph_checkpoints_metadata_size CHECK (octet_length(metadata::text) <= 262144)
);
-- Listing across a tenant's threads, newest first, and delete_for_runs.
CREATE INDEX langgraph_checkpoints_id_idx ON langgraph_checkpoints (tenant_id, checkpoint_id);
CREATE INDEX langgraph_checkpoints_run_idx ON langgraph_checkpoints (tenant_id, langgraph_run_id)
    WHERE langgraph_run_id IS NOT NULL;

CREATE TABLE langgraph_blobs (
    tenant_id     uuid         NOT NULL,
    id            uuid         NOT NULL,
    thread_id     varchar(255) NOT NULL,
    checkpoint_ns varchar(255) NOT NULL,
    channel       varchar(255) NOT NULL,
    version       varchar(255) NOT NULL,
    -- The serializer's type tag; `empty` for a channel with no value.
    type          varchar(100) NOT NULL,
    blob          bytea,
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT langgraph_blobs_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT langgraph_blobs_key UNIQUE (tenant_id, thread_id, checkpoint_ns, channel, version),
    CONSTRAINT langgraph_blobs_tenant_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (tenant_id) ON DELETE RESTRICT,
    CONSTRAINT langgraph_blobs_thread_fkey FOREIGN KEY (tenant_id, thread_id)
        REFERENCES langgraph_threads (tenant_id, thread_id) ON DELETE RESTRICT,
    CONSTRAINT langgraph_blobs_size CHECK (octet_length(blob) <= 16777216)
);

CREATE TABLE langgraph_writes (
    tenant_id     uuid          NOT NULL,
    id            uuid          NOT NULL,
    thread_id     varchar(255)  NOT NULL,
    checkpoint_ns varchar(255)  NOT NULL,
    checkpoint_id varchar(255)  NOT NULL,
    task_id       varchar(255)  NOT NULL,
    -- The write's place in its task's list; LangGraph's special channels
    -- (errors, interrupts, ...) use fixed negative indexes.
    idx           integer       NOT NULL,
    channel       varchar(255)  NOT NULL,
    type          varchar(100)  NOT NULL,
    blob          bytea,
    task_path     varchar(1000) NOT NULL DEFAULT '',
    created_at    timestamptz   NOT NULL DEFAULT now(),
    updated_at    timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT langgraph_writes_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT langgraph_writes_key UNIQUE (tenant_id, thread_id, checkpoint_ns, checkpoint_id, task_id, idx),
    CONSTRAINT langgraph_writes_tenant_fkey FOREIGN KEY (tenant_id)
        REFERENCES tenants (tenant_id) ON DELETE RESTRICT,
    CONSTRAINT langgraph_writes_thread_fkey FOREIGN KEY (tenant_id, thread_id)
        REFERENCES langgraph_threads (tenant_id, thread_id) ON DELETE RESTRICT,
    CONSTRAINT langgraph_writes_size CHECK (octet_length(blob) <= 16777216)
);

DO $$
DECLARE
    t text;
    member text := 'EXISTS (SELECT 1 FROM user_tenants m '
        'WHERE m.tenant_id = current_tenant_id() AND m.user_id = current_user_id())';
BEGIN
    FOREACH t IN ARRAY ARRAY['langgraph_threads', 'langgraph_checkpoints', 'langgraph_blobs', 'langgraph_writes']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_updated_at', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I AS RESTRICTIVE FOR ALL TO PUBLIC '
                       'USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())',
                       t || '_tenant_fence', t);
        EXECUTE format('CREATE POLICY %I ON %I AS PERMISSIVE FOR ALL TO pplane_app '
                       'USING (tenant_id = current_tenant_id() AND %s) '
                       'WITH CHECK (tenant_id = current_tenant_id() AND %s)',
                       t || '_member_access', t, member, member);
    END LOOP;
END
$$;

-- A thread keeps its run; its documents are replaced (a re-put of one
-- checkpoint id, a special channel's write) and deleted (retention).
GRANT SELECT, INSERT ON langgraph_threads TO pplane_app;
GRANT SELECT, INSERT, DELETE ON langgraph_checkpoints, langgraph_blobs, langgraph_writes TO pplane_app;
GRANT UPDATE (checkpoint, metadata, parent_checkpoint_id, langgraph_run_id, run_checkpoint_id)
    ON langgraph_checkpoints TO pplane_app;
GRANT UPDATE (channel, type, blob, task_path) ON langgraph_writes TO pplane_app;
