/* Status codes and the thread-local error message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"

static _Thread_local char dn_errbuf[1024];

const char *dn_last_error(void) { return dn_errbuf; }

const char *dn_status_name(dn_status s)
{
    switch (s) {
    case DN_OK: return "DN_OK";
    case DN_ERR_INVALID: return "DN_ERR_INVALID";
    case DN_ERR_TYPE: return "DN_ERR_TYPE";
    case DN_ERR_NOMEM: return "DN_ERR_NOMEM";
    case DN_ERR_STATE: return "DN_ERR_STATE";
    case DN_ERR_NUMERIC: return "DN_ERR_NUMERIC";
    case DN_ERR_UNSUPPORTED: return "DN_ERR_UNSUPPORTED";
    case DN_ERR_INTERNAL: return "DN_ERR_INTERNAL";
    }
    return "DN_ERR_UNKNOWN";
}

dn_status dn_fail(dn_status s, const char *fmt, ...)
{
    /* through a local buffer: an argument may be dn_last_error() itself, when
     * a caller adds context to the message of a call that failed */
    char msg[sizeof dn_errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(dn_errbuf, msg, sizeof msg);
    return s;
}

dn_status dn_fail_node(const dn_node *node, dn_status s, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dn_fail(s, "%s (%s): %s", node->name, dn_op_name(node->op), msg);
}

/* --- memory -------------------------------------------------------------- */

void *dn_alloc(size_t bytes)
{
    if (bytes == 0) bytes = DN_ALIGN;
    if (bytes > ((size_t)1 << 62)) return NULL;
    size_t rounded = (bytes + DN_ALIGN - 1) / DN_ALIGN * DN_ALIGN;
    return aligned_alloc(DN_ALIGN, rounded);
}

void dn_free(void *p) { free(p); }

int dn_mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return 0;
    if (a != 0 && b > INT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}
