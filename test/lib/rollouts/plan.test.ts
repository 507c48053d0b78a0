import { describe, expect, it } from 'vitest';
import { type Candidate, failureBudget, planRollout, waveEnds } from '../../../lib/rollouts/plan.ts';
import { DEFAULT_WAVES } from '../../../lib/rollouts/request.ts';

const fleet = (count: number, skipped: ReadonlySet<number> = new Set()): Candidate[] =>
  Array.from({ length: count }, (_, index) => ({
    project_id: 'p',
    instance_id: `i${index % 7}`,
    proxy_id: `x${index}`,
    ...(skipped.has(index) ? { skip_reason: 'already at 2.24.03.000' } : {}),
  }));

describe('waveEnds', () => {
  it('default waves: the canary, then 10 % rounded up, then all', () => {
    expect(waveEnds(DEFAULT_WAVES, 1000)).toEqual([1, 100, 1000]);
    expect(waveEnds(DEFAULT_WAVES, 25)).toEqual([1, 3, 25]);
  });

  it('drops a wave that would add nobody and never passes the fleet', () => {
    expect(waveEnds(DEFAULT_WAVES, 5)).toEqual([1, 5]);
    expect(waveEnds(DEFAULT_WAVES, 1)).toEqual([1]);
    expect(waveEnds([{ size: 3 }, { size: 50 }, { percent: 100 }], 10)).toEqual([3, 10]);
    expect(waveEnds(DEFAULT_WAVES, 0)).toEqual([]);
  });

  it('rounds a percent up without float error', () => {
    expect(waveEnds([{ percent: 33.3 }, { percent: 100 }], 3)).toEqual([1, 3]);
    expect(waveEnds([{ percent: 10 }, { percent: 100 }], 30)).toEqual([3, 30]);
  });
});

describe('failureBudget', () => {
  it('a count as is; a percent of the planned targets rounded up, at least 1', () => {
    expect(failureBudget({ count: 3 }, 10)).toBe(3);
    expect(failureBudget({ percent: 5 }, 1000)).toBe(50);
    expect(failureBudget({ percent: 5 }, 21)).toBe(2);
    expect(failureBudget({ percent: 5 }, 10)).toBe(1);
    expect(failureBudget({ percent: 5 }, 0)).toBe(1);
  });
});

describe('planRollout', () => {
  it('gives each planned target its wave in order; skipped ones take no slot and count for no percent', () => {
    const plan = planRollout(fleet(12, new Set([0, 5])), {
      waves: [{ size: 1 }, { percent: 50 }, { percent: 100 }],
      max_failures: { percent: 25 },
    });
    expect(plan.wave_ends).toEqual([1, 5, 10]);
    expect(plan.budget).toBe(3);
    expect(plan.targets.map((target) => target.wave)).toEqual([
      undefined,
      0,
      1,
      1,
      1,
      undefined,
      1,
      2,
      2,
      2,
      2,
      2,
    ]);
    expect(plan.targets[0]).toEqual({
      project_id: 'p',
      instance_id: 'i0',
      proxy_id: 'x0',
      key: 'p/i0/x0',
      skip_reason: 'already at 2.24.03.000',
    });
  });

  it('takes the waves round-robin over instances: a fleet listed instance by instance gets one proxy of each first', () => {
    // 3 instances of 4 proxies, listed instance by instance (what all_proxies entries expand to).
    const listed: Candidate[] = Array.from({ length: 12 }, (_, index) => ({
      project_id: 'p',
      instance_id: `i${Math.floor(index / 4)}`,
      proxy_id: `x${index}`,
      ...(index === 4 ? { skip_reason: 'already at 2.24.03.000' } : {}),
    }));
    const plan = planRollout(listed, {
      waves: [{ size: 1 }, { size: 3 }, { percent: 100 }],
      max_failures: { count: 1 },
    });
    expect(plan.wave_ends).toEqual([1, 3, 11]);
    const waveOf = (proxy: string) => plan.targets.find((target) => target.proxy_id === proxy)?.wave;
    // The canary is the first planned proxy; the next wave the first planned proxy of each other
    // instance (x4 is skipped, so i1's is x5); the rest after.
    expect(['x0', 'x5', 'x8'].map(waveOf)).toEqual([0, 1, 1]);
    expect(['x1', 'x2', 'x3', 'x6', 'x7', 'x9', 'x10', 'x11'].map(waveOf)).toEqual(Array(8).fill(2));
    expect(waveOf('x4')).toBeUndefined();
    // The targets stay in the order given.
    expect(plan.targets.map((target) => target.proxy_id)).toEqual(listed.map((proxy) => proxy.proxy_id));
  });

  it('a fleet already at the target plans no wave at all', () => {
    const plan = planRollout(fleet(3, new Set([0, 1, 2])), {
      waves: DEFAULT_WAVES,
      max_failures: { count: 1 },
    });
    expect(plan.wave_ends).toEqual([]);
    expect(plan.targets.every((target) => target.wave === undefined)).toBe(true);
  });
});
