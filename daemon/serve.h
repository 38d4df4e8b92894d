#ifndef BRN_SERVE_H
#define BRN_SERVE_H
/* `brnd serve [options]` (also `brnd [options]`): argv excludes the program name and
 * "serve". Runs the service in the foreground until SIGTERM/SIGINT; returns a sysexits.h
 * exit status (0 after a clean stop). */
int serve_main(int argc, char **argv);
#endif
