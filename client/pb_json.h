/* protobuf-c message -> JSON (jansson), for `brnctl --json`.
 *
 * Field names as in the proto (snake_case, like the job spec's); oneof members only when
 * set; enums by their short name ("SUCCEEDED", not JOB_STATE_SUCCEEDED); 64-bit integers
 * as JSON integers; repeated fields as arrays. */
#ifndef BRNCTL_PB_JSON_H
#define BRNCTL_PB_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

json_t *pb_to_json(const ProtobufCMessage *m);

/* Short name of an enum value: the part after the generated prefix. */
const char *pb_enum_short_name(const ProtobufCEnumDescriptor *d, int value);

#endif
