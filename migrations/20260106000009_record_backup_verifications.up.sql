-- The production gate (`pplane check all`) proves a backup restores: it
-- dumps the database, restores the dump into a scratch database, runs the
-- data gate there and compares event counts. Each proof is recorded here,
-- so the gate can also say when the last one happened: older than 30 days
-- is a FAIL. It lives with the migration history in pplane_meta, written by
-- the login that runs the gate, read by nobody else.
CREATE TABLE pplane_meta.backup_verifications (
    verified_at timestamptz NOT NULL DEFAULT now(),
    database    text        NOT NULL,
    events      bigint      NOT NULL,
    dump_bytes  bigint      NOT NULL,
    CONSTRAINT backup_verifications_pkey PRIMARY KEY (verified_at, database)
);
