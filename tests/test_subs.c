/* Unit tests for tb_subs.h: subscriptions and their state transitions,
 * the confirmation cap, the outbox (queue, next, outcomes, backoff,
 * suspension), counts, and all of it across a close and reopen. */
#include "tb_store.h"
#include <sqlite3.h>
#include "tb_subs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "storetest.h"

#define DAY 86400
#define T0 (20000 * (int64_t)DAY + 3600) /* a UTC day, 01:00 */

static char dir[64], dbpath[1024], err[512];

static const char *const ab[] = {"b", "a"};
static const char *const c1[] = {"c"};
static const char *const tr[] = {"trending", "attention", "trending"};

static struct tb_store *open_db(void)
{
    struct tb_store *s = NULL;

    CHECK_OK(tb_store_open(&s, dbpath, 0, err, sizeof(err)));
    if (s == NULL) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    return s;
}

static struct tb_subs get(struct tb_store *s, int64_t id)
{
    struct tb_subs v;

    CHECK_OK(tb_subs_get(s, id, &v, err, sizeof(err)));
    return v;
}

static int state_of(struct tb_store *s, int64_t id)
{
    struct tb_subs v = get(s, id);
    int st = (int)v.state;

    tb_subs_clear(&v);
    return st;
}

static int64_t add(struct tb_store *s, const char *addr)
{
    int64_t id = 0;

    CHECK_OK(tb_subs_add(s, addr, c1, 1, TB_SUBS_DAILY, T0, &id, err, sizeof(err)));
    return id;
}

static void queue(struct tb_store *s, int64_t sub, enum tb_subs_kind kind, const char *mid,
                  int64_t covered, int64_t now)
{
    CHECK_OK(tb_subs_queue(s, sub, kind, mid, "x@example.org", "Subject: x\r\n\r\nbody\r\n", 20,
                           covered, now, err, sizeof(err)));
}

/* The id of the next message due at now, or 0 (its attempts into *attempts). */
static int64_t next_id(struct tb_store *s, int64_t now, int64_t *later, int *attempts)
{
    struct tb_subs_msg m;
    int64_t id = 0;
    int rc = tb_subs_next(s, now, &m, later, err, sizeof(err));

    CHECK(rc == 0 || rc == 1);
    if (rc == 1) {
        id = m.id;
        if (attempts != NULL)
            *attempts = m.attempts;
        tb_subs_msg_clear(&m);
    }
    return id;
}

static struct tb_subs_counts counts(struct tb_store *s)
{
    struct tb_subs_counts c;

    CHECK_OK(tb_subs_count(s, &c, err, sizeof(err)));
    return c;
}

static void test_request_confirm(struct tb_store *s)
{
    struct tb_subs v;
    int64_t id = 0, id2 = 0;
    int confirm = -1;

    CHECK_OK(tb_subs_request(s, "Pat@Example.ORG", ab, 2, TB_SUBS_WEEKLY, T0, &id, &confirm, err,
                             sizeof(err)));
    CHECK(id > 0);
    CHECK_EQ(confirm, 1);
    v = get(s, id);
    CHECK_STR(v.addr, "Pat@example.org");
    CHECK_EQ(v.state, TB_SUBS_PENDING);
    CHECK_EQ(v.ntopics, 0);
    CHECK_EQ(v.npending, 2);
    CHECK_STR(v.pending[0], "a");
    CHECK_STR(v.pending[1], "b");
    CHECK_EQ(v.pending_freq, TB_SUBS_WEEKLY);
    CHECK_EQ(v.created, T0);
    CHECK_EQ(v.confirmed, 0);
    CHECK_EQ(v.covered, 0);
    tb_subs_clear(&v);
    /* Found by its address, the domain in any case; the local part's case counts. */
    CHECK_OK(tb_subs_find(s, "Pat@example.org", &v, err, sizeof(err)));
    CHECK_EQ(v.id, id);
    tb_subs_clear(&v);
    CHECK_OK(tb_subs_find(s, "Pat@EXAMPLE.org", &v, err, sizeof(err)));
    CHECK_EQ(v.id, id);
    tb_subs_clear(&v);
    CHECK_EQ(tb_subs_find(s, "pat@example.org", &v, err, sizeof(err)), -ENOENT);
    CHECK_EQ(tb_subs_find(s, NULL, &v, err, sizeof(err)), -EINVAL);
    /* Confirmed: the pending topics become the subscription's. */
    CHECK_OK(tb_subs_confirm(s, id, T0 + 10, err, sizeof(err)));
    v = get(s, id);
    CHECK_EQ(v.state, TB_SUBS_ACTIVE);
    CHECK_EQ(v.ntopics, 2);
    CHECK_STR(v.topics[0], "a");
    CHECK_STR(v.topics[1], "b");
    CHECK_EQ(v.npending, 0);
    CHECK(v.pending == NULL);
    CHECK_EQ(v.freq, TB_SUBS_WEEKLY);
    CHECK_EQ(v.confirmed, T0 + 10);
    tb_subs_clear(&v);
    /* A second click changes nothing. */
    CHECK_OK(tb_subs_confirm(s, id, T0 + 20, err, sizeof(err)));
    v = get(s, id);
    CHECK_EQ(v.confirmed, T0 + 10);
    CHECK_EQ(v.ntopics, 2);
    tb_subs_clear(&v);
    /* A known address asks for a change: it waits beside what it has. */
    CHECK_OK(tb_subs_request(s, "Pat@example.org", tr, 3, TB_SUBS_DAILY, T0 + 30, &id2, &confirm,
                             err, sizeof(err)));
    CHECK_EQ(id2, id);
    CHECK_EQ(confirm, 1);
    v = get(s, id);
    CHECK_EQ(v.state, TB_SUBS_ACTIVE);
    CHECK_EQ(v.ntopics, 2);
    CHECK_EQ(v.freq, TB_SUBS_WEEKLY);
    CHECK_EQ(v.npending, 2); /* "trending" once */
    CHECK_STR(v.pending[0], "attention");
    CHECK_STR(v.pending[1], "trending");
    tb_subs_clear(&v);
    CHECK_OK(tb_subs_confirm(s, id, T0 + 40, err, sizeof(err)));
    v = get(s, id);
    CHECK_EQ(v.ntopics, 2);
    CHECK_STR(v.topics[0], "attention");
    CHECK_STR(v.topics[1], TB_SUBS_TRENDING);
    CHECK_EQ(v.freq, TB_SUBS_DAILY);
    CHECK_EQ(v.confirmed, T0 + 10);
    tb_subs_clear(&v);
    CHECK_EQ(tb_subs_confirm(s, 999999, T0, err, sizeof(err)), -ENOENT);
    CHECK_EQ(tb_subs_get(s, 999999, &v, err, sizeof(err)), -ENOENT);
    CHECK(v.addr == NULL);
}

static void test_request_invalid(struct tb_store *s)
{
    static const char *const empty[] = {""};
    static const char *const ctl[] = {"a\nb"};
    static const char *const null[] = {NULL};
    int64_t id = 0;
    int confirm = 1;

    CHECK_EQ(tb_subs_request(s, "x@example.org\r\nBcc: y@example.org", ab, 2, TB_SUBS_DAILY, T0,
                             &id, &confirm, err, sizeof(err)),
             -EINVAL);
    CHECK_EQ(confirm, 0);
    CHECK_EQ(tb_subs_request(s, "x@example.org", ab, 0, TB_SUBS_DAILY, T0, &id, &confirm, err,
                             sizeof(err)),
             -EINVAL);
    CHECK_EQ(tb_subs_request(s, "x@example.org", empty, 1, TB_SUBS_DAILY, T0, &id, &confirm, err,
                             sizeof(err)),
             -EINVAL);
    CHECK_EQ(tb_subs_request(s, "x@example.org", ctl, 1, TB_SUBS_DAILY, T0, &id, &confirm, err,
                             sizeof(err)),
             -EINVAL);
    CHECK_EQ(tb_subs_request(s, "x@example.org", null, 1, TB_SUBS_DAILY, T0, &id, &confirm, err,
                             sizeof(err)),
             -EINVAL);
    CHECK_EQ(tb_subs_request(s, "x@example.org", ab, 2, (enum tb_subs_freq)7, T0, &id, &confirm,
                             err, sizeof(err)),
             -EINVAL);
    CHECK_EQ(tb_subs_add(s, "not an address", ab, 2, TB_SUBS_DAILY, T0, &id, err, sizeof(err)),
             -EINVAL);
    CHECK_EQ(tb_subs_add(s, "x@example.org", NULL, 0, TB_SUBS_DAILY, T0, &id, err, sizeof(err)),
             -EINVAL);
    CHECK_EQ(counts(s).pending + counts(s).active, 1); /* only the address of the test before */
}

/* TB_SUBS_CONFIRM_PER_DAY mails per address and UTC day, however asked. */
static void test_rate_cap(struct tb_store *s)
{
    const int64_t day = 20001 * (int64_t)DAY;
    int64_t id = 0;
    int i, confirm;

    for (i = 0; i < TB_SUBS_CONFIRM_PER_DAY; i++) {
        confirm = 0;
        CHECK_OK(tb_subs_request(s, "bomb@example.org", ab, 2, TB_SUBS_DAILY, day + i * 3600, &id,
                                 &confirm, err, sizeof(err)));
        CHECK_EQ(confirm, 1);
    }
    CHECK_OK(tb_subs_request(s, "bomb@example.org", ab, 2, TB_SUBS_DAILY, day + 5 * 3600, &id,
                             &confirm, err, sizeof(err)));
    CHECK_EQ(confirm, 0);
    /* The domain's case makes no other address. */
    confirm = 1;
    CHECK_OK(tb_subs_request(s, "bomb@EXAMPLE.org", ab, 2, TB_SUBS_DAILY, day + DAY - 1, &id,
                             &confirm, err, sizeof(err)));
    CHECK_EQ(confirm, 0);
    /* Another address is not affected, nor the next UTC day. */
    CHECK_OK(tb_subs_request(s, "other@example.org", ab, 2, TB_SUBS_DAILY, day + 6 * 3600, &id,
                             &confirm, err, sizeof(err)));
    CHECK_EQ(confirm, 1);
    CHECK_OK(tb_subs_request(s, "bomb@example.org", ab, 2, TB_SUBS_DAILY, day + DAY, &id, &confirm,
                             err, sizeof(err)));
    CHECK_EQ(confirm, 1);
    CHECK_EQ(state_of(s, id), TB_SUBS_PENDING);
}

static void test_leave_and_back(struct tb_store *s)
{
    struct tb_subs v;
    int64_t id = 0, id2 = 0;
    int confirm = 0;

    CHECK_OK(tb_subs_request(s, "leaver@example.org", c1, 1, TB_SUBS_DAILY, T0, &id, &confirm, err,
                             sizeof(err)));
    CHECK_OK(tb_subs_confirm(s, id, T0 + 1, err, sizeof(err)));
    /* A request, then leaving: its confirmation link no longer brings it back. */
    CHECK_OK(tb_subs_request(s, "leaver@example.org", ab, 2, TB_SUBS_DAILY, T0 + 2, &id2, &confirm,
                             err, sizeof(err)));
    CHECK_OK(tb_subs_leave(s, id, err, sizeof(err)));
    v = get(s, id);
    CHECK_EQ(v.state, TB_SUBS_LEFT);
    CHECK_EQ(v.npending, 0);
    tb_subs_clear(&v);
    CHECK_OK(tb_subs_confirm(s, id, T0 + 3, err, sizeof(err)));
    CHECK_EQ(state_of(s, id), TB_SUBS_LEFT);
    CHECK_EQ(tb_subs_leave(s, 999999, err, sizeof(err)), -ENOENT);
    /* Asking again after leaving: pending, then active, the same row. */
    CHECK_OK(tb_subs_request(s, "leaver@example.org", ab, 2, TB_SUBS_WEEKLY, T0 + DAY, &id2,
                             &confirm, err, sizeof(err)));
    CHECK_EQ(id2, id);
    CHECK_EQ(confirm, 1);
    CHECK_EQ(state_of(s, id), TB_SUBS_PENDING);
    CHECK_OK(tb_subs_confirm(s, id, T0 + DAY + 1, err, sizeof(err)));
    v = get(s, id);
    CHECK_EQ(v.state, TB_SUBS_ACTIVE);
    CHECK_EQ(v.ntopics, 2);
    CHECK_EQ(v.freq, TB_SUBS_WEEKLY);
    tb_subs_clear(&v);
}

static void test_add_set(struct tb_store *s)
{
    static const char *const yz[] = {"z", "y"};
    struct tb_subs v;
    int64_t id = 0, id2 = 0;
    int confirm = 0;

    /* An operator's subscription is active at once. */
    CHECK_OK(tb_subs_add(s, "op@Example.org", ab, 2, TB_SUBS_DAILY, T0, &id, err, sizeof(err)));
    v = get(s, id);
    CHECK_STR(v.addr, "op@example.org");
    CHECK_EQ(v.state, TB_SUBS_ACTIVE);
    CHECK_EQ(v.ntopics, 2);
    CHECK_EQ(v.confirmed, T0);
    tb_subs_clear(&v);
    /* Added again: replaced, and a waiting request is dropped. */
    CHECK_OK(tb_subs_request(s, "op@example.org", c1, 1, TB_SUBS_DAILY, T0, &id2, &confirm, err,
                             sizeof(err)));
    CHECK_OK(
        tb_subs_add(s, "op@example.org", yz, 2, TB_SUBS_WEEKLY, T0 + 5, &id2, err, sizeof(err)));
    CHECK_EQ(id2, id);
    v = get(s, id);
    CHECK_EQ(v.ntopics, 2);
    CHECK_STR(v.topics[0], "y");
    CHECK_STR(v.topics[1], "z");
    CHECK_EQ(v.npending, 0);
    CHECK_EQ(v.freq, TB_SUBS_WEEKLY);
    CHECK_EQ(v.confirmed, T0);
    tb_subs_clear(&v);
    /* After leaving, an operator brings it back. */
    CHECK_OK(tb_subs_leave(s, id, err, sizeof(err)));
    CHECK_OK(
        tb_subs_add(s, "op@example.org", c1, 1, TB_SUBS_DAILY, T0 + 9, &id2, err, sizeof(err)));
    v = get(s, id);
    CHECK_EQ(v.state, TB_SUBS_ACTIVE);
    CHECK_EQ(v.confirmed, T0 + 9);
    tb_subs_clear(&v);
    /* The manage page's change. */
    CHECK_OK(tb_subs_set(s, id, tr, 3, TB_SUBS_WEEKLY, err, sizeof(err)));
    v = get(s, id);
    CHECK_EQ(v.ntopics, 2);
    CHECK_STR(v.topics[1], "trending");
    CHECK_EQ(v.freq, TB_SUBS_WEEKLY);
    CHECK_EQ(v.state, TB_SUBS_ACTIVE);
    tb_subs_clear(&v);
    CHECK_EQ(tb_subs_set(s, 999999, c1, 1, TB_SUBS_DAILY, err, sizeof(err)), -ENOENT);
    CHECK_EQ(tb_subs_set(s, id, c1, 0, TB_SUBS_DAILY, err, sizeof(err)), -EINVAL);
}

static void test_queue(struct tb_store *s)
{
    struct tb_subs_msg m;
    struct tb_subs v;
    int64_t id = add(s, "queue@example.org"), later = -1;
    size_t before = counts(s).outbox;

    queue(s, id, TB_SUBS_MSG_DIGEST, "<d1@x>", 1000, T0);
    v = get(s, id);
    CHECK_EQ(v.covered, 1000);
    tb_subs_clear(&v);
    /* The same Message-ID again: nothing, not even the covered time. */
    queue(s, id, TB_SUBS_MSG_DIGEST, "<d1@x>", 2000, T0);
    v = get(s, id);
    CHECK_EQ(v.covered, 1000);
    tb_subs_clear(&v);
    CHECK_EQ(counts(s).outbox, before + 1);
    /* A confirmation leaves covered alone. */
    queue(s, id, TB_SUBS_MSG_CONFIRM, "<c1@x>", 5000, T0);
    v = get(s, id);
    CHECK_EQ(v.covered, 1000);
    tb_subs_clear(&v);
    CHECK_EQ(counts(s).outbox, before + 2);
    CHECK_EQ(tb_subs_queue(s, 999999, TB_SUBS_MSG_DIGEST, "<d2@x>", "x@example.org", "x", 1, 3000,
                           T0, err, sizeof(err)),
             -ENOENT);
    CHECK_EQ(tb_subs_queue(s, id, TB_SUBS_MSG_DIGEST, "<d2@x>",
                           "x@example.org\r\nRCPT TO:<y@z.org>", "x", 1, 3000, T0, err,
                           sizeof(err)),
             -EINVAL);
    CHECK_EQ(tb_subs_queue(s, id, TB_SUBS_MSG_DIGEST, "", "x@example.org", "x", 1, 3000, T0, err,
                           sizeof(err)),
             -EINVAL);
    CHECK_EQ(tb_subs_queue(s, id, TB_SUBS_MSG_DIGEST, "<d2@x>", "x@example.org", "x", 0, 3000, T0,
                           err, sizeof(err)),
             -EINVAL);
    CHECK_EQ(counts(s).outbox, before + 2);
    v = get(s, id);
    CHECK_EQ(v.covered, 1000);
    tb_subs_clear(&v);
    /* The message comes back whole, NUL-terminated. */
    CHECK_EQ(tb_subs_next(s, T0, &m, &later, err, sizeof(err)), 1);
    CHECK_STR(m.message_id, "<d1@x>");
    CHECK_STR(m.rcpt, "x@example.org");
    CHECK_EQ(m.len, 20);
    CHECK_STR(m.data, "Subject: x\r\n\r\nbody\r\n");
    CHECK_EQ(m.kind, TB_SUBS_MSG_DIGEST);
    CHECK_EQ(m.sub, id);
    CHECK_EQ(m.attempts, 0);
    tb_subs_msg_clear(&m);
    /* Leaving drops both. */
    CHECK_OK(tb_subs_leave(s, id, err, sizeof(err)));
    CHECK_EQ(counts(s).outbox, before);
    CHECK_EQ(next_id(s, T0 + DAY, &later, NULL), 0);
    CHECK_EQ(later, 0);
    /* Dropped ones keep their Message-ID: queuing one again is still a no-op. */
    queue(s, id, TB_SUBS_MSG_DIGEST, "<d1@x>", 9000, T0);
    CHECK_EQ(counts(s).outbox, before);
}

/* Inside the caller's batch (tb_store_begin), a call is a savepoint of it. */
static void test_in_batch(struct tb_store *s)
{
    int64_t id = 0;

    CHECK_OK(tb_store_begin(s, err, sizeof(err)));
    CHECK_OK(tb_subs_add(s, "batch@example.org", c1, 1, TB_SUBS_DAILY, T0, &id, err, sizeof(err)));
    queue(s, id, TB_SUBS_MSG_DIGEST, "<batch@x>", 77, T0);
    CHECK_EQ(tb_subs_set(s, 999999, c1, 1, TB_SUBS_DAILY, err, sizeof(err)), -ENOENT);
    CHECK_OK(tb_store_commit(s, err, sizeof(err)));
    CHECK_EQ(state_of(s, id), TB_SUBS_ACTIVE);
    CHECK_OK(tb_subs_leave(s, id, err, sizeof(err)));
}

static void test_next_kinds(struct tb_store *s)
{
    int64_t pend = 0, act = add(s, "active@example.org"), left = add(s, "left@example.org");
    int64_t m[6] = {0}, later = -1;
    int confirm = 0;

    CHECK_EQ(next_id(s, T0 + 100, &later, NULL), 0);
    CHECK_EQ(later, 0); /* nothing pending at all */
    CHECK_OK(tb_subs_request(s, "pend@example.org", c1, 1, TB_SUBS_DAILY, T0, &pend, &confirm, err,
                             sizeof(err)));
    queue(s, pend, TB_SUBS_MSG_DIGEST, "<p-d@x>", 1, T0 + 100);
    queue(s, act, TB_SUBS_MSG_DIGEST, "<a-d@x>", 1, T0 + 100);
    queue(s, pend, TB_SUBS_MSG_CONFIRM, "<p-c@x>", 1, T0 + 100);
    queue(s, act, TB_SUBS_MSG_DIGEST, "<a-later@x>", 1, T0 + 500);
    CHECK_OK(tb_subs_leave(s, left, err, sizeof(err)));
    queue(s, left, TB_SUBS_MSG_CONFIRM, "<l-c@x>", 1, T0 + 100);
    queue(s, left, TB_SUBS_MSG_DIGEST, "<l-d@x>", 1, T0 + 100);
    /* Not due before its queuing time. */
    CHECK_EQ(next_id(s, T0 + 99, &later, NULL), 0);
    CHECK_EQ(later, T0 + 100);
    /* Oldest first; a pending subscription gets its confirmation, not the
     * digest; one that left gets nothing. */
    m[0] = next_id(s, T0 + 100, NULL, NULL);
    CHECK(m[0] > 0);
    CHECK_OK(tb_subs_sent(s, m[0], TB_SUBS_SENT, "250 ok", T0 + 100, err, sizeof(err)));
    m[1] = next_id(s, T0 + 100, NULL, NULL);
    CHECK_EQ(m[1], m[0] + 1);
    CHECK_OK(tb_subs_sent(s, m[1], TB_SUBS_SENT, "250 ok", T0 + 100, err, sizeof(err)));
    CHECK_EQ(next_id(s, T0 + 100, &later, NULL), 0);
    CHECK_EQ(later, T0 + 500);
    {
        struct tb_subs_msg msg;

        CHECK_EQ(tb_subs_next(s, T0 + 500, &msg, NULL, err, sizeof(err)), 1);
        CHECK_STR(msg.message_id, "<a-later@x>");
        CHECK_OK(tb_subs_sent(s, msg.id, TB_SUBS_SENT, "250 ok", T0 + 500, err, sizeof(err)));
        tb_subs_msg_clear(&msg);
    }
    /* The waiting digest of the pending one goes once it is confirmed. */
    CHECK_EQ(next_id(s, T0 + 600, &later, NULL), 0);
    CHECK_EQ(later, 0);
    CHECK_OK(tb_subs_confirm(s, pend, T0 + 600, err, sizeof(err)));
    m[2] = next_id(s, T0 + 600, NULL, NULL);
    CHECK(m[2] > 0 && m[2] < m[0]);
    CHECK_OK(tb_subs_sent(s, m[2], TB_SUBS_SENT, "250 ok", T0 + 600, err, sizeof(err)));
    CHECK_EQ(next_id(s, T0 + 600, &later, NULL), 0);
    /* Which were the first two: the active digest, then the confirmation. */
    {
        struct tb_subs v = get(s, act);

        CHECK_EQ(v.last_sent, T0 + 500);
        tb_subs_clear(&v);
        v = get(s, pend);
        CHECK_EQ(v.last_sent, T0 + 600); /* its digest, not its confirmation at +100 */
        tb_subs_clear(&v);
    }
    /* Queued for one that left, never taken: its messages wait, uncounted as sent. */
    CHECK(counts(s).outbox >= 2);
    CHECK_OK(tb_subs_leave(s, act, err, sizeof(err)));
    CHECK_OK(tb_subs_leave(s, pend, err, sizeof(err)));
}

/* 60 s doubling per attempt, at most 6 h; dropped as a failure after 3 days. */
static void test_tempfail(struct tb_store *s)
{
    static const int64_t waits[] = {60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600};
    struct tb_subs v;
    struct tb_subs_counts c0 = counts(s), c;
    int64_t id = add(s, "slow@example.org"), msg, later = 0, now = T0;
    int attempts = -1;
    size_t i;

    queue(s, id, TB_SUBS_MSG_DIGEST, "<slow@x>", 1, T0);
    for (i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
        msg = next_id(s, now, NULL, &attempts);
        CHECK(msg > 0);
        CHECK_EQ(attempts, (int)i);
        CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_TEMPFAIL, "451 try later", now, err, sizeof(err)));
        CHECK_EQ(next_id(s, now + waits[i] - 1, &later, NULL), 0);
        CHECK_EQ(later, now + waits[i]);
        now += waits[i];
    }
    v = get(s, id);
    CHECK_EQ(v.state, TB_SUBS_ACTIVE);
    CHECK_EQ(v.failures, 0);
    CHECK_STR(v.last_error, "451 try later");
    tb_subs_clear(&v);
    c = counts(s);
    CHECK_EQ(c.outbox, c0.outbox + 1);
    CHECK_EQ(c.failed, c0.failed);
    /* Still failing 3 days after it was queued: dropped, a failure. */
    now = T0 + 3 * DAY;
    msg = next_id(s, now, NULL, NULL);
    CHECK(msg > 0);
    CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_TEMPFAIL, "421 gone away", now, err, sizeof(err)));
    CHECK_EQ(next_id(s, now + 7 * DAY, &later, NULL), 0);
    CHECK_EQ(later, 0);
    c = counts(s);
    CHECK_EQ(c.outbox, c0.outbox);
    CHECK_EQ(c.failed, c0.failed + 1);
    v = get(s, id);
    CHECK_EQ(v.failures, 1);
    CHECK_STR(v.last_error, "421 gone away");
    tb_subs_clear(&v);
    CHECK_OK(tb_subs_leave(s, id, err, sizeof(err)));
}

static void test_permfail(struct tb_store *s)
{
    struct tb_subs_counts c0 = counts(s), c;
    struct tb_subs v;
    int64_t id = add(s, "bounce@example.org"), msg;
    char mid[32];
    int i;

    /* Two failures, then a success: the count starts over. */
    for (i = 0; i < 3; i++) {
        snprintf(mid, sizeof(mid), "<b%d@x>", i);
        queue(s, id, TB_SUBS_MSG_DIGEST, mid, i, T0);
        msg = next_id(s, T0, NULL, NULL);
        CHECK(msg > 0);
        CHECK_OK(tb_subs_sent(s, msg, i < 2 ? TB_SUBS_PERMFAIL : TB_SUBS_SENT,
                              i < 2 ? "550 no such user" : "250 ok", T0 + i, err, sizeof(err)));
        v = get(s, id);
        CHECK_EQ(v.failures, i < 2 ? i + 1 : 0);
        CHECK_EQ(v.state, TB_SUBS_ACTIVE);
        CHECK_EQ(v.last_sent, i < 2 ? 0 : T0 + 2);
        CHECK_STR(v.last_error, "550 no such user");
        tb_subs_clear(&v);
    }
    /* Recording an outcome twice counts it once. */
    CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_PERMFAIL, "550 again", T0 + 3, err, sizeof(err)));
    v = get(s, id);
    CHECK_EQ(v.failures, 0);
    tb_subs_clear(&v);
    CHECK_EQ(tb_subs_sent(s, 999999, TB_SUBS_SENT, "250", T0, err, sizeof(err)), -ENOENT);
    /* Three in a row: suspended, and its next digest waits. */
    for (i = 3; i < 6; i++) {
        snprintf(mid, sizeof(mid), "<b%d@x>", i);
        queue(s, id, TB_SUBS_MSG_DIGEST, mid, i, T0);
        msg = next_id(s, T0 + 10, NULL, NULL);
        CHECK(msg > 0);
        CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_PERMFAIL, "550 mailbox disabled", T0 + 10, err,
                              sizeof(err)));
        CHECK_EQ(state_of(s, id), i < 5 ? TB_SUBS_ACTIVE : TB_SUBS_SUSPENDED);
    }
    queue(s, id, TB_SUBS_MSG_DIGEST, "<b6@x>", 6, T0);
    CHECK_EQ(next_id(s, T0 + 20, NULL, NULL), 0);
    c = counts(s);
    CHECK_EQ(c.failed, c0.failed + 5);
    CHECK_EQ(c.sent, c0.sent + 1);
    CHECK_EQ(c.suspended, c0.suspended + 1);
    /* A confirmation still goes to a suspended address; confirming reactivates. */
    queue(s, id, TB_SUBS_MSG_CONFIRM, "<b-c@x>", 0, T0);
    msg = next_id(s, T0 + 20, NULL, NULL);
    CHECK(msg > 0);
    CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_SENT, "250 ok", T0 + 20, err, sizeof(err)));
    CHECK_EQ(state_of(s, id), TB_SUBS_SUSPENDED);
    {
        int64_t id2 = 0;
        int confirm = 0;

        CHECK_OK(tb_subs_request(s, "bounce@example.org", c1, 1, TB_SUBS_DAILY, T0 + 30, &id2,
                                 &confirm, err, sizeof(err)));
        CHECK_EQ(state_of(s, id), TB_SUBS_SUSPENDED);
        CHECK_OK(tb_subs_confirm(s, id, T0 + 40, err, sizeof(err)));
    }
    v = get(s, id);
    CHECK_EQ(v.state, TB_SUBS_ACTIVE);
    CHECK_EQ(v.failures, 0);
    CHECK_EQ(v.last_sent, T0 + 2); /* a confirmation is no digest */
    tb_subs_clear(&v);
    msg = next_id(s, T0 + 50, NULL, NULL);
    CHECK(msg > 0); /* <b6@x> */
    CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_SENT, "250 ok", T0 + 50, err, sizeof(err)));
    CHECK_OK(tb_subs_leave(s, id, err, sizeof(err)));
}

/* A message done is remembered for a week and a day: a digest rebuilt
 * after a crash is not sent again. */
static void test_done_kept(struct tb_store *s)
{
    int64_t id = add(s, "kept@example.org"), msg;
    size_t before;

    queue(s, id, TB_SUBS_MSG_DIGEST, "<kept@x>", 1, T0);
    msg = next_id(s, T0, NULL, NULL);
    CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_SENT, "250 ok", T0, err, sizeof(err)));
    before = counts(s).outbox;
    queue(s, id, TB_SUBS_MSG_DIGEST, "<kept@x>", 1, T0 + 7 * DAY);
    CHECK_EQ(counts(s).outbox, before);
    /* Past that, its row goes (with the next outcome recorded). */
    queue(s, id, TB_SUBS_MSG_DIGEST, "<other@x>", 1, T0 + 9 * DAY);
    msg = next_id(s, T0 + 9 * DAY, NULL, NULL);
    CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_SENT, "250 ok", T0 + 9 * DAY, err, sizeof(err)));
    queue(s, id, TB_SUBS_MSG_DIGEST, "<kept@x>", 1, T0 + 9 * DAY);
    CHECK_EQ(counts(s).outbox, before + 1);
    msg = next_id(s, T0 + 9 * DAY, NULL, NULL);
    CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_SENT, "250 ok", T0 + 9 * DAY, err, sizeof(err)));
    CHECK_OK(tb_subs_leave(s, id, err, sizeof(err)));
}

struct walk {
    int64_t last;
    size_t n, active;
    int stop_at;
    struct tb_store *s;
};

static int walk_cb(const struct tb_subs *v, void *data)
{
    struct walk *w = data;
    char mid[64];

    CHECK(v->id > w->last);
    CHECK(v->addr != NULL);
    w->last = v->id;
    w->n++;
    w->active += v->state == TB_SUBS_ACTIVE;
    /* The callback may write: a digest run queues from here. */
    if (w->s != NULL) {
        snprintf(mid, sizeof(mid), "<walk%lld@x>", (long long)v->id);
        CHECK_OK(tb_subs_queue(w->s, v->id, TB_SUBS_MSG_DIGEST, mid, "x@example.org", "m", 1,
                               T0 + 5, T0, err, sizeof(err)));
    }
    return w->stop_at > 0 && (int)w->n == w->stop_at ? 42 : 0;
}

static void test_each(struct tb_store *s)
{
    struct tb_subs_counts c = counts(s);
    size_t total = c.pending + c.active + c.suspended + c.left, i;
    struct walk w = {0};
    char addr[64];

    /* More than a page of them. */
    for (i = 0; i < 600; i++) {
        snprintf(addr, sizeof(addr), "many%zu@example.org", i);
        add(s, addr);
    }
    total += 600;
    CHECK_OK(tb_subs_each(s, 0, walk_cb, &w, err, sizeof(err)));
    CHECK_EQ(w.n, total);
    CHECK_EQ(w.active, c.active + 600);
    memset(&w, 0, sizeof(w));
    w.s = s;
    CHECK_OK(tb_subs_each(s, 1, walk_cb, &w, err, sizeof(err)));
    CHECK_EQ(w.n, c.active + 600);
    CHECK_EQ(w.active, w.n);
    CHECK_EQ(counts(s).outbox, c.outbox + w.n);
    memset(&w, 0, sizeof(w));
    w.stop_at = 300;
    CHECK_EQ(tb_subs_each(s, 0, walk_cb, &w, err, sizeof(err)), 42);
    CHECK_EQ(w.n, 300);
    {
        struct tb_subs v = get(s, w.last);

        CHECK_EQ(v.covered, T0 + 5);
        tb_subs_clear(&v);
    }
}

static void test_reopen(void)
{
    struct tb_store *s = open_db();
    struct tb_subs_counts c1v, c2v;
    struct tb_subs v;
    int64_t id = 0, msg;
    size_t taken = 0;
    int confirm = 0;

    CHECK_OK(tb_subs_request(s, "durable@example.org", ab, 2, TB_SUBS_WEEKLY, T0, &id, &confirm,
                             err, sizeof(err)));
    CHECK_OK(tb_subs_confirm(s, id, T0 + 1, err, sizeof(err)));
    queue(s, id, TB_SUBS_MSG_DIGEST, "<durable@x>", 4242, T0 + 2);
    c1v = counts(s);
    tb_store_close(s);
    s = open_db();
    c2v = counts(s);
    CHECK_EQ(c2v.active, c1v.active);
    CHECK_EQ(c2v.left, c1v.left);
    CHECK_EQ(c2v.outbox, c1v.outbox);
    CHECK_EQ(c2v.sent, c1v.sent);
    CHECK_EQ(c2v.failed, c1v.failed);
    CHECK(c2v.sent > 0 && c2v.failed > 0);
    CHECK_OK(tb_subs_find(s, "durable@example.org", &v, err, sizeof(err)));
    CHECK_EQ(v.id, id);
    CHECK_EQ(v.state, TB_SUBS_ACTIVE);
    CHECK_EQ(v.ntopics, 2);
    CHECK_EQ(v.freq, TB_SUBS_WEEKLY);
    CHECK_EQ(v.covered, 4242);
    tb_subs_clear(&v);
    /* The queued digest survived, behind the walk's (queued earlier). */
    for (;;) {
        struct tb_subs_msg m;
        int rc = tb_subs_next(s, T0 + 2, &m, NULL, err, sizeof(err)), last;

        CHECK(rc == 0 || rc == 1);
        if (rc != 1)
            break;
        msg = m.id;
        last = strcmp(m.message_id, "<durable@x>") == 0;
        if (last)
            CHECK_STR(m.data, "Subject: x\r\n\r\nbody\r\n");
        tb_subs_msg_clear(&m);
        CHECK_OK(tb_subs_sent(s, msg, TB_SUBS_SENT, "250", T0 + 3, err, sizeof(err)));
        taken++;
        if (last)
            break;
    }
    CHECK(taken > 600);
    CHECK_EQ(counts(s).sent, c1v.sent + taken);
    CHECK_EQ(counts(s).outbox, c1v.outbox - taken);
    tb_store_close(s);
}

/* Two senders on one outbox (the daemon and a `digest` command): a message
 * claimed by a process that still runs is not taken by another; once its
 * claimer died, or after an hour, it is. */
static void test_claims(void)
{
    struct tb_store *s;
    int64_t a, m1, m2, child_got = 0;
    int up[2], down[2], status = 0;
    pid_t pid;
    char c = 0, sql[128];

    snprintf(dbpath, sizeof(dbpath), "%s", st_target(dir, "claims.db"));
    s = open_db();
    a = add(s, "claims@example.org");
    queue(s, a, TB_SUBS_MSG_DIGEST, "<claim-1@x>", 1, T0);
    queue(s, a, TB_SUBS_MSG_DIGEST, "<claim-2@x>", 2, T0);
    tb_store_close(s);
    CHECK(pipe(up) == 0 && pipe(down) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        s = open_db();
        child_got = next_id(s, T0, NULL, NULL);
        tb_store_close(s);
        if (write(up[1], &child_got, sizeof(child_got)) != (ssize_t)sizeof(child_got) ||
            read(down[0], &c, 1) != 1)
            _exit(2);
        _exit(0); /* dies holding its claim */
    }
    CHECK(read(up[0], &child_got, sizeof(child_got)) == (ssize_t)sizeof(child_got));
    s = open_db();
    m1 = next_id(s, T0, NULL, NULL);
    CHECK(child_got > 0);
    CHECK(m1 > 0 && m1 != child_got); /* the running child's message is its own */
    CHECK_OK(tb_subs_sent(s, m1, TB_SUBS_SENT, "250 ok", T0, err, sizeof(err)));
    CHECK_EQ(next_id(s, T0, NULL, NULL), 0);
    CHECK(write(down[1], "x", 1) == 1);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    m2 = next_id(s, T0, NULL, NULL); /* its claimer is gone */
    CHECK_EQ(m2, child_got);
    CHECK_OK(tb_subs_sent(s, m2, TB_SUBS_SENT, "250 ok", T0, err, sizeof(err)));
    /* A claim over an hour old is void even when its pid runs (reused). */
    queue(s, a, TB_SUBS_MSG_DIGEST, "<claim-3@x>", 3, T0);
    snprintf(sql, sizeof(sql), "UPDATE outbox SET claim_pid = 1, claim_at = %lld", (long long)T0);
    CHECK_OK(tb_db_exec(tb_store_sql(s), sql, err, sizeof(err)));
    CHECK_EQ(next_id(s, T0, NULL, NULL), 0); /* pid 1 runs: its claim holds */
    CHECK(next_id(s, T0 + 3601, NULL, NULL) > 0);
    tb_store_close(s);
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
}

int main(void)
{
    struct tb_store *s;

    snprintf(dir, sizeof(dir), "/tmp/tb_subs_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;
    if (!st_ready())
        CHECK_DONE();
    snprintf(dbpath, sizeof(dbpath), "%s", st_target(dir, "t.db"));
    s = open_db();
    test_request_confirm(s);
    test_request_invalid(s);
    test_rate_cap(s);
    test_leave_and_back(s);
    test_add_set(s);
    test_queue(s);
    test_in_batch(s);
    test_next_kinds(s);
    test_tempfail(s);
    test_permfail(s);
    test_done_kept(s);
    test_each(s);
    tb_store_close(s);
    test_reopen();
    test_claims();
    {
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    CHECK_DONE();
}
