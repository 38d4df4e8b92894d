/* protobuf-c field access by descriptor (see pb_field.h). */
#include "pb_field.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AT(m, off, type) ((type *)((char *)(m) + (off)))
#define CAT(m, off, type) ((const type *)((const char *)(m) + (off)))

int pb_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) return *CAT(m, f->quantifier_offset, size_t) > 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return *CAT(m, f->quantifier_offset, uint32_t) == f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
        return *CAT(m, f->offset, void *) != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) return *CAT(m, f->quantifier_offset, protobuf_c_boolean);
    return 1;
}

static size_t scalar_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: case PROTOBUF_C_TYPE_BYTES:
        return sizeof(void *) > 8 ? sizeof(void *) : 8;
    default:
        return 4;
    }
}

/* Parses one element of a scalar/enum field into dst (storage of the field's C type). */
static int parse_scalar(const ProtobufCFieldDescriptor *f, const char *v, void *dst, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < INT32_MIN || x > INT32_MAX) goto bad_int;
        *(int32_t *)dst = (int32_t)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end) goto bad_int;
        *(int64_t *)dst = x;
        return 0;
    }
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-' || x > UINT32_MAX) goto bad_int;
        *(uint32_t *)dst = (uint32_t)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-') goto bad_int;
        *(uint64_t *)dst = x;
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: case PROTOBUF_C_TYPE_FLOAT: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x)) {
            snprintf(err, errlen, "%s: '%s' is not a finite number", f->name, v);
            return -1;
        }
        if (f->type == PROTOBUF_C_TYPE_DOUBLE) *(double *)dst = x;
        else *(float *)dst = (float)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!strcasecmp(v, "true") || !strcmp(v, "1")) *(protobuf_c_boolean *)dst = 1;
        else if (!strcasecmp(v, "false") || !strcmp(v, "0")) *(protobuf_c_boolean *)dst = 0;
        else {
            snprintf(err, errlen, "%s: '%s' is not a boolean", f->name, v);
            return -1;
        }
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        for (unsigned i = 0; i < ed->n_values; i++) {
            const char *name = ed->values[i].name;
            size_t ln = strlen(name), lv = strlen(v);
            /* "brn" matches BRN_NORM_BRN: compare against the suffix after an underscore */
            if (!strcasecmp(name, v) || (ln > lv && name[ln - lv - 1] == '_' && !strcasecmp(name + ln - lv, v))) {
                *(int *)dst = ed->values[i].value;
                return 0;
            }
        }
        snprintf(err, errlen, "%s: '%s' is not a known value", f->name, v);
        return -1;
    }
    default:
        snprintf(err, errlen, "%s: unsupported field type", f->name);
        return -1;
    }
bad_int:
    snprintf(err, errlen, "%s: '%s' is not an integer in range", f->name, v);
    return -1;
}

int pb_field_set_text(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *value,
                      char *err, size_t errlen)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_BYTES) {
        snprintf(err, errlen, "%s: not settable from text", f->name);
        return -1;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            snprintf(err, errlen, "%s: repeated strings are not settable from text", f->name);
            return -1;
        }
        size_t cap = 1, sz = scalar_size(f->type);
        for (const char *q = value; *q; q++) cap += *q == ',';
        char *arr = calloc(cap, sz), tmp[128];
        size_t n = 0;
        if (!arr) {
            snprintf(err, errlen, "%s: out of memory", f->name);
            return -1;
        }
        for (const char *q = value; *q;) {
            const char *e = strchr(q, ',');
            size_t len = e ? (size_t)(e - q) : strlen(q);
            if (len >= sizeof tmp) len = sizeof tmp - 1;
            memcpy(tmp, q, len);
            tmp[len] = 0;
            if (parse_scalar(f, tmp, arr + n * sz, err, errlen)) {
                free(arr);
                return -1;
            }
            n++;
            q = e ? e + 1 : q + len;
        }
        void **slot = AT(m, f->offset, void *);
        free(*slot);
        *slot = n ? arr : (free(arr), NULL);
        *AT(m, f->quantifier_offset, size_t) = n;
        return 0;
    }
    void *dst = AT(m, f->offset, void);
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char *s = strdup(value);
        if (!s) {
            snprintf(err, errlen, "%s: out of memory", f->name);
            return -1;
        }
        *(char **)dst = s; /* fresh messages hold the shared empty string: never freed here */
    } else if (parse_scalar(f, value, dst, err, errlen)) {
        return -1;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) *AT(m, f->quantifier_offset, uint32_t) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING)
        *AT(m, f->quantifier_offset, protobuf_c_boolean) = 1;
    return 0;
}

static int format_scalar(const ProtobufCFieldDescriptor *f, const void *p, char *out, size_t n)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        return snprintf(out, n, "%" PRId32, *(const int32_t *)p);
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        return snprintf(out, n, "%" PRId64, *(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        return snprintf(out, n, "%" PRIu32, *(const uint32_t *)p);
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return snprintf(out, n, "%" PRIu64, *(const uint64_t *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return snprintf(out, n, "%.17g", *(const double *)p);
    case PROTOBUF_C_TYPE_FLOAT: return snprintf(out, n, "%.9g", (double)*(const float *)p);
    case PROTOBUF_C_TYPE_BOOL: return snprintf(out, n, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
    case PROTOBUF_C_TYPE_STRING: return snprintf(out, n, "%s", *(char *const *)p ? *(char *const *)p : "");
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        return ev ? snprintf(out, n, "%s", ev->name) : snprintf(out, n, "%d", *(const int *)p);
    }
    default:
        return -1;
    }
}

int pb_field_get_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *out, size_t n)
{
    if (n) out[0] = 0;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_BYTES) return -1;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t cnt = *CAT(m, f->quantifier_offset, size_t), o = 0, sz = scalar_size(f->type);
        const char *arr = *CAT(m, f->offset, const char *);
        for (size_t i = 0; i < cnt && o < n; i++) {
            if (i) out[o++] = ',';
            if (o >= n) break;
            int r = format_scalar(f, arr + i * sz, out + o, n - o);
            if (r < 0) return -1;
            o += (size_t)r;
        }
        if (o >= n && n) out[n - 1] = 0;
        else if (n) out[o] = 0;
        return 0;
    }
    return format_scalar(f, CAT(m, f->offset, void), out, n) < 0 ? -1 : 0;
}
