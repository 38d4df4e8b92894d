/* JobSpec (proto) <-> brn_job_spec, by walking the message descriptor: the proto's field
 * names are the spec's field names, so no field is copied by hand and a field added to
 * both sides needs no code here. */
#ifndef BRN_SPEC_PROTO_H
#define BRN_SPEC_PROTO_H

#include <stddef.h>

#include "brn/v1/brn.pb-c.h"
#include "spec.h"

/* Apply every field present in msg to s (s holds defaults or earlier values) through
 * brn_spec_set. Returns 0, or -1 with "field_name: reason" in err. msg may be NULL. */
int spec_from_proto(brn_job_spec *s, const Brn__V1__JobSpec *msg, char *err, size_t errlen);

/* A heap JobSpec with every API field of s present; free with
 * protobuf_c_message_free_unpacked(&m->base, NULL). NULL with a message on failure. */
Brn__V1__JobSpec *spec_to_proto(const brn_job_spec *s, char *err, size_t errlen);

/* 1 for the spec fields that name server paths and are not part of the API. */
int spec_field_is_server_side(const char *name);

/* Rewrite a spec message's leading flag name ("batch-size: ...") to the proto field name
 * ("batch_size: ..."), in place, so errors name the field the client sent. */
void spec_message_to_field_names(char *msg);

#endif
