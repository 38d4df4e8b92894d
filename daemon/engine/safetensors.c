/* safetensors reader and writer (see safetensors.h). The reader trusts nothing in the file:
 * every length, shape and offset is checked before use, and a checksum, when present, is
 * verified over the parsed content. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "errors.h"

static const char *const DTYPE_NAMES[] = {"F32", "F64", "I32", "I64", "U8"};
static const size_t DTYPE_SIZES[] = {4, 8, 4, 8, 1};
#define MAX_HEADER (100u << 20)
#define MAX_DIMS 8
#define N_DTYPES ((int)(sizeof DTYPE_NAMES / sizeof DTYPE_NAMES[0]))

size_t brn_st_dtype_size(brn_st_dtype t) { return DTYPE_SIZES[t]; }

void brn_st_init(brn_st_file *f) { memset(f, 0, sizeof *f); }

void brn_st_free(brn_st_file *f)
{
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->blob);
    memset(f, 0, sizeof *f);
}


/* Bytes of a tensor: element size times every dimension. -1 for a negative dimension or
 * a product that does not fit (a hostile shape must not wrap around to a small size). */
static int tensor_nbytes(brn_st_dtype dtype, int ndim, const int64_t *shape, size_t *out)
{
    size_t n = DTYPE_SIZES[dtype];
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] && n > SIZE_MAX / (uint64_t)shape[i]) return -1;
        n *= (size_t)shape[i];
    }
    *out = n;
    return 0;
}

int brn_st_add(brn_st_file *f, const char *name, brn_st_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
    size_t nbytes;
    if ((unsigned)dtype >= (unsigned)N_DTYPES || ndim < 0 || ndim > MAX_DIMS ||
        tensor_nbytes(dtype, ndim, shape, &nbytes))
        return BRN_EINVAL;
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 64;
        brn_st_tensor *t = realloc(f->tensors, sizeof *t * cap);
        if (!t) return BRN_ENOMEM;
        f->tensors = t;
        f->cap = cap;
    }
    brn_st_tensor *t = &f->tensors[f->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return BRN_ENOMEM;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = nbytes;
    t->data = data;
    f->n++;
    return 0;
}

int brn_st_add_meta(brn_st_file *f, const char *key, const char *value)
{
    if (!strcmp(key, BRN_ST_CHECKSUM_KEY)) return BRN_EINVAL; /* the writer's own */
    if (f->n_meta == f->cap_meta) {
        int cap = f->cap_meta ? 2 * f->cap_meta : 16;
        char **k = realloc(f->meta_keys, sizeof *k * cap);
        if (!k) return BRN_ENOMEM;
        f->meta_keys = k;
        char **v = realloc(f->meta_values, sizeof *v * cap);
        if (!v) return BRN_ENOMEM;
        f->meta_values = v;
        f->cap_meta = cap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return BRN_ENOMEM;
    }
    f->meta_keys[f->n_meta] = k;
    f->meta_values[f->n_meta] = v;
    f->n_meta++;
    return 0;
}

/* ---- the checksum: CRC-32 (zlib) over the parsed content in a canonical order, so any
 * change to a tensor's bytes, name, dtype or shape, or to a metadata entry, is seen, while
 * the header's layout (key order, spacing) is free. ---- */

static uLong crc_u64(uLong crc, uint64_t x)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(x >> (8 * i));
    return crc32_z(crc, b, 8);
}

static uLong crc_str(uLong crc, const char *s) { return crc32_z(crc, (const unsigned char *)s, strlen(s) + 1); }

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const brn_st_tensor *const *)a)->name, (*(const brn_st_tensor *const *)b)->name);
}

static int cmp_meta_key(const void *a, const void *b)
{
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

/* 0 and the CRC in *out, or BRN_ENOMEM. */
static int content_crc(const brn_st_file *f, uint32_t *out)
{
    const brn_st_tensor **ts = malloc(sizeof *ts * (size_t)(f->n ? f->n : 1));
    char *const **ks = malloc(sizeof *ks * (size_t)(f->n_meta ? f->n_meta : 1));
    if (!ts || !ks) {
        free(ts);
        free(ks);
        return BRN_ENOMEM;
    }
    for (int i = 0; i < f->n; i++) ts[i] = &f->tensors[i];
    for (int i = 0; i < f->n_meta; i++) ks[i] = &f->meta_keys[i];
    qsort(ts, (size_t)f->n, sizeof *ts, cmp_tensor_name);
    qsort(ks, (size_t)f->n_meta, sizeof *ks, cmp_meta_key);
    uLong crc = crc32_z(0L, Z_NULL, 0);
    for (int i = 0; i < f->n; i++) {
        const brn_st_tensor *t = ts[i];
        crc = crc_str(crc, t->name);
        crc = crc_str(crc, DTYPE_NAMES[t->dtype]);
        crc = crc_u64(crc, (uint64_t)t->ndim);
        for (int k = 0; k < t->ndim; k++) crc = crc_u64(crc, (uint64_t)t->shape[k]);
        crc = crc_u64(crc, (uint64_t)t->nbytes);
        crc = crc32_z(crc, t->data, t->nbytes);
    }
    for (int i = 0; i < f->n_meta; i++) {
        size_t idx = (size_t)(ks[i] - f->meta_keys);
        crc = crc_str(crc, f->meta_keys[idx]);
        crc = crc_str(crc, f->meta_values[idx]);
    }
    free(ts);
    free(ks);
    *out = (uint32_t)crc;
    return 0;
}

/* ---- writer ---- */

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The rename is durable only once the directory entry is on disk. */
static int fsync_parent_dir(const char *path)
{
    char copy[4200];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    /* some file systems cannot sync a directory (EINVAL): nothing more can be done there */
    if (rc && errno == EINVAL) rc = 0;
    close(fd);
    return rc;
}

static char *header_text(const brn_st_file *f, uint32_t crc)
{
    json_t *h = json_object();
    size_t off = 0;
    for (int i = 0; i < f->n; i++) {
        const brn_st_tensor *t = &f->tensors[i];
        json_t *shape = json_array();
        for (int k = 0; k < t->ndim; k++) json_array_append_new(shape, json_integer(t->shape[k]));
        json_object_set_new(h, t->name, json_pack("{s:s, s:o, s:[I,I]}", "dtype", DTYPE_NAMES[t->dtype], "shape",
                                                  shape, "data_offsets", (json_int_t)off,
                                                  (json_int_t)(off + t->nbytes)));
        off += t->nbytes;
    }
    json_t *m = json_object();
    char sum[32];
    for (int i = 0; i < f->n_meta; i++) json_object_set_new(m, f->meta_keys[i], json_string(f->meta_values[i]));
    snprintf(sum, sizeof sum, BRN_ST_CHECKSUM_PREFIX "%08x", (unsigned)crc);
    json_object_set_new(m, BRN_ST_CHECKSUM_KEY, json_string(sum));
    json_object_set_new(h, "__metadata__", m);
    char *text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    return text;
}

int brn_st_write(const brn_st_file *f, const char *path, char *err, size_t errlen)
{
    uint32_t crc;
    char *text = NULL;
    if (content_crc(f, &crc) || !(text = header_text(f, crc))) {
        snprintf(err, errlen, "%s: cannot encode the header (out of memory)", path);
        return BRN_ENOMEM;
    }
    /* pad the header so the data starts 8-byte aligned */
    size_t hl = strlen(text), padded = (hl + 7) & ~(size_t)7;
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s" BRN_ST_TMP_INFIX "%d", path, (int)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        free(text);
        return BRN_EIO;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        free(text);
        return BRN_EIO;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int bad = write_all(fd, len8, 8) || write_all(fd, text, hl) || write_all(fd, "        ", padded - hl);
    free(text);
    for (int i = 0; i < f->n && !bad; i++) bad = write_all(fd, f->tensors[i].data, f->tensors[i].nbytes);
    if (!bad) bad = fsync(fd);
    int saved = errno;
    if (close(fd) && !bad) {
        bad = 1;
        saved = errno;
    }
    if (bad || rename(tmp, path)) {
        if (!bad) saved = errno;
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(saved));
        unlink(tmp);
        return BRN_EIO;
    }
    if (fsync_parent_dir(path)) {
        snprintf(err, errlen, "%s: written, but syncing its directory failed: %s", path, strerror(errno));
        return BRN_EIO;
    }
    return 0;
}

/* ---- reader ---- */

static int parse_dtype(const char *s)
{
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(s, DTYPE_NAMES[i])) return i;
    return -1;
}

#define FAIL(code, ...) do { snprintf(err, errlen, __VA_ARGS__); rc = (code); goto out; } while (0)

static int parse_metadata(brn_st_file *f, const char *what, json_t *m, char *checksum, size_t cslen, char *err,
                          size_t errlen)
{
    const char *k;
    json_t *v;
    if (!json_is_object(m)) return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: __metadata__ is not an object", what);
    json_object_foreach(m, k, v) {
        if (!json_is_string(v))
            return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: metadata '%s' is not a string", what, k);
        if (!strcmp(k, BRN_ST_CHECKSUM_KEY)) {
            snprintf(checksum, cslen, "%s", json_string_value(v));
            if (!checksum[0]) checksum[0] = '?'; /* present but empty: still a malformed checksum */
            continue;
        }
        if (brn_st_add_meta(f, k, json_string_value(v))) return brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory", what);
    }
    return 0;
}

/* One tensor entry {dtype, shape, data_offsets}; its begin offset goes to *begin. */
static int parse_tensor(brn_st_file *f, const char *what, const char *name, json_t *v, size_t data_size,
                        const uint8_t *data, char *err, size_t errlen)
{
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    int dtype = json_is_string(dt) ? parse_dtype(json_string_value(dt)) : -1;
    if (!json_is_object(v) || dtype < 0 || !json_is_array(shape) || json_array_size(shape) > MAX_DIMS ||
        !json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(json_array_get(offs, 0)) ||
        !json_is_integer(json_array_get(offs, 1)))
        return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: tensor '%s': bad or unsupported entry", what, name);
    int64_t sh[MAX_DIMS];
    size_t nd = json_array_size(shape);
    for (size_t k = 0; k < nd; k++) {
        json_t *x = json_array_get(shape, k);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: tensor '%s': shape entries must be integers >= 0",
                              what, name);
        sh[k] = json_integer_value(x);
    }
    json_int_t b0 = json_integer_value(json_array_get(offs, 0)), b1 = json_integer_value(json_array_get(offs, 1));
    int rc = brn_st_add(f, name, (brn_st_dtype)dtype, (int)nd, sh, NULL);
    if (rc == BRN_EINVAL)
        return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: tensor '%s': its shape is too large", what, name);
    if (rc) return brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory", what);
    brn_st_tensor *t = &f->tensors[f->n - 1];
    if (b0 < 0 || b1 < b0 || (uint64_t)b1 > data_size || (uint64_t)(b1 - b0) != t->nbytes)
        return brn_errorf(err, errlen, BRN_ECHECKPOINT,
                          "%s: tensor '%s': data offsets [%lld, %lld) do not match its shape or the file", what, name,
                          (long long)b0, (long long)b1);
    t->data = data + b0;
    return 0;
}

static int cmp_tensor_data(const void *a, const void *b)
{
    const brn_st_tensor *x = *(const brn_st_tensor *const *)a, *y = *(const brn_st_tensor *const *)b;
    const uint8_t *px = x->data, *py = y->data;
    if (px != py) return px < py ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* The tensors must tile the data section exactly: no overlap, no gap, nothing after. */
static int check_layout(const brn_st_file *f, const char *what, const uint8_t *data, size_t data_size, char *err,
                        size_t errlen)
{
    const brn_st_tensor **ts = malloc(sizeof *ts * (size_t)(f->n ? f->n : 1));
    if (!ts) return brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory", what);
    for (int i = 0; i < f->n; i++) ts[i] = &f->tensors[i];
    qsort(ts, (size_t)f->n, sizeof *ts, cmp_tensor_data);
    size_t end = 0;
    int rc = 0;
    for (int i = 0; i < f->n && !rc; i++) {
        size_t begin = (size_t)((const uint8_t *)ts[i]->data - data);
        if (begin != end)
            rc = brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: tensor '%s' at byte %zu %s the one before it", what,
                            ts[i]->name, begin, begin < end ? "overlaps" : "leaves a gap after");
        end = begin + ts[i]->nbytes;
    }
    if (!rc && end != data_size)
        rc = brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: %zu bytes of data after the last tensor", what,
                        data_size - end);
    free(ts);
    return rc;
}

static int verify_checksum(brn_st_file *f, const char *what, const char *stored, char *err, size_t errlen)
{
    const size_t plen = sizeof BRN_ST_CHECKSUM_PREFIX - 1;
    unsigned want = 0;
    int ok = strlen(stored) == plen + 8 && !strncmp(stored, BRN_ST_CHECKSUM_PREFIX, plen);
    for (size_t i = plen; ok && i < plen + 8; i++) {
        char c = stored[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) ok = 0;
        else want = want << 4 | (unsigned)d;
    }
    if (!ok) return brn_errorf(err, errlen, BRN_ECHECKPOINT, "%s: malformed checksum '%.40s'", what, stored);
    uint32_t got;
    if (content_crc(f, &got)) return brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory", what);
    if (got != want)
        return brn_errorf(err, errlen, BRN_ECHECKPOINT,
                          "%s: checksum mismatch (stored crc32 %08x, content %08x): the file is corrupt", what, want,
                          (unsigned)got);
    f->checksum_verified = 1;
    return 0;
}

/* Parses f->blob (f->blob_size bytes, owned by f). On failure f is freed. */
static int parse_blob(brn_st_file *f, const char *what, char *err, size_t errlen)
{
    int rc = 0;
    json_t *h = NULL;
    char checksum[64] = "";
    if (f->blob_size < 8) FAIL(BRN_ECHECKPOINT, "%s: not a safetensors file (%zu bytes)", what, f->blob_size);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)f->blob[i] << (8 * i);
    if (hl > MAX_HEADER || hl > f->blob_size - 8)
        FAIL(BRN_ECHECKPOINT, "%s: header length %llu does not fit the file (%zu bytes; truncated?)", what,
             (unsigned long long)hl, f->blob_size);
    json_error_t je;
    h = json_loadb((const char *)f->blob + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &je);
    if (!h || !json_is_object(h)) FAIL(BRN_ECHECKPOINT, "%s: bad header JSON: %s", what, h ? "not an object" : je.text);
    const uint8_t *data = f->blob + 8 + hl;
    const size_t data_size = f->blob_size - 8 - (size_t)hl;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        rc = !strcmp(key, "__metadata__")
                 ? parse_metadata(f, what, v, checksum, sizeof checksum, err, errlen)
                 : parse_tensor(f, what, key, v, data_size, data, err, errlen);
        if (rc) goto out;
    }
    if ((rc = check_layout(f, what, data, data_size, err, errlen))) goto out;
    if (checksum[0]) rc = verify_checksum(f, what, checksum, err, errlen);
out:
    json_decref(h);
    if (rc) brn_st_free(f);
    return rc;
}

int brn_st_read(brn_st_file *f, const char *path, char *err, size_t errlen)
{
    brn_st_init(f);
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return brn_errorf(err, errlen, BRN_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) FAIL(BRN_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) FAIL(BRN_ECHECKPOINT, "%s: not a regular file", path);
    if ((uint64_t)st.st_size > SIZE_MAX - 1) FAIL(BRN_ENOMEM, "%s: too large", path);
    f->blob = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (!f->blob) FAIL(BRN_ENOMEM, "%s: out of memory (%lld bytes)", path, (long long)st.st_size);
    while (f->blob_size < (size_t)st.st_size) {
        ssize_t r = read(fd, f->blob + f->blob_size, (size_t)st.st_size - f->blob_size);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) FAIL(BRN_EIO, "%s: %s", path, strerror(errno));
        if (r == 0) FAIL(BRN_ECHECKPOINT, "%s: the file shrank while being read", path);
        f->blob_size += (size_t)r;
    }
    close(fd);
    return parse_blob(f, path, err, errlen);
out:
    close(fd);
    brn_st_free(f);
    return rc;
}

int brn_st_parse(brn_st_file *f, const void *data, size_t size, const char *what, char *err, size_t errlen)
{
    brn_st_init(f);
    f->blob = malloc(size ? size : 1);
    if (!f->blob) return brn_errorf(err, errlen, BRN_ENOMEM, "%s: out of memory", what);
    if (size) memcpy(f->blob, data, size);
    f->blob_size = size;
    return parse_blob(f, what, err, errlen);
}

const brn_st_tensor *brn_st_find(const brn_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *brn_st_meta(const brn_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}
