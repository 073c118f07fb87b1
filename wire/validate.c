/* Request-meaning checks shared by every broker (see validate.h). */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>

bool wire_topic_name_valid(const void *name, size_t len)
{
    const unsigned char *s = name;
    if (len == 0 || len > WIRE_TOPIC_NAME_BYTES_MAX)
        return false;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Formats the reason into why (if given); returns code. */
__attribute__((format(printf, 4, 5))) static int fail(int code, char *why, size_t why_cap,
                                                      const char *format, ...)
{
    if (why != NULL && why_cap > 0) {
        va_list ap;
        va_start(ap, format);
        vsnprintf(why, why_cap, format, ap);
        va_end(ap);
    }
    return code;
}

int wire_validate_create_topic(const struct wire_create_topic_req *req, char *why, size_t why_cap)
{
    if (!wire_topic_name_valid(req->name.ptr, req->name.len))
        return fail(WIRE_ERR_INVALID_TOPIC_NAME, why, why_cap,
                    "topic names are 1 to %u characters of A-Z a-z 0-9 . _ - and not '.' or '..'",
                    WIRE_TOPIC_NAME_BYTES_MAX);
    if (req->partitions < 1 || req->partitions > WIRE_PARTITIONS_MAX)
        return fail(WIRE_ERR_INVALID_PARTITIONS, why, why_cap,
                    "partitions must be between 1 and %u", WIRE_PARTITIONS_MAX);
    if (req->replication_factor < 1 || req->replication_factor > WIRE_REPLICAS_MAX)
        return fail(WIRE_ERR_INVALID_REPLICATION_FACTOR, why, why_cap,
                    "replication factor must be between 1 and %u", WIRE_REPLICAS_MAX);
    if (req->retention_ms == 0 || req->retention_ms < -1)
        return fail(WIRE_ERR_INVALID_REQUEST, why, why_cap,
                    "retention_ms must be -1 (broker default) or positive");
    if (req->retention_bytes == 0 || req->retention_bytes < -1)
        return fail(WIRE_ERR_INVALID_REQUEST, why, why_cap,
                    "retention_bytes must be -1 (broker default) or positive");
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    return WIRE_OK;
}
