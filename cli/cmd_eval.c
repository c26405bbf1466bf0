/* pharos eval FILE: runs the very same evaluator set as pharos-evaluator over a JSONL file of
 * log records in the ingestor's JSON shape, without Kafka. Each line goes through the
 * validator's JSON mapping (lib/record, default rules) to an LlmLog, then to the evaluators'
 * record view (lib/eval ph_eval_avro), then through the set (ph_eval_set_run); every result is
 * written to stdout as one JSON line with the fields of an Evaluation (the shape
 * `pharos tail evals` prints). Invalid lines are reported on stderr with their reasons and
 * counted; a progress line goes to stderr on long files. FILE "-" reads stdin.
 *
 * pharos eval --list prints the instances of the set (variant, name, kind, version, summary). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ph_avro.h"
#include "ph_error.h"
#include "ph_eval.h"
#include "ph_eval_avro.h"
#include "ph_eval_config.h"
#include "ph_record.h"
#include "ph_util.h"

typedef struct eval_run {
    const char *path;
    ph_eval_set *set;
    ph_codec *codec;
    ph_rules *rules;
    avro_value_t llmlog;
    avro_value_t evaluation;
    bool values_ready;
    ph_eval_scratch scratch;
    ph_eval_sink sink;
    ph_issues fatal;
    ph_issues warnings;
    long long lines, records, invalid, evaluations;
    int64_t started, last_progress;
} eval_run;

static int list_instances(const ph_eval_set *set)
{
    ph_eval_instance_info info;
    printf("%-24s %-14s %-14s %-12s %s\n", "VARIANT", "NAME", "KIND", "VERSION", "SUMMARY");
    for (size_t i = 0; ph_eval_set_entry(set, i, &info) == PH_OK; i++) {
        char variant[256];
        const char *app = info.match_app, *env = info.match_environment;
        if (!app && !env)
            snprintf(variant, sizeof(variant), "*");
        else
            snprintf(variant, sizeof(variant), "%s%s%s%s%s", app ? "app=" : "", app ? app : "",
                     app && env ? "," : "", env ? "environment=" : "", env ? env : "");
        printf("%-24s %-14s %-14s %-12s %s\n", variant, info.name, info.kind, info.version,
               info.summary);
    }
    return 0;
}

static void progress(eval_run *r, bool final)
{
    int64_t now = ph_mono_ms();
    if (!final && now - r->last_progress < 2000)
        return;
    r->last_progress = now;
    double secs = (double)(now - r->started) / 1000.0;
    fprintf(stderr,
            "pharos eval: %lld lines, %lld records evaluated, %lld invalid, %lld evaluations "
            "(%.0f records/s)\n",
            r->lines, r->records, r->invalid, r->evaluations,
            secs > 0 ? (double)r->records / secs : 0.0);
}

static void report_invalid(eval_run *r)
{
    fprintf(stderr, "%s:%lld: invalid record:", r->path, r->lines);
    for (size_t i = 0; i < r->fatal.n; i++)
        fprintf(stderr, "%s %s%s%s%s: %s", i ? ";" : "", r->fatal.v[i].code,
                r->fatal.v[i].field ? " (" : "", r->fatal.v[i].field ? r->fatal.v[i].field : "",
                r->fatal.v[i].field ? ")" : "", r->fatal.v[i].message);
    fputc('\n', stderr);
}

/* One line: returns 0, or a failure of the process (not of the record). */
static int eval_line(eval_run *r, const char *line, size_t len)
{
    char errstr[PH_ERRSTR_SIZE], fallback[64];
    ph_issues_clear(&r->fatal);
    ph_issues_clear(&r->warnings);
    /* Records without an id get one from their line, so a run is reproducible. */
    snprintf(fallback, sizeof(fallback), "line:%lld", r->lines);
    ph_raw_meta meta = {.fallback_record_id = fallback, .ingest_source = "kafka"};
    int rc = ph_record_from_json(r->rules, line, len, &meta, &r->llmlog, &r->fatal, &r->warnings);
    if (rc == PH_EINVAL) {
        r->invalid++;
        report_invalid(r);
        return PH_OK;
    }
    if (rc)
        return ph_err(NULL, 0, rc, "mapping");
    ph_eval_record rec;
    if ((rc = ph_eval_record_from_avro(&r->llmlog, &r->scratch, &rec, errstr, sizeof(errstr)))) {
        fprintf(stderr, "pharos eval: %s:%lld: %s\n", r->path, r->lines, errstr);
        return rc;
    }
    ph_eval_sink_reset(&r->sink);
    if ((rc = ph_eval_set_run(r->set, &rec, &r->sink)))
        return rc;
    r->records++;
    int64_t now = ph_now_ms();
    for (size_t i = 0; i < r->sink.n; i++) {
        if ((rc = ph_eval_result_to_avro(&r->sink.results[i], &rec, now, &r->evaluation, errstr,
                                         sizeof(errstr)))) {
            fprintf(stderr, "pharos eval: %s\n", errstr);
            return rc;
        }
        char *json = ph_avro_to_json_string(&r->evaluation, errstr, sizeof(errstr));
        if (!json) {
            fprintf(stderr, "pharos eval: %s\n", errstr);
            return PH_ENOMEM;
        }
        fputs(json, stdout);
        fputc('\n', stdout);
        free(json);
        r->evaluations++;
    }
    return PH_OK;
}

int ph_cli_eval(ph_cli *cli, int argc, char **argv)
{
    char errstr[PH_ERRSTR_SIZE];
    eval_run r;
    int rc = 1;
    FILE *in = NULL;
    char *line = NULL;
    size_t cap = 0;
    static char outbuf[1 << 20];
    memset(&r, 0, sizeof(r));
    ph_eval_scratch_init(&r.scratch);
    ph_eval_sink_init(&r.sink);
    ph_issues_init(&r.fatal);
    ph_issues_init(&r.warnings);
    if (argc != 2 && !(argc == 1 && cli->cfg.list)) {
        fprintf(stderr, "usage: pharos eval FILE [--evaluators=FILE] | pharos eval --list "
                        "[--evaluators=FILE]\n");
        return 2;
    }
    if (ph_eval_set_load(&r.set, cli->cfg.evaluators, errstr, sizeof(errstr))) {
        fprintf(stderr, "pharos eval: %s\n", errstr);
        goto out;
    }
    if (cli->cfg.list) {
        rc = list_instances(r.set);
        goto out;
    }
    r.path = argv[1];
    in = strcmp(r.path, "-") == 0 ? stdin : fopen(r.path, "r");
    if (!in) {
        fprintf(stderr, "pharos eval: cannot open %s\n", r.path);
        goto out;
    }
    if (ph_codec_new(&r.codec, errstr, sizeof(errstr)) ||
        ph_rules_new(&r.rules, NULL, errstr, sizeof(errstr)) ||
        ph_codec_value_new(r.codec, PH_SCHEMA_LLM_LOG, &r.llmlog)) {
        fprintf(stderr, "pharos eval: %s\n", errstr);
        goto out;
    }
    if (ph_codec_value_new(r.codec, PH_SCHEMA_EVALUATION, &r.evaluation)) {
        avro_value_decref(&r.llmlog);
        fprintf(stderr, "pharos eval: cannot make an Evaluation value\n");
        goto out;
    }
    r.values_ready = true;
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    r.started = r.last_progress = ph_mono_ms();
    ssize_t got;
    rc = 0;
    while ((got = getline(&line, &cap, in)) > 0) {
        r.lines++;
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t start = 0;
        while (start < len && (line[start] == ' ' || line[start] == '\t'))
            start++;
        if (start == len)
            continue; /* blank line */
        if (eval_line(&r, line + start, len - start)) {
            fprintf(stderr, "pharos eval: %s:%lld: failed, stopping\n", r.path, r.lines);
            rc = 1;
            break;
        }
        progress(&r, false);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "pharos eval: writing stdout failed\n");
        rc = 1;
    }
    progress(&r, true);
out:
    free(line);
    if (in && in != stdin)
        fclose(in);
    if (r.values_ready) {
        avro_value_decref(&r.llmlog);
        avro_value_decref(&r.evaluation);
    }
    ph_issues_free(&r.fatal);
    ph_issues_free(&r.warnings);
    ph_eval_scratch_free(&r.scratch);
    ph_eval_sink_free(&r.sink);
    ph_rules_destroy(r.rules);
    ph_codec_destroy(r.codec);
    ph_eval_set_destroy(r.set);
    return rc;
}
