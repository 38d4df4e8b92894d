/* JobSpec <-> brn_job_spec through the protobuf-c descriptor and the spec's field table. */
#include "spec_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBER(T, msg, off) (*(T *)((char *)(msg) + (off)))
#define CMEMBER(T, msg, off) (*(const T *)((const char *)(msg) + (off)))

static const char *const SERVER_SIDE[] = {"data_dir", "init", "checkpoint_dir"};

int spec_field_is_server_side(const char *name)
{
    for (size_t i = 0; i < sizeof SERVER_SIDE / sizeof SERVER_SIDE[0]; i++)
        if (strcmp(name, SERVER_SIDE[i]) == 0) return 1;
    return 0;
}

void spec_message_to_field_names(char *msg)
{
    char *colon = strchr(msg, ':');
    if (!colon) return;
    for (char *p = msg; p < colon; p++) {
        if (*p == ' ') return; /* not a "field: reason" message */
        if (*p == '-') *p = '_';
    }
}

/* One scalar value of field fd at p, formatted as brn_spec_set takes it. */
static int format_scalar(const ProtobufCFieldDescriptor *fd, const void *p, char *buf, size_t n)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: snprintf(buf, n, "%" PRId32, *(const int32_t *)p); return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: snprintf(buf, n, "%" PRIu32, *(const uint32_t *)p); return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: snprintf(buf, n, "%" PRId64, *(const int64_t *)p); return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: snprintf(buf, n, "%" PRIu64, *(const uint64_t *)p); return 0;
    case PROTOBUF_C_TYPE_FLOAT: snprintf(buf, n, "%.9g", (double)*(const float *)p); return 0;
    case PROTOBUF_C_TYPE_DOUBLE: snprintf(buf, n, "%.17g", *(const double *)p); return 0;
    case PROTOBUF_C_TYPE_BOOL: snprintf(buf, n, "%s", *(const protobuf_c_boolean *)p ? "true" : "false"); return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(fd->descriptor, *(const int *)p);
        if (!v) return -1;
        snprintf(buf, n, "%s", v->name);
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(const char *const *)p;
        if ((int)snprintf(buf, n, "%s", s ? s : "") >= (int)n) return -1;
        return 0;
    }
    default: return -1; /* bytes and messages have no spec counterpart */
    }
}

/* Is a non-repeated field present? Oneof members by their case, proto2 optionals by has_. */
static int field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return CMEMBER(uint32_t, m, fd->quantifier_offset) == fd->id;
    if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset)
        return CMEMBER(protobuf_c_boolean, m, fd->quantifier_offset);
    if (fd->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = CMEMBER(const char *, m, fd->offset);
        return s && s[0];
    }
    return 1; /* a plain proto3 scalar: always has a value */
}

static size_t scalar_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES: case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    default: return 4;
    }
}

int spec_from_proto(brn_job_spec *s, const Brn__V1__JobSpec *msg, char *err, size_t errlen)
{
    if (!msg) return 0;
    const ProtobufCMessageDescriptor *d = msg->base.descriptor;
    char value[BRN_SPEC_PATH_LEN + 16];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = CMEMBER(size_t, msg, fd->quantifier_offset);
            const char *arr = CMEMBER(const char *, msg, fd->offset);
            if (count == 0) continue; /* empty = the default (none) */
            size_t o = 0;
            value[0] = 0;
            for (size_t k = 0; k < count; k++) {
                char one[64];
                if (format_scalar(fd, arr + k * scalar_size(fd->type), one, sizeof one)) goto unsupported;
                o += (size_t)snprintf(value + o, sizeof value - o, "%s%s", k ? "," : "", one);
                if (o >= sizeof value) {
                    snprintf(err, errlen, "%s: too many values", fd->name);
                    return -1;
                }
            }
        } else {
            if (!field_present(&msg->base, fd)) continue;
            if (format_scalar(fd, (const char *)msg + fd->offset, value, sizeof value)) goto unsupported;
        }
        if (spec_field_is_server_side(fd->name)) {
            snprintf(err, errlen, "%s: set by the server, not by a job", fd->name);
            return -1;
        }
        if (brn_spec_set(s, fd->name, value, err, errlen)) {
            spec_message_to_field_names(err);
            return -1;
        }
        continue;
    unsupported:
        snprintf(err, errlen, "%s: value cannot be converted", fd->name);
        return -1;
    }
    return 0;
}

/* ---- spec -> proto ---- */

static int parse_scalar(const ProtobufCFieldDescriptor *fd, const char *v, void *p)
{
    char *end;
    errno = 0;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: {
        long long x = strtoll(v, &end, 10);
        if (errno || *end || end == v || x < INT32_MIN || x > INT32_MAX) return -1;
        *(int32_t *)p = (int32_t)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || *end || end == v || x > UINT32_MAX) return -1;
        *(uint32_t *)p = (uint32_t)x;
        return 0;
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)p = strtoll(v, &end, 10);
        return errno || *end || end == v ? -1 : 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)p = strtoull(v, &end, 10);
        return errno || *end || end == v ? -1 : 0;
    case PROTOBUF_C_TYPE_FLOAT:
        *(float *)p = strtof(v, &end);
        return *end || end == v ? -1 : 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)p = strtod(v, &end);
        return *end || end == v ? -1 : 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!strcmp(v, "true")) *(protobuf_c_boolean *)p = 1;
        else if (!strcmp(v, "false")) *(protobuf_c_boolean *)p = 0;
        else return -1;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value_by_name(fd->descriptor, v);
        if (!e) return -1;
        *(int *)p = e->value;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING:
        return (*(char **)p = strdup(v)) ? 0 : -1;
    default: return -1;
    }
}

typedef struct {
    Brn__V1__JobSpec *m;
    char *err;
    size_t errlen;
} to_proto_ctx;

static int set_field(const char *name, const char *value, void *user)
{
    to_proto_ctx *x = user;
    if (spec_field_is_server_side(name)) return 0;
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(x->m->base.descriptor, name);
    if (!fd) {
        snprintf(x->err, x->errlen, "%s: the spec field has no JobSpec counterpart", name);
        return -1;
    }
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t sz = scalar_size(fd->type), n = 0, cap = 1;
        for (const char *q = value; *q; q++) cap += *q == ',';
        char *arr = value[0] ? calloc(cap, sz) : NULL;
        if (value[0] && !arr) goto bad;
        char buf[64];
        const char *q = value;
        while (*q) {
            size_t len = strcspn(q, ",");
            if (len >= sizeof buf) goto bad_free;
            memcpy(buf, q, len);
            buf[len] = 0;
            if (parse_scalar(fd, buf, arr + n * sz)) goto bad_free;
            n++;
            q += len;
            if (*q == ',') q++;
        }
        MEMBER(size_t, x->m, fd->quantifier_offset) = n;
        MEMBER(char *, x->m, fd->offset) = arr;
        return 0;
    bad_free:
        free(arr);
        goto bad;
    }
    if (parse_scalar(fd, value, (char *)x->m + fd->offset)) goto bad;
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) MEMBER(uint32_t, x->m, fd->quantifier_offset) = fd->id;
    else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset)
        MEMBER(protobuf_c_boolean, x->m, fd->quantifier_offset) = 1;
    return 0;
bad:
    snprintf(x->err, x->errlen, "%s: cannot convert '%s'", name, value);
    return -1;
}

Brn__V1__JobSpec *spec_to_proto(const brn_job_spec *s, char *err, size_t errlen)
{
    Brn__V1__JobSpec *m = malloc(sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    brn__v1__job_spec__init(m);
    to_proto_ctx x = {m, err, errlen};
    if (brn_spec_for_each(s, set_field, &x)) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return NULL;
    }
    return m;
}
