-- Every LangGraph checkpoint document, blob and pending write goes; the
-- threads' runs, run checkpoints and events stay.
SET LOCAL ROLE pplane_owner;

DROP TABLE langgraph_writes;
DROP TABLE langgraph_blobs;
DROP TABLE langgraph_checkpoints;
DROP TABLE langgraph_threads;
