-- Checkpoint files written for a job. Keyed by step rather than epoch: a checkpoint
-- written on shutdown lands mid-epoch, and resuming needs the newest one.
CREATE TABLE checkpoints (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step       INTEGER NOT NULL CHECK (step >= 0),
    epoch      INTEGER NOT NULL CHECK (epoch >= 0),
    path       TEXT    NOT NULL,
    bytes      INTEGER NOT NULL CHECK (bytes >= 0),
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (job_id, step)
) WITHOUT ROWID;
