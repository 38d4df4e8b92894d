/* A job's directory of checkpoint files, <state_dir>/jobs/<id>: its path, its size,
 * retention of the epoch-N files, and removal. Plain file work with no locks: the store
 * writer calls these (never the loop), while the job's worker may be writing a new file.
 * Functions return 0 or -errno. */
#ifndef BRN_COMMON_JOBDIR_H
#define BRN_COMMON_JOBDIR_H

#include <stddef.h>
#include <stdint.h>

/* "<state_dir>/jobs", the parent of every job's directory; -ENAMETOOLONG when it does not fit. */
int jobdir_parent(char *buf, size_t n, const char *state_dir);

/* "<state_dir>/jobs/<id>"; -ENAMETOOLONG when it does not fit. */
int jobdir_path(char *buf, size_t n, const char *state_dir, int64_t id);

/* Bytes of the regular files in dir (0 when it does not exist). */
int64_t jobdir_bytes(const char *dir);

/* Keep the newest `keep` epoch-N.safetensors files of dir (by N) and remove the others;
 * removed(path, user) is called for each file removed (to forget its record). */
int jobdir_retain(const char *dir, int keep, void (*removed)(const char *path, void *user), void *user);

/* Remove dir and the files in it (it has no subdirectories); 0 when it does not exist. */
int jobdir_remove(const char *dir);

#endif
