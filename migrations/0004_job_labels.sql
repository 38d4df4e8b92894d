-- Job labels: key=value pairs set at submit (a sweep's jobs carry sweep=NAME, one label
-- per swept setting and seed=N). ListJobs and GetMetrics select jobs by them.
-- Keys are unique per job; the service validates their syntax before they get here.
CREATE TABLE job_labels (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key    TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 63),
    value  TEXT    NOT NULL,
    PRIMARY KEY (job_id, key)
) WITHOUT ROWID;

-- Selecting jobs by a pair (sweep=NAME) without scanning every job's labels.
CREATE INDEX job_labels_by_pair ON job_labels (key, value, job_id);
