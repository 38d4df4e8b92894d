/* One protobuf field codec for brnd and brnctl: protobuf-c field access by descriptor,
 * with values as text.
 *
 * The daemon maps a JobSpec to the job spec's field table (service/spec_proto.c) and
 * brnctl maps its flags to a JobSpec (client/ctl_spec.c) through these functions, so both
 * read and write every field the same way:
 *   integers  decimal digits with an optional '-' (signed types only), nothing else: no
 *             spaces, no '+', no hex, range-checked for the field's type
 *   floats    a finite number (strtod's syntax, no leading spaces); NaN, infinities and
 *             floats beyond FLT_MAX are refused
 *   bools     true/false, yes/no, on/off, 1/0 (any case), written as true/false
 *   enums     the value's name ("JOB_STATE_QUEUED") or its last part ("queued"), any case
 *   repeated  comma-separated elements; "" is none
 * Errors are "field_name: reason" with the offending text.
 *
 * Presence: a oneof member when its case is its id; a repeated field when it has elements;
 * a string outside a oneof when it is not empty (proto3: "" is the default); any other
 * proto3 scalar is always present. */
#ifndef BRN_CODEC_PB_FIELD_H
#define BRN_CODEC_PB_FIELD_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

int pb_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

/* Sets a scalar, string, enum or repeated scalar field from text and marks it present.
 * Strings and arrays are malloc'd so protobuf_c_message_free_unpacked(m, NULL) frees them
 * (a replaced array is freed; a replaced string is not, as a fresh message's strings are
 * protobuf-c's shared empty string). Returns 0, or -1 with err. Message and bytes fields
 * are not settable. */
int pb_field_set_text(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *value,
                      char *err, size_t errlen);

/* Formats a field as text as pb_field_set_text reads it (doubles %.17g, floats %.9g, bools
 * true/false, enums by name, repeated comma-separated). Returns 0, or -1 for message and
 * bytes fields or when out is too small. */
int pb_field_get_text(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char *out, size_t n);

/* One element: parse text into dst (storage of the field's C type) / format it. */
int pb_field_parse_scalar(const ProtobufCFieldDescriptor *f, const char *text, void *dst, char *err, size_t errlen);
int pb_field_format_scalar(const ProtobufCFieldDescriptor *f, const void *p, char *out, size_t n);

#endif
