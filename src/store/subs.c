/*
 * Email subscriptions and the outbox (tb_subs.h) in the store's database:
 * tables subscriptions, sub_topics, sub_confirms, outbox and mail_totals
 * (migration 13 in store.c).
 *
 * Every call is one transaction: BEGIN IMMEDIATE for the writes (so two
 * connections never both read a row and then both write it), BEGIN for
 * the reads, or a savepoint when the caller's batch (tb_store_begin) is
 * open, as tb_store_put_feed() does. Statements are prepared per call:
 * a digest run makes a few per subscriber, microseconds beside building
 * and sending the message.
 */
#include "store_int.h"
#include "tb_mail.h"
#include "tb_subs.h"
#include "tb_vec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#define DAY 86400
#define RETRY_FIRST 60       /* first wait after a temporary failure, s */
#define RETRY_MAX (6 * 3600) /* longest wait between tries */
#define GIVE_UP (3 * DAY)    /* a message still failing this long after queuing is dropped */
#define KEEP_DONE (8 * DAY)  /* rows of messages done are kept this long, without their text */
#define CLAIM_MAX 3600       /* a sender's claim on a message is void after this long, s */
#define TOPIC_MAX 255        /* bytes of a topic name */
#define PAGE 256             /* subscriptions read at a time by tb_subs_each() */

/* outbox.state */
enum { OUT_PENDING = 0, OUT_SENT = 1, OUT_FAILED = 2, OUT_DROPPED = 3 };

/* Whether a pending message o of subscription s may go out now. */
#define MAILABLE "(CASE WHEN o.kind = 0 THEN s.state != 3 ELSE s.state = 1 END)"

#define SUB_COLS                                                                                   \
    "id, addr, state, freq, pending_freq, created, confirmed, covered, last_sent, failures,"       \
    " last_error"

/* The tb_db calls on the store's connection, named as they were here. */
#define run(s, err, errlen, ...) tb_db_run((s)->sql, err, errlen, __VA_ARGS__)
#define scalar(s, v, err, errlen, ...) tb_db_scalar((s)->sql, v, err, errlen, __VA_ARGS__)
#define query(s, q, err, errlen, ...) tb_db_query((s)->sql, q, err, errlen, __VA_ARGS__)

/* Begins the call's transaction, or a savepoint inside the caller's
 * (tb_db nests it); *began says whether txn_end has one to end. */
static int txn_begin(struct tb_store *s, int write, int *began, char *err, size_t errlen)
{
    int rc;

    *began = 0;
    if (s->in_txn && !tb_db_in_txn(s->sql))
        return tb__store_lost(err, errlen);
    rc = tb_db_begin(s->sql, write ? TB_DB_IMMEDIATE : TB_DB_DEFERRED, err, errlen);
    *began = rc == 0;
    return rc;
}

/* Commits when rc is 0, else undoes; returns rc or the commit's failure. */
static int txn_end(struct tb_store *s, int began, int rc, char *err, size_t errlen)
{
    if (!began)
        return rc;
    if (rc == 0)
        return tb_db_commit(s->sql, err, errlen);
    (void)tb_db_rollback(s->sql);
    return rc;
}

/* Whether the topics can be stored: at least one, each 1 to 255 bytes
 * without control characters. */
static int topics_ok(const char *const *topics, size_t n)
{
    size_t i, j;

    if (topics == NULL || n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (topics[i] == NULL || topics[i][0] == '\0' || strlen(topics[i]) > TOPIC_MAX)
            return 0;
        for (j = 0; topics[i][j] != '\0'; j++) {
            if ((unsigned char)topics[i][j] < 0x20 || topics[i][j] == 0x7f)
                return 0;
        }
    }
    return 1;
}

static int freq_ok(enum tb_subs_freq f)
{
    return f == TB_SUBS_DAILY || f == TB_SUBS_WEEKLY;
}

/* Replaces the confirmed (pending 0) or asked (pending 1) topics of sub. */
static int put_topics(struct tb_store *s, int64_t sub, int pending, const char *const *topics,
                      size_t n, char *err, size_t errlen)
{
    size_t i;
    int rc = run(s, err, errlen, "DELETE FROM sub_topics WHERE sub = ?1 AND pending = ?2", "ii",
                 sub, (int64_t)pending);

    for (i = 0; rc == 0 && i < n; i++)
        rc = run(s, err, errlen,
                 "INSERT INTO sub_topics(sub, pending, topic) VALUES(?1, ?2, ?3)"
                 " ON CONFLICT DO NOTHING",
                 "iit", sub, (int64_t)pending, topics[i]);
    return rc;
}

/* The id of the subscription of normalized address addr into *id; -ENOENT if none. */
static int find_id(struct tb_store *s, const char *addr, int64_t *id, char *err, size_t errlen)
{
    return scalar(s, id, err, errlen, "SELECT id FROM subscriptions WHERE addr = ?1", "t", addr);
}

/* Counts one more confirmation mail to addr today unless it had its share:
 * *confirm 1, else 0. Days before yesterday are forgotten. */
static int count_confirm(struct tb_store *s, const char *addr, int64_t now, int *confirm, char *err,
                         size_t errlen)
{
    int64_t day = now / DAY, sent = 0;
    int rc = run(s, err, errlen, "DELETE FROM sub_confirms WHERE day < ?1", "i", day - 1);

    if (rc == 0)
        rc = scalar(s, &sent, err, errlen,
                    "SELECT n FROM sub_confirms WHERE addr = ?1 AND day = ?2", "ti", addr, day);
    if (rc == -ENOENT)
        rc = 0;
    *confirm = rc == 0 && sent < TB_SUBS_CONFIRM_PER_DAY;
    if (*confirm)
        rc = run(s, err, errlen,
                 "INSERT INTO sub_confirms(addr, day, n) VALUES(?1, ?2, 1)"
                 " ON CONFLICT(addr, day) DO UPDATE SET n = sub_confirms.n + 1",
                 "ti", addr, day);
    return rc;
}

int tb_subs_request(struct tb_store *st, const char *addr, const char *const *topics,
                    size_t ntopics, enum tb_subs_freq freq, int64_t now, int64_t *id, int *confirm,
                    char *err, size_t errlen)
{
    char norm[TB_MAIL_ADDR_MAX + 1];
    int began, rc;

    *confirm = 0;
    if (tb_mail_addr_norm(addr, norm, sizeof(norm)) != 0 || !topics_ok(topics, ntopics) ||
        !freq_ok(freq))
        return -EINVAL;
    rc = txn_begin(st, 1, &began, err, errlen);
    if (rc == 0)
        rc = find_id(st, norm, id, err, errlen);
    if (rc == -ENOENT) {
        rc = scalar(st, id, err, errlen,
                    "INSERT INTO subscriptions(addr, state, pending_freq, created)"
                    " VALUES(?1, ?2, ?3, ?4) RETURNING id",
                    "tiii", norm, (int64_t)TB_SUBS_PENDING, (int64_t)freq, now);
    } else if (rc == 0) {
        /* A known address: the request waits beside what it has; one that
         * left starts over as pending. */
        rc = run(st, err, errlen,
                 "UPDATE subscriptions SET pending_freq = ?2,"
                 " state = CASE WHEN state = ?3 THEN ?4 ELSE state END WHERE id = ?1",
                 "iiii", *id, (int64_t)freq, (int64_t)TB_SUBS_LEFT, (int64_t)TB_SUBS_PENDING);
    }
    if (rc == 0)
        rc = put_topics(st, *id, 1, topics, ntopics, err, errlen);
    if (rc == 0)
        rc = count_confirm(st, norm, now, confirm, err, errlen);
    rc = txn_end(st, began, rc, err, errlen);
    if (rc != 0)
        *confirm = 0;
    return rc;
}

int tb_subs_confirm(struct tb_store *st, int64_t id, int64_t now, char *err, size_t errlen)
{
    int64_t asked = 0;
    int began, rc;

    rc = txn_begin(st, 1, &began, err, errlen);
    if (rc == 0)
        rc = scalar(
            st, &asked, err, errlen,
            "SELECT (SELECT count(*) FROM sub_topics t WHERE t.sub = s.id AND t.pending != 0)"
            " FROM subscriptions s WHERE s.id = ?1",
            "i", id);
    /* Nothing asked (a second click, or a link from before leaving, which
     * dropped the request): nothing changes. */
    if (rc == 0 && asked > 0)
        rc = run(st, err, errlen, "DELETE FROM sub_topics WHERE sub = ?1 AND pending = 0", "i", id);
    if (rc == 0 && asked > 0)
        rc = run(st, err, errlen, "UPDATE sub_topics SET pending = 0 WHERE sub = ?1", "i", id);
    if (rc == 0 && asked > 0)
        rc = run(st, err, errlen,
                 "UPDATE subscriptions SET freq = pending_freq, failures = 0,"
                 " confirmed = CASE WHEN state = ?3 AND confirmed != 0 THEN confirmed ELSE ?2 END,"
                 " state = ?3 WHERE id = ?1",
                 "iii", id, now, (int64_t)TB_SUBS_ACTIVE);
    return txn_end(st, began, rc, err, errlen);
}

int tb_subs_add(struct tb_store *st, const char *addr, const char *const *topics, size_t ntopics,
                enum tb_subs_freq freq, int64_t now, int64_t *id, char *err, size_t errlen)
{
    char norm[TB_MAIL_ADDR_MAX + 1];
    int began, rc;

    if (tb_mail_addr_norm(addr, norm, sizeof(norm)) != 0 || !topics_ok(topics, ntopics) ||
        !freq_ok(freq))
        return -EINVAL;
    rc = txn_begin(st, 1, &began, err, errlen);
    if (rc == 0)
        rc = find_id(st, norm, id, err, errlen);
    if (rc == -ENOENT) {
        rc = scalar(st, id, err, errlen,
                    "INSERT INTO subscriptions(addr, state, freq, pending_freq, created, confirmed)"
                    " VALUES(?1, ?2, ?3, ?3, ?4, ?4) RETURNING id",
                    "tiii", norm, (int64_t)TB_SUBS_ACTIVE, (int64_t)freq, now);
    } else if (rc == 0) {
        rc = run(st, err, errlen,
                 "UPDATE subscriptions SET freq = ?2, failures = 0,"
                 " confirmed = CASE WHEN state = ?3 AND confirmed != 0 THEN confirmed ELSE ?4 END,"
                 " state = ?3 WHERE id = ?1",
                 "iiii", *id, (int64_t)freq, (int64_t)TB_SUBS_ACTIVE, now);
    }
    if (rc == 0)
        rc = run(st, err, errlen, "DELETE FROM sub_topics WHERE sub = ?1", "i", *id);
    if (rc == 0)
        rc = put_topics(st, *id, 0, topics, ntopics, err, errlen);
    return txn_end(st, began, rc, err, errlen);
}

int tb_subs_set(struct tb_store *st, int64_t id, const char *const *topics, size_t ntopics,
                enum tb_subs_freq freq, char *err, size_t errlen)
{
    int64_t found;
    int began, rc;

    if (!topics_ok(topics, ntopics) || !freq_ok(freq))
        return -EINVAL;
    rc = txn_begin(st, 1, &began, err, errlen);
    if (rc == 0)
        rc = scalar(st, &found, err, errlen, "SELECT id FROM subscriptions WHERE id = ?1", "i", id);
    if (rc == 0)
        rc = run(st, err, errlen, "UPDATE subscriptions SET freq = ?2 WHERE id = ?1", "ii", id,
                 (int64_t)freq);
    if (rc == 0)
        rc = put_topics(st, id, 0, topics, ntopics, err, errlen);
    return txn_end(st, began, rc, err, errlen);
}

int tb_subs_leave(struct tb_store *st, int64_t id, char *err, size_t errlen)
{
    int64_t found;
    int began, rc;

    rc = txn_begin(st, 1, &began, err, errlen);
    if (rc == 0)
        rc = scalar(st, &found, err, errlen, "SELECT id FROM subscriptions WHERE id = ?1", "i", id);
    if (rc == 0)
        rc = run(st, err, errlen, "UPDATE subscriptions SET state = ?2 WHERE id = ?1", "ii", id,
                 (int64_t)TB_SUBS_LEFT);
    /* A request waiting for confirmation goes too: a confirmation link
     * from before leaving must not bring the subscription back. */
    if (rc == 0)
        rc = run(st, err, errlen, "DELETE FROM sub_topics WHERE sub = ?1 AND pending = 1", "i", id);
    if (rc == 0)
        rc = run(st, err, errlen,
                 "UPDATE outbox SET state = ?2, done = ?3, data = NULL"
                 " WHERE sub = ?1 AND state = ?4",
                 "iiii", id, (int64_t)OUT_DROPPED, (int64_t)time(NULL), (int64_t)OUT_PENDING);
    return txn_end(st, began, rc, err, errlen);
}

void tb_subs_clear(struct tb_subs *s)
{
    size_t i;

    for (i = 0; i < s->ntopics; i++)
        free(s->topics[i]);
    for (i = 0; i < s->npending; i++)
        free(s->pending[i]);
    free(s->topics);
    free(s->pending);
    free(s->addr);
    free(s->last_error);
    memset(s, 0, sizeof(*s));
}

static int dup_col(struct tb_db_stmt *q, int i, char **out)
{
    const char *v = tb_db_column_text(q, i);

    *out = NULL;
    if (v == NULL)
        return 0;
    *out = strdup(v);
    return *out ? 0 : -ENOMEM;
}

/* Reads the topics of sub (pending or confirmed), sorted, into *v and *n. */
static int load_topics(struct tb_store *s, int64_t sub, int pending, char ***v, size_t *n,
                       char *err, size_t errlen)
{
    struct tb_db_stmt *q;
    size_t alloc = 0;
    int rc, step = TB_DB_DONE;

    *v = NULL;
    *n = 0;
    rc = query(s, &q, err, errlen,
               "SELECT topic FROM sub_topics WHERE sub = ?1 AND pending = ?2 ORDER BY topic", "ii",
               sub, (int64_t)pending);
    while (rc == 0 && (step = tb_db_step(q, err, errlen)) == TB_DB_ROW) {
        rc = TB_VEC_RESERVE(*v, alloc, *n + 1, TB_VEC_MAX);
        if (rc == 0)
            rc = dup_col(q, 0, &(*v)[*n]);
        if (rc == 0)
            (*n)++;
    }
    if (rc == 0 && step != TB_DB_DONE)
        rc = step;
    tb_db_finalize(q);
    return rc;
}

/* Fills out from the current row of a SUB_COLS statement, and its topics. */
static int read_sub(struct tb_store *s, struct tb_db_stmt *q, struct tb_subs *out, char *err,
                    size_t errlen)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->id = tb_db_column_int64(q, 0);
    out->state = (enum tb_subs_state)tb_db_column_int64(q, 2);
    out->freq = (enum tb_subs_freq)tb_db_column_int64(q, 3);
    out->pending_freq = (enum tb_subs_freq)tb_db_column_int64(q, 4);
    out->created = tb_db_column_int64(q, 5);
    out->confirmed = tb_db_column_int64(q, 6);
    out->covered = tb_db_column_int64(q, 7);
    out->last_sent = tb_db_column_int64(q, 8);
    out->failures = (int)tb_db_column_int64(q, 9);
    rc = dup_col(q, 1, &out->addr);
    if (rc == 0)
        rc = dup_col(q, 10, &out->last_error);
    if (rc == 0)
        rc = load_topics(s, out->id, 0, &out->topics, &out->ntopics, err, errlen);
    if (rc == 0)
        rc = load_topics(s, out->id, 1, &out->pending, &out->npending, err, errlen);
    if (rc != 0)
        tb_subs_clear(out);
    return rc;
}

/* Loads the subscription where `col` = the value (an id or an address). */
static int get_by(struct tb_store *st, const char *sql, const char *fmt, int64_t id,
                  const char *addr, struct tb_subs *out, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int began, rc, step;

    memset(out, 0, sizeof(*out));
    rc = txn_begin(st, 0, &began, err, errlen);
    if (rc == 0)
        rc = fmt[0] == 'i' ? query(st, &q, err, errlen, sql, fmt, id)
                           : query(st, &q, err, errlen, sql, fmt, addr);
    if (rc == 0) {
        step = tb_db_step(q, err, errlen);
        if (step == TB_DB_ROW)
            rc = read_sub(st, q, out, err, errlen);
        else
            rc = step == TB_DB_DONE ? -ENOENT : step;
    }
    tb_db_finalize(q);
    rc = txn_end(st, began, rc, err, errlen);
    if (rc != 0)
        tb_subs_clear(out);
    return rc;
}

int tb_subs_get(struct tb_store *st, int64_t id, struct tb_subs *out, char *err, size_t errlen)
{
    return get_by(st, "SELECT " SUB_COLS " FROM subscriptions WHERE id = ?1", "i", id, NULL, out,
                  err, errlen);
}

int tb_subs_find(struct tb_store *st, const char *addr, struct tb_subs *out, char *err,
                 size_t errlen)
{
    char norm[TB_MAIL_ADDR_MAX + 1];

    if (addr == NULL) {
        memset(out, 0, sizeof(*out));
        return -EINVAL;
    }
    /* As stored: an operator may type the domain in capitals. */
    if (tb_mail_addr_norm(addr, norm, sizeof(norm)) == 0)
        addr = norm;
    return get_by(st, "SELECT " SUB_COLS " FROM subscriptions WHERE addr = ?1", "t", 0, addr, out,
                  err, errlen);
}

/* Reads up to PAGE subscriptions with ids above `after` into v (*n of them). */
static int load_page(struct tb_store *st, int active_only, int64_t after, struct tb_subs *v,
                     size_t *n, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int began, rc, step = TB_DB_DONE;

    *n = 0;
    rc = txn_begin(st, 0, &began, err, errlen);
    if (rc == 0)
        rc = query(st, &q, err, errlen,
                   "SELECT " SUB_COLS " FROM subscriptions WHERE id > ?1"
                   " AND (?2 = 0 OR state = ?3) ORDER BY id LIMIT ?4",
                   "iiii", after, (int64_t)active_only, (int64_t)TB_SUBS_ACTIVE, (int64_t)PAGE);
    while (rc == 0 && (step = tb_db_step(q, err, errlen)) == TB_DB_ROW) {
        rc = read_sub(st, q, &v[*n], err, errlen);
        if (rc == 0)
            (*n)++;
    }
    if (rc == 0 && step != TB_DB_DONE)
        rc = step;
    tb_db_finalize(q);
    return txn_end(st, began, rc, err, errlen);
}

/* A page at a time, each read in its own transaction, and the callbacks
 * run with no statement open: they may write (a digest run queues
 * messages from its callback), and memory stays bounded whatever the
 * number of subscribers. */
int tb_subs_each(struct tb_store *st, int active_only, tb_subs_cb cb, void *data, char *err,
                 size_t errlen)
{
    struct tb_subs *v = calloc(PAGE, sizeof(*v));
    int64_t after = 0;
    size_t n = PAGE, i;
    int rc = v ? 0 : -ENOMEM;

    while (rc == 0 && n == PAGE) {
        rc = load_page(st, active_only, after, v, &n, err, errlen);
        for (i = 0; rc == 0 && i < n; i++) {
            after = v[i].id;
            rc = cb(&v[i], data);
        }
        for (i = 0; i < n; i++)
            tb_subs_clear(&v[i]);
    }
    free(v);
    return rc;
}

int tb_subs_queue(struct tb_store *st, int64_t sub, enum tb_subs_kind kind, const char *message_id,
                  const char *rcpt, const char *msg, size_t len, int64_t covered, int64_t now,
                  char *err, size_t errlen)
{
    int64_t found;
    int began, rc;

    if ((kind != TB_SUBS_MSG_CONFIRM && kind != TB_SUBS_MSG_DIGEST) || message_id == NULL ||
        message_id[0] == '\0' || tb_mail_addr_check(rcpt, err, errlen) != 0 || msg == NULL ||
        len == 0)
        return -EINVAL;
    rc = txn_begin(st, 1, &began, err, errlen);
    if (rc == 0)
        rc =
            scalar(st, &found, err, errlen, "SELECT id FROM subscriptions WHERE id = ?1", "i", sub);
    if (rc == 0)
        rc = run(st, err, errlen,
                 "INSERT INTO outbox(sub, kind, message_id, rcpt, queued, next_try, data)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6) ON CONFLICT(message_id) DO NOTHING",
                 "iittib", sub, (int64_t)kind, message_id, rcpt, now, (const void *)msg, len);
    /* Queued again (a digest rebuilt after a crash): nothing changes. */
    if (rc == 0 && kind == TB_SUBS_MSG_DIGEST && tb_db_changes(st->sql) == 1)
        rc = run(st, err, errlen, "UPDATE subscriptions SET covered = ?2 WHERE id = ?1", "ii", sub,
                 covered);
    return txn_end(st, began, rc, err, errlen);
}

void tb_subs_msg_clear(struct tb_subs_msg *m)
{
    free(m->message_id);
    free(m->rcpt);
    free(m->data);
    memset(m, 0, sizeof(*m));
}

/* Fills out from a row of id, sub, kind, message_id, rcpt, attempts, data. */
static int read_msg(struct tb_db_stmt *q, struct tb_subs_msg *out)
{
    const void *p;
    int rc;

    out->id = tb_db_column_int64(q, 0);
    out->sub = tb_db_column_int64(q, 1);
    out->kind = (enum tb_subs_kind)tb_db_column_int64(q, 2);
    out->attempts = (int)tb_db_column_int64(q, 5);
    rc = dup_col(q, 3, &out->message_id);
    if (rc == 0)
        rc = dup_col(q, 4, &out->rcpt);
    p = tb_db_column_blob(q, 6, &out->len);
    out->data = rc == 0 ? malloc(out->len + 1) : NULL;
    if (rc == 0 && out->data == NULL)
        rc = -ENOMEM;
    if (rc == 0) {
        if (out->len > 0)
            memcpy(out->data, p, out->len);
        out->data[out->len] = '\0';
    }
    if (rc != 0)
        tb_subs_msg_clear(out);
    return rc;
}

int tb_subs_cover(struct tb_store *st, int64_t sub, int64_t covered, char *err, size_t errlen)
{
    int rc = run(st, err, errlen,
                 "UPDATE subscriptions SET covered = {greatest}(covered, ?2) WHERE id = ?1", "ii",
                 sub, covered);

    return rc == 0 && tb_db_changes(st->sql) == 0 ? -ENOENT : rc;
}

/* Whether process pid, which claimed a message, is still running (one of
 * another user counts as running). */
static int claim_alive(int64_t pid)
{
    if (pid <= 0 || pid > INT32_MAX)
        return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int tb_subs_next(struct tb_store *st, int64_t now, struct tb_subs_msg *out, int64_t *next_try,
                 char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int64_t later = 0, me = (int64_t)getpid(), pid;
    int began, rc, step, found = 0;

    memset(out, 0, sizeof(*out));
    if (next_try != NULL)
        *next_try = 0;
    rc = txn_begin(st, 1, &began, err, errlen);
    /* A message claimed by another sender that still runs is its own
     * (claims older than CLAIM_MAX are void: the pid may be another's now). */
    if (rc == 0)
        rc = query(st, &q, err, errlen,
                   "SELECT o.id, o.sub, o.kind, o.message_id, o.rcpt, o.attempts, o.data,"
                   " o.claim_pid, o.claim_at FROM outbox o JOIN subscriptions s ON s.id = o.sub"
                   " WHERE o.state = 0 AND o.next_try <= ?1 AND " MAILABLE
                   " AND (o.claim_until IS NULL OR o.claim_until <= ?1) ORDER BY o.id LIMIT 64",
                   "i", now);
    while (rc == 0 && !found) {
        step = tb_db_step(q, err, errlen);
        if (step != TB_DB_ROW) {
            if (step != TB_DB_DONE)
                rc = step;
            break;
        }
        pid = tb_db_column_int64(q, 7);
        if (pid != 0 && pid != me && tb_db_column_int64(q, 8) >= now - CLAIM_MAX &&
            claim_alive(pid))
            continue;
        rc = read_msg(q, out);
        found = rc == 0;
    }
    tb_db_finalize(q);
    if (rc == 0 && found)
        rc = run(st, err, errlen, "UPDATE outbox SET claim_pid = ?2, claim_at = ?3 WHERE id = ?1",
                 "iii", out->id, me, now);
    if (rc == 0 && !found && next_try != NULL)
        rc = scalar(st, &later, err, errlen,
                    "SELECT min(o.next_try) FROM outbox o JOIN subscriptions s ON s.id = o.sub"
                    " WHERE o.state = 0 AND " MAILABLE,
                    "");
    if (rc == 0 && next_try != NULL)
        *next_try = later;
    rc = txn_end(st, began, rc, err, errlen);
    if (rc != 0) {
        tb_subs_msg_clear(out);
        return rc;
    }
    return found;
}

/* A node's claim: the oldest due, mailable message that no live claim
 * holds (a node's lease, or a process's claim younger than CLAIM_MAX: its
 * pid means nothing on another host). %s: the row locks on PostgreSQL. */
#define NODE_CLAIM_SQL                                                                             \
    "UPDATE outbox SET claim_node = ?2, claim_until = ?1 + ?3, claim_token = claim_token + 1"      \
    " WHERE id = (SELECT o.id FROM outbox o JOIN subscriptions s ON s.id = o.sub"                  \
    " WHERE o.state = 0 AND o.next_try <= ?1 AND " MAILABLE                                        \
    " AND (o.claim_until IS NULL OR o.claim_until <= ?1)"                                          \
    " AND (o.claim_pid = 0 OR o.claim_at < ?1 - ?4) ORDER BY o.id LIMIT 1%s)"                      \
    " AND state = 0 AND (claim_until IS NULL OR claim_until <= ?1) RETURNING id, claim_token"

int tb_subs_claim(struct tb_store *st, const char *node, int64_t lease, int64_t now,
                  struct tb_subs_msg *out, int64_t *next_try, char *err, size_t errlen)
{
    char sql[sizeof(NODE_CLAIM_SQL) + 32];
    struct tb_db_stmt *q = NULL;
    int64_t id = 0, token = 0, later = 0;
    int rc, step, tries, found = 0;

    memset(out, 0, sizeof(*out));
    if (next_try != NULL)
        *next_try = 0;
    if (node == NULL || lease < 1)
        return -EINVAL;
    snprintf(sql, sizeof(sql), NODE_CLAIM_SQL,
             tb_db_dialect(st->sql) == TB_DB_PG ? " FOR UPDATE OF o SKIP LOCKED" : "");
    /* On PostgreSQL a row another node claimed between this statement's
     * snapshot and its lock drops out of LIMIT 1 with no other in its
     * place: look again a few times before saying none is due. */
    for (tries = 0, rc = 0; rc == 0 && !found && tries < 4; tries++) {
        rc = query(st, &q, err, errlen, sql, "itii", now, node, lease, (int64_t)CLAIM_MAX);
        if (rc == 0) {
            step = tb_db_step(q, err, errlen);
            if (step == TB_DB_ROW) {
                id = tb_db_column_int64(q, 0);
                token = tb_db_column_int64(q, 1);
                found = 1;
            } else if (step < 0) {
                rc = step;
            }
        }
        tb_db_finalize(q);
        q = NULL;
        if (rc == 0 && !found && tb_db_dialect(st->sql) != TB_DB_PG)
            break;
    }
    if (rc == 0 && found)
        rc = query(st, &q, err, errlen,
                   "SELECT id, sub, kind, message_id, rcpt, attempts, data FROM outbox"
                   " WHERE id = ?1",
                   "i", id);
    if (rc == 0 && found) {
        step = tb_db_step(q, err, errlen);
        if (step == TB_DB_ROW)
            rc = read_msg(q, out);
        else
            rc = step < 0 ? step : -ENOENT;
        out->token = token;
    }
    tb_db_finalize(q);
    if (rc == 0 && !found && next_try != NULL)
        rc = scalar(st, &later, err, errlen,
                    "SELECT min({greatest}(o.next_try, coalesce(o.claim_until, 0)))"
                    " FROM outbox o JOIN subscriptions s ON s.id = o.sub"
                    " WHERE o.state = 0 AND " MAILABLE,
                    "");
    if (rc == 0 && next_try != NULL)
        *next_try = later;
    if (rc != 0) {
        tb_subs_msg_clear(out);
        return rc;
    }
    return found;
}

int tb_subs_forget(struct tb_store *st, const char *node, size_t *n, char *err, size_t errlen)
{
    int rc = run(st, err, errlen,
                 "UPDATE outbox SET claim_node = NULL, claim_until = NULL,"
                 " claim_token = claim_token + 1 WHERE claim_node = ?1",
                 "t", node);

    if (n != NULL)
        *n = rc == 0 ? (size_t)tb_db_changes(st->sql) : 0;
    return rc;
}

/* The wait before the next try after `attempts` earlier ones failed. */
static int64_t backoff(int64_t attempts)
{
    int64_t d = RETRY_FIRST;

    while (attempts-- > 0 && d < RETRY_MAX)
        d *= 2;
    return d < RETRY_MAX ? d : RETRY_MAX;
}

/* A message that will not go out: done as failed, counted on its subscription. */
static int fail_msg(struct tb_store *s, int64_t id, int64_t sub, const char *reply, int64_t now,
                    char *err, size_t errlen)
{
    int rc = run(s, err, errlen,
                 "UPDATE outbox SET state = ?2, attempts = attempts + 1, done = ?3, data = NULL,"
                 " last_error = ?4 WHERE id = ?1",
                 "iiit", id, (int64_t)OUT_FAILED, now, reply);

    if (rc == 0)
        rc = run(s, err, errlen,
                 "UPDATE subscriptions SET last_error = ?2, failures = failures + 1,"
                 " state = CASE WHEN failures + 1 >= ?3 AND state != ?4 THEN ?5 ELSE state END"
                 " WHERE id = ?1",
                 "itiii", sub, reply, (int64_t)TB_SUBS_SUSPEND_AFTER, (int64_t)TB_SUBS_LEFT,
                 (int64_t)TB_SUBS_SUSPENDED);
    if (rc == 0)
        rc = run(s, err, errlen, "UPDATE mail_totals SET n = n + 1 WHERE what = 'failed'", "");
    return rc;
}

static int sent_msg(struct tb_store *s, int64_t id, int64_t sub, int64_t kind, int64_t now,
                    char *err, size_t errlen)
{
    int rc = run(s, err, errlen,
                 "UPDATE outbox SET state = ?2, attempts = attempts + 1, done = ?3, data = NULL,"
                 " last_error = NULL WHERE id = ?1",
                 "iii", id, (int64_t)OUT_SENT, now);

    if (rc == 0)
        rc = run(s, err, errlen,
                 "UPDATE subscriptions SET failures = 0,"
                 " last_sent = CASE WHEN ?2 = 1 THEN ?3 ELSE last_sent END WHERE id = ?1",
                 "iii", sub, kind, now);
    if (rc == 0)
        rc = run(s, err, errlen, "UPDATE mail_totals SET n = n + 1 WHERE what = 'sent'", "");
    return rc;
}

/* A temporary failure: tried again later, or after GIVE_UP a failure. */
static int retry_msg(struct tb_store *s, int64_t id, int64_t sub, int64_t state, int64_t attempts,
                     int64_t queued, const char *reply, int64_t now, char *err, size_t errlen)
{
    int rc;

    if (now - queued >= GIVE_UP)
        return fail_msg(s, id, sub, reply, now, err, errlen);
    /* Dropped while it was being sent (its subscription left): stays dropped. */
    if (state != OUT_PENDING)
        return 0;
    rc = run(s, err, errlen,
             "UPDATE outbox SET attempts = attempts + 1, next_try = ?2, last_error = ?3"
             " WHERE id = ?1",
             "iit", id, now + backoff(attempts), reply);
    if (rc == 0)
        rc = run(s, err, errlen, "UPDATE subscriptions SET last_error = ?2 WHERE id = ?1", "it",
                 sub, reply);
    return rc;
}

/* Records an outcome; token > 0: only while the message's claim_token is
 * still token (TB_ELEASE otherwise, nothing written). */
static int record_sent(struct tb_store *st, int64_t id, int64_t token, enum tb_subs_outcome outcome,
                       const char *reply, int64_t now, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int64_t sub = 0, kind = 0, state = 0, attempts = 0, queued = 0;
    int began, rc, step;

    if (outcome != TB_SUBS_SENT && outcome != TB_SUBS_TEMPFAIL && outcome != TB_SUBS_PERMFAIL)
        return -EINVAL;
    rc = txn_begin(st, 1, &began, err, errlen);
    /* The fence: the row stays locked on PostgreSQL until the end. */
    if (rc == 0 && token > 0) {
        rc = run(st, err, errlen,
                 "UPDATE outbox SET claim_node = NULL, claim_until = NULL"
                 " WHERE id = ?1 AND claim_token = ?2",
                 "ii", id, token);
        if (rc == 0 && tb_db_changes(st->sql) == 0) {
            snprintf(err, errlen, "outbox message %lld: claim %lld is no longer the latest",
                     (long long)id, (long long)token);
            rc = TB_ELEASE;
        }
    }
    if (rc == 0)
        rc = query(st, &q, err, errlen,
                   "SELECT sub, kind, state, attempts, queued FROM outbox WHERE id = ?1", "i", id);
    if (rc == 0) {
        step = tb_db_step(q, err, errlen);
        if (step == TB_DB_ROW) {
            sub = tb_db_column_int64(q, 0);
            kind = tb_db_column_int64(q, 1);
            state = tb_db_column_int64(q, 2);
            attempts = tb_db_column_int64(q, 3);
            queued = tb_db_column_int64(q, 4);
        } else {
            rc = step == TB_DB_DONE ? -ENOENT : step;
        }
    }
    tb_db_finalize(q);
    /* An outcome recorded already is not counted twice. */
    if (rc == 0 && (state == OUT_SENT || state == OUT_FAILED))
        return txn_end(st, began, 0, err, errlen);
    if (rc == 0 && outcome == TB_SUBS_SENT)
        rc = sent_msg(st, id, sub, kind, now, err, errlen);
    else if (rc == 0 && outcome == TB_SUBS_PERMFAIL)
        rc = fail_msg(st, id, sub, reply, now, err, errlen);
    else if (rc == 0)
        rc = retry_msg(st, id, sub, state, attempts, queued, reply, now, err, errlen);
    if (rc == 0)
        rc = run(st, err, errlen, "UPDATE outbox SET claim_pid = 0 WHERE id = ?1", "i", id);
    if (rc == 0)
        rc = run(st, err, errlen, "DELETE FROM outbox WHERE done < ?1", "i", now - KEEP_DONE);
    return txn_end(st, began, rc, err, errlen);
}

int tb_subs_sent(struct tb_store *st, int64_t id, enum tb_subs_outcome outcome, const char *reply,
                 int64_t now, char *err, size_t errlen)
{
    return record_sent(st, id, 0, outcome, reply, now, err, errlen);
}

int tb_subs_done(struct tb_store *st, const struct tb_subs_msg *m, enum tb_subs_outcome outcome,
                 const char *reply, int64_t now, char *err, size_t errlen)
{
    return record_sent(st, m->id, m->token, outcome, reply, now, err, errlen);
}

int tb_subs_count(struct tb_store *st, struct tb_subs_counts *out, char *err, size_t errlen)
{
    struct tb_db_stmt *q = NULL;
    int64_t v = 0;
    int began, rc, step = TB_DB_DONE;

    memset(out, 0, sizeof(*out));
    rc = txn_begin(st, 0, &began, err, errlen);
    if (rc == 0)
        rc = query(st, &q, err, errlen, "SELECT state, count(*) FROM subscriptions GROUP BY state",
                   "");
    while (rc == 0 && (step = tb_db_step(q, err, errlen)) == TB_DB_ROW) {
        size_t n = (size_t)tb_db_column_int64(q, 1);

        switch ((int)tb_db_column_int64(q, 0)) {
        case TB_SUBS_PENDING:
            out->pending = n;
            break;
        case TB_SUBS_ACTIVE:
            out->active = n;
            break;
        case TB_SUBS_SUSPENDED:
            out->suspended = n;
            break;
        default:
            out->left += n;
        }
    }
    if (rc == 0 && step != TB_DB_DONE)
        rc = step;
    tb_db_finalize(q);
    if (rc == 0)
        rc = scalar(st, &v, err, errlen, "SELECT count(*) FROM outbox WHERE state = 0", "");
    out->outbox = (size_t)v;
    if (rc == 0)
        rc = scalar(st, &v, err, errlen, "SELECT n FROM mail_totals WHERE what = 'sent'", "");
    out->sent = (size_t)v;
    if (rc == 0)
        rc = scalar(st, &v, err, errlen, "SELECT n FROM mail_totals WHERE what = 'failed'", "");
    out->failed = (size_t)v;
    return txn_end(st, began, rc, err, errlen);
}
