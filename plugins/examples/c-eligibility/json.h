/*
 * json.h - a small streaming JSON reader for Shouhu plugins in C.
 *
 * The reader walks one JSON document held in a mutable buffer, without
 * building a tree: the caller asks for the value it expects next (an
 * object key, a string, an integer) and skips whatever it does not care
 * about. Strings are decoded in place, so reading allocates nothing and
 * costs time linear in the input, which is what a batch of thousands of
 * minors per call needs.
 *
 * A plugin reads exactly one document per run, so any error ends the run:
 * the reader writes where and why to stderr and exits with status 1, which
 * the host reports as PLUGIN_TRAP with that log.
 */
#ifndef SHOUHU_JSON_H
#define SHOUHU_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* A decoded string: UTF-8 bytes, not NUL-terminated (JSON allows \u0000). */
typedef struct {
    const char *ptr;
    size_t len;
} jstr;

typedef struct {
    char *start; /* the whole document, for error offsets */
    char *cur;   /* the next byte to read */
    char *end;   /* one past the last byte */
} jreader;

/* The JSON value types, as far as the caller needs to tell them apart. */
typedef enum { J_OBJECT, J_ARRAY, J_STRING, J_NUMBER, J_TRUE, J_FALSE, J_NULL } jtype;

void jr_init(jreader *r, char *buf, size_t len);

/* Reports a bad document at the current offset and exits with status 1. */
_Noreturn void jr_fail(const jreader *r, const char *what);

/* The type of the next value, without consuming it. */
jtype jr_peek(jreader *r);

/* Consumes `null` and returns true when the next value is null. */
bool jr_null(jreader *r);

/* Reads a string / an integer (no fraction, no exponent, |n| < 10^15). */
jstr jr_string(jreader *r);
long long jr_int(jreader *r);

/* Skips one value of any shape, however nested (up to a depth limit). */
void jr_skip(jreader *r);

/*
 * Iteration. Start with jr_object(r) / jr_array(r) to consume the opening
 * bracket, then call jr_key / jr_item with a counter set to 0 until it
 * returns false (which consumes the closing bracket). jr_key also
 * consumes the ':' after the key; the caller must then read or skip the
 * value before asking for the next key.
 */
void jr_object(jreader *r);
bool jr_key(jreader *r, int *count, jstr *key);
void jr_array(jreader *r);
bool jr_item(jreader *r, int *count);

/* Checks that only whitespace is left. */
void jr_end(jreader *r);

/* True when `s` holds exactly the bytes of the C string `lit`. */
bool jstr_is(jstr s, const char *lit);

#endif
