import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError, type ValidationIssue } from '../../../lib/errors.ts';
import { deriveRolloutId, MAX_ROLLOUT_ENTRIES, parseRolloutRequest } from '../../../lib/rollouts/request.ts';

const proxy = { project_id: 'p1', instance_id: 'i1', proxy_id: 'x1' };
const minimal = { targets: [proxy], target_version: 'latest' };

function issuesOf(payload: unknown): ValidationIssue[] {
  try {
    parseRolloutRequest(payload, 'delivery-1');
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues;
  }
  throw new Error('expected a refusal');
}

describe('parseRolloutRequest', () => {
  it('fills in the defaults an operator expects: canary, 10 %, all; concurrency 10; the first failure halts', () => {
    const rollout = parseRolloutRequest(minimal, 'delivery-1');
    expect(rollout).toEqual({
      rollout_id: deriveRolloutId('delivery-1'),
      targets: [proxy],
      target_version: 'latest',
      waves: [{ size: 1 }, { percent: 10 }, { percent: 100 }],
      concurrency: 10,
      max_failures: { count: 1 },
      gate: 'auto',
      soak_minutes: 0,
      window: 'now',
      only_if_advised: false,
    });
  });

  it('keeps every field the caller gave, its rollout_id included', () => {
    const payload = {
      rollout_id: 'fleet_2026-12',
      targets: [
        { ...proxy, region: 'eu-west-101' },
        { project_id: 'p2', instance_id: 'i2', all_proxies: true },
      ],
      target_version: '2.24.03.000',
      source_version: '2.23.12.000',
      waves: [{ size: 2 }, { percent: 50 }, { percent: 100 }],
      concurrency: 5,
      max_failures: { percent: 5 },
      gate: 'approval',
      soak_minutes: 30,
      window: 'maintenance',
      only_if_advised: true,
      change_id: 'CHG0031337',
      requested_by: 'alice@example.com',
    };
    expect(parseRolloutRequest(payload, 'ignored')).toEqual(payload);
  });

  it('accepts the sample events/rollout.json', () => {
    const sample = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../../events/rollout.json'), 'utf8'),
    );
    expect(parseRolloutRequest(sample, 'delivery-1')).toMatchObject({
      rollout_id: 'kernel-2-24-canary',
      gate: 'approval',
    });
  });

  it('derives the same rollout id from the same delivery id, a path segment whatever the id holds', () => {
    expect(deriveRolloutId('a/b c')).toBe(deriveRolloutId('a/b c'));
    expect(deriveRolloutId('a/b c')).not.toBe(deriveRolloutId('a/b d'));
    expect(deriveRolloutId('a/b c')).toMatch(/^r-[0-9a-f]{32}$/);
  });

  it('without an envelope id, delivery_id names the delivery; it is no part of the request, and the envelope wins', () => {
    const scheduled = parseRolloutRequest({ ...minimal, delivery_id: 'exec-1' }, undefined);
    expect(scheduled.rollout_id).toBe(deriveRolloutId('schedule:exec-1'));
    expect(scheduled).not.toHaveProperty('delivery_id');
    // The same rollout whichever execution id a schedule with a rollout_id runs under: one digest.
    expect(parseRolloutRequest({ ...minimal, rollout_id: 'r1', delivery_id: 'a' }, undefined)).toEqual(
      parseRolloutRequest({ ...minimal, rollout_id: 'r1', delivery_id: 'b' }, undefined),
    );
    expect(parseRolloutRequest({ ...minimal, delivery_id: 'exec-1' }, 'http:msg_1').rollout_id).toBe(
      deriveRolloutId('http:msg_1'),
    );
    expect(() => parseRolloutRequest(minimal, undefined)).toThrow(
      /rollout_id: is required for Scheduler input/,
    );
  });

  it('refuses what is not an object, and a missing target list or version', () => {
    expect(issuesOf([])).toEqual([{ path: '(root)', message: 'must be a JSON object: a rollout request' }]);
    expect(issuesOf({})).toEqual([
      { path: 'targets', message: 'is required' },
      { path: 'target_version', message: 'is required' },
    ]);
  });

  it('names the entry: one proxy or all of them, well-formed ids, no proxy twice, no unknown field', () => {
    expect(
      issuesOf({
        targets: [
          { project_id: 'p1', instance_id: 'i1' },
          { ...proxy, all_proxies: true },
          { project_id: 'p/1', instance_id: 'i1', proxy_id: 'x' },
          proxy,
          { ...proxy, dry_run: true },
        ],
        target_version: 'latest',
      }),
    ).toEqual(
      expect.arrayContaining([
        { path: 'targets[0].proxy_id', message: 'is required unless "all_proxies" is true' },
        {
          path: 'targets[1].all_proxies',
          message: 'cannot be combined with proxy_id: name one proxy, or all of them',
        },
        {
          path: 'targets[2].project_id',
          message: 'must contain only letters, digits and "-" (1 to 64 characters)',
        },
        { path: 'targets[4]', message: 'repeats targets[3]: name each proxy once' },
        { path: 'targets[4].dry_run', message: 'is not a known field' },
      ]),
    );
  });

  it('refuses an over-long target list by its size alone', () => {
    const targets = Array.from({ length: MAX_ROLLOUT_ENTRIES + 1 }, () => 'not even an object');
    expect(issuesOf({ targets, target_version: 'latest' })).toEqual([
      {
        path: 'targets',
        message: `must hold 1 to ${MAX_ROLLOUT_ENTRIES} targets (got ${MAX_ROLLOUT_ENTRIES + 1})`,
      },
    ]);
    expect(issuesOf({ targets: [], target_version: 'latest' })).toEqual([
      { path: 'targets', message: `must hold 1 to ${MAX_ROLLOUT_ENTRIES} targets` },
    ]);
  });

  it('wants cumulative waves ending at 100 %, each a size or a percent', () => {
    expect(issuesOf({ ...minimal, waves: [{ size: 5 }, { size: 3 }, { percent: 50 }] })).toEqual([
      { path: 'waves[1].size', message: "must be more than the earlier wave's 5: waves are cumulative" },
      {
        path: 'waves[2]',
        message: 'the last wave must be {"percent": 100}, so that every planned target belongs to a wave',
      },
    ]);
    expect(issuesOf({ ...minimal, waves: [{ percent: 0 }, { size: 1.5 }, { percent: 100 }] })).toEqual([
      { path: 'waves[0].percent', message: 'must be a number over 0, at most 100' },
      {
        path: 'waves[1]',
        message: 'must be {"size": <whole number ≥ 1>} or {"percent": <number over 0, at most 100>}',
      },
    ]);
    expect(
      issuesOf({ ...minimal, waves: [{ percent: 50 }, { percent: 50 }, { percent: 100 }] }),
    ).toContainEqual({
      path: 'waves[1].percent',
      message: "must be more than the earlier wave's 50 %: waves are cumulative",
    });
  });

  it('names the rule of every other setting', () => {
    const issues = issuesOf({
      ...minimal,
      rollout_id: 'has space',
      concurrency: 0,
      max_failures: { count: 0 },
      gate: 'manual',
      soak_minutes: 2000,
      window: 'later',
      source_version: '2.24.03.000',
      target_version: '2.24.03.000',
      requested_by: '',
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        {
          path: 'rollout_id',
          message: 'must contain only letters, digits, "-" and "_" (1 to 64 characters)',
        },
        { path: 'concurrency', message: 'must be a whole number from 1 to 100' },
        { path: 'max_failures.count', message: 'must be a whole number from 1 to 100000' },
        { path: 'gate', message: 'must be one of auto, approval' },
        { path: 'soak_minutes', message: 'must be a whole number from 0 to 1440' },
        { path: 'window', message: 'must be one of now, maintenance' },
        { path: 'target_version', message: 'must be newer than source_version 2.24.03.000' },
        { path: 'requested_by', message: 'must be 1 to 256 printable characters (no control characters)' },
      ]),
    );
    expect(issues).toHaveLength(8);
  });
});
