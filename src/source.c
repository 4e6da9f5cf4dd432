/* Scheduling policy: next poll time, jitter, backoff, Retry-After. */
#include "tb_source.h"

#include <errno.h>

/* A random value outside [0,1) from a careless caller must not stretch the
 * jitter past its 10% bound. */
static double clamp_rnd(double rnd)
{
    if (!(rnd >= 0.0))
        return 0.0;
    if (rnd >= 1.0)
        return 0.999999;
    return rnd;
}

static int64_t jitter(int64_t delay, double rnd)
{
    return (int64_t)(clamp_rnd(rnd) * (double)(delay / 10));
}

/* The interval as an upstream's max-age or ttl lengthens it, never shorter. */
static int64_t stretched(int64_t interval, const struct tb_source_outcome *o)
{
    int64_t want = interval;

    if (o->max_age > want)
        want = o->max_age;
    if ((int64_t)o->ttl_minutes * 60 > want)
        want = (int64_t)o->ttl_minutes * 60;
    if (want > TB_SOURCE_MAX_STRETCH)
        want = TB_SOURCE_MAX_STRETCH;
    return want > interval ? want : interval;
}

/* interval * 2^failures, doubling step by step so it cannot overflow. */
static int64_t backoff(int64_t interval, int failures)
{
    int64_t delay = interval;

    for (int i = 0; i < failures && delay < TB_SOURCE_MAX_BACKOFF; i++)
        delay *= 2;
    if (delay > TB_SOURCE_MAX_BACKOFF)
        delay = TB_SOURCE_MAX_BACKOFF;
    return delay > interval ? delay : interval;
}

static int64_t retry_after_floor(const struct tb_source_outcome *o, int64_t now)
{
    if ((o->status != 429 && o->status != 503) || o->retry_after <= now)
        return 0;
    if (o->retry_after - now > TB_SOURCE_MAX_RETRY_AFTER)
        return now + TB_SOURCE_MAX_RETRY_AFTER;
    return o->retry_after;
}

void tb_source_after_fetch(struct tb_source_state *st, int64_t interval, int64_t now,
                           const struct tb_source_outcome *o, double rnd)
{
    int64_t delay, floor;

    if (o->rc == -ECANCELED)
        return;
    /* Bound the configured interval so that now + delay cannot overflow. */
    if (interval < 1)
        interval = 1;
    if (interval > 366 * 24 * 3600)
        interval = 366 * 24 * 3600;
    st->last_attempt = now;
    st->last_status = o->status;
    if (o->rc == 0) {
        st->failures = 0;
        st->last_success = now;
        delay = stretched(interval, o);
    } else {
        if (st->failures < 1000)
            st->failures++;
        delay = backoff(interval, st->failures);
    }
    st->next_poll = now + delay + jitter(delay, rnd);
    floor = retry_after_floor(o, now);
    if (st->next_poll < floor)
        st->next_poll = floor;
    if (o->status == 410)
        st->gone = 1;
}

int64_t tb_source_first_poll(int64_t interval, int64_t now, size_t nsources, double rnd)
{
    int64_t spread = interval < TB_SOURCE_FIRST_SPREAD ? interval : TB_SOURCE_FIRST_SPREAD;

    /* About one new source a second is gentle enough for anyone. */
    if (nsources < (size_t)spread)
        spread = (int64_t)nsources;
    if (spread < 0)
        spread = 0;
    return now + (int64_t)(clamp_rnd(rnd) * (double)spread);
}
