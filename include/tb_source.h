/*
 * tb_source: when to poll a source next (the scheduling policy).
 *
 * Pure arithmetic on a state struct that the daemon keeps per source (in
 * SQLite) and updates after every fetch result: no uv, no I/O, no clock and
 * no random generator of its own (the caller passes `now` and `rnd`), so
 * every rule is table-testable.
 *
 * The per-host delay (a 429/503 Retry-After from one source holding back the
 * other sources on the same exact host) is not here: the fetcher owns it,
 * see tb_fetcher.h.
 */
#ifndef TB_SOURCE_H
#define TB_SOURCE_H

#include <stddef.h>
#include <stdint.h>

/** Longest a Cache-Control max-age or RSS ttl may stretch an interval (s). */
#define TB_SOURCE_MAX_STRETCH (24 * 3600)

/** Longest error backoff (s), unless the configured interval is longer. */
#define TB_SOURCE_MAX_BACKOFF (24 * 3600)

/** Longest a Retry-After may push the next poll out (s). */
#define TB_SOURCE_MAX_RETRY_AFTER (7 * 24 * 3600)

/** Longest initial spread of a fresh source's first poll (s). */
#define TB_SOURCE_FIRST_SPREAD 600

/** Per-source schedule state; all times are epoch seconds (0 = never). */
struct tb_source_state {
    int64_t next_poll;    /* do not poll before this time */
    int64_t last_attempt; /* when the last fetch completed */
    int64_t last_success; /* when the last fetch succeeded (200 or 304) */
    long last_status;     /* HTTP status of the last fetch, or 0 */
    int failures;         /* consecutive failed fetches */
    int gone;             /* 1 after 410 Gone: never poll again */
};

/** What one fetch produced, as far as scheduling cares. */
struct tb_source_outcome {
    int rc;              /* 0 on success (incl. 304), else a negative code */
    long status;         /* final HTTP status, or 0 when none was received */
    int64_t retry_after; /* absolute epoch seconds from Retry-After, or 0 */
    int64_t max_age;     /* Cache-Control max-age seconds, or -1 */
    int ttl_minutes;     /* RSS <ttl> of the parsed feed, or 0 */
};

/**
 * Updates `st` after a fetch that completed at `now`, for a source polled
 * every `interval` seconds (> 0); `rnd` is uniform in [0,1) and sets the
 * jitter. Rules:
 * - next_poll = now + delay + jitter, jitter in [0, delay / 10];
 * - success: failures = 0, last_success = now; delay is the interval,
 *   lengthened (never shortened) by max-age or ttl up to
 *   TB_SOURCE_MAX_STRETCH;
 * - error: failures + 1; delay = interval * 2^failures, at most
 *   TB_SOURCE_MAX_BACKOFF but never less than the interval;
 * - 429 or 503 with a Retry-After in the future: next_poll is not before it
 *   (Retry-After capped at now + TB_SOURCE_MAX_RETRY_AFTER);
 * - 410: gone = 1;
 * - rc == -ECANCELED (daemon shutting down): nothing happened, st unchanged.
 */
void tb_source_after_fetch(struct tb_source_state *st, int64_t interval, int64_t now,
                           const struct tb_source_outcome *o, double rnd);

/**
 * First next_poll for a source without stored state: now plus rnd times
 * min(interval, TB_SOURCE_FIRST_SPREAD, nsources seconds), so thousands of
 * fresh sources do not fire at once while a handful start within seconds.
 * `nsources` is how many sources the daemon has. A restarted daemon keeps
 * the stored next_poll instead.
 */
int64_t tb_source_first_poll(int64_t interval, int64_t now, size_t nsources, double rnd);

#endif
