/* JSON log record -> LlmLog, the content parts: input messages, output and context passages,
 * with multi-part content joined into text. */
#include "ph_record_jmap.h"

#include "ph_error.h"

#include <stdio.h>
#include <string.h>

/* ---- content ----------------------------------------------------------------------------- */

/* Joins a content array (strings, or parts {"type":"text","text":...}) into c->join with
 * newlines. Non-text parts are reported and dropped. */
static void join_parts(ph_rctx *c, json_t *parts, const char *field)
{
    char path[256];
    size_t n = json_array_size(parts);
    bool first = true;
    c->join.len = 0;
    if (ph_buf_append(&c->join, "", 0))
        c->err = PH_ENOMEM;
    for (size_t j = 0; j < n; j++) {
        json_t *part = json_array_get(parts, j);
        json_t *text = NULL;
        snprintf(path, sizeof(path), "%s[%zu]", field, j);
        if (json_is_string(part))
            text = part;
        else if (json_is_object(part)) {
            json_t *type = json_object_get(part, "type");
            const char *t = json_string_value(type);
            text = json_object_get(part, "text");
            if (!json_is_string(text) ||
                (type && !(t && (strcmp(t, "text") == 0 || strcmp(t, "input_text") == 0 ||
                                 strcmp(t, "output_text") == 0)))) {
                char q[PH_QUOTE_BYTES + 4];
                ph_report(c, PH_R_UNSUPPORTED_CONTENT, PH_SEV_WARN, path,
                          "a \"%s\" part: dropped (only text is kept)",
                          t ? ph_quote(q, t, strlen(t)) : "untyped");
                continue;
            }
        } else {
            ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, path,
                      "%s, not a string or a content part: dropped", ph_json_type(part));
            continue;
        }
        if ((!first && ph_buf_append(&c->join, "\n", 1)) ||
            ph_buf_append(&c->join, json_string_value(text), json_string_length(text)))
            c->err = PH_ENOMEM;
        first = false;
    }
}

/* The text of a content value: string, null (empty) or parts. False for any other type. */
static bool content_text(ph_rctx *c, json_t *v, const char *field, const char **s, size_t *len)
{
    if (!v || json_is_null(v)) {
        *s = "";
        *len = 0;
    } else if (json_is_string(v)) {
        *s = json_string_value(v);
        *len = json_string_length(v);
    } else if (json_is_array(v)) {
        join_parts(c, v, field);
        *s = c->join.p ? c->join.p : "";
        *len = c->join.len;
    } else
        return false;
    return true;
}

/* ---- messages ---------------------------------------------------------------------------- */

static void add_message(jmap *m, avro_value_t *arr, const char *role, size_t role_len,
                        const char *text, size_t text_len, json_t *name, const char *path)
{
    ph_rctx *c = m->c;
    char field[300], q[PH_QUOTE_BYTES + 4];
    avro_value_t e, f;
    const char *s;
    size_t len;
    if (!ph_av_append(c, arr, &e))
        return;
    snprintf(field, sizeof(field), "%s.role", path);
    ph_text_check(c, role, role_len, field, 0, &s, &len);
    const char *canon = ph_role_match(c->rules, s, len);
    if (canon) {
        s = canon;
        len = strlen(canon);
    } else
        ph_report(c, PH_R_UNKNOWN_ROLE, PH_SEV_WARN, field,
                  "role \"%s\" is not one of the configured roles: kept", ph_quote(q, s, len));
    ph_av_get(c, &e, "role", &f);
    ph_av_str(c, &f, s, len);

    snprintf(field, sizeof(field), "%s.content", path);
    ph_text_check(c, text, text_len, field, 0, &s, &len);
    ph_av_get(c, &e, "content", &f);
    ph_av_str(c, &f, s, len);
    if (!ph_blank(s, len))
        m->input_ok = true;

    ph_av_get(c, &e, "name", &f);
    snprintf(field, sizeof(field), "%s.name", path);
    if (!name || json_is_null(name) || !ph_j_text(c, name, field, &f))
        ph_av_null(c, &f);
}

static void map_message(jmap *m, avro_value_t *arr, json_t *msg, const char *path)
{
    ph_rctx *c = m->c;
    char field[300];
    if (!json_is_object(msg)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, path, "%s, not a message object: dropped",
                  ph_json_type(msg));
        return;
    }
    json_t *role = json_object_get(msg, "role");
    snprintf(field, sizeof(field), "%s.role", path);
    if (!role || json_is_null(role)) {
        ph_report(c, PH_R_MISSING_FIELD, PH_SEV_WARN, field, "message without role: dropped");
        return;
    }
    if (!json_is_string(role)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, field, "%s, not a string: message dropped",
                  ph_json_type(role));
        return;
    }
    const char *text;
    size_t text_len;
    snprintf(field, sizeof(field), "%s.content", path);
    if (!content_text(c, json_object_get(msg, "content"), field, &text, &text_len)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, field,
                  "%s, not a string or an array of parts: message dropped",
                  ph_json_type(json_object_get(msg, "content")));
        return;
    }
    add_message(m, arr, json_string_value(role), json_string_length(role), text, text_len,
                json_object_get(msg, "name"), path);
}

void ph_jmap_input(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "messages";
    json_t *v = ph_jmap_pick(m, S_MESSAGES, &key);
    avro_value_t arr;
    char path[64];
    ph_av_get(c, m->rec, "input_messages", &arr);
    if (!v) {
        ph_report(c, PH_R_MISSING_FIELD, PH_SEV_FATAL, "messages",
                  "no input: none of messages, input_messages, input or prompt is given");
        m->input_reported = true;
        return;
    }
    bool shorthand = strcmp(key, "input") == 0 || strcmp(key, "prompt") == 0;
    if (shorthand && json_is_string(v)) {
        add_message(m, &arr, "user", 4, json_string_value(v), json_string_length(v), NULL, key);
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v), first = 0;
        if (n > c->rules->max_messages) {
            first = n - c->rules->max_messages;
            ph_report(c, PH_R_TOO_MANY_MESSAGES, PH_SEV_WARN, key,
                      "%zu messages: the first %zu dropped, the last %zu kept (max_messages)", n,
                      first, c->rules->max_messages);
        }
        for (size_t i = first; i < n; i++) {
            snprintf(path, sizeof(path), "%s[%zu]", key, i);
            map_message(m, &arr, json_array_get(v, i), path);
        }
    } else {
        if (ph_report(c, PH_R_WRONG_TYPE, PH_SEV_FATAL, key, "%s, not %s: no input",
                      ph_json_type(v),
                      shorthand ? "a string or an array of messages" : "an array of messages") ==
            PH_SEV_FATAL)
            m->input_reported = true;
    }
    if (!m->input_ok && !m->input_reported)
        ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_FATAL, key,
                  "no message with non-blank content: no input");
}

void ph_jmap_output(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "output";
    json_t *v = ph_jmap_pick(m, S_OUTPUT, &key);
    avro_value_t f;
    const char *text, *s;
    size_t text_len, len;
    int natural = m->status == 1 ? PH_SEV_FATAL : PH_SEV_WARN;
    ph_av_get(c, m->rec, "output", &f);
    if (!v)
        return;
    if (!content_text(c, v, key, &text, &text_len)) {
        if (ph_report(c, PH_R_WRONG_TYPE, natural, key, "%s, not a string: dropped",
                      ph_json_type(v)) == PH_SEV_FATAL)
            m->output_reported = true;
        return;
    }
    ph_text_check(c, text, text_len, key, 0, &s, &len);
    ph_av_opt_str(c, &f, s, len);
    m->output_set = true;
    m->output_blank = ph_blank(s, len);
}

void ph_jmap_check_output(jmap *m)
{
    if (m->status != 1 || m->output_reported)
        return;
    if (!m->output_set)
        ph_report(m->c, PH_R_MISSING_FIELD, PH_SEV_FATAL, "output",
                  "no output, response or completion although the call succeeded");
    else if (m->output_blank)
        ph_report(m->c, PH_R_EMPTY_FIELD, PH_SEV_FATAL, "output",
                  "the output of a successful call is empty");
}

/* ---- context ------------------------------------------------------------- */

static void add_passage(jmap *m, avro_value_t *arr, json_t *item, const char *path)
{
    ph_rctx *c = m->c;
    char field[300];
    json_t *content = item, *id = NULL, *score = NULL, *source = NULL;
    const char *ckey = "content";
    if (json_is_object(item)) {
        json_t *a = json_object_get(item, "content"), *b = json_object_get(item, "text");
        content = a && !json_is_null(a) ? a : b;
        ckey = content == a ? "content" : "text";
        if (a && b && !json_is_null(a) && !json_is_null(b) && !json_equal(a, b)) {
            snprintf(field, sizeof(field), "%s.text", path);
            ph_report(c, PH_R_CONFLICTING_ALIAS, PH_SEV_WARN, field,
                      "differs from content, which is used: ignored");
        }
        id = json_object_get(item, "id");
        score = json_object_get(item, "score");
        source = json_object_get(item, "source");
        snprintf(field, sizeof(field), "%s.%s", path, ckey);
    } else
        snprintf(field, sizeof(field), "%s", path);
    if (!content || json_is_null(content)) {
        ph_report(c, PH_R_MISSING_FIELD, PH_SEV_WARN, field, "passage without content: dropped");
        return;
    }
    if (!json_is_string(content)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, field, "%s, not a string: passage dropped",
                  ph_json_type(content));
        return;
    }
    if (json_string_length(content) == 0) {
        ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_WARN, field, "empty passage: dropped");
        return;
    }
    avro_value_t e, f;
    const char *s;
    size_t len;
    if (!ph_av_append(c, arr, &e))
        return;
    ph_text_check(c, json_string_value(content), json_string_length(content), field, 0, &s, &len);
    ph_av_get(c, &e, "content", &f);
    ph_av_str(c, &f, s, len);

    ph_av_get(c, &e, "id", &f);
    snprintf(field, sizeof(field), "%s.id", path);
    if (!id || json_is_null(id) || !ph_j_id(c, id, field, &f, PH_SEV_WARN))
        ph_av_null(c, &f);
    ph_av_get(c, &e, "source", &f);
    snprintf(field, sizeof(field), "%s.source", path);
    if (!source || json_is_null(source) || !ph_j_text(c, source, field, &f))
        ph_av_null(c, &f);
    ph_av_get(c, &e, "score", &f);
    snprintf(field, sizeof(field), "%s.score", path);
    if (score && json_is_number(score))
        ph_av_opt_double(c, &f, json_number_value(score));
    else {
        if (score && !json_is_null(score))
            ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, field, "%s, not a number: dropped",
                      ph_json_type(score));
        ph_av_null(c, &f);
    }
}

void ph_jmap_context(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "context";
    json_t *v = ph_jmap_pick(m, S_CONTEXT, &key);
    avro_value_t arr;
    char path[64];
    ph_av_get(c, m->rec, "context", &arr);
    if (!v)
        return;
    if (json_is_string(v)) { /* one passage */
        add_passage(m, &arr, v, key);
        return;
    }
    if (!json_is_array(v)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key, "%s, not an array of passages: dropped",
                  ph_json_type(v));
        return;
    }
    size_t n = json_array_size(v), first = 0;
    if (n > c->rules->max_context) {
        first = n - c->rules->max_context;
        ph_report(c, PH_R_TOO_MANY_CONTEXT, PH_SEV_WARN, key,
                  "%zu passages: the first %zu dropped, the last %zu kept (max_context)", n, first,
                  c->rules->max_context);
    }
    for (size_t i = first; i < n; i++) {
        json_t *item = json_array_get(v, i);
        snprintf(path, sizeof(path), "%s[%zu]", key, i);
        if (!json_is_string(item) && !json_is_object(item)) {
            ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, path,
                      "%s, not a string or a passage object: dropped", ph_json_type(item));
            continue;
        }
        add_passage(m, &arr, item, path);
    }
}
