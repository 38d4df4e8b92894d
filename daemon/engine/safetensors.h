/* safetensors files: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the data.
 * Used for checkpoints (loadable by PyTorch) and the golden test fixtures.
 *
 * Integrity: the writer stores __metadata__.checksum = "crc32:<8 hex>", a CRC-32 over the
 * parsed content in a fixed order (each tensor by name: name, dtype, shape, bytes; then each
 * other metadata entry by key), so a reader sees any change to a tensor or to the metadata.
 * The reader checks every length, shape and offset (the tensors must tile the data section
 * exactly) and verifies the checksum when there is one (files from other writers have none:
 * checksum_verified says which). */
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
    int checksum_verified; /* reader: the file had a checksum and it matched */
} brn_st_file;

#define BRN_ST_CHECKSUM_KEY "checksum"
#define BRN_ST_CHECKSUM_PREFIX "crc32:"
/* The writer's temporary file is "<path>" BRN_ST_TMP_INFIX "<pid>" until the rename. */
#define BRN_ST_TMP_INFIX ".tmp."

void brn_st_init(brn_st_file *f);
void brn_st_free(brn_st_file *f);

/* Writer: add tensors (data is referenced, not copied, until brn_st_write) and metadata.
 * brn_st_add: BRN_EINVAL for a bad dtype, more than 8 dimensions, a negative dimension or a
 * size that overflows. brn_st_add_meta: the key "checksum" is reserved (BRN_EINVAL). */
int brn_st_add(brn_st_file *f, const char *name, brn_st_dtype dtype, int ndim, const int64_t *shape, const void *data);
int brn_st_add_meta(brn_st_file *f, const char *key, const char *value);
/* Writes to path atomically and durably (a temporary file, fsync, rename, fsync of the
 * directory), adding the checksum. */
int brn_st_write(const brn_st_file *f, const char *path, char *err, size_t errlen);

/* Reader: loads and validates the whole file. Errors: BRN_EIO (cannot read), BRN_ENOMEM,
 * BRN_ECHECKPOINT (malformed, truncated or corrupt: the message says which). On failure f
 * holds nothing (brn_st_free is harmless). */
int brn_st_read(brn_st_file *f, const char *path, char *err, size_t errlen);
/* The same for a file already in memory (copied); what names it in messages. */
int brn_st_parse(brn_st_file *f, const void *data, size_t size, const char *what, char *err, size_t errlen);
const brn_st_tensor *brn_st_find(const brn_st_file *f, const char *name);
const char *brn_st_meta(const brn_st_file *f, const char *key);
size_t brn_st_dtype_size(brn_st_dtype t);

#endif
