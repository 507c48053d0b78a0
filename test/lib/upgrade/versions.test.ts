import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, decideUpgrade, isVersion, parseVersion } from '../../../lib/upgrade/versions.ts';

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

describe('decideUpgrade', () => {
  const found = (current: string, latest = '2.24.03.000', can_upgrade = true) => ({
    current_version: current,
    latest_version: latest,
    can_upgrade,
  });

  it('upgrades from the current version to latest_version when both are left to the read', () => {
    expect(decideUpgrade({ target_version: 'latest' }, found('2.23.12.000'))).toEqual({
      action: 'upgrade',
      resolved: { source_version: '2.23.12.000', target_version: '2.24.03.000' },
    });
  });

  it('keeps an explicit source and target that match the proxy, however they are padded', () => {
    expect(
      decideUpgrade({ source_version: '2.23.12', target_version: '2.24.09.000' }, found('2.23.12.000')),
    ).toEqual({ action: 'upgrade', resolved: { source_version: '2.23.12', target_version: '2.24.09.000' } });
  });

  it('skips a proxy already at the target, compared as versions', () => {
    expect(decideUpgrade({ target_version: '2.24.3' }, found('2.24.03.000'))).toEqual({
      action: 'skip',
      resolved: { source_version: '2.24.03.000', target_version: '2.24.3' },
      reason: 'proxy is already at 2.24.03.000',
    });
    expect(
      decideUpgrade({ target_version: 'latest' }, found('2.24.03.000', '2.24.03.000', false)),
    ).toMatchObject({
      action: 'skip',
      reason: 'proxy is already at 2.24.03.000',
    });
  });

  it('skips a proxy past the target, saying so', () => {
    expect(decideUpgrade({ target_version: '2.24.03.000' }, found('2.24.09.000', '2.24.09.000'))).toEqual({
      action: 'skip',
      resolved: { source_version: '2.24.09.000', target_version: '2.24.03.000' },
      reason: 'proxy is already at 2.24.09.000, newer than the target 2.24.03.000',
    });
  });

  it('skips "latest" when TaurusDB says can_upgrade is false, but still sends an explicit target', () => {
    expect(decideUpgrade({ target_version: 'latest' }, found('2.23.12.000', '2.24.03.000', false))).toEqual({
      action: 'skip',
      resolved: { source_version: '2.23.12.000', target_version: '2.24.03.000' },
      reason: 'TaurusDB reports no upgrade available for the proxy at 2.23.12.000 (can_upgrade is false)',
    });
    expect(
      decideUpgrade({ target_version: '2.24.03.000' }, found('2.23.12.000', '2.24.03.000', false)).action,
    ).toBe('upgrade');
  });

  it('refuses an explicit source the proxy is not at', () => {
    expect(
      decideUpgrade(
        { source_version: '2.23.12.000', target_version: '2.24.09.000' },
        found('2.24.03.000', '2.24.09.000'),
      ),
    ).toEqual({
      action: 'refuse',
      resolved: { source_version: '2.23.12.000', target_version: '2.24.09.000' },
      reason: 'proxy is at 2.24.03.000, request says 2.23.12.000',
    });
  });

  it('reports a proxy already at the target as skipped even when the source no longer matches', () => {
    // Sending the same change again after it completed: "done", not a conflict.
    expect(
      decideUpgrade({ source_version: '2.23.12.000', target_version: '2.24.03.000' }, found('2.24.03.000'))
        .action,
    ).toBe('skip');
  });

  it('throws for a version TaurusDB reported that is not a dotted number', () => {
    expect(() => decideUpgrade({ target_version: 'latest' }, found('2.23.12.000', 'beta'))).toThrow(
      TypeError,
    );
  });
});
