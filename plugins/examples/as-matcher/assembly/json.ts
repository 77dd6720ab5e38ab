// json.ts - a small streaming JSON reader for a Shouhu plugin in
// AssemblyScript.
//
// The reader walks the UTF-8 bytes of one document without building a
// tree: the caller asks for the value it expects next and skips whatever it
// does not care about, so a document costs time linear in its size. Any
// error ends the run through `fail` (a message on stderr, exit status 1),
// which the host reports as PLUGIN_TRAP with that message as the log.

/** Writes `message` to stderr and exits with status 1. */
export function fail(message: string): void {
  process.stderr.write(message + "\n");
  process.exit(1);
}

// Deep enough for any sensible `data`, shallow enough for the shadow stack.
const MAX_DEPTH = 256;

const QUOTE: u8 = 0x22;
const BACKSLASH: u8 = 0x5c;

export const enum Kind {
  Object,
  Array,
  String,
  Number,
  True,
  False,
  Null,
}

export class Reader {
  private pos: i32 = 0;

  constructor(private bytes: Uint8Array) {}

  fail(what: string): void {
    fail("bad input at byte " + this.pos.toString() + ": " + what);
  }

  /** The next significant byte, or 0 at the end of the document. */
  private next(): u8 {
    const bytes = this.bytes;
    const len = bytes.length;
    while (this.pos < len) {
      const c = unchecked(bytes[this.pos]);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return c;
      this.pos++;
    }
    return 0;
  }

  private expect(c: u8, what: string): void {
    if (this.next() != c) this.fail(what);
    this.pos++;
  }

  private literal(word: string): void {
    for (let i = 0; i < word.length; i++) {
      if (this.pos >= this.bytes.length || this.bytes[this.pos] != <u8>word.charCodeAt(i)) {
        this.fail("expected a JSON value");
      }
      this.pos++;
    }
  }

  /** The type of the next value, without consuming it. */
  peek(): Kind {
    const c = this.next();
    if (c == 0x7b) return Kind.Object;
    if (c == 0x5b) return Kind.Array;
    if (c == QUOTE) return Kind.String;
    if (c == 0x74) return Kind.True;
    if (c == 0x66) return Kind.False;
    if (c == 0x6e) return Kind.Null;
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return Kind.Number;
    this.fail("expected a JSON value");
    return Kind.Null;
  }

  /** Consumes `null` and returns true when the next value is null. */
  isNull(): bool {
    if (this.next() != 0x6e) return false;
    this.literal("null");
    return true;
  }

  private hex4(): i32 {
    let v = 0;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.bytes.length) this.fail("short \\u escape");
      const c = <i32>this.bytes[this.pos++];
      v <<= 4;
      if (c >= 0x30 && c <= 0x39) v |= c - 0x30;
      else if (c >= 0x61 && c <= 0x66) v |= c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) v |= c - 0x41 + 10;
      else this.fail("bad hex digit in \\u escape");
    }
    return v;
  }

  /** Reads a string. A run without escapes is decoded in one go; the host
   *  only ever passes valid UTF-8, having parsed the document itself. */
  string(): string {
    this.expect(QUOTE, "expected a string");
    const bytes = this.bytes;
    const base = bytes.dataStart;
    let out = "";
    let from = this.pos;
    for (;;) {
      if (this.pos >= bytes.length) this.fail("unterminated string");
      const c = unchecked(bytes[this.pos]);
      if (c == QUOTE) break;
      if (c < 0x20) this.fail("control character in a string");
      if (c != BACKSLASH) {
        this.pos++;
        continue;
      }
      out += String.UTF8.decodeUnsafe(base + <usize>from, <usize>(this.pos - from));
      this.pos++;
      if (this.pos >= bytes.length) this.fail("unterminated string");
      const e = bytes[this.pos++];
      if (e == QUOTE || e == BACKSLASH || e == 0x2f) out += String.fromCharCode(e);
      else if (e == 0x62) out += "\b";
      else if (e == 0x66) out += "\f";
      else if (e == 0x6e) out += "\n";
      else if (e == 0x72) out += "\r";
      else if (e == 0x74) out += "\t";
      else if (e == 0x75) {
        const unit = this.hex4();
        // A character past U+FFFF arrives as a surrogate pair; a lone half
        // could not be written out as UTF-8, so it is refused.
        if (unit >= 0xdc00 && unit <= 0xdfff) this.fail("lone low surrogate");
        if (unit >= 0xd800 && unit <= 0xdbff) {
          const at = this.pos;
          if (at + 1 >= bytes.length || bytes[at] != BACKSLASH || bytes[at + 1] != 0x75) {
            this.fail("high surrogate without its low half");
          }
          this.pos += 2;
          const low = this.hex4();
          if (low < 0xdc00 || low > 0xdfff) this.fail("high surrogate without its low half");
          out += String.fromCharCode(unit, low);
        } else {
          out += String.fromCharCode(unit);
        }
      } else this.fail("unknown escape in a string");
      from = this.pos;
    }
    out += String.UTF8.decodeUnsafe(base + <usize>from, <usize>(this.pos - from));
    this.pos++; // the closing quote
    return out;
  }

  private digits(what: string): void {
    const bytes = this.bytes;
    if (this.pos >= bytes.length || bytes[this.pos] < 0x30 || bytes[this.pos] > 0x39) {
      this.fail(what);
    }
    while (this.pos < bytes.length && bytes[this.pos] >= 0x30 && bytes[this.pos] <= 0x39) {
      this.pos++;
    }
  }

  /** Consumes a number per the JSON grammar; true when it had a fraction or
   *  an exponent. */
  private number(): bool {
    this.next();
    const bytes = this.bytes;
    let real = false;
    if (this.pos < bytes.length && bytes[this.pos] == 0x2d) this.pos++;
    if (this.pos < bytes.length && bytes[this.pos] == 0x30) this.pos++;
    else this.digits("expected a number");
    if (this.pos < bytes.length && bytes[this.pos] == 0x2e) {
      real = true;
      this.pos++;
      this.digits("expected digits after '.'");
    }
    if (this.pos < bytes.length && (bytes[this.pos] | 0x20) == 0x65) {
      real = true;
      this.pos++;
      if (this.pos < bytes.length && (bytes[this.pos] == 0x2b || bytes[this.pos] == 0x2d)) {
        this.pos++;
      }
      this.digits("expected digits in an exponent");
    }
    return real;
  }

  /** Reads an integer of at most 15 digits (every age and capacity fits). */
  int(): i64 {
    this.next();
    const from = this.pos;
    if (this.number()) {
      this.pos = from;
      this.fail("expected an integer");
    }
    const negative = this.bytes[from] == 0x2d;
    const first = from + (negative ? 1 : 0);
    if (this.pos - first > 15) {
      this.pos = from;
      this.fail("integer out of range");
    }
    let v: i64 = 0;
    for (let i = first; i < this.pos; i++) v = v * 10 + <i64>(this.bytes[i] - 0x30);
    return negative ? -v : v;
  }

  beginObject(): void {
    this.expect(0x7b, "expected an object");
  }

  beginArray(): void {
    this.expect(0x5b, "expected an array");
  }

  /** The next key of an object (consuming the ':' after it), or null at its
   *  end (consuming the '}'). `count` is how many keys came before. */
  key(count: i32): string | null {
    if (this.next() == 0x7d) {
      this.pos++;
      return null;
    }
    if (count > 0) this.expect(0x2c, "expected ',' or '}' in an object");
    const key = this.string();
    this.expect(0x3a, "expected ':' after a key");
    return key;
  }

  /** Whether another item of an array follows (consuming the ',' before
   *  it, or the ']' at the end). `count` is how many items came before. */
  item(count: i32): bool {
    if (this.next() == 0x5d) {
      this.pos++;
      return false;
    }
    if (count > 0) this.expect(0x2c, "expected ',' or ']' in an array");
    return true;
  }

  /** Reads an array of strings; null counts as empty. */
  strings(): string[] {
    const out = new Array<string>();
    if (this.isNull()) return out;
    this.beginArray();
    while (this.item(out.length)) out.push(this.string());
    return out;
  }

  /** Skips one value of any shape. */
  skip(depth: i32 = 0): void {
    if (depth > MAX_DEPTH) this.fail("nested too deeply");
    let n = 0;
    switch (this.peek()) {
      case Kind.Object:
        this.beginObject();
        while (this.key(n) !== null) {
          this.skip(depth + 1);
          n++;
        }
        break;
      case Kind.Array:
        this.beginArray();
        while (this.item(n)) {
          this.skip(depth + 1);
          n++;
        }
        break;
      case Kind.String:
        this.string();
        break;
      case Kind.Number:
        this.number();
        break;
      case Kind.True:
        this.literal("true");
        break;
      case Kind.False:
        this.literal("false");
        break;
      default:
        this.literal("null");
    }
  }

  /** Checks that only whitespace is left. */
  end(): void {
    if (this.next() != 0 || this.pos != this.bytes.length) {
      this.fail("unexpected data after the document");
    }
  }
}

/** `s` as the inside of a JSON string: quotes, backslashes and control
 *  characters escaped, everything else as it is. */
export function escape(s: string): string {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x22 || c == 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  const hex = "0123456789abcdef";
  const parts = new Array<string>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) parts.push("\\\"");
    else if (c == 0x5c) parts.push("\\\\");
    else if (c < 0x20) parts.push("\\u00" + hex.charAt(c >> 4) + hex.charAt(c & 15));
    else parts.push(String.fromCharCode(c));
  }
  return parts.join("");
}
