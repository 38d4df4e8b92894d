/* Where brnctl finds brnd: --addr, else BRN_ADDR, else the daemon's default unix socket.
 *
 * The default mirrors brnd's default state directory: $XDG_STATE_HOME/brnd, or
 * /var/lib/brnd as root, else ~/.local/state/brnd; the socket is brnd.sock inside it.
 * Pure functions (the environment is passed in) so they can be unit-tested. */
#ifndef BRNCTL_ADDR_H
#define BRNCTL_ADDR_H

#include <stddef.h>

#define BRNCTL_SOCKET_NAME "brnd.sock"

/* Default socket path from the given environment (any may be NULL or empty).
 * Returns 0, or -1 when no home directory is known or the path does not fit. */
int addr_default_socket(char *out, size_t n, const char *xdg_state_home, const char *home, int is_root);

/* gRPC target for a user-given address: "/path" and "unix:/path" -> "unix:/path";
 * "host:port" and "[v6]:port" stay as they are; ":port" and a bare port -> 127.0.0.1:port.
 * Relative unix paths are made absolute against cwd. Returns 0, or -1 if it does not fit
 * or is empty. */
int addr_to_target(char *out, size_t n, const char *addr, const char *cwd);

/* Resolve flag / env / default into a target; err gets the reason on -1. */
int addr_resolve(char *out, size_t n, const char *flag_addr, char *err, size_t errlen);

#endif
