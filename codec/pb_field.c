/* protobuf-c field access by descriptor, values as text (see pb_field.h). */
#include "pb_field.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "text_scalar.h"

#define AT(m, off, type) ((type *)((char *)(m) + (off)))
#define CAT(m, off, type) ((const type *)((const char *)(m) + (off)))

/* The longest element of a repeated field's text. */
#define ELEMENT_MAX 128

int pb_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED) return *CAT(m, f->quantifier_offset, size_t) > 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return *CAT(m, f->quantifier_offset, uint32_t) == f->id;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *CAT(m, f->offset, char *);
        return s && s[0];
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) return *CAT(m, f->offset, void *) != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
        return *CAT(m, f->quantifier_offset, protobuf_c_boolean);
    return 1;
}

/* Bytes of one element in a repeated field's array. */
static size_t element_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: case PROTOBUF_C_TYPE_BYTES:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return 4;
    }
}

int pb_field_parse_scalar(const ProtobufCFieldDescriptor *f, const char *v, void *dst, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32: {
        long long x = brn_text_plain_integer(v, 1) ? strtoll(v, &end, 10) : 0;
        if (!end || errno || x < INT32_MIN || x > INT32_MAX) goto bad_int;
        *(int32_t *)dst = (int32_t)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
        long long x = brn_text_plain_integer(v, 1) ? strtoll(v, &end, 10) : 0;
        if (!end || errno) goto bad_int;
        *(int64_t *)dst = x;
        return 0;
    }
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: {
        unsigned long long x = brn_text_plain_integer(v, 0) ? strtoull(v, &end, 10) : 0;
        if (!end || errno || x > UINT32_MAX) goto bad_int;
        *(uint32_t *)dst = (uint32_t)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
        unsigned long long x = brn_text_plain_integer(v, 0) ? strtoull(v, &end, 10) : 0;
        if (!end || errno) goto bad_int;
        *(uint64_t *)dst = x;
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE: case PROTOBUF_C_TYPE_FLOAT: {
        double x = v[0] && v[0] != ' ' && v[0] != '\t' && v[0] != '\n' ? strtod(v, &end) : 0;
        if (!end || end == v || *end || !isfinite(x) || (f->type == PROTOBUF_C_TYPE_FLOAT && fabs(x) > FLT_MAX)) {
            snprintf(err, errlen, "%s: '%s' is not a finite number", f->name, v);
            return -1;
        }
        if (f->type == PROTOBUF_C_TYPE_DOUBLE) *(double *)dst = x;
        else *(float *)dst = (float)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL: {
        int b;
        if (brn_text_parse_bool(v, &b)) {
            snprintf(err, errlen, "%s: '%s' is not a boolean (true/false)", f->name, v);
            return -1;
        }
        *(protobuf_c_boolean *)dst = b;
        return 0;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        size_t lv = strlen(v);
        for (unsigned i = 0; lv && i < ed->n_values; i++) {
            const char *name = ed->values[i].name;
            size_t ln = strlen(name);
            /* "queued" matches JOB_STATE_QUEUED: the suffix after an underscore */
            if (!strcasecmp(name, v) || (ln > lv && name[ln - lv - 1] == '_' && !strcasecmp(name + ln - lv, v))) {
                *(int *)dst = ed->values[i].value;
                return 0;
            }
        }
        snprintf(err, errlen, "%s: '%s' is not one of the %s values", f->name, v, ed->short_name);
        return -1;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char *s = strdup(v);
        if (!s) {
            snprintf(err, errlen, "%s: out of memory", f->name);
            return -1;
        }
        *(char **)dst = s;
        return 0;
    }
    default:
        snprintf(err, errlen, "%s: not settable from text", f->name);
        return -1;
    }
bad_int:
    snprintf(err, errlen, "%s: '%s' is not an integer in range", f->name, v);
    return -1;
}

static int set_repeated(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *value, char *err,
                        size_t errlen)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        snprintf(err, errlen, "%s: repeated strings are not settable from text", f->name);
        return -1;
    }
    size_t cap = 1, sz = element_size(f->type), n = 0;
    for (const char *q = value; *q; q++) cap += *q == ',';
    char *arr = value[0] ? calloc(cap, sz) : NULL, one[ELEMENT_MAX];
    if (value[0] && !arr) {
        snprintf(err, errlen, "%s: out of memory", f->name);
        return -1;
    }
    for (const char *q = value; *q;) {
        size_t len = strcspn(q, ",");
        if (len >= sizeof one) {
            snprintf(err, errlen, "%s: element %zu is longer than %d characters", f->name, n + 1, ELEMENT_MAX - 1);
            goto fail;
        }
        memcpy(one, q, len);
        one[len] = 0;
        if (pb_field_parse_scalar(f, one, arr + n * sz, err, errlen)) goto fail;
        n++;
        q += len;
        if (*q == ',' && !*++q) { /* a trailing comma: an empty last element */
            snprintf(err, errlen, "%s: '%s' ends with a comma", f->name, value);
            goto fail;
        }
    }
    void **slot = AT(m, f->offset, void *);
    free(*slot);
    *slot = arr;
    *AT(m, f->quantifier_offset, size_t) = n;
    return 0;
fail:
    free(arr);
    return -1;
}

int pb_field_set_text(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *value,
                      char *err, size_t errlen)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_BYTES) {
        snprintf(err, errlen, "%s: not settable from text", f->name);
        return -1;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) return set_repeated(m, f, value, err, errlen);
    if (pb_field_parse_scalar(f, value, AT(m, f->offset, void), err, errlen)) return -1;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) *AT(m, f->quantifier_offset, uint32_t) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset && f->type != PROTOBUF_C_TYPE_STRING)
        *AT(m, f->quantifier_offset, protobuf_c_boolean) = 1;
    return 0;
}

int pb_field_format_scalar(const ProtobufCFieldDescriptor *f, const void *p, char *out, size_t n)
{
    int r;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        r = snprintf(out, n, "%" PRId32, *(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        r = snprintf(out, n, "%" PRId64, *(const int64_t *)p); break;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        r = snprintf(out, n, "%" PRIu32, *(const uint32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        r = snprintf(out, n, "%" PRIu64, *(const uint64_t *)p); break;
    case PROTOBUF_C_TYPE_DOUBLE: r = snprintf(out, n, "%.17g", *(const double *)p); break;
    case PROTOBUF_C_TYPE_FLOAT: r = snprintf(out, n, "%.9g", (double)*(const float *)p); break;
    case PROTOBUF_C_TYPE_BOOL: r = snprintf(out, n, "%s", *(const protobuf_c_boolean *)p ? "true" : "false"); break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        r = snprintf(out, n, "%s", s ? s : "");
        break;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        r = ev ? snprintf(out, n, "%s", ev->name) : snprintf(out, n, "%d", *(const int *)p);
        break;
    }
    default:
        return -1;
    }
    return r < 0 || (size_t)r >= n ? -1 : 0;
}

int pb_field_get_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *out, size_t n)
{
    if (n) out[0] = 0;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_BYTES || n == 0) return -1;
    if (f->label != PROTOBUF_C_LABEL_REPEATED) return pb_field_format_scalar(f, CAT(m, f->offset, void), out, n);
    size_t cnt = *CAT(m, f->quantifier_offset, size_t), o = 0, sz = element_size(f->type);
    const char *arr = *CAT(m, f->offset, char *);
    for (size_t i = 0; i < cnt; i++) {
        if (i) {
            if (o + 1 >= n) return -1;
            out[o++] = ',';
        }
        if (pb_field_format_scalar(f, arr + i * sz, out + o, n - o)) return -1;
        o += strlen(out + o);
    }
    out[o] = 0;
    return 0;
}
