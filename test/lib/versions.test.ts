import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, isVersion, parseVersion } from '../../lib/versions.ts';

describe('parseVersion', () => {
  it.each([
    ['2.24.03.000', [2, 24, 3, 0]],
    ['2.23.12.000', [2, 23, 12, 0]],
    ['2.24', [2, 24]],
    ['1.2.3.4.5.6', [1, 2, 3, 4, 5, 6]],
    ['999999.0', [999999, 0]],
  ])('reads %s as %j', (text, segments) => {
    expect(parseVersion(text)).toEqual(segments);
    expect(isVersion(text)).toBe(true);
  });

  it.each([
    ['2', 'a single segment'],
    ['1.2.3.4.5.6.7', 'seven segments'],
    ['2.1234567', 'a seven-digit segment'],
    ['2.24.03.000-beta', 'a suffix'],
    ['v2.24', 'a prefix'],
    ['2.24.03.000 ', 'trailing whitespace'],
    [' 2.24', 'leading whitespace'],
    ['2.24\n', 'a trailing newline'],
    ['2..24', 'an empty segment'],
    ['2.24.', 'a trailing dot'],
    ['.2.24', 'a leading dot'],
    ['+2.24', 'a sign'],
    ['-2.24', 'a minus sign'],
    ['2.2e4', 'an exponent'],
    ['\u0662.\u0663', 'non-ASCII digits'],
    ['', 'nothing'],
    ['1.'.repeat(10_000), 'a huge text'],
  ])('refuses %j (%s)', (text) => {
    expect(parseVersion(text)).toBeUndefined();
    expect(isVersion(text)).toBe(false);
  });

  it('treats non-strings as not versions', () => {
    expect(isVersion(2.24)).toBe(false);
    expect(isVersion(null)).toBe(false);
    expect(isVersion(undefined)).toBe(false);
  });
});

describe('compareVersions', () => {
  it.each([
    ['2.24.03.000', '2.24.3.0', 0],
    ['2.24', '2.24.0.0', 0],
    ['2.24.03.000', '2.23.12.000', 1],
    ['2.23.12.000', '2.24.03.000', -1],
    ['2.24.10.0', '2.24.9.0', 1],
    ['2.24', '2.24.0.1', -1],
    ['2.24.0.1', '2.24', 1],
    ['10.0', '9.999999', 1],
  ])('compares %s with %s as %i', (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected);
  });

  it('throws for text that is not a version, without echoing it', () => {
    expect(() => compareVersions('2.24-beta', '2.24')).toThrow(TypeError);
    expect(() => compareVersions('2.24', 'latest')).toThrow(/dotted version numbers/);
    expect(() => compareVersions('2.24', 'secret-looking-input')).not.toThrow(/secret-looking-input/);
  });

  const segments = fc.array(fc.integer({ min: 0, max: 999_999 }), { minLength: 2, maxLength: 6 });
  const render = (values: number[], pads: number[]) =>
    values.map((value, index) => String(value).padStart(Math.min(6, (pads[index] ?? 0) + 1), '0')).join('.');

  it('ignores zero padding of segments', () => {
    fc.assert(
      fc.property(segments, fc.array(fc.nat(5), { minLength: 6, maxLength: 6 }), (values, pads) => {
        expect(compareVersions(render(values, pads), values.join('.'))).toBe(0);
      }),
    );
  });

  it('orders like fixed-width rendering of six segments (missing segments as 0)', () => {
    // An independent oracle: 6 segments of 6 zero-padded digits sort as text exactly as versions do.
    const fixedWidth = (values: number[]) =>
      Array.from({ length: 6 }, (_, index) => String(values[index] ?? 0).padStart(6, '0')).join('.');
    fc.assert(
      fc.property(segments, segments, (left, right) => {
        const a = fixedWidth(left);
        const b = fixedWidth(right);
        const expected = a === b ? 0 : a < b ? -1 : 1;
        expect(compareVersions(left.join('.'), right.join('.'))).toBe(expected);
        expect(compareVersions(right.join('.'), left.join('.'))).toBe(-expected || 0);
      }),
    );
  });
});
