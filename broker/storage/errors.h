/* Error codes of partition storage, with a strerror. */
#ifndef RAFTMQ_STORAGE_ERRORS_H
#define RAFTMQ_STORAGE_ERRORS_H

/*
 * Functions of broker/storage return int: 0 (STORAGE_OK) on success,
 * otherwise one of these. The log keeps a sentence with the file, offset and
 * errno of the last error (storage_log_errmsg).
 */
#define STORAGE_ERRORS(X)                                                                  \
    X(OK, 0, "success")                                                                    \
    X(IO, 1, "I/O error")                                                                  \
    X(NOSPC, 2, "no space left on device")                                                 \
    X(CORRUPT, 3, "stored data is corrupt")                                                \
    X(FAILED, 4, "partition storage stopped after an earlier write or fsync failure")      \
    X(INVALID, 5, "invalid argument")                                                      \
    X(RANGE, 6, "index or offset not in the log")                                          \
    X(NOMEM, 7, "out of memory")                                                           \
    X(FULL, 8, "queue or buffer full")                                                     \
    X(TOO_LARGE, 9, "entry exceeds the maximum entry size")                                \
    X(BUSY, 10, "the storage thread still uses this log; close it again later")

enum storage_err {
#define STORAGE_ERR_ENUM_(name, code, text) STORAGE_ERR_##name = code,
    STORAGE_ERRORS(STORAGE_ERR_ENUM_)
#undef STORAGE_ERR_ENUM_
};

#define STORAGE_OK STORAGE_ERR_OK

/* A sentence describing `code`; never NULL. */
const char *storage_strerror(int code);
/* The code's name without prefix ("NOSPC"), or "UNRECOGNIZED". */
const char *storage_err_name(int code);

#endif
