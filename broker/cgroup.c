/* Consumer-group membership on the coordinator: joins, syncs, heartbeats, leaves, expiry, rebalances and commit checks. */
#include "broker/cgroup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/assignor.h"
#include "wire/errors.h"
#include "wire/validate.h"

/* ---- sorted key sets ------------------------------------------------------------ */

static int key_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool keys_contain(const uint64_t *keys, uint32_t n, uint64_t key)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < key)
            lo = mid + 1;
        else if (keys[mid] > key)
            hi = mid;
        else
            return true;
    }
    return false;
}

/* Sorts keys[0..n) and drops duplicates; returns the new count. */
static uint32_t keys_normalize(uint64_t *keys, uint32_t n)
{
    if (n == 0)
        return 0;
    qsort(keys, n, sizeof(*keys), key_cmp);
    uint32_t k = 1;
    for (uint32_t i = 1; i < n; i++)
        if (keys[i] != keys[k - 1])
            keys[k++] = keys[i];
    return k;
}

static bool member_claims(const struct cg_member *m, uint64_t key)
{
    return keys_contain(m->owned, m->n_owned, key) || keys_contain(m->told, m->n_told, key);
}

/* The member other than `except` that claims key (owned or told), or NULL. */
static const struct cg_member *claimer(const struct cg_group *g, const struct cg_member *except,
                                       uint64_t key)
{
    for (uint32_t i = 0; i < g->n_members; i++)
        if (g->members[i] != except && member_claims(g->members[i], key))
            return g->members[i];
    return NULL;
}

/* ---- the registry ------------------------------------------------------------------ */

void cg_registry_init(struct cg_registry *r, uint32_t node_id, uint32_t election_timeout_max_ms,
                      const struct cg_topics *topics)
{
    memset(r, 0, sizeof(*r));
    r->groups_max = CG_GROUPS_MAX;
    r->members_max = CG_MEMBERS_MAX;
    r->node_id = node_id;
    r->election_timeout_max_ms = election_timeout_max_ms;
    r->topics = *topics;
}

static void member_free(struct cg_member *m)
{
    if (m == NULL)
        return;
    for (uint32_t i = 0; i < m->n_topics; i++)
        free(m->topics[i]);
    free(m->topics);
    free(m->target);
    free(m->owned);
    free(m->told);
    free(m);
}

static void group_free(struct cg_group *g)
{
    for (uint32_t i = 0; i < g->n_members; i++)
        member_free(g->members[i]);
    free(g->members);
    free(g);
}

void cg_registry_reset(struct cg_registry *r, uint64_t term, uint64_t now_ms)
{
    for (uint32_t i = 0; i < r->n_groups; i++)
        group_free(r->groups[i]);
    r->n_groups = 0;
    r->term = term;
    r->started_ms = now_ms;
    r->member_counter = 0;
}

void cg_registry_free(struct cg_registry *r)
{
    cg_registry_reset(r, 0, 0);
    free(r->groups);
    r->groups = NULL;
    r->groups_cap = 0;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* Position of the group named so, or where it would go (*found false). */
static uint32_t group_pos(const struct cg_registry *r, const char *name, size_t len, bool *found)
{
    uint32_t lo = 0, hi = r->n_groups;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(r->groups[mid]->name, r->groups[mid]->name_len, name, len);
        if (c < 0) {
            lo = mid + 1;
        } else if (c > 0) {
            hi = mid;
        } else {
            *found = true;
            return mid;
        }
    }
    *found = false;
    return lo;
}

struct cg_group *cg_group_find(const struct cg_registry *r, const char *name, size_t len)
{
    bool found;
    uint32_t pos = group_pos(r, name, len, &found);
    return found ? r->groups[pos] : NULL;
}

struct cg_member *cg_member_find(const struct cg_group *g, const char *member_id, size_t len)
{
    if (g == NULL)
        return NULL;
    for (uint32_t i = 0; i < g->n_members; i++)
        if (strlen(g->members[i]->id) == len && memcmp(g->members[i]->id, member_id, len) == 0)
            return g->members[i];
    return NULL;
}

static void emit(const struct cg_registry *r, int kind, const struct cg_group *g, const char *member_id,
                 uint32_t moved)
{
    if (r->on_event == NULL)
        return;
    struct cg_event ev = {.kind = kind, .group = g, .member_id = member_id,
                          .generation = g->generation, .moved = moved};
    r->on_event(r->event_ctx, &ev);
}

static void remove_group(struct cg_registry *r, struct cg_group *g)
{
    bool found;
    uint32_t pos = group_pos(r, g->name, g->name_len, &found);
    if (!found || r->groups[pos] != g)
        return;
    memmove(&r->groups[pos], &r->groups[pos + 1], (r->n_groups - pos - 1) * sizeof(*r->groups));
    r->n_groups--;
    group_free(g);
}

/* ---- effective assignment --------------------------------------------------------- */

uint32_t cg_effective(const struct cg_group *g, const struct cg_member *m, uint64_t now_ms,
                      uint64_t *out)
{
    bool hold = now_ms < g->handout_after_ms;
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->n_target; i++) {
        uint64_t key = m->target[i];
        if (claimer(g, m, key) != NULL)
            continue; /* another member still holds it */
        if (hold && !member_claims(m, key))
            continue; /* maybe a member of the previous coordinator still consumes it */
        out[n++] = key;
    }
    return n;
}

static bool effective_contains(const struct cg_group *g, const struct cg_member *m, uint64_t now_ms,
                               uint64_t key)
{
    if (!keys_contain(m->target, m->n_target, key) || claimer(g, m, key) != NULL)
        return false;
    return now_ms >= g->handout_after_ms || member_claims(m, key);
}

uint32_t cg_pending(const struct cg_group *g, const struct cg_member *m, uint64_t now_ms)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->n_target; i++)
        if (!effective_contains(g, m, now_ms, m->target[i]))
            n++;
    return n;
}

struct claim {
    uint64_t key;
    const struct cg_member *by;
};

static int claim_cmp(const void *a, const void *b)
{
    const struct claim *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

/*
 * Whether any member has pending partitions, in O(K log K) for K claimed
 * keys (cg_pending per member would cost members x keys x members).
 * Returns -1 when out of memory.
 */
static int any_pending(const struct cg_group *g, uint64_t now_ms)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < g->n_members; i++)
        n += (uint64_t)g->members[i]->n_owned + g->members[i]->n_told;
    struct claim *claims = malloc((n != 0 ? n : 1) * sizeof(*claims));
    if (claims == NULL)
        return -1;
    uint64_t k = 0;
    for (uint32_t i = 0; i < g->n_members; i++) {
        const struct cg_member *m = g->members[i];
        for (uint32_t x = 0; x < m->n_owned; x++)
            claims[k++] = (struct claim){m->owned[x], m};
        for (uint32_t x = 0; x < m->n_told; x++)
            claims[k++] = (struct claim){m->told[x], m};
    }
    qsort(claims, k, sizeof(*claims), claim_cmp);
    bool hold = now_ms < g->handout_after_ms;
    int pending = 0;
    for (uint32_t i = 0; i < g->n_members && !pending; i++) {
        const struct cg_member *m = g->members[i];
        for (uint32_t t = 0; t < m->n_target && !pending; t++) {
            struct claim probe = {m->target[t], NULL};
            /* the first claim of this key, if any */
            uint64_t lo = 0, hi = k;
            while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                if (claims[mid].key < probe.key)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            bool claimed = false;
            for (uint64_t c = lo; c < k && claims[c].key == probe.key; c++) {
                claimed = true;
                if (claims[c].by != m)
                    pending = 1; /* another member holds it */
            }
            if (!claimed && hold)
                pending = 1;
        }
    }
    free(claims);
    return pending;
}

const char *cg_group_state(const struct cg_group *g, uint64_t now_ms)
{
    if (g == NULL || g->n_members == 0)
        return "empty";
    for (uint32_t i = 0; i < g->n_members; i++)
        if (g->members[i]->generation_told != g->generation)
            return "rebalancing";
    int pending = any_pending(g, now_ms);
    if (pending < 0) {
        /* Out of memory: the slow way. */
        for (uint32_t i = 0; i < g->n_members; i++)
            if (cg_pending(g, g->members[i], now_ms) != 0)
                return "rebalancing";
        return "stable";
    }
    return pending ? "rebalancing" : "stable";
}

/* Records what the member is told now: its effective assignment. */
static int tell(const struct cg_group *g, struct cg_member *m, uint64_t now_ms)
{
    uint64_t *eff = malloc((m->n_target != 0 ? m->n_target : 1) * sizeof(*eff));
    if (eff == NULL)
        return WIRE_ERR_UNKNOWN;
    uint32_t n = cg_effective(g, m, now_ms, eff);
    free(m->told);
    m->told = eff;
    m->n_told = n;
    m->generation_told = g->generation;
    return WIRE_OK;
}

/* ---- rebalance ------------------------------------------------------------------------ */

/*
 * Resolves subscriptions, lists the partitions of every subscribed topic and
 * runs the assignor; generation + 1 if any target changed. Out of memory
 * leaves the targets as they were (logged by the caller as nothing moved).
 */
static int rebalance(struct cg_registry *r, struct cg_group *g)
{
    uint32_t n = g->n_members;
    if (n == 0)
        return WIRE_OK;
    int rc = WIRE_ERR_UNKNOWN;
    struct assignor_member *am = calloc(n, sizeof(*am));
    uint64_t **subs = calloc(n, sizeof(*subs));
    uint64_t **old = calloc(n, sizeof(*old));
    uint32_t *old_n = calloc(n, sizeof(*old_n));
    uint64_t *topic_ids = NULL;
    uint32_t *topic_parts = NULL;
    uint32_t n_topics = 0, topics_cap = 0;
    uint64_t *parts = NULL;
    if (am == NULL || subs == NULL || old == NULL || old_n == NULL)
        goto out;
    /* Distinct subscribed topics (linear search: a few topics per group). */
    for (uint32_t i = 0; i < n; i++) {
        const struct cg_member *m = g->members[i];
        subs[i] = calloc(m->n_topics != 0 ? m->n_topics : 1, sizeof(uint64_t));
        if (subs[i] == NULL)
            goto out;
        uint32_t k = 0;
        for (uint32_t t = 0; t < m->n_topics; t++) {
            uint64_t id;
            uint32_t np;
            if (!r->topics.find(r->topics.ctx, m->topics[t], strlen(m->topics[t]), &id, &np))
                continue; /* unknown names are ignored until the topic exists */
            subs[i][k++] = id;
            bool seen = false;
            for (uint32_t x = 0; x < n_topics && !seen; x++)
                seen = topic_ids[x] == id;
            if (seen)
                continue;
            if (n_topics == topics_cap) {
                uint32_t cap = topics_cap == 0 ? 8 : topics_cap * 2;
                uint64_t *ni = realloc(topic_ids, cap * sizeof(*ni));
                if (ni == NULL)
                    goto out;
                topic_ids = ni;
                uint32_t *np2 = realloc(topic_parts, cap * sizeof(*np2));
                if (np2 == NULL)
                    goto out;
                topic_parts = np2;
                topics_cap = cap;
            }
            topic_ids[n_topics] = id;
            topic_parts[n_topics++] = np;
        }
        am[i].topics = subs[i];
        am[i].n_topics = k;
    }
    uint64_t n_parts = 0;
    for (uint32_t x = 0; x < n_topics; x++)
        n_parts += topic_parts[x];
    if (n_parts > UINT32_MAX / 2)
        goto out;
    parts = malloc((n_parts != 0 ? n_parts : 1) * sizeof(*parts));
    if (parts == NULL)
        goto out;
    uint32_t p = 0;
    for (uint32_t x = 0; x < n_topics; x++)
        for (uint32_t q = 0; q < topic_parts[x]; q++)
            parts[p++] = (topic_ids[x] << 16) | q;
    for (uint32_t i = 0; i < n; i++) {
        struct cg_member *m = g->members[i];
        uint32_t cap = (uint32_t)n_parts > m->n_target ? (uint32_t)n_parts : m->n_target;
        if (cap == 0)
            cap = 1;
        if (cap > m->target_cap) {
            uint64_t *t = realloc(m->target, cap * sizeof(*t));
            if (t == NULL)
                goto out;
            m->target = t;
            m->target_cap = cap;
        }
        old[i] = malloc((m->n_target != 0 ? m->n_target : 1) * sizeof(uint64_t));
        if (old[i] == NULL)
            goto out;
        if (m->n_target != 0)
            memcpy(old[i], m->target, m->n_target * sizeof(uint64_t));
        old_n[i] = m->n_target;
        am[i].target = m->target;
        am[i].n_target = m->n_target;
        am[i].target_cap = m->target_cap;
    }
    int moved = assignor_rebalance(am, n, parts, p);
    if (moved < 0)
        goto out;
    bool changed = false;
    for (uint32_t i = 0; i < n; i++) {
        struct cg_member *m = g->members[i];
        m->n_target = am[i].n_target;
        if (old_n[i] != m->n_target ||
            (m->n_target != 0 && memcmp(old[i], m->target, m->n_target * sizeof(uint64_t)) != 0))
            changed = true;
    }
    if (changed) {
        g->generation++;
        emit(r, CG_EVENT_REBALANCE, g, NULL, (uint32_t)moved);
    }
    rc = WIRE_OK;
out:
    for (uint32_t i = 0; i < n; i++) {
        if (subs != NULL)
            free(subs[i]);
        if (old != NULL)
            free(old[i]);
    }
    free(am);
    free(subs);
    free(old);
    free(old_n);
    free(topic_ids);
    free(topic_parts);
    free(parts);
    return rc;
}

void cg_rebalance_all(struct cg_registry *r)
{
    for (uint32_t i = 0; i < r->n_groups; i++)
        rebalance(r, r->groups[i]);
}

/* ---- JOIN --------------------------------------------------------------------------- */

static bool printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

static int validate_join(const struct cg_registry *r, const struct cg_join *j, char *why, size_t why_cap)
{
    if (!wire_topic_name_valid(j->group, j->group_len)) {
        snprintf(why, why_cap, "invalid group name: 1..%u bytes of [A-Za-z0-9._-], not \".\" or \"..\"",
                 WIRE_GROUP_NAME_BYTES_MAX);
        return WIRE_ERR_INVALID_REQUEST;
    }
    if (j->client_id_len > WIRE_CLIENT_ID_BYTES_MAX || !printable(j->client_id, j->client_id_len)) {
        snprintf(why, why_cap, "client_id must be at most %u bytes without control characters",
                 WIRE_CLIENT_ID_BYTES_MAX);
        return WIRE_ERR_INVALID_REQUEST;
    }
    if (j->instance_id_len > WIRE_MEMBER_ID_BYTES_MAX) {
        snprintf(why, why_cap, "instance_id must be at most %u bytes", WIRE_MEMBER_ID_BYTES_MAX);
        return WIRE_ERR_INVALID_REQUEST;
    }
    if (j->n_topics == 0 || j->n_topics > WIRE_GROUP_TOPICS_MAX) {
        snprintf(why, why_cap, "a member subscribes to 1..%u topics, not %u", WIRE_GROUP_TOPICS_MAX,
                 j->n_topics);
        return WIRE_ERR_INVALID_REQUEST;
    }
    for (uint32_t i = 0; i < j->n_topics; i++)
        if (!wire_topic_name_valid(j->topics[i], j->topic_lens[i])) {
            snprintf(why, why_cap, "subscription %u is not a valid topic name", i);
            return WIRE_ERR_INVALID_TOPIC_NAME;
        }
    if (j->n_owned > CG_OWNED_MAX) {
        snprintf(why, why_cap, "at most %u owned partitions, not %u", CG_OWNED_MAX, j->n_owned);
        return WIRE_ERR_INVALID_REQUEST;
    }
    if (j->session_timeout_ms < CG_SESSION_TIMEOUT_MS_MIN || j->session_timeout_ms > CG_SESSION_TIMEOUT_MS_MAX) {
        snprintf(why, why_cap, "session_timeout_ms %u is outside %u..%u", j->session_timeout_ms,
                 CG_SESSION_TIMEOUT_MS_MIN, CG_SESSION_TIMEOUT_MS_MAX);
        return WIRE_ERR_INVALID_REQUEST;
    }
    struct cg_group *g = cg_group_find(r, j->group, j->group_len);
    if (g == NULL && r->n_groups >= r->groups_max) {
        snprintf(why, why_cap, "this coordinator already has %u groups, its limit", r->groups_max);
        return WIRE_ERR_LIMIT_EXCEEDED;
    }
    if (g != NULL && g->n_members >= r->members_max) {
        snprintf(why, why_cap, "group %s already has %u members, its limit", g->name, r->members_max);
        return WIRE_ERR_LIMIT_EXCEEDED;
    }
    return WIRE_OK;
}

static struct cg_group *group_create(struct cg_registry *r, const struct cg_join *j, uint64_t now_ms)
{
    bool found;
    uint32_t pos = group_pos(r, j->group, j->group_len, &found);
    if (r->n_groups == r->groups_cap) {
        uint32_t cap = r->groups_cap == 0 ? 16 : r->groups_cap * 2;
        struct cg_group **ng = realloc(r->groups, cap * sizeof(*ng));
        if (ng == NULL)
            return NULL;
        r->groups = ng;
        r->groups_cap = cap;
    }
    struct cg_group *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    memcpy(g->name, j->group, j->group_len);
    g->name_len = (uint32_t)j->group_len;
    g->generation = 1;
    /*
     * Failover hold: a group with committed offsets probably had members
     * under the previous coordinator, which may still be consuming until
     * their own session timeout tells them otherwise. Partitions nobody here
     * claims are withheld until then (one session timeout, plus two election
     * timeouts for the controller change itself).
     */
    if (j->group_has_offsets) {
        uint64_t until = r->started_ms + j->session_timeout_ms + 2u * (uint64_t)r->election_timeout_max_ms;
        if (now_ms < until)
            g->handout_after_ms = until;
    }
    memmove(&r->groups[pos + 1], &r->groups[pos], (r->n_groups - pos) * sizeof(*r->groups));
    r->groups[pos] = g;
    r->n_groups++;
    return g;
}

static struct cg_member *member_create(struct cg_registry *r, const struct cg_join *j, uint64_t now_ms)
{
    struct cg_member *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    r->member_counter++;
    snprintf(m->id, sizeof m->id, "%" PRIu32 "-%" PRIu64 "-%" PRIu64, r->node_id, r->term,
             r->member_counter);
    memcpy(m->client_id, j->client_id, j->client_id_len);
    if (j->instance_id_len > 0)
        memcpy(m->instance_id, j->instance_id, j->instance_id_len);
    m->topics = calloc(j->n_topics, sizeof(*m->topics));
    if (m->topics == NULL)
        goto fail;
    for (uint32_t i = 0; i < j->n_topics; i++) {
        m->topics[i] = malloc(j->topic_lens[i] + 1);
        if (m->topics[i] == NULL)
            goto fail;
        memcpy(m->topics[i], j->topics[i], j->topic_lens[i]);
        m->topics[i][j->topic_lens[i]] = '\0';
        m->n_topics++;
    }
    m->session_timeout_ms = j->session_timeout_ms;
    m->last_heard_ms = now_ms;
    return m;
fail:
    member_free(m);
    return NULL;
}

/* Removes key from a sorted target; true if it was there. */
static bool target_remove(struct cg_member *m, uint64_t key)
{
    for (uint32_t i = 0; i < m->n_target; i++)
        if (m->target[i] == key) {
            memmove(&m->target[i], &m->target[i + 1], (m->n_target - i - 1) * sizeof(*m->target));
            m->n_target--;
            return true;
        }
    return false;
}

/*
 * The claims of a joining member that no other member holds (owned or
 * told) become its owned and its initial target, so a member rejoining
 * after a coordinator change keeps what it consumes. Another member may
 * target such a key without holding it (it was never handed out, or was
 * withheld by the failover hold): the key is taken from that target, and
 * *stolen counts how often.
 */
static int accept_claims(struct cg_group *g, struct cg_member *m, const uint64_t *claims, uint32_t n,
                         uint32_t *stolen)
{
    *stolen = 0;
    uint64_t *keys = malloc((n != 0 ? n : 1) * sizeof(*keys));
    uint64_t *target = malloc((n != 0 ? n : 1) * sizeof(*target));
    if (keys == NULL || target == NULL) {
        free(keys);
        free(target);
        return WIRE_ERR_UNKNOWN;
    }
    if (n != 0)
        memcpy(keys, claims, n * sizeof(*keys));
    n = keys_normalize(keys, n);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (claimer(g, m, keys[i]) == NULL)
            keys[k++] = keys[i];
    for (uint32_t i = 0; i < k; i++)
        for (uint32_t x = 0; x < g->n_members; x++)
            if (g->members[x] != m && target_remove(g->members[x], keys[i]))
                (*stolen)++;
    if (k != 0)
        memcpy(target, keys, k * sizeof(*target));
    m->owned = keys;
    m->n_owned = k;
    m->target = target;
    m->n_target = k;
    m->target_cap = n != 0 ? n : 1;
    return WIRE_OK;
}

static void detach_member(struct cg_group *g, struct cg_member *m)
{
    for (uint32_t i = 0; i < g->n_members; i++)
        if (g->members[i] == m) {
            memmove(&g->members[i], &g->members[i + 1], (g->n_members - i - 1) * sizeof(*g->members));
            g->n_members--;
            return;
        }
}

/* The member a repeated JOIN (same instance id) created, or NULL. */
static struct cg_member *repeated_join(const struct cg_group *g, const struct cg_join *j)
{
    if (g == NULL || j->instance_id_len == 0)
        return NULL;
    for (uint32_t i = 0; i < g->n_members; i++)
        if (strlen(g->members[i]->instance_id) == j->instance_id_len &&
            memcmp(g->members[i]->instance_id, j->instance_id, j->instance_id_len) == 0)
            return g->members[i];
    return NULL;
}

int cg_join(struct cg_registry *r, const struct cg_join *j, uint64_t now_ms, struct cg_member **out,
            char *why, size_t why_cap)
{
    *out = NULL;
    int rc = validate_join(r, j, why, why_cap);
    if (rc != WIRE_OK)
        return rc;
    struct cg_group *g = cg_group_find(r, j->group, j->group_len);
    struct cg_member *again = repeated_join(g, j);
    if (again != NULL) {
        again->last_heard_ms = now_ms;
        if (tell(g, again, now_ms) != WIRE_OK) {
            snprintf(why, why_cap, "out of memory");
            return WIRE_ERR_UNKNOWN;
        }
        *out = again;
        return WIRE_OK;
    }
    bool created = g == NULL;
    if (created && (g = group_create(r, j, now_ms)) == NULL)
        goto oom;
    if (g->n_members == g->members_cap) {
        uint32_t cap = g->members_cap == 0 ? 4 : g->members_cap * 2;
        struct cg_member **nm = realloc(g->members, cap * sizeof(*nm));
        if (nm == NULL)
            goto oom_group;
        g->members = nm;
        g->members_cap = cap;
    }
    struct cg_member *m = member_create(r, j, now_ms);
    if (m == NULL)
        goto oom_group;
    g->members[g->n_members++] = m;
    uint32_t stolen = 0;
    if (accept_claims(g, m, j->owned, j->n_owned, &stolen) != WIRE_OK) {
        detach_member(g, m);
        member_free(m);
        goto oom_group;
    }
    emit(r, CG_EVENT_JOIN, g, m->id, 0);
    uint64_t generation = g->generation;
    rebalance(r, g);
    /* Taking a claimed key from another target is a target change too. */
    if (stolen != 0 && g->generation == generation) {
        g->generation++;
        emit(r, CG_EVENT_REBALANCE, g, NULL, stolen);
    }
    if (tell(g, m, now_ms) != WIRE_OK) {
        detach_member(g, m);
        member_free(m);
        rebalance(r, g);
        goto oom_group;
    }
    *out = m;
    return WIRE_OK;
oom_group:
    if (g->n_members == 0)
        remove_group(r, g);
oom:
    snprintf(why, why_cap, "out of memory");
    return WIRE_ERR_UNKNOWN;
}

/* ---- SYNC, HEARTBEAT, LEAVE, expiry ------------------------------------------------ */

static int unknown_member(const struct cg_group *g, const char *group, size_t group_len,
                          const char *member_id, size_t member_id_len, char *why, size_t why_cap)
{
    if (g == NULL)
        snprintf(why, why_cap, "group %.*s has no members on this coordinator; join again",
                 (int)(group_len < 255 ? group_len : 255), group);
    else
        snprintf(why, why_cap, "member %.*s is not in group %s; join again",
                 (int)(member_id_len < 80 ? member_id_len : 80), member_id, g->name);
    return WIRE_ERR_UNKNOWN_MEMBER;
}

int cg_sync(struct cg_registry *r, const char *group, size_t group_len, const char *member_id,
            size_t member_id_len, const uint64_t *reported, uint32_t n_reported, uint64_t now_ms,
            struct cg_member **out, char *why, size_t why_cap)
{
    *out = NULL;
    struct cg_group *g = cg_group_find(r, group, group_len);
    struct cg_member *m = cg_member_find(g, member_id, member_id_len);
    if (m == NULL)
        return unknown_member(g, group, group_len, member_id, member_id_len, why, why_cap);
    if (n_reported > CG_OWNED_MAX) {
        snprintf(why, why_cap, "at most %u owned partitions, not %u", CG_OWNED_MAX, n_reported);
        return WIRE_ERR_INVALID_REQUEST;
    }
    m->last_heard_ms = now_ms;
    uint64_t *keys = malloc((n_reported != 0 ? n_reported : 1) * sizeof(*keys));
    if (keys == NULL) {
        snprintf(why, why_cap, "out of memory");
        return WIRE_ERR_UNKNOWN;
    }
    if (n_reported != 0)
        memcpy(keys, reported, n_reported * sizeof(*keys));
    uint32_t n = keys_normalize(keys, n_reported);
    /* A member cannot claim what it was not given: reported ∩ (owned ∪ told ∪ effective). */
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (member_claims(m, keys[i]) || effective_contains(g, m, now_ms, keys[i]))
            keys[k++] = keys[i];
    free(m->owned);
    m->owned = keys;
    m->n_owned = k;
    if (tell(g, m, now_ms) != WIRE_OK) {
        snprintf(why, why_cap, "out of memory");
        return WIRE_ERR_UNKNOWN;
    }
    *out = m;
    return WIRE_OK;
}

int cg_heartbeat(struct cg_registry *r, const char *group, size_t group_len, const char *member_id,
                 size_t member_id_len, uint64_t now_ms, uint64_t *generation, char *why,
                 size_t why_cap)
{
    struct cg_group *g = cg_group_find(r, group, group_len);
    struct cg_member *m = cg_member_find(g, member_id, member_id_len);
    if (m == NULL)
        return unknown_member(g, group, group_len, member_id, member_id_len, why, why_cap);
    m->last_heard_ms = now_ms;
    *generation = g->generation;
    return WIRE_OK;
}

/* Removes m from g, rebalances, and forgets g when m was its last member. */
static void remove_member(struct cg_registry *r, struct cg_group *g, struct cg_member *m, int kind)
{
    emit(r, kind, g, m->id, 0);
    detach_member(g, m);
    member_free(m);
    if (g->n_members == 0)
        remove_group(r, g);
    else
        rebalance(r, g);
}

int cg_leave(struct cg_registry *r, const char *group, size_t group_len, const char *member_id,
             size_t member_id_len, char *why, size_t why_cap)
{
    struct cg_group *g = cg_group_find(r, group, group_len);
    struct cg_member *m = cg_member_find(g, member_id, member_id_len);
    if (m == NULL)
        return unknown_member(g, group, group_len, member_id, member_id_len, why, why_cap);
    remove_member(r, g, m, CG_EVENT_LEAVE);
    return WIRE_OK;
}

uint32_t cg_expire(struct cg_registry *r, uint64_t now_ms)
{
    uint32_t removed = 0;
    for (uint32_t gi = 0; gi < r->n_groups;) {
        struct cg_group *g = r->groups[gi];
        uint32_t expired = 0;
        for (uint32_t i = 0; i < g->n_members;) {
            struct cg_member *m = g->members[i];
            if (now_ms > m->last_heard_ms && now_ms - m->last_heard_ms > m->session_timeout_ms) {
                emit(r, CG_EVENT_EXPIRE, g, m->id, 0);
                detach_member(g, m);
                member_free(m);
                expired++;
            } else {
                i++;
            }
        }
        removed += expired;
        if (g->n_members == 0) {
            remove_group(r, g); /* the next group moved into slot gi */
            continue;
        }
        if (expired != 0)
            rebalance(r, g);
        gi++;
    }
    return removed;
}

/* ---- commit checks ------------------------------------------------------------------ */

static void key_text(const struct cg_registry *r, uint64_t key, char *out, size_t cap)
{
    const char *name = r->topics.name_of(r->topics.ctx, key >> 16);
    if (name != NULL)
        snprintf(out, cap, "%s/%u", name, (unsigned)(key & 0xffff));
    else
        snprintf(out, cap, "topic id %" PRIu64 "/%u", key >> 16, (unsigned)(key & 0xffff));
}

int cg_check_commit(const struct cg_registry *r, const char *group, size_t group_len,
                    const char *member_id, size_t member_id_len, uint64_t generation,
                    const uint64_t *keys, uint32_t n_keys, uint64_t now_ms, char *why, size_t why_cap)
{
    const struct cg_group *g = cg_group_find(r, group, group_len);
    if (member_id_len == 0) {
        if (generation != 0) {
            snprintf(why, why_cap, "a commit without a member id must have generation 0, not %" PRIu64,
                     generation);
            return WIRE_ERR_INVALID_REQUEST;
        }
        if (g != NULL && g->n_members != 0) {
            snprintf(why, why_cap, "group %s has %u active member%s; only %s may commit (stop %s "
                     "first)", g->name, g->n_members, g->n_members == 1 ? "" : "s",
                     g->n_members == 1 ? "it" : "they", g->n_members == 1 ? "it" : "them");
            return WIRE_ERR_GROUP_NOT_EMPTY;
        }
        return WIRE_OK;
    }
    const struct cg_member *m = cg_member_find(g, member_id, member_id_len);
    if (m == NULL)
        return unknown_member(g, group, group_len, member_id, member_id_len, why, why_cap);
    if (generation != m->generation_told) {
        snprintf(why, why_cap, "generation %" PRIu64 " is stale; the member is at %" PRIu64, generation,
                 m->generation_told);
        return WIRE_ERR_ILLEGAL_GENERATION;
    }
    for (uint32_t i = 0; i < n_keys; i++) {
        if (member_claims(m, keys[i]) || effective_contains(g, m, now_ms, keys[i]))
            continue;
        char kt[WIRE_TOPIC_NAME_BYTES_MAX + 40];
        key_text(r, keys[i], kt, sizeof kt);
        snprintf(why, why_cap, "%s is not owned by member %s in generation %" PRIu64, kt, m->id,
                 m->generation_told);
        return WIRE_ERR_ILLEGAL_GENERATION;
    }
    return WIRE_OK;
}
