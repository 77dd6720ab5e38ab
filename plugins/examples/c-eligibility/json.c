/*
 * json.c - the streaming JSON reader declared in json.h (RFC 8259).
 *
 * Every function reads forward only; nothing is ever read twice, so a
 * document costs time linear in its size. Strings are checked to be valid
 * UTF-8 and decoded in place: a decoded string is never longer than its
 * quoted form, so the write position never overtakes the read position.
 */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for any sensible `data`, shallow enough for a 64 KiB stack. */
#define MAX_DEPTH 256

void jr_init(jreader *r, char *buf, size_t len) {
    r->start = buf;
    r->cur = buf;
    r->end = buf + len;
}

_Noreturn void jr_fail(const jreader *r, const char *what) {
    /* The offset by hand: fprintf would pull all of printf into the module. */
    char digits[24];
    char *p = digits + sizeof digits;
    *--p = '\0';
    size_t at = (size_t)(r->cur - r->start);
    do {
        *--p = (char)('0' + at % 10);
        at /= 10;
    } while (at > 0);
    fputs("bad input at byte ", stderr);
    fputs(p, stderr);
    fputs(": ", stderr);
    fputs(what, stderr);
    fputs("\n", stderr);
    exit(1);
}

static void skip_ws(jreader *r) {
    while (r->cur < r->end) {
        char c = *r->cur;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }
        r->cur++;
    }
}

/* The next significant byte, or 0 at the end of the document. */
static char next(jreader *r) {
    skip_ws(r);
    return r->cur < r->end ? *r->cur : 0;
}

static void expect(jreader *r, char c, const char *what) {
    if (next(r) != c) {
        jr_fail(r, what);
    }
    r->cur++;
}

static void literal(jreader *r, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(r->end - r->cur) < n || memcmp(r->cur, word, n) != 0) {
        jr_fail(r, "expected a JSON value");
    }
    r->cur += n;
}

jtype jr_peek(jreader *r) {
    switch (next(r)) {
    case '{':
        return J_OBJECT;
    case '[':
        return J_ARRAY;
    case '"':
        return J_STRING;
    case 't':
        return J_TRUE;
    case 'f':
        return J_FALSE;
    case 'n':
        return J_NULL;
    default:
        break;
    }
    /* next() left r->cur on the byte, or at the end of the document. */
    if (r->cur < r->end && (*r->cur == '-' || (*r->cur >= '0' && *r->cur <= '9'))) {
        return J_NUMBER;
    }
    jr_fail(r, "expected a JSON value");
}

bool jr_null(jreader *r) {
    if (next(r) != 'n') {
        return false;
    }
    literal(r, "null");
    return true;
}

static int hex4(jreader *r) {
    if (r->end - r->cur < 4) {
        jr_fail(r, "short \\u escape");
    }
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *r->cur++;
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v |= c - 'A' + 10;
        } else {
            jr_fail(r, "bad hex digit in \\u escape");
        }
    }
    return v;
}

static char *put_utf8(char *w, unsigned cp) {
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xC0 | cp >> 6);
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xE0 | cp >> 12);
        *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *w++ = (char)(0xF0 | cp >> 18);
        *w++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    }
    return w;
}

/* The length of the UTF-8 sequence at r->cur, or 0 when it is not valid
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static int utf8_len(const jreader *r) {
    const unsigned char *s = (const unsigned char *)r->cur;
    size_t left = (size_t)(r->end - r->cur);
    unsigned c = s[0];
    int n;
    unsigned lo = 0x80, hi = 0xBF; /* bounds of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return 0;
    }
    if (left < (size_t)n || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (int i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return n;
}

jstr jr_string(jreader *r) {
    expect(r, '"', "expected a string");
    char *w = r->cur;
    jstr s = {w, 0};
    for (;;) {
        if (r->cur >= r->end) {
            jr_fail(r, "unterminated string");
        }
        unsigned char c = (unsigned char)*r->cur;
        if (c == '"') {
            r->cur++;
            break;
        }
        if (c < 0x20) {
            jr_fail(r, "control character in a string");
        }
        if (c >= 0x80) {
            int n = utf8_len(r);
            if (n == 0) {
                jr_fail(r, "invalid UTF-8 in a string");
            }
            memmove(w, r->cur, (size_t)n);
            w += n;
            r->cur += n;
            continue;
        }
        r->cur++;
        if (c != '\\') {
            *w++ = (char)c;
            continue;
        }
        if (r->cur >= r->end) {
            jr_fail(r, "unterminated string");
        }
        char e = *r->cur++;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            *w++ = e;
            break;
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'u': {
            unsigned cp = (unsigned)hex4(r);
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                jr_fail(r, "lone low surrogate in \\u escape");
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* A character past U+FFFF comes as a surrogate pair. */
                if (r->end - r->cur < 2 || r->cur[0] != '\\' || r->cur[1] != 'u') {
                    jr_fail(r, "high surrogate without its low half");
                }
                r->cur += 2;
                unsigned low = (unsigned)hex4(r);
                if (low < 0xDC00 || low > 0xDFFF) {
                    jr_fail(r, "high surrogate without its low half");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            w = put_utf8(w, cp);
            break;
        }
        default:
            jr_fail(r, "unknown escape in a string");
        }
    }
    s.len = (size_t)(w - s.ptr);
    return s;
}

static bool is_digit(jreader *r) {
    return r->cur < r->end && *r->cur >= '0' && *r->cur <= '9';
}

/* Consumes a number per the JSON grammar; says whether it had a fraction
 * or an exponent. */
static bool number(jreader *r) {
    bool real = false;
    skip_ws(r);
    if (r->cur < r->end && *r->cur == '-') {
        r->cur++;
    }
    if (!is_digit(r)) {
        jr_fail(r, "expected a number");
    }
    if (*r->cur == '0') {
        r->cur++;
    } else {
        while (is_digit(r)) {
            r->cur++;
        }
    }
    if (r->cur < r->end && *r->cur == '.') {
        real = true;
        r->cur++;
        if (!is_digit(r)) {
            jr_fail(r, "expected digits after '.'");
        }
        while (is_digit(r)) {
            r->cur++;
        }
    }
    if (r->cur < r->end && (*r->cur == 'e' || *r->cur == 'E')) {
        real = true;
        r->cur++;
        if (r->cur < r->end && (*r->cur == '+' || *r->cur == '-')) {
            r->cur++;
        }
        if (!is_digit(r)) {
            jr_fail(r, "expected digits in an exponent");
        }
        while (is_digit(r)) {
            r->cur++;
        }
    }
    return real;
}

long long jr_int(jreader *r) {
    skip_ws(r);
    char *from = r->cur;
    if (number(r)) {
        r->cur = from;
        jr_fail(r, "expected an integer");
    }
    bool negative = *from == '-';
    long long v = 0;
    for (char *p = from + negative; p < r->cur; p++) {
        /* 15 digits fit every amount and age, and cannot overflow. */
        if (p - from - negative >= 15) {
            r->cur = from;
            jr_fail(r, "integer out of range");
        }
        v = v * 10 + (*p - '0');
    }
    return negative ? -v : v;
}

void jr_object(jreader *r) {
    expect(r, '{', "expected an object");
}

void jr_array(jreader *r) {
    expect(r, '[', "expected an array");
}

bool jr_key(jreader *r, int *count, jstr *key) {
    char c = next(r);
    if (c == '}') {
        r->cur++;
        return false;
    }
    if (*count > 0) {
        expect(r, ',', "expected ',' or '}' in an object");
    }
    *key = jr_string(r);
    expect(r, ':', "expected ':' after a key");
    (*count)++;
    return true;
}

bool jr_item(jreader *r, int *count) {
    char c = next(r);
    if (c == ']') {
        r->cur++;
        return false;
    }
    if (*count > 0) {
        expect(r, ',', "expected ',' or ']' in an array");
    }
    (*count)++;
    return true;
}

static void skip(jreader *r, int depth) {
    if (depth > MAX_DEPTH) {
        jr_fail(r, "nested too deeply");
    }
    int count = 0;
    jstr key;
    switch (jr_peek(r)) {
    case J_OBJECT:
        jr_object(r);
        while (jr_key(r, &count, &key)) {
            skip(r, depth + 1);
        }
        break;
    case J_ARRAY:
        jr_array(r);
        while (jr_item(r, &count)) {
            skip(r, depth + 1);
        }
        break;
    case J_STRING:
        jr_string(r);
        break;
    case J_NUMBER:
        number(r);
        break;
    case J_TRUE:
        literal(r, "true");
        break;
    case J_FALSE:
        literal(r, "false");
        break;
    case J_NULL:
        literal(r, "null");
        break;
    }
}

void jr_skip(jreader *r) {
    skip(r, 0);
}

void jr_end(jreader *r) {
    if (next(r) != 0 || r->cur != r->end) {
        jr_fail(r, "unexpected data after the document");
    }
}

bool jstr_is(jstr s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}
