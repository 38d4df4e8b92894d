/* brnd address resolution (see addr.h). */
#include "addr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fits(int r, size_t n) { return r >= 0 && (size_t)r < n; }

int addr_default_socket(char *out, size_t n, const char *xdg, const char *home, int is_root)
{
    int r;
    /* Same order as the daemon: XDG first, then root's system directory, then ~. */
    if (xdg && xdg[0] == '/') r = snprintf(out, n, "%s/brnd/%s", xdg, BRNCTL_SOCKET_NAME);
    else if (is_root) r = snprintf(out, n, "/var/lib/brnd/%s", BRNCTL_SOCKET_NAME);
    else if (home && home[0] == '/') r = snprintf(out, n, "%s/.local/state/brnd/%s", home, BRNCTL_SOCKET_NAME);
    else return -1;
    return fits(r, n) ? 0 : -1;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

int addr_to_target(char *out, size_t n, const char *addr, const char *cwd)
{
    int r;
    if (!addr || !addr[0]) return -1;
    const char *path = NULL;
    if (strncmp(addr, "unix:", 5) == 0) path = addr + 5;
    else if (addr[0] == '/' || addr[0] == '.') path = addr;
    if (path) {
        if (!path[0]) return -1;
        if (path[0] == '/') r = snprintf(out, n, "unix:%s", path);
        else r = snprintf(out, n, "unix:%s/%s", cwd ? cwd : ".", path);
    } else if (addr[0] == ':' && all_digits(addr + 1)) {
        r = snprintf(out, n, "127.0.0.1%s", addr);
    } else if (all_digits(addr)) {
        r = snprintf(out, n, "127.0.0.1:%s", addr);
    } else {
        r = snprintf(out, n, "%s", addr);
    }
    return fits(r, n) ? 0 : -1;
}

int addr_resolve(char *out, size_t n, const char *flag_addr, char *err, size_t errlen)
{
    const char *a = flag_addr && flag_addr[0] ? flag_addr : getenv("BRN_ADDR");
    char sock[1024];
    if (!a || !a[0]) {
        if (addr_default_socket(sock, sizeof sock, getenv("XDG_STATE_HOME"), getenv("HOME"), geteuid() == 0)) {
            snprintf(err, errlen, "no daemon address: set --addr or BRN_ADDR (HOME is not set)");
            return -1;
        }
        a = sock;
    }
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
    if (addr_to_target(out, n, a, cwd)) {
        snprintf(err, errlen, "bad daemon address '%s'", a);
        return -1;
    }
    return 0;
}
