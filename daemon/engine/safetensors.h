/* safetensors files: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the data.
 * Used for checkpoints (loadable by PyTorch) and the golden test fixtures. */
#ifndef BRN_SAFETENSORS_H
#define BRN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ST_F32, ST_F64, ST_I32, ST_I64, ST_U8 } st_dtype;

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[8];
    size_t nbytes;
    const void *data;   /* writer: caller's memory; reader: inside the loaded file */
} st_tensor;

typedef struct st_file {
    st_tensor *tensors;
    int n, cap;
    char **meta_keys, **meta_values;
    int n_meta, cap_meta;
    uint8_t *blob;      /* reader: the whole file */
    size_t blob_size;
} st_file;

void st_init(st_file *f);
void st_free(st_file *f);

/* Writer: add tensors (data is referenced, not copied, until st_write) and metadata. */
int st_add(st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape, const void *data);
int st_add_meta(st_file *f, const char *key, const char *value);
/* Writes to path atomically (a temporary file, fsync, rename). */
int st_write(const st_file *f, const char *path, char *err, size_t errlen);

/* Reader: loads and validates the whole file (offsets in range, sizes match shapes). */
int st_read(st_file *f, const char *path, char *err, size_t errlen);
const st_tensor *st_find(const st_file *f, const char *name);
const char *st_meta(const st_file *f, const char *key);
size_t st_dtype_size(st_dtype t);

#endif
