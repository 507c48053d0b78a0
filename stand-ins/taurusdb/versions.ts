/**
 * Proxy kernel versions as TaurusDB reports them (`2.24.03.000`): dotted numbers, compared segment by
 * segment, a missing segment counting as 0. Written here rather than imported from lib/, so that the
 * stand-in does not agree with the code under test merely by sharing its code.
 */

const VERSION = /^[0-9]{1,6}(?:\.[0-9]{1,6}){1,5}$/;

export function isVersion(text: unknown): text is string {
  return typeof text === 'string' && VERSION.test(text);
}

/** Negative when `a` is older than `b`, 0 when they are the same version, positive when newer. */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}
