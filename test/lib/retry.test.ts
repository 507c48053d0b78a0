import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  backoffCeilingMs,
  backoffDelayMs,
  decideRetry,
  defaultBackoff,
  parseRetryAfterMs,
} from '../../lib/retry.ts';

describe('backoffCeilingMs', () => {
  it('doubles from the base for each retry and stops at the cap', () => {
    const options = { baseMs: 100, capMs: 1_000 };
    expect([1, 2, 3, 4, 5, 40].map((retry) => backoffCeilingMs(retry, options))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it('defaults to a 250 ms base and a 2 s cap', () => {
    expect([1, 2, 3, 4, 5].map((retry) => backoffCeilingMs(retry))).toEqual([250, 500, 1_000, 2_000, 2_000]);
  });
});

describe('backoffDelayMs', () => {
  it('scales the ceiling by the random draw (full jitter)', () => {
    expect(backoffDelayMs(1, () => 0)).toBe(0);
    expect(backoffDelayMs(1, () => 0.5)).toBe(125);
    expect(backoffDelayMs(3, () => 0.5)).toBe(500);
    expect(backoffDelayMs(3, () => 0.999)).toBe(999);
  });

  it('stays within [0, ceiling] for any retry number and any draw, even an out-of-range one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: -1, max: 2, noNaN: true }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        (retry, draw, baseMs, capMs) => {
          const options = { baseMs, capMs };
          const delayMs = backoffDelayMs(retry, () => draw, options);
          expect(delayMs).toBeGreaterThanOrEqual(0);
          expect(delayMs).toBeLessThanOrEqual(backoffCeilingMs(retry, options));
          expect(delayMs).toBeLessThanOrEqual(capMs);
          expect(Number.isInteger(delayMs)).toBe(true);
        },
      ),
    );
  });

  it('uses the default backoff when none is given', () => {
    expect(backoffDelayMs(10, () => 1)).toBe(defaultBackoff.capMs);
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-11-27T10:00:00.000Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfterMs('3', now)).toBe(3_000);
    expect(parseRetryAfterMs(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfterMs('0', now)).toBe(0);
  });

  it('reads an IMF-fixdate relative to now, and a past date as no wait', () => {
    expect(parseRetryAfterMs('Fri, 27 Nov 2026 10:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfterMs('Fri, 27 Nov 2026 09:59:00 GMT', now)).toBe(0);
  });

  it('reads the obsolete RFC 850 and asctime dates, asctime as GMT', () => {
    expect(parseRetryAfterMs('Friday, 27-Nov-26 10:00:07 GMT', now)).toBe(7_000);
    expect(parseRetryAfterMs('Fri Nov 27 10:00:09 2026', now)).toBe(9_000);
    expect(parseRetryAfterMs('Fri Nov  6 10:00:00 2026', Date.parse('2026-11-06T09:59:59.000Z'))).toBe(1_000);
  });

  it('takes the first of repeated headers', () => {
    expect(parseRetryAfterMs(['4', '9'], now)).toBe(4_000);
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['a word', 'soon'],
    ['negative seconds', '-1'],
    ['fractional seconds', '1.5'],
    ['an ISO timestamp', '2026-11-27T10:00:05Z'],
    ['a date without time', 'Fri, 27 Nov 2026'],
    ['a date in another zone', 'Fri, 27 Nov 2026 10:00:05 +0100'],
    ['an invalid calendar date', 'Fri, 99 Nov 2026 10:00:05 GMT'],
    ['no values', []],
  ])('gives undefined for %s', (_label, value) => {
    expect(parseRetryAfterMs(value as string | string[] | undefined, now)).toBeUndefined();
  });
});

describe('decideRetry', () => {
  const budget = { maxAttempts: 3, budgetMs: 1_000 };

  it('retries while attempts are left and the wait ends inside the budget', () => {
    expect(decideRetry({ attemptsMade: 1, elapsedMs: 0, delayMs: 200 }, budget)).toEqual({
      retry: true,
      delayMs: 200,
    });
    expect(decideRetry({ attemptsMade: 2, elapsedMs: 800, delayMs: 200 }, budget)).toEqual({
      retry: true,
      delayMs: 200,
    });
  });

  it('stops when the attempts are used up', () => {
    expect(decideRetry({ attemptsMade: 3, elapsedMs: 0, delayMs: 0 }, budget)).toEqual({
      retry: false,
      reason: 'attempts',
    });
  });

  it('stops rather than shorten a wait that would overrun the budget', () => {
    expect(decideRetry({ attemptsMade: 1, elapsedMs: 801, delayMs: 200 }, budget)).toEqual({
      retry: false,
      reason: 'budget',
    });
    expect(decideRetry({ attemptsMade: 1, elapsedMs: 0, delayMs: 60_000 }, budget)).toEqual({
      retry: false,
      reason: 'budget',
    });
  });
});
