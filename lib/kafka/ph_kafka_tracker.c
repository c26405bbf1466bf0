/* Per-partition watermarks over out-of-order completions. See ph_kafka_tracker.h. */
#include "ph_kafka_tracker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_log.h"

typedef struct entry {
    int64_t offset;
    bool done;
} entry;

/* One partition: the records added and not yet passed by the watermark, in offset order, in a
 * ring buffer. */
typedef struct part {
    char *topic;
    int32_t partition;
    entry *ring;
    size_t cap;
    size_t head;  /* index of the oldest entry */
    size_t count; /* entries in the ring */
    size_t pending;
    int64_t last_added;
    int64_t committable; /* last offset below which all is done; -1: none yet */
    int64_t stored;      /* committable as of the last store; -1: none */
} part;

struct ph_kafka_tracker {
    pthread_mutex_t lock;
    part **parts;
    size_t nparts;
};

int ph_kafka_tracker_new(ph_kafka_tracker **out)
{
    ph_kafka_tracker *t = calloc(1, sizeof(*t));
    if (!t)
        return PH_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return PH_OK;
}

static void part_free(part *p)
{
    if (!p)
        return;
    free(p->topic);
    free(p->ring);
    free(p);
}

void ph_kafka_tracker_destroy(ph_kafka_tracker *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nparts; i++)
        part_free(t->parts[i]);
    free(t->parts);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static part *find(ph_kafka_tracker *t, const char *topic, int32_t partition, size_t *index)
{
    for (size_t i = 0; i < t->nparts; i++) {
        part *p = t->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0) {
            if (index)
                *index = i;
            return p;
        }
    }
    return NULL;
}

static part *find_or_add(ph_kafka_tracker *t, const char *topic, int32_t partition)
{
    part *p = find(t, topic, partition, NULL);
    if (p)
        return p;
    part **grown = realloc(t->parts, (t->nparts + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    t->parts = grown;
    if (!(p = calloc(1, sizeof(*p))) || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->last_added = -1;
    p->committable = -1;
    p->stored = -1;
    t->parts[t->nparts++] = p;
    return p;
}

static entry *at(part *p, size_t i)
{
    return &p->ring[(p->head + i) % p->cap];
}

static int grow(part *p)
{
    size_t cap = p->cap ? p->cap * 2 : 64;
    entry *ring = malloc(cap * sizeof(*ring));
    if (!ring)
        return PH_ENOMEM;
    for (size_t i = 0; i < p->count; i++)
        ring[i] = *at(p, i);
    free(p->ring);
    p->ring = ring;
    p->cap = cap;
    p->head = 0;
    return PH_OK;
}

int ph_kafka_tracker_add(ph_kafka_tracker *t, const char *topic, int32_t partition, int64_t offset)
{
    int rc = PH_OK;
    pthread_mutex_lock(&t->lock);
    part *p = find_or_add(t, topic, partition);
    if (!p) {
        rc = PH_ENOMEM;
        goto out;
    }
    if (offset <= p->last_added || offset < 0) {
        rc = PH_EINVAL;
        goto out;
    }
    if (p->count == p->cap && (rc = grow(p)))
        goto out;
    *at(p, p->count++) = (entry){offset, false};
    p->pending++;
    p->last_added = offset;
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* Moves the watermark past the done records at the head of the ring. */
static void advance(part *p)
{
    while (p->count && at(p, 0)->done) {
        p->committable = at(p, 0)->offset;
        p->head = (p->head + 1) % p->cap;
        p->count--;
    }
}

void ph_kafka_tracker_done(ph_kafka_tracker *t, const char *topic, int32_t partition,
                           int64_t offset)
{
    pthread_mutex_lock(&t->lock);
    part *p = find(t, topic, partition, NULL);
    if (!p || !p->count)
        goto out;
    /* Binary search: the ring holds increasing offsets. */
    size_t lo = 0, hi = p->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(p, mid)->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->count || at(p, lo)->offset != offset || at(p, lo)->done)
        goto out;
    at(p, lo)->done = true;
    p->pending--;
    if (lo == 0)
        advance(p);
out:
    pthread_mutex_unlock(&t->lock);
}

int ph_kafka_tracker_committable(ph_kafka_tracker *t, const char *topic, int32_t partition,
                                 int64_t *offset)
{
    int rc = PH_ENOENT;
    pthread_mutex_lock(&t->lock);
    part *p = find(t, topic, partition, NULL);
    if (p && p->committable >= 0) {
        *offset = p->committable;
        rc = PH_OK;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int ph_kafka_tracker_flush(ph_kafka_tracker *t,
                           int (*fn)(void *arg, const char *topic, int32_t partition,
                                     int64_t next_offset),
                           void *arg)
{
    int n = 0;
    /* fn runs under the lock: it must not call back into the tracker. Storing an offset is a
     * quick local call in librdkafka. */
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nparts; i++) {
        part *p = t->parts[i];
        if (p->committable <= p->stored)
            continue;
        if (fn(arg, p->topic, p->partition, p->committable + 1) == 0) {
            p->stored = p->committable;
            n++;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}

static int store_one(void *arg, const char *topic, int32_t partition, int64_t next_offset)
{
    int rc = ph_kafka_consumer_store(arg, topic, partition, next_offset - 1);
    if (rc)
        ph_log_warn("kafka", "storing offset %lld of %s [%d] refused (partition revoked?)",
                    (long long)next_offset, topic, (int)partition);
    return rc;
}

int ph_kafka_tracker_store(ph_kafka_tracker *t, ph_kafka_consumer *c)
{
    return ph_kafka_tracker_flush(t, store_one, c);
}

size_t ph_kafka_tracker_pending(ph_kafka_tracker *t, const char *topic, int32_t partition)
{
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    if (!topic) {
        for (size_t i = 0; i < t->nparts; i++)
            n += t->parts[i]->pending;
    } else {
        part *p = find(t, topic, partition, NULL);
        n = p ? p->pending : 0;
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}

void ph_kafka_tracker_forget(ph_kafka_tracker *t, const char *topic, int32_t partition)
{
    size_t i;
    pthread_mutex_lock(&t->lock);
    part *p = find(t, topic, partition, &i);
    if (p) {
        t->parts[i] = t->parts[--t->nparts];
        part_free(p);
    }
    pthread_mutex_unlock(&t->lock);
}
