import { describe, expect, it } from 'vitest';
import { mapWithConcurrency } from '../../lib/concurrency.ts';

describe('mapWithConcurrency', () => {
  it('never runs more than the limit at once and keeps the input order', async () => {
    let running = 0;
    let peak = 0;
    const releases: Array<() => void> = [];
    const pending = mapWithConcurrency([1, 2, 3, 4, 5, 6, 7], 3, async (value) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running -= 1;
      return value * 10;
    });
    // Release one waiting task at a time, from whichever started first, until all seven have run.
    for (let released = 0; released < 7; released += 1) {
      await new Promise((resolve) => setImmediate(resolve));
      releases.shift()?.();
    }
    expect(await pending).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(peak).toBe(3);
  });

  it('handles an empty list and a limit above the item count', async () => {
    expect(await mapWithConcurrency([], 10, async (value) => value)).toEqual([]);
    expect(await mapWithConcurrency(['a'], 10, async (value) => value.toUpperCase())).toEqual(['A']);
  });
});
