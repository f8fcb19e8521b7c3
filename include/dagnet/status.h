/* dagnet/status.h: status codes and the thread-local error message.
 *
 * Every core function that can fail returns a dn_status. On failure a
 * message saying what was wrong and what to do about it is kept per thread
 * and read with dn_last_error(). The core never prints and never ends the
 * process.
 */
#ifndef DAGNET_STATUS_H
#define DAGNET_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dn_status {
    DN_OK = 0,
    DN_ERR_INVALID = 1,     /* a bad argument, shape or graph (Python: ValueError) */
    DN_ERR_TYPE = 2,        /* an argument of the wrong kind (Python: TypeError) */
    DN_ERR_NOMEM = 3,       /* an allocation failed (Python: MemoryError) */
    DN_ERR_STATE = 4,       /* called in the wrong order, e.g. before compile (RuntimeError) */
    DN_ERR_NUMERIC = 5,     /* a loss or gradient turned NaN or infinite (FloatingPointError) */
    DN_ERR_UNSUPPORTED = 6, /* valid, but not available in this build (RuntimeError) */
    DN_ERR_INTERNAL = 7     /* a bug in dagnet (RuntimeError) */
} dn_status;

/* The message of the last failure on this thread ("" when none). */
const char *dn_last_error(void);

/* A short name of a status code, e.g. "DN_ERR_INVALID". */
const char *dn_status_name(dn_status s);

/* Set the thread-local message (printf format) and return `s`. For use by
 * the core and by its extensions. */
dn_status dn_fail(dn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
