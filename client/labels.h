/* Job labels on brnctl's command line: "key=value" arguments -> proto Label messages, and
 * labels as text for tables. The daemon checks the label rules (see proto Label); here
 * only the "key=value" form is. */
#ifndef BRNCTL_LABELS_H
#define BRNCTL_LABELS_H

#include <stddef.h>

#include "brn/v1/brn.pb-c.h"

/* More than the daemon accepts, so that its limit is the one a user sees. */
#define CTL_LABELS_MAX 64

typedef struct ctl_labels {
    Brn__V1__Label items[CTL_LABELS_MAX];  /* key/value malloc'd */
    Brn__V1__Label *ptrs[CTL_LABELS_MAX];  /* for a request's labels field */
    size_t n;
} ctl_labels;

void ctl_labels_init(ctl_labels *l);
void ctl_labels_free(ctl_labels *l);

/* Adds "key=value" (value may be empty). Returns 0, or -1 with the reason in err. */
int ctl_labels_add_arg(ctl_labels *l, const char *arg, char *err, size_t errlen);

/* Adds key and value as given (copied). Returns 0, or -1 when full or out of memory. */
int ctl_labels_add(ctl_labels *l, const char *key, const char *value);

/* The value of key among labels, or NULL. */
const char *ctl_label_get(Brn__V1__Label *const *labels, size_t n, const char *key);

/* "k=v k=v" (sep between pairs) into out; "-" when there are none. */
void ctl_labels_format(char *out, size_t n, Brn__V1__Label *const *labels, size_t count, const char *sep);

#endif
