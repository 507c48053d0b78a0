import { describe, expect, it } from 'vitest';
import { nextAttempt, planDeferral } from '../../../lib/upgrade/deferral.ts';

/**
 * The one rule for "retry a busy target or give up" (lib/upgrade/deferral.ts), which the upgrade step
 * applies to Scheduler deferrals and to a rollout's busy targets alike.
 */
const backoff = { baseMs: 300_000, capMs: 1_800_000 };
const TWO_HOURS = 7_200_000;
const start = new Date('2026-12-02T10:00:00Z');
const at = (minutes: number) => new Date(start.getTime() + minutes * 60_000);

describe('nextAttempt', () => {
  it('sets the deadline at the first busy answer and keeps it; the wait doubles from the base up to the cap', () => {
    const first = nextAttempt({ attempt: 1 }, TWO_HOURS, backoff, start);
    expect(first).toStrictEqual({ defer: true, attempt: 2, at: at(5), deadline: at(120) });
    const deadline = at(120).toISOString();
    const waits = [2, 3, 4, 5].map((attempt) => {
      const next = nextAttempt({ attempt, deadline }, TWO_HOURS, backoff, at(30));
      if (!next.defer) throw new Error(`attempt ${attempt} gave up`);
      expect(next.deadline).toStrictEqual(at(120));
      return (next.at.getTime() - at(30).getTime()) / 60_000;
    });
    expect(waits).toStrictEqual([10, 20, 30, 30]);
  });

  it('gives up once the next attempt would fall after the deadline, not before', () => {
    const deadline = at(120).toISOString();
    // Attempt 3 waits 10 minutes: from minute 110 it lands on the deadline and still runs.
    expect(nextAttempt({ attempt: 2, deadline }, TWO_HOURS, backoff, at(110))).toMatchObject({
      defer: true,
      at: at(120),
    });
    expect(nextAttempt({ attempt: 2, deadline }, TWO_HOURS, backoff, at(111))).toStrictEqual({
      defer: false,
      deadline: at(120),
    });
  });

  it("waits for a maintenance window's opening instead of the backoff, and the busy time counts from there", () => {
    const next = nextAttempt(
      { attempt: 4, deadline: at(120).toISOString() },
      TWO_HOURS,
      backoff,
      at(100),
      at(300),
    );
    expect(next).toStrictEqual({ defer: true, attempt: 5, at: at(300), deadline: at(420) });
  });
});

describe('planDeferral', () => {
  it("follows the same rule from a deferred attempt's deferral object, and names the schedule", () => {
    const request = {
      project_id: 'p',
      instance_id: 'i',
      proxy_id: 'x',
      target_version: '2.24.03.000',
      deferral: {
        attempt: 2,
        deadline: at(120).toISOString(),
        trigger: { kind: 'http' as const, id: 'msg_1' },
      },
    };
    const settings = { retryForMs: TWO_HOURS, backoff };
    const trigger = { kind: 'http' as const, id: 'msg_1' };
    const plan = planDeferral(request, trigger, settings, at(30));
    expect(plan).toMatchObject({ defer: true, attempt: 3, at: at(40), deadline: at(120) });
    expect(plan.defer && plan.input.deferral).toStrictEqual({
      attempt: 3,
      deadline: at(120).toISOString(),
      trigger: { kind: 'http', id: 'msg_1' },
    });
    expect(planDeferral(request, trigger, settings, at(111))).toStrictEqual({
      defer: false,
      deadline: at(120),
    });
  });
});
