/* Code-to-text tables for enum wire_err, generated from the WIRE_ERRORS list. */
#include "errors.h"

const char *wire_strerror(int code)
{
    switch (code) {
#define WIRE_ERR_TEXT_(name, value, text) \
    case value:                           \
        return text;
        WIRE_ERRORS(WIRE_ERR_TEXT_)
#undef WIRE_ERR_TEXT_
    }
    return "unrecognized error code";
}

const char *wire_err_name(int code)
{
    switch (code) {
#define WIRE_ERR_NAME_(name, value, text) \
    case value:                           \
        return #name;
        WIRE_ERRORS(WIRE_ERR_NAME_)
#undef WIRE_ERR_NAME_
    }
    return "UNRECOGNIZED";
}

int wire_err_known(int code)
{
    switch (code) {
#define WIRE_ERR_KNOWN_(name, value, text) \
    case value:                            \
        return 1;
        WIRE_ERRORS(WIRE_ERR_KNOWN_)
#undef WIRE_ERR_KNOWN_
    }
    return 0;
}
