/* The safetensors reader against hostile files: lengths, shapes and offsets that lie, a
 * data section with gaps or overlaps, duplicate keys, bad metadata, and the checksum.
 * Then a real checkpoint is mutated many times: every mutant must be rejected with a
 * message (by the reader or the checkpoint policy) or read back to exactly the original
 * tensors and metadata. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint_file.h"
#include "engine.h"
#include "errors.h"
#include "rng.h"
#include "safetensors.h"

/* A file from a header text and a data section, as bytes. */
static uint8_t *make_file(const char *header, const void *data, size_t data_len, size_t *len)
{
    size_t hl = strlen(header);
    uint8_t *b = malloc(8 + hl + data_len + 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    if (data_len) memcpy(b + 8 + hl, data, data_len);
    *len = 8 + hl + data_len;
    return b;
}

/* Parse header+data; returns the reader's code, err filled. */
static int parse(const char *header, const void *data, size_t data_len, char *err, size_t errlen)
{
    size_t n;
    uint8_t *b = make_file(header, data, data_len, &n);
    brn_st_file f;
    err[0] = 0;
    int rc = brn_st_parse(&f, b, n, "t", err, errlen);
    brn_st_free(&f);
    free(b);
    return rc;
}

static void test_hostile_headers(void)
{
    char err[512];
    float d[4] = {1, 2, 3, 4};
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 16, err, sizeof err), 0);
    CHECK_EQ_INT(parse("{}", NULL, 0, err, sizeof err), 0);
    /* a shape whose byte count wraps around to 0 must not pass as an empty tensor */
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}", NULL,
                       0, err, sizeof err), BRN_ECHECKPOINT);
    CHECK_STR_CONTAINS(err, "too large");
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", d, 16, err, sizeof err),
                 BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,16]}}", d, 16, err, sizeof err),
                 BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[4.0],\"data_offsets\":[0,16]}}", d, 16, err, sizeof err),
                 BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,\"16\"]}}", d, 16, err, sizeof err),
                 BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 12, err, sizeof err),
                 BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", d, 4, err,
                       sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", d, 4, err, sizeof err),
                 BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"a\":[]}", NULL, 0, err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("[]", NULL, 0, err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"a\":", NULL, 0, err, sizeof err), BRN_ECHECKPOINT);
    /* the same name twice: which one would a reader get? */
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", d, 2, err, sizeof err),
                 BRN_ECHECKPOINT);
    /* overlapping tensors, a gap, bytes after the last tensor */
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 12, err, sizeof err),
                 BRN_ECHECKPOINT);
    CHECK_STR_CONTAINS(err, "overlaps");
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", d, 12, err, sizeof err),
                 BRN_ECHECKPOINT);
    CHECK_STR_CONTAINS(err, "gap");
    CHECK_EQ_INT(parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 8, err, sizeof err),
                 BRN_ECHECKPOINT);
    /* metadata must be a flat string map */
    CHECK_EQ_INT(parse("{\"__metadata__\":{\"k\":1}}", NULL, 0, err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"__metadata__\":[]}", NULL, 0, err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"__metadata__\":{\"k\":\"v\"}}", NULL, 0, err, sizeof err), 0);
    /* checksums: malformed, wrong */
    CHECK_EQ_INT(parse("{\"__metadata__\":{\"checksum\":\"crc32:xyz\"}}", NULL, 0, err, sizeof err), BRN_ECHECKPOINT);
    CHECK_STR_CONTAINS(err, "malformed checksum");
    CHECK_EQ_INT(parse("{\"__metadata__\":{\"checksum\":\"\"}}", NULL, 0, err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(parse("{\"__metadata__\":{\"checksum\":\"crc32:00000001\"}}", NULL, 0, err, sizeof err),
                 BRN_ECHECKPOINT);
    CHECK_STR_CONTAINS(err, "checksum mismatch");
    /* a header length beyond the file, or beyond any sane size */
    uint8_t b[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    brn_st_file f;
    CHECK_EQ_INT(brn_st_parse(&f, b, sizeof b, "t", err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(brn_st_parse(&f, b, 7, "t", err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(brn_st_parse(&f, b, 0, "t", err, sizeof err), BRN_ECHECKPOINT);
    CHECK(f.n == 0 && f.blob == NULL);
    /* not a regular file */
    CHECK_EQ_INT(brn_st_read(&f, "/tmp", err, sizeof err), BRN_ECHECKPOINT);
    CHECK_EQ_INT(brn_st_read(&f, "/nonexistent/x.safetensors", err, sizeof err), BRN_EIO);
}

static void test_writer_limits_and_round_trip(void)
{
    brn_st_file f;
    brn_st_init(&f);
    int64_t huge[2] = {INT64_MAX / 2, 4}, neg[1] = {-1}, ok[2] = {2, 3};
    float x[6] = {1, 2, 3, 4, 5, 6};
    double y = 7;
    CHECK_EQ_INT(brn_st_add(&f, "huge", BRN_ST_F32, 2, huge, x), BRN_EINVAL);
    CHECK_EQ_INT(brn_st_add(&f, "neg", BRN_ST_F32, 1, neg, x), BRN_EINVAL);
    CHECK_EQ_INT(brn_st_add(&f, "deep", BRN_ST_F32, 9, ok, x), BRN_EINVAL);
    CHECK_EQ_INT(brn_st_add_meta(&f, "checksum", "crc32:00000000"), BRN_EINVAL);
    CHECK_EQ_INT(brn_st_add(&f, "x", BRN_ST_F32, 2, ok, x), 0);
    CHECK_EQ_INT(brn_st_add(&f, "y", BRN_ST_F64, 0, NULL, &y), 0);
    CHECK_EQ_INT(brn_st_add_meta(&f, "note", "hello"), 0);
    char dir[] = "/tmp/brn-st-XXXXXX", path[64], err[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    CHECK_EQ_INT(brn_st_write(&f, path, err, sizeof err), 0);
    brn_st_free(&f);
    brn_st_file r;
    CHECK_EQ_INT(brn_st_read(&r, path, err, sizeof err), 0);
    CHECK(r.checksum_verified);
    CHECK(brn_st_meta(&r, "checksum") == NULL); /* the reader's own business */
    CHECK(brn_st_meta(&r, "note") && !strcmp(brn_st_meta(&r, "note"), "hello"));
    const brn_st_tensor *t = brn_st_find(&r, "x");
    CHECK(t && t->nbytes == sizeof x && !memcmp(t->data, x, sizeof x));
    t = brn_st_find(&r, "y");
    CHECK(t && t->ndim == 0 && t->nbytes == 8 && !memcmp(t->data, &y, 8));
    brn_st_free(&r);
    unlink(path);
    rmdir(dir);
}

/* ---- mutation test ---- */

static int same_content(const brn_st_file *a, const brn_st_file *b)
{
    if (a->n != b->n || a->n_meta != b->n_meta) return 0;
    for (int i = 0; i < a->n; i++) {
        const brn_st_tensor *x = &a->tensors[i], *y = brn_st_find(b, x->name);
        if (!y || x->dtype != y->dtype || x->ndim != y->ndim || x->nbytes != y->nbytes) return 0;
        if (memcmp(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim) || memcmp(x->data, y->data, x->nbytes))
            return 0;
    }
    for (int i = 0; i < a->n_meta; i++) {
        const char *v = brn_st_meta(b, a->meta_keys[i]);
        if (!v || strcmp(v, a->meta_values[i])) return 0;
    }
    return 1;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)size);
    *n = fread(b, 1, (size_t)size, fp);
    fclose(fp);
    return b;
}

/* BRN_MUTANTS=N runs more (the default keeps `make test` fast). */
#define MUTANTS_DEFAULT 3000

static void test_mutated_checkpoints(void)
{
    char dir[] = "/tmp/brn-st-mut-XXXXXX", path[128], err[512];
    CHECK(mkdtemp(dir) != NULL);
    brn_job_spec s;
    brn_spec_defaults(&s);
    strcpy(s.dataset, "synthetic");
    s.depth = 10;
    s.width = 1;
    s.batch_size = 16;
    s.threads = 1;
    s.steps = 3;
    s.train_subset = 64;
    s.test_subset = 16;
    s.norm = BRN_NORM_BRN;
    snprintf(s.checkpoint_dir, sizeof s.checkpoint_dir, "%s", dir);
    int rc = brn_train(&s, NULL, NULL, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc) return;
    snprintf(path, sizeof path, "%s/%s", dir, BRN_LAST_CHECKPOINT);
    size_t n = 0;
    uint8_t *orig = slurp(path, &n), *mut = malloc(n);
    brn_st_file ref;
    CHECK_EQ_INT(brn_st_parse(&ref, orig, n, "original", err, sizeof err), 0);
    CHECK(ref.checksum_verified);
    CHECK_EQ_INT(brn_checkpoint_file_check(&ref, "original", err, sizeof err), 0);
    size_t header_end = 8;
    for (int i = 0; i < 8; i++) header_end += (size_t)orig[i] << (8 * i);
    long rejected = 0, identical = 0, bad = 0;
    const long mutants = getenv("BRN_MUTANTS") ? atol(getenv("BRN_MUTANTS")) : MUTANTS_DEFAULT;
    for (uint64_t k = 0; k < (uint64_t)mutants; k++) {
        uint64_t r = brn_rng_derive(0x5eed, k, 0);
        size_t len = n;
        memcpy(mut, orig, n);
        if (r % 10 == 0) {
            len = (size_t)(brn_rng_derive(0x5eed, k, 1) % n); /* truncated */
        } else {
            int flips = 1 + (int)((r >> 8) % 4);
            for (int j = 0; j < flips; j++) {
                uint64_t q = brn_rng_derive(0x5eed, k, 2 + (uint64_t)j);
                /* half of the mutations hit the header, where the parser lives */
                size_t pos = (q & 1) ? (size_t)((q >> 1) % header_end) : (size_t)((q >> 1) % n);
                uint8_t v = (uint8_t)(q >> 40);
                mut[pos] = (q >> 48) & 1 ? v : mut[pos] ^ (uint8_t)(1u << ((q >> 52) % 8));
            }
        }
        brn_st_file f;
        err[0] = 0;
        rc = brn_st_parse(&f, mut, len, "mutant", err, sizeof err);
        if (!rc && (rc = brn_checkpoint_file_check(&f, "mutant", err, sizeof err))) brn_st_free(&f);
        if (rc) {
            rejected++;
            if (!err[0] || rc != BRN_ECHECKPOINT) bad++;
        } else if (same_content(&ref, &f)) {
            identical++;
        } else {
            bad++;
            if (bad < 5) {
                fprintf(stderr, "  mutant %llu loaded with other content:", (unsigned long long)k);
                for (size_t i = 0; i < n; i++)
                    if (mut[i] != orig[i]) fprintf(stderr, " byte %zu %02x->%02x", i, orig[i], mut[i]);
                fprintf(stderr, "\n");
            }
        }
        brn_st_free(&f);
    }
    fprintf(stderr, "  %ld mutants of a %zu-byte checkpoint: %ld rejected, %ld read back identical, %ld wrong\n",
            mutants, n, rejected, identical, bad);
    CHECK_EQ_INT(bad, 0);
    CHECK(rejected > mutants / 2);
    brn_st_free(&ref);
    free(orig);
    free(mut);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    TEST(test_hostile_headers);
    TEST(test_writer_limits_and_round_trip);
    TEST(test_mutated_checkpoints);
    return CHECK_DONE();
}
