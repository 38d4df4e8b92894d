/* JobSpec <-> brn_job_spec through the protobuf-c descriptor and the spec's field table,
 * with the codec brnctl uses too (codec/pb_field.h). */
#include "spec_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pb_field.h"

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

int spec_from_proto(brn_job_spec *s, const Brn__V1__JobSpec *msg, char *err, size_t errlen)
{
    if (!msg) return 0;
    const ProtobufCMessageDescriptor *d = msg->base.descriptor;
    char value[BRN_SPEC_PATH_LEN + 16];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (!pb_field_present(&msg->base, fd)) continue; /* absent: the default */
        if (spec_field_is_server_side(fd->name)) {
            snprintf(err, errlen, "%s: set by the server, not by a job", fd->name);
            return -1;
        }
        if (pb_field_get_text(&msg->base, fd, value, sizeof value)) {
            snprintf(err, errlen, "%s: value too long or of an unsupported type", fd->name);
            return -1;
        }
        if (brn_spec_set(s, fd->name, value, err, errlen)) {
            spec_message_to_field_names(err);
            return -1;
        }
    }
    return 0;
}

/* ---- spec -> proto ---- */

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
    return pb_field_set_text(&x->m->base, fd, value, x->err, x->errlen);
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
