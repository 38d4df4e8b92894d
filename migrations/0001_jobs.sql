-- Jobs: one row per submitted training job, from QUEUED to a final state.
-- AUTOINCREMENT so that an id is never handed out twice, even after deletes
-- (clients keep ids in scripts and plots).
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL DEFAULT '',
    priority         INTEGER NOT NULL DEFAULT 0,
    -- A retried SubmitJob with the same key returns the first job; NULL = no key.
    idempotency_key  TEXT    UNIQUE CHECK (idempotency_key IS NULL OR idempotency_key <> ''),
    spec_json        TEXT    NOT NULL CHECK (json_valid(spec_json)),
    state            TEXT    NOT NULL DEFAULT 'QUEUED'
                     CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    reason           TEXT,              -- human text for FAILED / CANCELLED
    error_code       TEXT,              -- brn_error_name() of a failure ("nan_loss")
    created_ms       INTEGER NOT NULL,  -- unix milliseconds
    started_ms       INTEGER,
    finished_ms      INTEGER,
    total_steps      INTEGER NOT NULL DEFAULT 0,
    epoch            INTEGER NOT NULL DEFAULT 0,   -- epochs complete
    step             INTEGER NOT NULL DEFAULT 0,   -- optimizer steps done
    device           TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1))
);

-- Listing by state in id order, and recovery (RUNNING jobs at start-up).
CREATE INDEX jobs_by_state ON jobs (state, id);

-- The queue: the next job is the QUEUED one with the highest priority, then the oldest.
CREATE INDEX jobs_queue ON jobs (priority DESC, id) WHERE state = 'QUEUED';
