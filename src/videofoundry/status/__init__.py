"""Live status: a cache of job snapshots plus a per-job event bus. PostgreSQL stays the truth."""
