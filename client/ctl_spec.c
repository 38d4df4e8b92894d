/* Job spec <-> proto JobSpec by walking the field table and the protobuf-c descriptor. */
#include "ctl_spec.h"

#include <stdlib.h>
#include <string.h>

#include "codec/pb_field.h"

/* Field names of the spec table, collected once through brn_spec_for_each. */
typedef struct field_list {
    char names[SPEC_PROTO_MAX_FIELDS][64];
    int n;
} field_list;

static int collect_name(const char *name, const char *value, void *user)
{
    field_list *l = user;
    if (l->n == SPEC_PROTO_MAX_FIELDS) return -1;
    snprintf(l->names[l->n++], sizeof l->names[0], "%s", name);
    return 0;
}

static int list_has(const field_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], name)) return 1;
    return 0;
}

static int is_bool_field(const char *name)
{
    return brn_spec_is_bool_flag(name);
}

int ctl_spec_given_has(const ctl_spec_given *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->names[i], name)) return 1;
    return 0;
}

static void given_add(ctl_spec_given *g, const char *name)
{
    if (ctl_spec_given_has(g, name) || g->n == SPEC_PROTO_MAX_FIELDS) return;
    snprintf(g->names[g->n++], sizeof g->names[0], "%s", name);
}

int ctl_spec_args_parse(brn_job_spec *s, ctl_spec_given *g, int argc, char **argv, int *rest, int *n_rest,
                    char *err, size_t errlen)
{
    field_list fl = {0};
    brn_job_spec d;
    brn_spec_defaults(&d);
    brn_spec_for_each(&d, collect_name, &fl);
    *s = d;
    g->n = 0;
    if (brn_spec_parse_args(s, argc, argv, err, errlen, 1, rest, n_rest)) return -1;
    /* Replay the parser's walk over the tokens it took, to learn which fields were named. */
    int r = 0;
    for (int i = 0; i < argc; i++) {
        if (r < *n_rest && rest[r] == i) {
            r++;
            continue;
        }
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) continue;
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) continue;
        for (size_t k = 0; k < len; k++) name[k] = a[2 + k] == '-' ? '_' : a[2 + k];
        name[len] = 0;
        if (list_has(&fl, name)) {
            given_add(g, name);
            if (!eq && !is_bool_field(name)) i++; /* its value is the next token */
        } else if (!strncmp(name, "no_", 3) && list_has(&fl, name + 3) && is_bool_field(name + 3)) {
            given_add(g, name + 3);
        }
    }
    return 0;
}

typedef struct to_proto_ctx {
    Brn__V1__JobSpec *p;
    const ctl_spec_given *g;
    char *err;
    size_t errlen;
} to_proto_ctx;

static int put_field(const char *name, const char *value, void *user)
{
    to_proto_ctx *c = user;
    if (c->g && !ctl_spec_given_has(c->g, name)) return 0;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(&brn__v1__job_spec__descriptor, name);
    if (!f) {
        char flag[40];
        size_t k = 0;
        for (; name[k] && k + 1 < sizeof flag; k++) flag[k] = name[k] == '_' ? '-' : name[k];
        flag[k] = 0;
        if (!c->g) return 0; /* sending a whole spec: the daemon's own paths are not ours */
        snprintf(c->err, c->errlen,
                 "--%s names a path on the daemon's machine and is not accepted by brnd "
                 "(it uses its own data and checkpoint directories); drop it", flag);
        return -1;
    }
    return pb_field_set_text(&c->p->base, f, value, c->err, c->errlen);
}

Brn__V1__JobSpec *ctl_spec_to_proto(const brn_job_spec *s, const ctl_spec_given *g, char *err, size_t errlen)
{
    Brn__V1__JobSpec *p = malloc(sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    brn__v1__job_spec__init(p);
    to_proto_ctx c = {p, g, err, errlen};
    if (brn_spec_for_each(s, put_field, &c)) {
        brn__v1__job_spec__free_unpacked(p, NULL);
        return NULL;
    }
    return p;
}

int ctl_spec_from_proto(brn_job_spec *s, const Brn__V1__JobSpec *p, char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor *d = &brn__v1__job_spec__descriptor;
    char buf[1100];
    brn_spec_defaults(s);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!pb_field_present(&p->base, f)) continue;
        if (pb_field_get_text(&p->base, f, buf, sizeof buf)) continue;
        if (brn_spec_set(s, f->name, buf, err, errlen)) return -1;
    }
    return 0;
}
