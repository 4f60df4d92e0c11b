-- Every key stops working: the service can no longer authenticate anyone.
SET LOCAL ROLE pplane_owner;

DROP TABLE api_keys;
