/*
 * eligibility.c - an `assistance-eligibility` plugin for Shouhu in ABI 2:
 * the education grant of ../c-eligibility, decided on records instead of
 * JSON, for screenings over a whole difficulty ledger.
 *
 * A minor is eligible when all three hold:
 *   1. the age is known and between 6 and 17 (school age);
 *   2. the minor has at least one difficulty category;
 *   3. the household is on dibao, dibao_edge or tekun, or the minor is an
 *      orphan or de facto unsupported (who need no means test).
 * Each decision names, from a fixed list of reasons, why each condition
 * held or failed. The plugin proposes no benefit of its own: an eligible
 * minor gets the programme's.
 *
 * The input header (the programme, the day, the input query's data) is
 * not needed for this rule, so it is skipped unread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shouhu_abi2.h"

#define MIN_AGE 6
#define MAX_AGE 17

/* The reasons, in bit order: the output header lists them once. */
enum {
    R_AGE_OK,
    R_AGE_OUTSIDE,
    R_AGE_UNKNOWN,
    R_IN_DIFFICULTY,
    R_NO_CATEGORY,
    R_MEANS_TESTED,
    R_EXEMPT,
    R_NOT_IN_NEED,
};
static const char REASONS_HEADER[] =
    "{\"reasons\":["
    "\"age is within 6-17\","
    "\"age is outside 6-17\","
    "\"age is unknown\","
    "\"has a difficulty category\","
    "\"no difficulty category\","
    "\"household is on dibao, dibao_edge or tekun\","
    "\"orphan or de facto unsupported: no means test\","
    "\"household is not on dibao, dibao_edge or tekun, and no orphan or "
    "de_facto_unsupported category\""
    "]}";

static void fail(const char *why) {
    fputs(why, stderr);
    fputc('\n', stderr);
    exit(1);
}

/* Reads all of stdin; the host gives at most the manifest's input limit. */
static unsigned char *read_stdin(size_t *len) {
    size_t cap = 64 * 1024, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fail("out of memory");
        }
        n += fread(buf + n, 1, cap - n, stdin);
        if (n < cap) {
            break;
        }
        cap *= 2;
        buf = realloc(buf, cap);
    }
    if (ferror(stdin)) {
        fail("cannot read stdin");
    }
    *len = n;
    return buf;
}

static uint32_t u32_at(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4); /* little-endian, as the ABI */
    return v;
}

static shouhu_decision decide(shouhu_minor m) {
    const uint32_t exempt_cats = SHOUHU_CAT_ORPHAN | SHOUHU_CAT_DE_FACTO_UNSUPPORTED;
    shouhu_decision d = {0};
    int age_ok = m.age != SHOUHU_AGE_UNKNOWN && m.age >= MIN_AGE && m.age <= MAX_AGE;
    int cat_ok = m.categories != 0;
    int means_tested = m.economic == SHOUHU_ECON_DIBAO ||
                       m.economic == SHOUHU_ECON_DIBAO_EDGE ||
                       m.economic == SHOUHU_ECON_TEKUN;
    int exempt = (m.categories & exempt_cats) != 0;

    /* Every condition gets a reason, held or failed, so a caseworker sees
     * the whole picture and not only the first failure. */
    d.reasons |= 1u << (m.age == SHOUHU_AGE_UNKNOWN ? R_AGE_UNKNOWN
                        : age_ok                    ? R_AGE_OK
                                                    : R_AGE_OUTSIDE);
    d.reasons |= 1u << (cat_ok ? R_IN_DIFFICULTY : R_NO_CATEGORY);
    if (means_tested) {
        d.reasons |= 1u << R_MEANS_TESTED;
    }
    if (exempt) {
        d.reasons |= 1u << R_EXEMPT;
    }
    if (!means_tested && !exempt) {
        d.reasons |= 1u << R_NOT_IN_NEED;
    }
    d.eligible = age_ok && cat_ok && (means_tested || exempt);
    d.benefit = SHOUHU_BENEFIT_NONE;
    return d;
}

int main(void) {
    size_t len;
    unsigned char *in = read_stdin(&len);
    if (len < 4) {
        fail("no input header");
    }
    size_t header = u32_at(in);
    if (len - 4 < header || len - 4 - header < 4) {
        fail("the input ends inside its header");
    }
    const unsigned char *body = in + 4 + header;
    size_t count = u32_at(body);
    size_t rest = len - 8 - header;
    if (rest % sizeof(shouhu_minor) != 0 || rest / sizeof(shouhu_minor) != count) {
        fail("the input's records do not match its count");
    }
    const unsigned char *records = body + 4;

    size_t reasons_len = sizeof REASONS_HEADER - 1;
    size_t out_len = 4 + reasons_len + 4 + count * sizeof(shouhu_decision);
    unsigned char *out = malloc(out_len);
    if (!out) {
        fail("out of memory");
    }
    uint32_t n32 = (uint32_t)reasons_len;
    memcpy(out, &n32, 4);
    memcpy(out + 4, REASONS_HEADER, reasons_len);
    n32 = (uint32_t)count;
    memcpy(out + 4 + reasons_len, &n32, 4);
    unsigned char *decisions = out + 8 + reasons_len;
    for (size_t i = 0; i < count; i++) {
        shouhu_minor m;
        memcpy(&m, records + i * sizeof m, sizeof m);
        shouhu_decision d = decide(m);
        memcpy(decisions + i * sizeof d, &d, sizeof d);
    }
    if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        fail("cannot write stdout");
    }
    return 0;
}
