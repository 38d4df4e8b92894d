/* How a scalar is written as text, in one place for every parser and printer of job fields:
 * the engine's spec flags and JSON (spec.c), the protobuf field codec of brnd and brnctl
 * (codec/pb_field.c) and brnctl's reports, so that a value one accepts the other accepts too
 * and every one prints a number alike. */
#ifndef BRN_TEXT_SCALAR_H
#define BRN_TEXT_SCALAR_H

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* Decimal digits, with a leading '-' only when allowed: strtol/strtoull alone would also take
 * leading spaces and '+', and strtoull a "-1" as the largest value. */
static inline int brn_text_plain_integer(const char *v, int allow_minus)
{
    const char *p = v + (allow_minus && v[0] == '-');
    if (!*p) return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

/* true/yes/on/1 and false/no/off/0, any case: 0 and *out set, or -1. */
static inline int brn_text_parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) return *out = 1, 0;
        if (!strcasecmp(v, no[i])) return *out = 0, 0;
    }
    return -1;
}

/* A double as its shortest text that reads back the same ("0.1", not 0.10000000000000001). */
static inline void brn_text_shortest_double(char *out, size_t n, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

#endif
