/* Minimal test harness: CHECK macros print both values and the place; a test binary exits
 * non-zero when any check failed. Each test file defines main() calling TEST(fn) per case. */
#ifndef BRN_CHECK_H
#define BRN_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond) do { check_count++; if (!(cond)) { check_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); check_count++; \
    if (_a != _b) { check_failures++; fprintf(stderr, "%s:%d: %s == %s failed: %lld vs %lld\n", \
    __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)

#define CHECK_STR_CONTAINS(hay, needle) do { const char *_h = (hay); check_count++; \
    if (!_h || !strstr(_h, (needle))) { check_failures++; fprintf(stderr, \
    "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, _h ? _h : "(null)", (needle)); } } while (0)

/* |a-b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, atol, rtol) do { double _a = (a), _b = (b); check_count++; \
    if (!(fabs(_a - _b) <= (atol) + (rtol) * fabs(_b))) { check_failures++; fprintf(stderr, \
    "%s:%d: %s ~ %s failed: %.9g vs %.9g (diff %.3g)\n", __FILE__, __LINE__, #a, #b, _a, _b, fabs(_a - _b)); } } while (0)

#define TEST(fn) do { int _before = check_failures; fn(); \
    fprintf(stderr, "%s %s\n", check_failures == _before ? "ok  " : "FAIL", #fn); } while (0)

#define CHECK_DONE() (fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures), \
    check_failures ? 1 : 0)

#endif
