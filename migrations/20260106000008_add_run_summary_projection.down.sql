SET LOCAL ROLE pplane_owner;

DROP TABLE run_summary;
