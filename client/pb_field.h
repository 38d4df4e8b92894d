/* Generic protobuf-c field access by descriptor, with values as text.
 *
 * Lets the client map between the job spec's field table (text values, see spec.h) and
 * any protobuf-c message without a field-by-field copy. Presence: a field inside a oneof
 * is present when its oneof case equals its id; a repeated field when it has elements;
 * a proto3 scalar outside a oneof is always present. */
#ifndef BRNCTL_PB_FIELD_H
#define BRNCTL_PB_FIELD_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

int pb_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/* Sets a scalar, string, enum (by value name, case-insensitive, with or without the enum's
 * prefix) or repeated scalar (comma-separated) field from text; marks it present.
 * Strings and arrays are malloc'd so protobuf_c_message_free_unpacked(m, NULL) frees them.
 * Returns 0, or -1 with "name: reason" in err. Message-typed fields are not supported. */
int pb_field_set_text(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *value,
                      char *err, size_t errlen);

/* Formats a present scalar/string/enum/repeated-scalar field as text (doubles with %.17g,
 * bools as true/false, repeated as comma-separated). Returns 0, or -1 for message fields. */
int pb_field_get_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *out, size_t n);

#endif
