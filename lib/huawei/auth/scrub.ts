/**
 * Redacts credentials from text that came from upstream (TaurusDB, IAM) before it can reach an
 * answer, an event or a log. A gateway that echoes a token rarely echoes it whole: it may cut it, wrap
 * it or quote a piece of it. So what is removed is every run of at least `MIN_SECRET_RUN` consecutive
 * characters of a secret, not only the whole value.
 */

/** Long enough that ordinary words and ids do not collide with a piece of a random secret. */
export const MIN_SECRET_RUN = 12;

// A secret shorter than the run is removed only as a whole, and only from this length on: a shorter
// one ("admin") would redact ordinary words.
const MIN_WHOLE_SECRET = 8;

export const REDACTED = '[redacted]';

/** Removes secrets from a text; a function rather than a list, so the values never sit in a log. */
export type Scrubber = (text: string) => string;

/** Every `MIN_SECRET_RUN`-character window of every secret, and the shorter secrets whole. */
function windowsOf(secrets: Iterable<string>): { windows: Set<string>; short: string[] } {
  const windows = new Set<string>();
  const short: string[] = [];
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_RUN) {
      if (secret.length >= MIN_WHOLE_SECRET) short.push(secret);
      continue;
    }
    for (let at = 0; at + MIN_SECRET_RUN <= secret.length; at += 1) {
      windows.add(secret.slice(at, at + MIN_SECRET_RUN));
    }
  }
  return { windows, short };
}

/** [start, end) ranges of `text` covered by a secret, sorted, overlapping and touching ones merged. */
function coveredRanges(text: string, windows: Set<string>, short: string[]): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  // A run of n ≥ 12 characters of a secret is exactly n - 11 windows of it, each starting one further.
  if (windows.size > 0) {
    for (let at = 0; at + MIN_SECRET_RUN <= text.length; at += 1) {
      if (windows.has(text.slice(at, at + MIN_SECRET_RUN))) ranges.push([at, at + MIN_SECRET_RUN]);
    }
  }
  for (const secret of short) {
    for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
      ranges.push([at, at + secret.length]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last !== undefined && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push([...range]);
  }
  return merged;
}

/**
 * A scrubber for these secrets. Linear in the text: one set lookup per position, whatever the number
 * of secrets (upstream texts are bounded by the bounded reads before they get here). Its memory is one
 * set entry per character of the secrets.
 */
export function createScrubber(secrets: Iterable<string>): Scrubber {
  const values = [...secrets];
  // Built on first use: most scrubbers (one per TaurusDB call) never meet a text.
  let index: ReturnType<typeof windowsOf> | undefined;
  return (text) => {
    index ??= windowsOf(values);
    const ranges = coveredRanges(text, index.windows, index.short);
    if (ranges.length === 0) return text;
    let scrubbed = '';
    let from = 0;
    for (const [start, end] of ranges) {
      scrubbed += text.slice(from, start) + REDACTED;
      from = end;
    }
    return scrubbed + text.slice(from);
  };
}

/** `text` without any run of `MIN_SECRET_RUN` or more characters of any of `secrets`. */
export function scrub(text: string, secrets: Iterable<string>): string {
  return createScrubber(secrets)(text);
}

/** A copy of `value` with every string in it scrubbed (for parsed upstream answers). */
export function scrubDeep<T>(value: T, scrubber: Scrubber): T {
  if (typeof value === 'string') return scrubber(value) as T;
  if (Array.isArray(value)) return value.map((item) => scrubDeep(item, scrubber)) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, scrubDeep(item, scrubber)]),
    ) as T;
  }
  return value;
}
