/* Listeners: unix sockets (stale-socket cleanup, private mode) and TCP (a bearer token
 * required, unless --insecure-loopback on a literal loopback address; TLS when a
 * certificate is configured). */
#include "rpc_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <grpc/grpc_security.h>

#include "common/log.h"

/* Split "host:port" / "[v6]:port" / ":port". Returns 0 or -1. */
static int split_host_port(const char *addr, char *host, size_t hostlen, long *port)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') return -1;
        if ((size_t)(close - addr - 1) >= hostlen) return -1;
        memcpy(host, addr + 1, (size_t)(close - addr - 1));
        host[close - addr - 1] = 0;
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= hostlen) return -1;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = 0;
        if (strchr(host, ':')) return -1; /* a bare IPv6 address needs brackets */
    }
    char *end;
    errno = 0;
    *port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || *port < 0 || *port > 65535) return -1;
    return 0;
}

/* A literal IPv4 address in dotted-quad form in 127.0.0.0/8, ::1, or an IPv4-mapped
 * 127.x.y.z. inet_pton takes only full literals: no names, no "127.1" short forms. */
static int host_is_literal_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6)) return 1;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return 0;
}

int rpc_listen_is_loopback(const char *addr)
{
    char host[256];
    long port;
    if (strncmp(addr, "unix:", 5) == 0) return 1;
    if (split_host_port(addr, host, sizeof host, &port)) return 0;
    return host_is_literal_loopback(host);
}

/* An existing socket file is either a live server (refuse) or left by a crash (remove). */
static int unix_prepare(const char *path, char *err, size_t errlen)
{
    struct stat st;
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "listen unix:%s: path longer than %zu characters", path, sizeof sa.sun_path - 1);
        return RPC_EADDR;
    }
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "listen unix:%s: the path exists and is not a socket", path);
        return RPC_EBIND;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        strcpy(sa.sun_path, path);
        int live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (live) {
            snprintf(err, errlen, "listen unix:%s: another server is listening there", path);
            return RPC_EBIND;
        }
    }
    if (unlink(path) != 0) {
        snprintf(err, errlen, "listen unix:%s: cannot remove the stale socket: %s", path, strerror(errno));
        return RPC_EBIND;
    }
    LOG_INFO("removed a stale socket %s", path);
    return 0;
}

int rpc_listen_add(brn_rpc_server *s, const char *addr, char *bound, size_t boundlen, char *err, size_t errlen)
{
    int is_unix = strncmp(addr, "unix:", 5) == 0;
    grpc_server_credentials *creds = NULL;
    char host[256];
    long port = 0;
    int rc;
    if (is_unix) {
        const char *path = addr + 5;
        if (path[0] == 0) {
            snprintf(err, errlen, "listen %s: empty socket path", addr);
            return RPC_EADDR;
        }
        if ((rc = unix_prepare(path, err, errlen))) return rc;
        creds = grpc_insecure_server_credentials_create();
        /* private from birth: no window in which another user could connect */
        mode_t old = umask(0177);
        int got = grpc_server_add_http2_port(s->server, addr, creds);
        umask(old);
        grpc_server_credentials_release(creds);
        if (got == 0) {
            snprintf(err, errlen, "listen %s: cannot bind (directory missing or not writable?)", addr);
            return RPC_EBIND;
        }
        chmod(path, 0600);
        snprintf(bound, boundlen, "%s", addr);
        return 0;
    }
    if (split_host_port(addr, host, sizeof host, &port)) {
        snprintf(err, errlen, "listen %s: expected unix:PATH, HOST:PORT or [IPv6]:PORT", addr);
        return RPC_EADDR;
    }
    int loopback = rpc_listen_is_loopback(addr);
    if (!s->token) {
        if (!s->insecure_loopback || !loopback) {
            snprintf(err, errlen,
                     "listen %s: a TCP listener needs a bearer token (--token-file)%s", addr,
                     !loopback ? ""
                     : "; or, on a literal loopback address only, --insecure-loopback to let every local "
                       "user in without one");
            return RPC_EADDR;
        }
        LOG_WARN("listen %s: INSECURE: TCP without a bearer token (--insecure-loopback): every user of this "
                 "machine can submit, cancel and read jobs through it", addr);
    }
    if (s->tls_cert) {
        grpc_ssl_pem_key_cert_pair pair = {s->tls_key, s->tls_cert};
        creds = grpc_ssl_server_credentials_create(NULL, &pair, 1, 0, NULL);
        if (!creds) {
            snprintf(err, errlen, "listen %s: the TLS certificate or key is not usable", addr);
            return RPC_EADDR;
        }
    } else {
        creds = grpc_insecure_server_credentials_create();
        if (!loopback)
            LOG_WARN("listen %s: without TLS the bearer token crosses the network in clear text", addr);
    }
    int got = grpc_server_add_http2_port(s->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (got == 0) {
        snprintf(err, errlen, "listen %s: cannot bind (address in use or not available)", addr);
        return RPC_EBIND;
    }
    if (strchr(host, ':')) snprintf(bound, boundlen, "[%s]:%d", host, got);
    else snprintf(bound, boundlen, "%s:%d", host[0] ? host : "0.0.0.0", got);
    return 0;
}
