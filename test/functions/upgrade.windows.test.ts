import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

/**
 * Maintenance windows (README.md "Maintenance windows") through the real handler: `"window":
 * "maintenance"` reads the instance detail from the TaurusDB stand-in; inside its window the upgrade
 * goes, outside it a Scheduler schedule waits for the opening. Windows are set relative to the real
 * clock (the clock-exact cases, crossing midnight and just closed, are test/lib/upgrade/window.test.ts).
 */

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const HOUR = 3600_000;

/** "HH:MM" of now plus `hours`, UTC. */
function clock(hours: number): string {
  return new Date(Date.now() + hours * HOUR).toISOString().slice(11, 16);
}

/** When "HH:MM" next comes, after now. */
function nextOpening(hhmm: string): number {
  const now = new Date();
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), h, m);
  return today > now.getTime() ? today : today + 24 * HOUR;
}

let counter = 0;
function windowTarget(extra: Record<string, unknown> = {}) {
  counter += 1;
  return {
    ...REQUEST,
    instance_id: `window-instance-${counter}-in07`,
    proxy_id: `window-proxy-${counter}-po01`,
    window: 'maintenance',
    ...extra,
  };
}

describe('"window": "maintenance"', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true, scheduler: true });
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
    world.scheduler?.reset();
  });
  const instanceReads = () => world.taurusDb.requests.filter((r) => /\/instances\/[^/]+$/.test(r.url)).length;

  it('inside the window (one that may cross midnight): upgraded now', async () => {
    const target = windowTarget();
    world.taurusDb.setInstance(target.instance_id, {
      status: 'ACTIVE',
      maintenance_window: `${clock(-1)}-${clock(1)}`,
    });
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target));

    expect(answer.json.outcomes[0].outcome).toBe('accepted');
    expect(instanceReads()).toBe(1);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });

  it('a window later: deferred until it opens, then upgraded; no POST before', async () => {
    const target = windowTarget();
    const window = `${clock(2)}-${clock(3)}`;
    world.taurusDb.setInstance(target.instance_id, { status: 'ACTIVE', maintenance_window: window });
    const first = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target));

    expect(first.statusCode).toBe(202);
    const outcome = first.json.outcomes[0];
    expect(outcome.reason).toMatch(new RegExp(`^outside the maintenance window ${window} \\(UTC\\)`));
    const opening = nextOpening(window.slice(0, 5));
    expect(Date.parse(outcome.deferred.next_attempt_at)).toBe(opening);
    // The wait is not counted against busy_retry_for: two hours from the opening.
    expect(Date.parse(outcome.deferred.deadline)).toBe(opening + 2 * HOUR);
    expect(world.taurusDb.upgradeRequests()).toBe(0);
    const [schedule] = world.scheduler?.schedules() ?? [];
    expect(schedule?.at).toBe(opening);

    // The window has opened when the schedule fires.
    world.taurusDb.setInstance(target.instance_id, {
      status: 'ACTIVE',
      maintenance_window: `${clock(-1)}-${clock(1)}`,
    });
    const second = (await world.invoke(world.scheduler?.fire(String(schedule?.name)))) as {
      outcomes: Array<{ outcome: string }>;
    };
    expect(second.outcomes[0]?.outcome).toBe('accepted');
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });

  it('an attempt that fires after the window closed waits for the next one', async () => {
    const target = windowTarget();
    world.taurusDb.setInstance(target.instance_id, {
      status: 'ACTIVE',
      maintenance_window: `${clock(2)}-${clock(3)}`,
    });
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target));
    const [schedule] = world.scheduler?.schedules() ?? [];
    // It fires late: the window has just closed.
    const closed = `${clock(-2)}-${clock(-0.1)}`;
    world.taurusDb.setInstance(target.instance_id, { status: 'ACTIVE', maintenance_window: closed });
    const late = (await world.invoke(world.scheduler?.fire(String(schedule?.name)))) as {
      outcomes: Array<{ outcome: string; deferred: { attempt: number; next_attempt_at: string } }>;
    };

    expect(late.outcomes[0]).toMatchObject({ outcome: 'deferred', deferred: { attempt: 3 } });
    expect(Date.parse(String(late.outcomes[0]?.deferred.next_attempt_at))).toBe(
      nextOpening(closed.slice(0, 5)),
    );
    expect(world.taurusDb.upgradeRequests()).toBe(0);
  });

  it('a transient status is busy (deferred by the backoff); FROZEN fails INSTANCE_UNAVAILABLE', async () => {
    const busy = windowTarget();
    world.taurusDb.setInstance(busy.instance_id, {
      status: 'BACKING UP',
      maintenance_window: `${clock(-1)}-${clock(1)}`,
    });
    const deferred = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', busy));
    expect(deferred.json.outcomes[0]).toMatchObject({
      outcome: 'deferred',
      reason: expect.stringContaining('status BACKING UP'),
    });

    const frozen = windowTarget();
    world.taurusDb.setInstance(frozen.instance_id, {
      status: 'FROZEN',
      maintenance_window: `${clock(-1)}-${clock(1)}`,
    });
    const failed = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', frozen));
    expect(failed.statusCode).toBe(409);
    expect(failed.json.outcomes[0].error).toMatchObject({ error_code: 'INSTANCE_UNAVAILABLE' });
    expect(world.taurusDb.upgradeRequests()).toBe(0);
  });

  it('a dry run outside the window says "would defer until …" and schedules nothing', async () => {
    const target = windowTarget({ dry_run: true });
    const window = `${clock(2)}-${clock(3)}`;
    world.taurusDb.setInstance(target.instance_id, { status: 'ACTIVE', maintenance_window: window });
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target));

    const opening = new Date(nextOpening(window.slice(0, 5))).toISOString();
    expect(answer.json.outcomes[0]).toMatchObject({
      outcome: 'planned',
      would: 'defer',
      reason: expect.stringMatching(
        new RegExp(`^would defer until ${opening}: outside the maintenance window`),
      ),
    });
    expect(world.scheduler?.createRequests()).toBe(0);
  });

  it('"window": "now" (the default) reads no instance', async () => {
    const { window: _window, ...target } = windowTarget();
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target));
    expect(instanceReads()).toBe(0);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });
});

describe('"window": "maintenance" with deferred attempts off', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true });
  });
  afterAll(() => world.close());

  it('a dry run outside the window predicts the failure the real run would give, not a deferral', async () => {
    const target = windowTarget({ dry_run: true });
    world.taurusDb.setInstance(target.instance_id, {
      status: 'ACTIVE',
      maintenance_window: `${clock(2)}-${clock(3)}`,
    });
    const dry = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', target));
    expect(dry.json.outcomes[0]).toMatchObject({
      outcome: 'planned',
      would: 'refuse',
      reason: expect.stringMatching(
        /^would fail INSTANCE_BUSY: outside the maintenance window.*deferred attempts are off/,
      ),
    });

    const { dry_run: _, ...real } = target;
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', real));
    expect(answer.json.outcomes[0]).toMatchObject({
      outcome: 'failed',
      error: { error_code: 'INSTANCE_BUSY', error_msg: expect.stringMatching(/deferred attempts are off/) },
    });
    expect(world.taurusDb.upgradeRequests()).toBe(0);
  });
});
