/* safetensors files: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the data.
 * Used for checkpoints (loadable by PyTorch) and the golden test fixtures. */
#ifndef BRN_SAFETENSORS_H
#define BRN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { BRN_ST_F32, BRN_ST_F64, BRN_ST_I32, BRN_ST_I64, BRN_ST_U8 } brn_st_dtype;

typedef struct brn_st_tensor {
    char *name;
    brn_st_dtype dtype;
    int ndim;
    int64_t shape[8];
    size_t nbytes;
    const void *data;   /* writer: caller's memory; reader: inside the loaded file */
} brn_st_tensor;

typedef struct brn_st_file {
    brn_st_tensor *tensors;
    int n, cap;
    char **meta_keys, **meta_values;
    int n_meta, cap_meta;
    uint8_t *blob;      /* reader: the whole file */
    size_t blob_size;
} brn_st_file;

void brn_st_init(brn_st_file *f);
void brn_st_free(brn_st_file *f);

/* Writer: add tensors (data is referenced, not copied, until brn_st_write) and metadata. */
int brn_st_add(brn_st_file *f, const char *name, brn_st_dtype dtype, int ndim, const int64_t *shape, const void *data);
int brn_st_add_meta(brn_st_file *f, const char *key, const char *value);
/* Writes to path atomically (a temporary file, fsync, rename). */
int brn_st_write(const brn_st_file *f, const char *path, char *err, size_t errlen);

/* Reader: loads and validates the whole file (offsets in range, sizes match shapes). */
int brn_st_read(brn_st_file *f, const char *path, char *err, size_t errlen);
const brn_st_tensor *brn_st_find(const brn_st_file *f, const char *name);
const char *brn_st_meta(const brn_st_file *f, const char *key);
size_t brn_st_dtype_size(brn_st_dtype t);

#endif
