#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"

static const char *const DTYPE_NAMES[] = {"F32", "F64", "I32", "I64", "U8"};
static const size_t DTYPE_SIZES[] = {4, 8, 4, 8, 1};
#define MAX_HEADER (100u << 20)

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

int brn_st_add(brn_st_file *f, const char *name, brn_st_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 64;
        brn_st_tensor *t = realloc(f->tensors, sizeof *t * cap);
        if (!t) return BRN_ENOMEM;
        f->tensors = t;
        f->cap = cap;
    }
    brn_st_tensor *t = &f->tensors[f->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name || ndim > 8) return BRN_ENOMEM;
    t->dtype = dtype;
    t->ndim = ndim;
    t->nbytes = DTYPE_SIZES[dtype];
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->nbytes *= (size_t)shape[i];
    }
    t->data = data;
    f->n++;
    return 0;
}

int brn_st_add_meta(brn_st_file *f, const char *key, const char *value)
{
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
    f->meta_keys[f->n_meta] = strdup(key);
    f->meta_values[f->n_meta] = strdup(value);
    if (!f->meta_keys[f->n_meta] || !f->meta_values[f->n_meta]) return BRN_ENOMEM;
    f->n_meta++;
    return 0;
}

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

int brn_st_write(const brn_st_file *f, const char *path, char *err, size_t errlen)
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
    if (f->n_meta) {
        json_t *m = json_object();
        for (int i = 0; i < f->n_meta; i++) json_object_set_new(m, f->meta_keys[i], json_string(f->meta_values[i]));
        json_object_set_new(h, "__metadata__", m);
    }
    char *text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!text) {
        snprintf(err, errlen, "%s: cannot encode the header", path);
        return BRN_ENOMEM;
    }
    /* pad the header so the data starts 8-byte aligned */
    size_t hl = strlen(text), padded = (hl + 7) & ~(size_t)7;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
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
    if (close(fd)) bad = 1;
    if (bad || rename(tmp, path)) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        return BRN_EIO;
    }
    return 0;
}

static int parse_dtype(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, DTYPE_NAMES[i])) return i;
    return -1;
}

int brn_st_read(brn_st_file *f, const char *path, char *err, size_t errlen)
{
    brn_st_init(f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return BRN_EIO;
    }
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->blob = malloc(size > 0 ? (size_t)size : 1);
    if (!f->blob) {
        fclose(fp);
        snprintf(err, errlen, "%s: out of memory", path);
        return BRN_ENOMEM;
    }
    f->blob_size = fread(f->blob, 1, (size_t)size, fp);
    fclose(fp);
    int rc = BRN_ECHECKPOINT;
    if (f->blob_size < 8 || (long)f->blob_size != size) {
        snprintf(err, errlen, "%s: not a safetensors file (too short)", path);
        goto fail;
    }
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)f->blob[i] << (8 * i);
    if (hl > MAX_HEADER || 8 + hl > f->blob_size) {
        snprintf(err, errlen, "%s: header length %llu does not fit the file", path, (unsigned long long)hl);
        goto fail;
    }
    json_error_t je;
    json_t *h = json_loadb((const char *)f->blob + 8, hl, 0, &je);
    if (!h || !json_is_object(h)) {
        snprintf(err, errlen, "%s: bad header JSON: %s", path, h ? "not an object" : je.text);
        json_decref(h);
        goto fail;
    }
    const uint8_t *data = f->blob + 8 + hl;
    const size_t data_size = f->blob_size - 8 - hl;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) if (json_is_string(mv)) brn_st_add_meta(f, mk, json_string_value(mv));
            continue;
        }
        json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
               *offs = json_object_get(v, "data_offsets");
        int dtype = json_is_string(dt) ? parse_dtype(json_string_value(dt)) : -1;
        if (dtype < 0 || !json_is_array(shape) || json_array_size(shape) > 8 || !json_is_array(offs) ||
            json_array_size(offs) != 2) {
            snprintf(err, errlen, "%s: tensor '%s': bad or unsupported entry", path, key);
            json_decref(h);
            goto fail;
        }
        int64_t sh[8];
        size_t nd = json_array_size(shape);
        for (size_t k = 0; k < nd; k++) sh[k] = json_integer_value(json_array_get(shape, k));
        json_int_t b0 = json_integer_value(json_array_get(offs, 0)), b1 = json_integer_value(json_array_get(offs, 1));
        if (brn_st_add(f, key, (brn_st_dtype)dtype, (int)nd, sh, NULL)) {
            json_decref(h);
            rc = BRN_ENOMEM;
            goto fail;
        }
        brn_st_tensor *t = &f->tensors[f->n - 1];
        if (b0 < 0 || b1 < b0 || (size_t)b1 > data_size || (size_t)(b1 - b0) != t->nbytes) {
            snprintf(err, errlen, "%s: tensor '%s': data offsets [%lld, %lld) do not match its shape or the file",
                     path, key, (long long)b0, (long long)b1);
            json_decref(h);
            goto fail;
        }
        t->data = data + b0;
    }
    json_decref(h);
    return 0;
fail:
    brn_st_free(f);
    return rc;
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
