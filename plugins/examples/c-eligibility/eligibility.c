/*
 * eligibility.c - an `assistance-eligibility` plugin for Shouhu (ABI 1):
 * a district's education grant, decided for each minor of a batch.
 *
 * A minor is eligible when all three hold:
 *   1. the age is known and between 6 and 17 (school age);
 *   2. the minor has at least one difficulty category;
 *   3. the household is on dibao, dibao_edge or tekun, or the minor is an
 *      orphan or de facto unsupported (who need no means test).
 * Each decision says which conditions held or failed, and an eligible
 * minor gets the programme's benefit, or 500.00 yuan a quarter when the
 * programme names none.
 *
 * The plugin reads the whole input, then decides, then writes the output
 * in one go: JSON keys come in any order, and the host's serialiser may
 * well put `programme` (and its benefit) after `minors`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* The benefit when the programme does not name one: 500.00 yuan a quarter. */
#define DEFAULT_AMOUNT_CENTS 50000
#define DEFAULT_PERIOD "quarter"

#define MIN_AGE 6
#define MAX_AGE 17

typedef struct {
    jstr id;
    bool has_age;
    long long age;
    size_t cat_first; /* the minor's categories are cats[cat_first ..] */
    size_t cat_count;
    bool has_econ;
    jstr econ;
} minor;

/* Everything read from the input. Strings point into the input buffer. */
typedef struct {
    minor *minors;
    size_t n_minors, cap_minors;
    jstr *cats;
    size_t n_cats, cap_cats;
    bool has_amount, has_period;
    long long amount;
    jstr period;
} input;

typedef struct {
    char *p;
    size_t n, cap;
} outbuf;

static void *grow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) {
        return p;
    }
    /* Doubling keeps the total cost of growing linear in the final size. */
    size_t cap2 = *cap ? *cap * 2 : 64;
    while (cap2 < need) {
        cap2 *= 2;
    }
    void *q = realloc(p, cap2 * size);
    if (!q) {
        fputs("out of memory\n", stderr);
        exit(1);
    }
    *cap = cap2;
    return q;
}

/* ---- reading ---------------------------------------------------------- */

static char *read_stdin(size_t *len) {
    size_t cap = 64 * 1024, n = 0;
    char *buf = grow(NULL, &(size_t){0}, cap, 1);
    for (;;) {
        if (n == cap) {
            buf = grow(buf, &cap, cap + 1, 1);
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(stdin)) {
        fputs("cannot read stdin\n", stderr);
        exit(1);
    }
    *len = n;
    return buf;
}

static void read_categories(jreader *r, input *in, minor *m) {
    m->cat_first = in->n_cats;
    if (jr_null(r)) {
        return;
    }
    int count = 0;
    jr_array(r);
    while (jr_item(r, &count)) {
        in->cats = grow(in->cats, &in->cap_cats, in->n_cats + 1, sizeof(jstr));
        in->cats[in->n_cats++] = jr_string(r);
        m->cat_count++;
    }
}

static void read_minor(jreader *r, input *in) {
    minor m = {0};
    bool has_id = false;
    int count = 0;
    jstr key;
    jr_object(r);
    while (jr_key(r, &count, &key)) {
        if (jstr_is(key, "id")) {
            m.id = jr_string(r);
            has_id = true;
        } else if (jstr_is(key, "age")) {
            m.has_age = !jr_null(r);
            if (m.has_age) {
                m.age = jr_int(r);
            }
        } else if (jstr_is(key, "categories")) {
            read_categories(r, in, &m);
        } else if (jstr_is(key, "economicStatus")) {
            m.has_econ = !jr_null(r);
            if (m.has_econ) {
                m.econ = jr_string(r);
            }
        } else {
            jr_skip(r); /* sex, disabilityGrade, anything added later */
        }
    }
    if (!has_id || m.id.len == 0) {
        jr_fail(r, "a minor without an id");
    }
    in->minors = grow(in->minors, &in->cap_minors, in->n_minors + 1, sizeof(minor));
    in->minors[in->n_minors++] = m;
}

static bool is_period(jstr s) {
    return jstr_is(s, "once") || jstr_is(s, "month") || jstr_is(s, "quarter") ||
           jstr_is(s, "year");
}

/* A benefit object of another shape (help in kind, say) is not an amount
 * per period, so the grant's default applies; but an amount or a period
 * that is there and wrong is an error, not something to pay around. */
static void read_benefit(jreader *r, input *in) {
    if (jr_peek(r) != J_OBJECT) {
        jr_skip(r);
        return;
    }
    int count = 0;
    jstr key;
    jr_object(r);
    while (jr_key(r, &count, &key)) {
        if (jstr_is(key, "amountCents")) {
            in->amount = jr_int(r);
            in->has_amount = true;
            if (in->amount < 0) {
                jr_fail(r, "programme.benefit.amountCents is negative");
            }
        } else if (jstr_is(key, "period")) {
            in->period = jr_string(r);
            in->has_period = true;
            if (!is_period(in->period)) {
                jr_fail(r, "programme.benefit.period is not once, month, quarter or year");
            }
        } else {
            jr_skip(r);
        }
    }
}

static void read_programme(jreader *r, input *in) {
    if (jr_null(r)) {
        return;
    }
    int count = 0;
    jstr key;
    jr_object(r);
    while (jr_key(r, &count, &key)) {
        if (jstr_is(key, "benefit")) {
            read_benefit(r, in);
        } else {
            jr_skip(r);
        }
    }
}

static void read_input(jreader *r, input *in) {
    bool has_minors = false;
    int count = 0;
    jstr key;
    jr_object(r);
    while (jr_key(r, &count, &key)) {
        if (jstr_is(key, "abi")) {
            if (jr_int(r) != 1) {
                jr_fail(r, "this plugin speaks ABI 1 only");
            }
        } else if (jstr_is(key, "kind")) {
            if (!jstr_is(jr_string(r), "assistance-eligibility")) {
                jr_fail(r, "kind is not assistance-eligibility");
            }
        } else if (jstr_is(key, "minors")) {
            int n = 0;
            jr_array(r);
            while (jr_item(r, &n)) {
                read_minor(r, in);
            }
            has_minors = true;
        } else if (jstr_is(key, "programme")) {
            read_programme(r, in);
        } else {
            jr_skip(r); /* asOf, data, anything added later */
        }
    }
    jr_end(r);
    if (!has_minors) {
        jr_fail(r, "no minors");
    }
}

/* ---- writing ---------------------------------------------------------- */

static void out_raw(outbuf *o, const char *s, size_t n) {
    o->p = grow(o->p, &o->cap, o->n + n, 1);
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void out_lit(outbuf *o, const char *s) {
    out_raw(o, s, strlen(s));
}

/* By hand rather than snprintf, which would pull all of printf (floats
 * included) into the module for two integers. */
static void out_int(outbuf *o, long long v) {
    char buf[24];
    char *p = buf + sizeof buf;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0) {
        *--p = '-';
    }
    out_raw(o, p, (size_t)(buf + sizeof buf - p));
}

/* The inside of a JSON string: UTF-8 passes through (the reader checked
 * it), quotes, backslashes and control characters are escaped. */
static void out_esc(outbuf *o, jstr s) {
    static const char hex[] = "0123456789abcdef";
    size_t from = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        out_raw(o, s.ptr + from, i - from);
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            out_raw(o, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out_raw(o, e, 6);
        }
        from = i + 1;
    }
    out_raw(o, s.ptr + from, s.len - from);
}

/* ---- deciding --------------------------------------------------------- */

static bool means_tested_status(jstr s) {
    return jstr_is(s, "dibao") || jstr_is(s, "dibao_edge") || jstr_is(s, "tekun");
}

static bool exempt_category(jstr s) {
    return jstr_is(s, "orphan") || jstr_is(s, "de_facto_unsupported");
}

static void decide(const input *in, const minor *m, outbuf *o, bool first) {
    const jstr *cats = in->cats + m->cat_first;
    bool age_ok = m->has_age && m->age >= MIN_AGE && m->age <= MAX_AGE;
    bool cat_ok = m->cat_count > 0;
    bool status_ok = m->has_econ && means_tested_status(m->econ);
    bool exempt = false;
    for (size_t i = 0; i < m->cat_count; i++) {
        exempt = exempt || exempt_category(cats[i]);
    }
    bool eligible = age_ok && cat_ok && (status_ok || exempt);

    out_lit(o, first ? "{\"minorId\":\"" : ",{\"minorId\":\"");
    out_esc(o, m->id);
    out_lit(o, eligible ? "\",\"eligible\":true,\"reasons\":[\"" :
                          "\",\"eligible\":false,\"reasons\":[\"");

    /* Every condition gets a reason, held or failed, so a caseworker sees
     * the whole picture and not only the first failure. */
    if (!m->has_age) {
        out_lit(o, "age is unknown");
    } else {
        out_lit(o, "age ");
        out_int(o, m->age);
        out_lit(o, age_ok ? " is within 6-17" : " is outside 6-17");
    }

    if (cat_ok) {
        out_lit(o, "\",\"difficulty categories: ");
        for (size_t i = 0; i < m->cat_count; i++) {
            if (i > 0) {
                out_lit(o, ", ");
            }
            out_esc(o, cats[i]);
        }
    } else {
        out_lit(o, "\",\"no difficulty category");
    }

    if (status_ok) {
        out_lit(o, "\",\"household is on ");
        out_esc(o, m->econ);
    }
    for (size_t i = 0; i < m->cat_count; i++) {
        if (exempt_category(cats[i])) {
            out_lit(o, "\",\"");
            out_esc(o, cats[i]);
            out_lit(o, " needs no means test");
            break;
        }
    }
    if (!status_ok && !exempt) {
        if (m->has_econ) {
            out_lit(o, "\",\"economic status ");
            out_esc(o, m->econ);
        } else {
            out_lit(o, "\",\"economic status unknown");
        }
        out_lit(o, " is not dibao, dibao_edge or tekun, and no orphan or "
                   "de_facto_unsupported category");
    }
    out_lit(o, "\"]");

    if (eligible) {
        out_lit(o, ",\"benefit\":{\"amountCents\":");
        if (in->has_amount && in->has_period) {
            out_int(o, in->amount);
            out_lit(o, ",\"period\":\"");
            out_esc(o, in->period);
        } else {
            out_int(o, DEFAULT_AMOUNT_CENTS);
            out_lit(o, ",\"period\":\"" DEFAULT_PERIOD);
        }
        out_lit(o, "\"}");
    }
    out_lit(o, "}");
}

int main(void) {
    size_t len;
    char *buf = read_stdin(&len);
    jreader r;
    jr_init(&r, buf, len);
    input in = {0};
    read_input(&r, &in);

    outbuf o = {0};
    /* About 250 bytes a decision: reserve once instead of growing often. */
    o.p = grow(NULL, &o.cap, 64 + in.n_minors * 256, 1);
    out_lit(&o, "{\"decisions\":[");
    for (size_t i = 0; i < in.n_minors; i++) {
        decide(&in, &in.minors[i], &o, i == 0);
    }
    out_lit(&o, "]}\n");

    if (fwrite(o.p, 1, o.n, stdout) != o.n || fflush(stdout) != 0) {
        fputs("cannot write stdout\n", stderr);
        return 1;
    }
    return 0;
}
