// index.ts - a `family-matching` plugin for Shouhu (ABI 1) in
// AssemblyScript; built, it is also the platform's default matcher.
//
// It drops the candidate families that cannot take the child (no room,
// an age range or the sexes they accept exclude the child), scores the rest
// from 0 to 100 and ranks them best first, ties by familyId:
//   location   40 same community (identical orgUnitPath), else 25 same
//              street (the same /district/street/ prefix), else 0;
//   needs      40 x the share of the child's needs the family's skills
//              cover, rounded to the nearest point (40 with no needs);
//   language   20 when they share a language (20 when the child lists none).
// Each family's explanation names every part of its score.

import { Reader, escape, fail } from "./json";

const COMMUNITY_POINTS = 40;
const STREET_POINTS = 25;
const NEEDS_POINTS = 40;
const LANGUAGE_POINTS = 20;
// The output schema caps an explanation at 1000 characters; list names up
// to this many, so that a long list of needs cannot run past it.
const MAX_LISTED = 10;
const MAX_EXPLANATION = 1000;

class Child {
  age: i64 = 0;
  hasAge: bool = false;
  sex: string | null = null;
  needs: string[] = [];
  languages: string[] = [];
  orgUnitPath: string | null = null;
}

class Candidate {
  familyId: string = "";
  orgUnitPath: string | null = null;
  capacity: i64 = 1;
  hasCapacity: bool = false;
  ageMin: i64 = 0;
  hasAgeMin: bool = false;
  ageMax: i64 = 0;
  hasAgeMax: bool = false;
  sexes: string[] = [];
  skills: string[] = [];
  languages: string[] = [];
}

class Match {
  constructor(public familyId: string, public score: i32, public explanation: string) {}
}

function readStdin(): Uint8Array {
  let buf = new ArrayBuffer(64 * 1024);
  let n = 0;
  for (;;) {
    if (n == buf.byteLength) {
      // Doubling keeps the cost of growing linear in the input's size.
      const bigger = new ArrayBuffer(n * 2);
      memory.copy(changetype<usize>(bigger), changetype<usize>(buf), <usize>n);
      buf = bigger;
    }
    const got = process.stdin.read(buf, n);
    if (got <= 0) break;
    n += got;
  }
  return Uint8Array.wrap(buf, 0, n);
}

function readChild(r: Reader): Child {
  const child = new Child();
  if (r.isNull()) return child;
  r.beginObject();
  let n = 0;
  for (let key = r.key(n); key !== null; key = r.key(++n)) {
    if (key == "age") {
      child.hasAge = !r.isNull();
      if (child.hasAge) child.age = r.int();
    } else if (key == "sex") {
      child.sex = r.isNull() ? null : r.string();
    } else if (key == "needs") {
      child.needs = unique(r.strings());
    } else if (key == "languages") {
      child.languages = unique(r.strings());
    } else if (key == "orgUnitPath") {
      child.orgUnitPath = r.isNull() ? null : r.string();
    } else {
      r.skip();
    }
  }
  return child;
}

function readCandidate(r: Reader): Candidate {
  const c = new Candidate();
  let hasId = false;
  r.beginObject();
  let n = 0;
  for (let key = r.key(n); key !== null; key = r.key(++n)) {
    if (key == "familyId") {
      c.familyId = r.string();
      hasId = true;
    } else if (key == "orgUnitPath") {
      c.orgUnitPath = r.isNull() ? null : r.string();
    } else if (key == "capacity") {
      c.hasCapacity = !r.isNull();
      if (c.hasCapacity) c.capacity = r.int();
    } else if (key == "ageMin") {
      c.hasAgeMin = !r.isNull();
      if (c.hasAgeMin) c.ageMin = r.int();
    } else if (key == "ageMax") {
      c.hasAgeMax = !r.isNull();
      if (c.hasAgeMax) c.ageMax = r.int();
    } else if (key == "sexes") {
      c.sexes = r.strings();
    } else if (key == "skills") {
      c.skills = r.strings();
    } else if (key == "languages") {
      c.languages = r.strings();
    } else {
      r.skip();
    }
  }
  if (!hasId || c.familyId.length == 0) r.fail("a candidate without a familyId");
  return c;
}

function unique(list: string[]): string[] {
  const seen = new Set<string>();
  const out = new Array<string>();
  for (let i = 0; i < list.length; i++) {
    if (!seen.has(list[i])) {
      seen.add(list[i]);
      out.push(list[i]);
    }
  }
  return out;
}

/** The `/district/street/` prefix of an org unit path, or null when the
 *  path is shorter than that. */
function streetOf(path: string): string | null {
  let slashes = 0;
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) == 0x2f && ++slashes == 3) return path.substring(0, i + 1);
  }
  return null;
}

/** Whether a family can take the child at all. A requirement the child's
 *  record leaves unknown (age, sex) does not exclude anyone. */
function admits(child: Child, c: Candidate): bool {
  if (c.hasCapacity && c.capacity < 1) return false;
  if (child.hasAge) {
    if (c.hasAgeMin && child.age < c.ageMin) return false;
    if (c.hasAgeMax && child.age > c.ageMax) return false;
  }
  const sex = child.sex;
  if (sex !== null && c.sexes.length > 0 && !c.sexes.includes(sex)) return false;
  return true;
}

/** Up to MAX_LISTED names, comma-separated, with a count of the rest. */
function listed(names: string[]): string {
  if (names.length <= MAX_LISTED) return names.join(", ");
  const more = names.length - MAX_LISTED;
  return names.slice(0, MAX_LISTED).join(", ") + " and " + more.toString() + " more";
}

function score(child: Child, c: Candidate): Match {
  const parts = new Array<string>();
  let total = 0;

  const childPath = child.orgUnitPath;
  const familyPath = c.orgUnitPath;
  if (childPath === null || familyPath === null) {
    parts.push("location unknown (+0)");
  } else if (childPath == familyPath) {
    total += COMMUNITY_POINTS;
    parts.push("same community (+" + COMMUNITY_POINTS.toString() + ")");
  } else {
    const street = streetOf(childPath);
    if (street !== null && familyPath.startsWith(street)) {
      total += STREET_POINTS;
      parts.push("same street (+" + STREET_POINTS.toString() + ")");
    } else {
      parts.push("different street (+0)");
    }
  }

  const needs = child.needs;
  if (needs.length == 0) {
    total += NEEDS_POINTS;
    parts.push("no listed needs (+" + NEEDS_POINTS.toString() + ")");
  } else {
    const covered = new Array<string>();
    for (let i = 0; i < needs.length; i++) {
      if (c.skills.includes(needs[i])) covered.push(needs[i]);
    }
    // Rounded to the nearest whole point, halves up, in integers so that
    // equal shares always give equal scores.
    const points = (2 * NEEDS_POINTS * covered.length + needs.length) / (2 * needs.length);
    total += points;
    let part = "covers " + covered.length.toString() + " of " + needs.length.toString();
    part += needs.length == 1 ? " need" : " needs";
    if (covered.length > 0) part += ": " + listed(covered);
    parts.push(part + " (+" + points.toString() + ")");
  }

  const languages = child.languages;
  if (languages.length == 0) {
    total += LANGUAGE_POINTS;
    parts.push("child lists no language (+" + LANGUAGE_POINTS.toString() + ")");
  } else {
    const shared = new Array<string>();
    for (let i = 0; i < languages.length; i++) {
      if (c.languages.includes(languages[i])) shared.push(languages[i]);
    }
    if (shared.length > 0) {
      total += LANGUAGE_POINTS;
      const noun = shared.length == 1 ? "shares language " : "shares languages ";
      parts.push(noun + listed(shared) + " (+" + LANGUAGE_POINTS.toString() + ")");
    } else {
      parts.push("no shared language (+0)");
    }
  }

  let explanation = parts.join("; ");
  if (explanation.length > MAX_EXPLANATION) {
    // Names can be long; cut, without splitting a surrogate pair.
    let cut = MAX_EXPLANATION - 3;
    const unit = explanation.charCodeAt(cut - 1);
    if (unit >= 0xd800 && unit <= 0xdbff) cut--;
    explanation = explanation.substring(0, cut) + "...";
  }
  return new Match(c.familyId, total, explanation);
}

function byRank(a: Match, b: Match): i32 {
  if (a.score != b.score) return b.score - a.score;
  if (a.familyId == b.familyId) return 0;
  return a.familyId < b.familyId ? -1 : 1;
}

function main(): void {
  const r = new Reader(readStdin());
  let child: Child | null = null;
  const candidates = new Array<Candidate>();
  let hasCandidates = false;
  r.beginObject();
  let n = 0;
  for (let key = r.key(n); key !== null; key = r.key(++n)) {
    if (key == "abi") {
      if (r.int() != 1) r.fail("this plugin speaks ABI 1 only");
    } else if (key == "kind") {
      if (r.string() != "family-matching") r.fail("kind is not family-matching");
    } else if (key == "child") {
      child = readChild(r);
    } else if (key == "candidates") {
      r.beginArray();
      while (r.item(candidates.length)) candidates.push(readCandidate(r));
      hasCandidates = true;
    } else {
      r.skip(); // data, anything added later
    }
  }
  r.end();
  if (child === null) {
    fail("no child");
    return;
  }
  if (!hasCandidates) fail("no candidates");

  const ranking = new Array<Match>();
  for (let i = 0; i < candidates.length; i++) {
    if (admits(child, candidates[i])) ranking.push(score(child, candidates[i]));
  }
  ranking.sort(byRank);

  const out = new Array<string>();
  out.push('{"ranking":[');
  for (let i = 0; i < ranking.length; i++) {
    const m = ranking[i];
    out.push(i == 0 ? '{"familyId":"' : ',{"familyId":"');
    out.push(escape(m.familyId));
    out.push('","score":' + m.score.toString() + ',"explanation":"');
    out.push(escape(m.explanation));
    out.push('"}');
  }
  out.push("]}\n");
  process.stdout.write(out.join(""));
}

main();
