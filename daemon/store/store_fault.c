/* Tests only: a full disk on demand. A SQLite VFS that wraps the default one and answers
 * every xWrite with SQLITE_FULL (what the unix VFS returns on ENOSPC) while faults are on,
 * so that SQLite's own handling of a failed write (rollback, a WAL frame not appended) is
 * what the daemon sees. Everything else passes through. */
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store_internal.h"

typedef struct fault_file {
    sqlite3_file base;
    sqlite3_file *real;   /* the wrapped VFS's file, allocated right after this struct */
} fault_file;

static sqlite3_vfs fault_vfs, *base_vfs;
static atomic_int faults_on;
static char trigger_file[4096];

#define REAL(f) (((fault_file *)(f))->real)

static int faulting(void)
{
    return atomic_load(&faults_on) || (trigger_file[0] && access(trigger_file, F_OK) == 0);
}

static int f_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), b, n, o); }
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    if (faulting()) return SQLITE_FULL;
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int f_sync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }
static int f_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int f_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int f_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int f_reserved(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int f_control(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int f_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int f_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int f_shm_lock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void f_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int f_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int f_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, p); }
static int f_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

static const sqlite3_io_methods fault_io = {
    .iVersion = 3,
    .xClose = f_close, .xRead = f_read, .xWrite = f_write, .xTruncate = f_truncate, .xSync = f_sync,
    .xFileSize = f_size, .xLock = f_lock, .xUnlock = f_unlock, .xCheckReservedLock = f_reserved,
    .xFileControl = f_control, .xSectorSize = f_sector, .xDeviceCharacteristics = f_device,
    .xShmMap = f_shm_map, .xShmLock = f_shm_lock, .xShmBarrier = f_shm_barrier, .xShmUnmap = f_shm_unmap,
    .xFetch = f_fetch, .xUnfetch = f_unfetch,
};

static int f_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags)
{
    fault_file *ff = (fault_file *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = base_vfs->xOpen(base_vfs, name, ff->real, flags, out_flags);
    /* SQLite calls xClose exactly when pMethods is set, even after a failed open */
    ff->base.pMethods = ff->real->pMethods ? &fault_io : NULL;
    return rc;
}

int store_fault_enable(const char *trigger)
{
    if (!base_vfs) {
        base_vfs = sqlite3_vfs_find(NULL);
        if (!base_vfs || base_vfs->iVersion < 3) return BRN_EIO;
        /* the same methods and app data as the real VFS, but our files around its files */
        fault_vfs = *base_vfs;
        fault_vfs.zName = "brn-fault";
        fault_vfs.szOsFile = (int)sizeof(fault_file) + base_vfs->szOsFile;
        fault_vfs.xOpen = f_open;
        fault_vfs.pNext = NULL;
        if (sqlite3_vfs_register(&fault_vfs, 1) != SQLITE_OK) return BRN_EIO;
    }
    snprintf(trigger_file, sizeof trigger_file, "%s", trigger ? trigger : "");
    return 0;
}

void store_fault_set(int on)
{
    atomic_store(&faults_on, on ? 1 : 0);
}
