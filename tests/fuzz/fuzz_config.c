/* Fuzz target: brnd's config file (--config), through serve_main itself. The command line
 * names a state directory that cannot be created (and the log file), so every input ends
 * after the options are read: parsed and refused with a message, or accepted and then
 * stopped at the directory.
 * Nothing may crash or leak either way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "serve.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* a private working directory: relative paths an input names stay inside it */
    static char dir[64];
    snprintf(dir, sizeof dir, "%s/brn-fuzz-config-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir) || chdir(dir)) abort();
    snprintf(path, sizeof path, "%s/config.json", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    /* flags override the file: no input may choose where the log goes or what is created */
    char *argv[] = {"--config", path, "--state-dir", "/proc/brn-fuzz/no/such/dir", "--log-file", "/dev/null", NULL};
    int rc = serve_main(6, argv);
    if (rc == 0) abort(); /* the state directory cannot exist: never a clean run */
    return 0;
}
