/* Error names and sentences for broker/storage. */
#include "errors.h"

const char *storage_strerror(int code)
{
    switch (code) {
#define STORAGE_ERR_TEXT_(name, num, text)                                                 \
    case num:                                                                              \
        return text;
        STORAGE_ERRORS(STORAGE_ERR_TEXT_)
#undef STORAGE_ERR_TEXT_
    default:
        return "unrecognized storage error";
    }
}

const char *storage_err_name(int code)
{
    switch (code) {
#define STORAGE_ERR_NAME_(name, num, text)                                                 \
    case num:                                                                              \
        return #name;
        STORAGE_ERRORS(STORAGE_ERR_NAME_)
#undef STORAGE_ERR_NAME_
    default:
        return "UNRECOGNIZED";
    }
}
