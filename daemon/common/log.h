/* Daemon logging to stderr: one line per message, level-filtered.
 * Thread-safe (one fprintf per line); used by every daemon module. */
#ifndef BRN_COMMON_LOG_H
#define BRN_COMMON_LOG_H

typedef enum { BRN_LOG_ERROR, BRN_LOG_WARN, BRN_LOG_INFO, BRN_LOG_DEBUG } brn_log_level;

void brnd_log_set_level(brn_log_level lvl);
/* "error" | "warn" | "info" | "debug" -> level, or -1 */
int brnd_log_parse_level(const char *name);
void brnd_log(brn_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_ERROR(...) brnd_log(BRN_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) brnd_log(BRN_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) brnd_log(BRN_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) brnd_log(BRN_LOG_DEBUG, __VA_ARGS__)

#endif
