#include "ph_util.h"
#include "ph_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <xxhash.h>

int64_t ph_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ph_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hex128(uint64_t hi, uint64_t lo, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)hi, (unsigned long long)lo);
}

void ph_hash_id(const void *data, size_t len, uint64_t salt, char out[33])
{
    XXH128_hash_t h = XXH3_128bits_withSeed(data, len, salt);
    hex128(h.high64, h.low64, out);
}

void ph_random_id(char out[33])
{
    uint64_t r[2] = {0, 0};
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = getrandom((char *)r + got, sizeof(r) - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof(r)) {
        /* getrandom cannot fail on Linux >= 3.17 once the pool is initialised; keep ids unique
         * anyway by mixing in the clock. */
        int64_t t = ph_now_ms() ^ (ph_mono_ms() << 20);
        r[0] ^= (uint64_t)t;
        r[1] ^= XXH64(&t, sizeof(t), (uint64_t)(uintptr_t)out);
    }
    hex128(r[0], r[1], out);
}

static const char *const topic_bases[PH_TOPIC_COUNT] = {
    "pharos.logs.raw", "pharos.logs.valid", "pharos.logs.invalid", "pharos.feedback",
    "pharos.evals",    "pharos.metrics",    "pharos.alerts",       "pharos.datasets",
};

const char *ph_topic_base(ph_topic t)
{
    return (unsigned)t < PH_TOPIC_COUNT ? topic_bases[t] : "pharos.unknown";
}

int ph_topic_name(const char *prefix, ph_topic t, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s%s", prefix ? prefix : "", ph_topic_base(t));
    return n < 0 || (size_t)n >= size ? PH_ERANGE : PH_OK;
}

int ph_parse_user_time(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return PH_EINVAL;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end && *end == '\0') {
        *ms = v;
        return PH_OK;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return PH_EINVAL;
    int64_t frac = 0;
    if (*p == '.') {
        int scale = 100;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, h = 0, m = 0;
        if (sscanf(p + 1, "%2d:%2d", &h, &m) != 2)
            return PH_EINVAL;
        offset_s = sign * (h * 3600 + m * 60);
        p += 6;
    } else {
        return PH_EINVAL; /* a time without a zone is ambiguous */
    }
    if (*p)
        return PH_EINVAL;
    *ms = ((int64_t)timegm(&tm) - offset_s) * 1000 + frac;
    return PH_OK;
}
