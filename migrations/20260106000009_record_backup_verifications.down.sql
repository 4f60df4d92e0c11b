DROP TABLE pplane_meta.backup_verifications;
