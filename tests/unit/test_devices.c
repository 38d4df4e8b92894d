/* Device discovery and backend choice: the CPU is always listed first; without a usable GPU
 * the reason is given, `cuda` is refused naming the field with it, and `auto` opens the CPU.
 * With a GPU, each is listed with its memory and `auto` opens it. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "errors.h"

static void test_devices_listed(void)
{
    brn_device_desc d[8];
    char why[256] = "unset";
    const int n = brn_devices_list(d, 8, why, sizeof why);
    CHECK(n >= 1);
    CHECK(!strcmp(d[0].id, "cpu") && !strcmp(d[0].kind, "cpu"));
    CHECK(d[0].memory_bytes > 0);
    if (n == 1) {
        fprintf(stderr, "  no usable GPU: %s\n", why);
        CHECK(why[0] && strcmp(why, "unset"));
    }
    for (int i = 1; i < n; i++) {
        fprintf(stderr, "  %s: %s, %.1f GiB\n", d[i].id, d[i].name, d[i].memory_bytes / 1073741824.0);
        CHECK(!strcmp(d[i].kind, "cuda"));
        CHECK(d[i].memory_bytes > 0);
        char id[32];
        snprintf(id, sizeof id, "cuda:%d", i - 1);
        CHECK(!strcmp(d[i].id, id));
    }
}

static void test_backend_choice(void)
{
    brn_device_desc d[8];
    char why[256] = "", err[512] = "";
    const int gpus = brn_devices_list(d, 8, why, sizeof why) - 1;
    brn_job_spec s;
    brn_spec_defaults(&s);
    s.threads = 1;
    brn_backend *be = NULL;
    snprintf(s.device, sizeof s.device, "cuda");
    int rc = brn_backend_open(&s, &be, err, sizeof err);
    if (gpus == 0) {
        CHECK_EQ_INT(rc, BRN_EDEVICE);
        CHECK_STR_CONTAINS(err, "device: cuda is not available: ");
        CHECK_STR_CONTAINS(err, why);
        CHECK(be == NULL);
    } else {
        CHECK_EQ_INT(rc, 0);
        if (be) CHECK(!strcmp(be->device, "cuda:0"));
        brn_backend_close(be);
    }
    be = NULL;
    snprintf(s.device, sizeof s.device, "cuda:%d", gpus);   /* one past the last GPU */
    CHECK_EQ_INT(brn_backend_open(&s, &be, err, sizeof err), BRN_EDEVICE);
    CHECK_STR_CONTAINS(err, "is not available");
    snprintf(s.device, sizeof s.device, "auto");
    CHECK_EQ_INT(brn_backend_open(&s, &be, err, sizeof err), 0);
    if (be) CHECK(!strcmp(be->device, gpus ? "cuda:0" : "cpu"));
    brn_backend_close(be);
}

int main(void)
{
    TEST(test_devices_listed);
    TEST(test_backend_choice);
    return CHECK_DONE();
}
