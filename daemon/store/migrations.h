/* The schema migrations built into the binary (from migrations/NNNN_name.sql, see
 * embed_migrations.sh). Entry i brings the database to version i+1. */
#ifndef BRN_STORE_MIGRATIONS_H
#define BRN_STORE_MIGRATIONS_H

typedef struct store_migration {
    int version;       /* the user_version after applying it (1, 2, ...) */
    const char *name;  /* file name without .sql, e.g. "0002_epochs" */
    const char *sql;   /* the file's text */
} store_migration;

extern const store_migration store_migrations[];
extern const int store_migrations_count;

#endif
