import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { attemptIdentity, isBusyRefusal, nextAttempt, planDeferral } from '../../../lib/upgrade/deferral.ts';

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

describe('isBusyRefusal', () => {
  const busy = (status: number | undefined, error_code?: string) =>
    isBusyRefusal({ error_msg: 'refused', ...(status === undefined ? {} : { status }), error_code });

  it('takes a busy code with any 4xx status, and nothing else, as busy', () => {
    expect([400, 409, 499].map((status) => busy(status, 'DBS.201205'))).toStrictEqual([true, true, true]);
    expect(busy(409, 'DBS.05000084')).toBe(true);
    // A 5xx or a 3xx may have run something; an answer without a status never reached TaurusDB.
    expect([399, 500, 503].map((status) => busy(status, 'DBS.201205'))).toStrictEqual([false, false, false]);
    expect(busy(undefined, 'DBS.201205')).toBe(false);
    // A 4xx with another code (or none) is a refusal of the request itself.
    expect(busy(409, 'DBS.280238')).toBe(false);
    expect(busy(409)).toBe(false);
  });
});

describe('attemptIdentity', () => {
  const request = { project_id: 'p', instance_id: 'i', proxy_id: 'x', target_version: '2.24.03.000' };
  const trigger = { kind: 'http' as const, id: 'msg_1' };

  it('is stable across releases: a redelivery after a deploy finds the schedule it made already there', () => {
    const hash = createHash('sha256')
      .update(
        '["taurusdb-proxy-upgrader/deferred-attempt/v1","http","msg_1","p","i","x","current","2.24.03.000"]',
      )
      .digest('hex')
      .slice(0, 32);
    expect(attemptIdentity(trigger, request, 3)).toStrictEqual({
      deliveryId: `deferred-${hash}-3`,
      scheduleName: `proxy-upgrade-${hash}-3`,
    });
  });

  it("fits Scheduler's name rule (1 to 64 of [0-9a-zA-Z-_.]) and ClientToken's, even for attempt 10000", () => {
    const { deliveryId, scheduleName } = attemptIdentity(trigger, request, 10_000);
    expect(scheduleName).toMatch(/^[0-9a-zA-Z_-]{1,64}$/);
    expect(deliveryId).toMatch(/^[0-9a-zA-Z_-]{1,64}$/);
  });

  it('differs for every other delivery, target, source version or attempt', () => {
    const names = [
      attemptIdentity(trigger, request, 2),
      attemptIdentity(trigger, request, 3),
      attemptIdentity({ kind: 'event', id: 'msg_1' }, request, 2),
      attemptIdentity({ kind: 'http', id: 'msg_2' }, request, 2),
      attemptIdentity(trigger, { ...request, project_id: 'q' }, 2),
      attemptIdentity(trigger, { ...request, instance_id: 'j' }, 2),
      attemptIdentity(trigger, { ...request, proxy_id: 'y' }, 2),
      attemptIdentity(trigger, { ...request, source_version: '2.23.09.000' }, 2),
      attemptIdentity(trigger, { ...request, source_version: '2.23.12.000' }, 2),
      attemptIdentity(trigger, { ...request, target_version: '2.25.01.000' }, 2),
    ].map(({ scheduleName }) => scheduleName);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('planDeferral of a first busy answer', () => {
  const request = { project_id: 'p', instance_id: 'i', proxy_id: 'x', target_version: '2.24.03.000' };
  const settings = { retryForMs: TWO_HOURS, backoff };
  const jwt = {
    kind: 'http' as const,
    id: 'key-1',
    auth: 'jwt' as const,
    client_id: 'ops-cli',
    sub: 'alice',
  };

  it("schedules attempt 2, keeps the JWT caller's claims for the attempt, and drops what a single target does not need", () => {
    const plan = planDeferral(
      { ...request, all_proxies: true, dry_run: false, change_id: 'CHG-1' },
      jwt,
      settings,
      start,
    );
    const { deliveryId, scheduleName } = attemptIdentity(jwt, request, 2);
    expect(plan).toStrictEqual({
      defer: true,
      name: scheduleName,
      at: at(5),
      attempt: 2,
      deadline: at(120),
      input: {
        ...request,
        change_id: 'CHG-1',
        delivery_id: deliveryId,
        deferral: {
          attempt: 2,
          deadline: at(120).toISOString(),
          trigger: { kind: 'http', id: 'key-1', auth: 'jwt', client_id: 'ops-cli', sub: 'alice' },
        },
      },
    });
  });

  it("keeps the first delivery's trigger on later attempts, not the Scheduler delivery that ran this one", () => {
    const first = planDeferral(request, jwt, settings, start);
    if (!first.defer) throw new Error('the first busy answer gave up');
    const scheduler = { kind: 'schedule' as const, id: first.input.delivery_id ?? '' };
    const second = planDeferral(first.input, scheduler, settings, at(5));
    expect(second.defer && second.input.deferral?.trigger).toStrictEqual(jwt);
  });

  it("retries for the request's own busy_retry_for instead of the configured time", () => {
    const plan = planDeferral({ ...request, busy_retry_for: 'PT30M' }, jwt, settings, start);
    expect(plan).toMatchObject({ defer: true, at: at(5), deadline: at(30) });
    // From minute 1, attempt 3 would wait 10 minutes: past the request's own 10-minute deadline.
    const shortly = planDeferral({ ...request, busy_retry_for: 'PT10M' }, jwt, settings, at(0));
    expect(shortly).toMatchObject({ defer: true, deadline: at(10) });
    if (!shortly.defer) throw new Error('the first busy answer gave up');
    expect(planDeferral(shortly.input, jwt, settings, at(1))).toStrictEqual({
      defer: false,
      deadline: at(10),
    });
  });
});
