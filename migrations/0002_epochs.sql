-- Per-epoch metrics, keyed (job, epoch) and written with an upsert so that replaying
-- an epoch after a crash leaves one row with the latest values.
-- test_loss / test_acc are NULL for epochs that were not evaluated.
CREATE TABLE epochs (
    job_id         INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch          INTEGER NOT NULL CHECK (epoch >= 1),
    step           INTEGER NOT NULL CHECK (step >= 0),
    train_loss     REAL,
    train_acc      REAL,
    test_loss      REAL,
    test_acc       REAL,
    lr             REAL,
    rmax           REAL,
    dmax           REAL,
    seconds        REAL,
    images_per_sec REAL,
    written_ms     INTEGER NOT NULL,
    PRIMARY KEY (job_id, epoch)
) WITHOUT ROWID;

-- Batch Renorm diagnostics: per epoch and normalization layer, how far r and d were
-- from the plain-BN values (1, 0) and how often the rmax / dmax clips bit.
CREATE TABLE renorm_diag (
    job_id             INTEGER NOT NULL,
    epoch              INTEGER NOT NULL,
    layer              TEXT    NOT NULL,
    mean_abs_r_minus_1 REAL,
    mean_abs_d         REAL,
    frac_r_clipped     REAL,
    frac_d_clipped     REAL,
    PRIMARY KEY (job_id, epoch, layer),
    FOREIGN KEY (job_id, epoch) REFERENCES epochs (job_id, epoch) ON DELETE CASCADE
) WITHOUT ROWID;
