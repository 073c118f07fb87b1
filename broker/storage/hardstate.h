/* Raft hard state (term, vote, commit index, opaque metadata) saved atomically in a partition directory. */
#ifndef RAFTMQ_STORAGE_HARDSTATE_H
#define RAFTMQ_STORAGE_HARDSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "file.h"
#include "limits.h"

/*
 * From Figure 3.1 of the Raft thesis: currentTerm and votedFor must be on
 * stable storage before the server answers an RPC. commit_index is saved so
 * that recovery can refuse a log that ends below it (committed data lost),
 * and `meta` carries what else must survive a restart (snapshot index and
 * term, the Raft configuration), opaque to storage.
 */
struct storage_hardstate {
    uint64_t current_term;
    uint64_t voted_for; /* 0: none */
    uint64_t commit_index;
    uint32_t meta_len; /* <= STORAGE_HARDSTATE_META_BYTES_MAX */
    uint8_t meta[STORAGE_HARDSTATE_META_BYTES_MAX];
};

/* File names inside the partition directory. */
#define STORAGE_HARDSTATE_FILE "hardstate"
#define STORAGE_HARDSTATE_TMP_FILE "hardstate.tmp"

/*
 * Layout (big-endian): "RMQH", u32 version (1), u64 current_term,
 * u64 voted_for, u64 commit_index, u32 meta_len, meta, u32 CRC-32C of all
 * preceding bytes.
 */
#define STORAGE_HARDSTATE_VERSION 1u
#define STORAGE_HARDSTATE_FIXED_BYTES 40u

/*
 * Writes hardstate.tmp, fdatasyncs it, renames it over hardstate and
 * fsyncs the directory: a crash at any point leaves the old or the new
 * state. Returns 0, STORAGE_ERR_IO / NOSPC (errno in *sys_err if not NULL)
 * or STORAGE_ERR_INVALID (meta too long). Blocks for two syncs.
 */
int storage_hardstate_save(const struct storage_fs *fs, const char *dir,
                           const struct storage_hardstate *hs, int *sys_err);

/*
 * Loads the saved state; a directory without one yields all zeros and
 * returns 0. A file that fails its checks returns STORAGE_ERR_CORRUPT
 * (rename is atomic, so only damage after the fact can cause that).
 */
int storage_hardstate_load(const struct storage_fs *fs, const char *dir,
                           struct storage_hardstate *hs, int *sys_err);

#endif
