SET LOCAL ROLE pplane_owner;

ALTER TABLE orchestration_events DROP CONSTRAINT orchestration_events_data_size;
ALTER TABLE effects DROP CONSTRAINT effects_spec_size;
ALTER TABLE run_checkpoints DROP CONSTRAINT run_checkpoints_state_size;
ALTER TABLE signals DROP CONSTRAINT signals_payload_size;

DROP TABLE tenant_event_heads;
