/* JSON log record -> LlmLog, the content parts: input messages, output and context passages,
 * with multi-part content joined into text. */
#include "ph_record_jmap.h"

#include "ph_error.h"

#include <stdio.h>
#include <string.h>

/* ---- content ----------------------------------------------------------------------------- */

/* Joins a content array (strings, or parts {"type":"text","text":...}) into c->join with
 * newlines. Non-text parts are reported and dropped. */
static void join_parts(ph_rctx *c, const ph_jv *parts, const char *field)
{
    char path[256];
    size_t n = ph_jv_size(parts);
    bool first = true;
    c->join.len = 0;
    if (ph_buf_append(&c->join, "", 0))
        c->err = PH_ENOMEM;
    for (size_t j = 0; j < n; j++) {
        const ph_jv *part = ph_jv_item(parts, j);
        const ph_jv *text = NULL;
        ph_path_index(path, sizeof(path), field, j);
        if (ph_jv_is_string(part))
            text = part;
        else if (ph_jv_is_object(part)) {
            const ph_jv *type = ph_jv_get(part, "type");
            const char *t = ph_jv_str(type);
            text = ph_jv_get(part, "text");
            if (!ph_jv_is_string(text) ||
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
                      "%s, not a string or a content part: dropped", ph_jv_type_name(part));
            continue;
        }
        if ((!first && ph_buf_append(&c->join, "\n", 1)) ||
            ph_buf_append(&c->join, text->u.s, text->n))
            c->err = PH_ENOMEM;
        first = false;
    }
}

/* The text of a content value: string, null (empty) or parts. False for any other type. */
static bool content_text(ph_rctx *c, const ph_jv *v, const char *field, const char **s, size_t *len)
{
    if (!v || ph_jv_is_null(v)) {
        *s = "";
        *len = 0;
    } else if (ph_jv_is_string(v)) {
        *s = v->u.s;
        *len = v->n;
    } else if (ph_jv_is_array(v)) {
        join_parts(c, v, field);
        *s = c->join.p ? c->join.p : "";
        *len = c->join.len;
    } else
        return false;
    return true;
}

/* ---- messages ---------------------------------------------------------------------------- */

static void add_message(jmap *m, avro_value_t *arr, const char *role, size_t role_len,
                        const char *text, size_t text_len, const ph_jv *name, const char *path)
{
    ph_rctx *c = m->c;
    char field[300], q[PH_QUOTE_BYTES + 4];
    avro_value_t e, f;
    const char *s;
    size_t len;
    if (!ph_av_append(c, arr, &e))
        return;
    ph_path(field, sizeof(field), path, "role");
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

    ph_path(field, sizeof(field), path, "content");
    ph_text_check(c, text, text_len, field, 0, &s, &len);
    ph_av_get(c, &e, "content", &f);
    ph_av_str(c, &f, s, len);
    if (!ph_blank(s, len))
        m->input_ok = true;

    ph_av_get(c, &e, "name", &f);
    ph_path(field, sizeof(field), path, "name");
    if (!name || ph_jv_is_null(name) || !ph_j_text(c, name, field, &f))
        ph_av_null(c, &f);
}

static void map_message(jmap *m, avro_value_t *arr, const ph_jv *msg, const char *path)
{
    ph_rctx *c = m->c;
    char field[300];
    if (!ph_jv_is_object(msg)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, path, "%s, not a message object: dropped",
                  ph_jv_type_name(msg));
        return;
    }
    const ph_jv *role = ph_jv_get(msg, "role");
    ph_path(field, sizeof(field), path, "role");
    if (!role || ph_jv_is_null(role)) {
        ph_report(c, PH_R_MISSING_FIELD, PH_SEV_WARN, field, "message without role: dropped");
        return;
    }
    if (!ph_jv_is_string(role)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, field, "%s, not a string: message dropped",
                  ph_jv_type_name(role));
        return;
    }
    const char *text;
    size_t text_len;
    const ph_jv *content = ph_jv_get(msg, "content");
    ph_path(field, sizeof(field), path, "content");
    if (!content_text(c, content, field, &text, &text_len)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, field,
                  "%s, not a string or an array of parts: message dropped",
                  ph_jv_type_name(content));
        return;
    }
    add_message(m, arr, role->u.s, role->n, text, text_len, ph_jv_get(msg, "name"), path);
}

void ph_jmap_input(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "messages";
    const ph_jv *v = ph_jmap_pick(m, S_MESSAGES, &key);
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
    if (shorthand && ph_jv_is_string(v)) {
        add_message(m, &arr, "user", 4, v->u.s, v->n, NULL, key);
    } else if (ph_jv_is_array(v)) {
        size_t n = v->n, first = 0;
        if (n > c->rules->max_messages) {
            first = n - c->rules->max_messages;
            ph_report(c, PH_R_TOO_MANY_MESSAGES, PH_SEV_WARN, key,
                      "%zu messages: the first %zu dropped, the last %zu kept (max_messages)", n,
                      first, c->rules->max_messages);
        }
        for (size_t i = first; i < n; i++) {
            ph_path_index(path, sizeof(path), key, i);
            map_message(m, &arr, &v->u.items[i], path);
        }
    } else {
        if (ph_report(c, PH_R_WRONG_TYPE, PH_SEV_FATAL, key, "%s, not %s: no input",
                      ph_jv_type_name(v),
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
    const ph_jv *v = ph_jmap_pick(m, S_OUTPUT, &key);
    avro_value_t f;
    const char *text, *s;
    size_t text_len, len;
    int natural = m->status == 1 ? PH_SEV_FATAL : PH_SEV_WARN;
    ph_av_get(c, m->rec, "output", &f);
    if (!v)
        return;
    if (!content_text(c, v, key, &text, &text_len)) {
        if (ph_report(c, PH_R_WRONG_TYPE, natural, key, "%s, not a string: dropped",
                      ph_jv_type_name(v)) == PH_SEV_FATAL)
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

static void add_passage(jmap *m, avro_value_t *arr, const ph_jv *item, const char *path)
{
    ph_rctx *c = m->c;
    char field[300];
    const ph_jv *content = item, *id = NULL, *score = NULL, *source = NULL;
    const char *ckey = "content";
    if (ph_jv_is_object(item)) {
        const ph_jv *a = ph_jv_get(item, "content"), *b = ph_jv_get(item, "text");
        content = a && !ph_jv_is_null(a) ? a : b;
        ckey = content == a ? "content" : "text";
        if (a && b && !ph_jv_is_null(a) && !ph_jv_is_null(b) && !ph_jv_equal(a, b)) {
            ph_path(field, sizeof(field), path, "text");
            ph_report(c, PH_R_CONFLICTING_ALIAS, PH_SEV_WARN, field,
                      "differs from content, which is used: ignored");
        }
        id = ph_jv_get(item, "id");
        score = ph_jv_get(item, "score");
        source = ph_jv_get(item, "source");
        ph_path(field, sizeof(field), path, ckey);
    } else
        ph_path(field, sizeof(field), path, NULL);
    if (!content || ph_jv_is_null(content)) {
        ph_report(c, PH_R_MISSING_FIELD, PH_SEV_WARN, field, "passage without content: dropped");
        return;
    }
    if (!ph_jv_is_string(content)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, field, "%s, not a string: passage dropped",
                  ph_jv_type_name(content));
        return;
    }
    if (content->n == 0) {
        ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_WARN, field, "empty passage: dropped");
        return;
    }
    avro_value_t e, f;
    const char *s;
    size_t len;
    if (!ph_av_append(c, arr, &e))
        return;
    ph_text_check(c, content->u.s, content->n, field, 0, &s, &len);
    ph_av_get(c, &e, "content", &f);
    ph_av_str(c, &f, s, len);

    ph_av_get(c, &e, "id", &f);
    ph_path(field, sizeof(field), path, "id");
    if (!id || ph_jv_is_null(id) || !ph_j_id(c, id, field, &f, PH_SEV_WARN))
        ph_av_null(c, &f);
    ph_av_get(c, &e, "source", &f);
    ph_path(field, sizeof(field), path, "source");
    if (!source || ph_jv_is_null(source) || !ph_j_text(c, source, field, &f))
        ph_av_null(c, &f);
    ph_av_get(c, &e, "score", &f);
    ph_path(field, sizeof(field), path, "score");
    if (ph_jv_is_number(score))
        ph_av_opt_double(c, &f, ph_jv_number(score));
    else {
        if (score && !ph_jv_is_null(score))
            ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, field, "%s, not a number: dropped",
                      ph_jv_type_name(score));
        ph_av_null(c, &f);
    }
}

void ph_jmap_context(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "context";
    const ph_jv *v = ph_jmap_pick(m, S_CONTEXT, &key);
    avro_value_t arr;
    char path[64];
    ph_av_get(c, m->rec, "context", &arr);
    if (!v)
        return;
    if (ph_jv_is_string(v)) { /* one passage */
        add_passage(m, &arr, v, key);
        return;
    }
    if (!ph_jv_is_array(v)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key, "%s, not an array of passages: dropped",
                  ph_jv_type_name(v));
        return;
    }
    size_t n = v->n, first = 0;
    if (n > c->rules->max_context) {
        first = n - c->rules->max_context;
        ph_report(c, PH_R_TOO_MANY_CONTEXT, PH_SEV_WARN, key,
                  "%zu passages: the first %zu dropped, the last %zu kept (max_context)", n, first,
                  c->rules->max_context);
    }
    for (size_t i = first; i < n; i++) {
        const ph_jv *item = &v->u.items[i];
        ph_path_index(path, sizeof(path), key, i);
        if (!ph_jv_is_string(item) && !ph_jv_is_object(item)) {
            ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, path,
                      "%s, not a string or a passage object: dropped", ph_jv_type_name(item));
            continue;
        }
        add_passage(m, &arr, item, path);
    }
}
