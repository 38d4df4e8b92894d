/* Command-line labels (see labels.h). */
#include "labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ctl_labels_init(ctl_labels *l)
{
    memset(l, 0, sizeof *l);
}

void ctl_labels_free(ctl_labels *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    l->n = 0;
}

int ctl_labels_add(ctl_labels *l, const char *key, const char *value)
{
    if (l->n == CTL_LABELS_MAX) return -1;
    Brn__V1__Label *x = &l->items[l->n];
    brn__v1__label__init(x);
    x->key = strdup(key);
    x->value = strdup(value);
    if (!x->key || !x->value) {
        free(x->key);
        free(x->value);
        return -1;
    }
    l->ptrs[l->n++] = x;
    return 0;
}

int ctl_labels_add_arg(ctl_labels *l, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        snprintf(err, errlen, "--label: '%s' is not KEY=VALUE", arg);
        return -1;
    }
    char *key = strndup(arg, (size_t)(eq - arg));
    int rc = key ? ctl_labels_add(l, key, eq + 1) : -1;
    free(key);
    if (rc) snprintf(err, errlen, "--label: more than %d labels", CTL_LABELS_MAX);
    return rc;
}

const char *ctl_label_get(Brn__V1__Label *const *labels, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (labels[i]->key && !strcmp(labels[i]->key, key)) return labels[i]->value ? labels[i]->value : "";
    return NULL;
}

void ctl_labels_format(char *out, size_t n, Brn__V1__Label *const *labels, size_t count, const char *sep)
{
    size_t o = 0;
    if (n == 0) return;
    out[0] = 0;
    if (count == 0) {
        snprintf(out, n, "-");
        return;
    }
    for (size_t i = 0; i < count && o < n; i++) {
        int r = snprintf(out + o, n - o, "%s%s=%s", i ? sep : "", labels[i]->key, labels[i]->value);
        if (r < 0) break;
        o += (size_t)r;
    }
}
