/* brnd: `brnd [serve] [options]` runs the daemon; `brnd train [options]` trains one job
 * in the foreground; `brnd version`. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "blas_select.h"
#include "engine.h"
#include "serve.h"
#include "train_cmd.h"

#ifdef BRN_ENGINE_ONLY
/* An engine-only build (make engine-only) has no daemon: it trains in the foreground only. */
int serve_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "brnd: this is an engine-only build without the daemon; use `brnd train`\n");
    return EX_UNAVAILABLE;
}
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "usage: brnd [serve] [options]     run the training service (see brnd serve --help)\n"
            "       brnd train [options]       train one job in the foreground (see brnd train --help)\n"
            "       brnd version\n");
}

int main(int argc, char **argv)
{
    brn_blas_select_reexec(argv);
    if (argc > 1 && !strcmp(argv[1], "train")) return train_cmd_main(argc - 2, argv + 2);
    if (argc > 1 && !strcmp(argv[1], "serve")) return serve_main(argc - 2, argv + 2);
    if (argc > 1 && (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version"))) {
        printf("brnd %s\n", BRN_VERSION);
        return 0;
    }
    if (argc > 1 && (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && argv[1][0] != '-') {
        fprintf(stderr, "brnd: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return EX_USAGE;
    }
    return serve_main(argc - 1, argv + 1);
}
