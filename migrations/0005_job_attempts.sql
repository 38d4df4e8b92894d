-- Crash-loop protection: how often a job was started, how many of those runs ended with
-- brnd dying under it, and whether a run is open (started, not yet ended or stopped
-- cleanly). attempts and run_open are written before the job's engine starts, so a job
-- that kills the daemon is counted even though nothing runs after it; the next start
-- turns an open run into a crash.
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0);
ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0 CHECK (crashes >= 0);
ALTER TABLE jobs ADD COLUMN run_open INTEGER NOT NULL DEFAULT 0 CHECK (run_open IN (0, 1));
