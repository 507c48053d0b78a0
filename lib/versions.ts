/**
 * TaurusDB proxy kernel versions are dotted numbers such as `2.24.03.000`. Huawei pads some segments
 * with zeros and not others, so versions compare numerically segment by segment: `2.24.03.000` and
 * `2.24.3.0` are the same version. A version with fewer segments counts its missing segments as 0, so
 * `2.24` equals `2.24.0.0` and is older than `2.24.0.1`.
 *
 * The format is strict so a version is safe to put in a request body and an error message: 2 to 6
 * segments of 1 to 6 ASCII digits, separated by single dots, nothing else (no `v` prefix, no `-beta`
 * suffix, no sign, no whitespace). Six digits per segment keeps every segment an exact integer.
 */
export const VERSION_PATTERN = /^[0-9]{1,6}(?:\.[0-9]{1,6}){1,5}$/;

/** The longest text VERSION_PATTERN accepts: 6 segments of 6 digits and 5 dots. */
export const MAX_VERSION_LENGTH = 41;

/** The numeric segments of a version, or undefined when the text is not a dotted version number. */
export function parseVersion(text: string): number[] | undefined {
  if (text.length > MAX_VERSION_LENGTH || !VERSION_PATTERN.test(text)) return undefined;
  return text.split('.').map(Number);
}

export function isVersion(text: unknown): text is string {
  return typeof text === 'string' && parseVersion(text) !== undefined;
}

/**
 * Negative when `a` is older than `b`, 0 when they are the same version, positive when `a` is newer.
 * Throws a TypeError for text that is not a dotted version number: comparing garbage has no answer.
 */
export function compareVersions(a: string, b: string): number {
  const left = parseVersion(a);
  const right = parseVersion(b);
  if (left === undefined || right === undefined) {
    throw new TypeError('compareVersions expects dotted version numbers such as 2.24.03.000');
  }
  const segments = Math.max(left.length, right.length);
  for (let index = 0; index < segments; index += 1) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}
