import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRolloutStore } from '../../lib/aws/rollout-store.ts';
import type { RolloutRecord, RolloutTarget } from '../../lib/rollouts/record.ts';
import { replies } from '../../stand-ins/taurusdb.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { type RolloutWorld, startRolloutWorld } from '../support/rollout-world.ts';

/**
 * Issue 17's "Show:" list through the rollouts function's real handlers (functions/rollouts.ts,
 * production wiring) on the loopback stand-ins, the machine's tasks (`plan`, `advance`) driven tick
 * by tick on a clock in the test's hand: what crossed the wire is TaurusDB's POSTs, what was
 * published is the EventBridge stand-in's entries, what was answered is the signed status route.
 * test/state-machine.test.ts runs the same handlers inside the packaged state machine.
 */

let world: RolloutWorld;
let clock = new Date('2026-12-01T10:00:00Z');
const FLEETS = {
  canary: 4,
  count: 6,
  percent: 10,
  timeout: 3,
  soak: 3,
  pause: 4,
  cancel: 4,
  busy: 2,
  busylong: 2,
  busyrerun: 1,
  rerun: 6,
} as const;
type Fleet = keyof typeof FLEETS;
const OLD = '2.23.12.000';

beforeAll(async () => {
  // One proxy per instance, so one instance's serialisation never hides a cap.
  const proxies = Object.entries(FLEETS).flatMap(([fleet, size]) =>
    Array.from({ length: size }, (_, index) => ({
      projectId: `project-${fleet}`,
      instanceId: `${fleet}-i${index}`,
      proxyId: `${fleet}-${index}`,
      version: OLD,
    })),
  );
  world = await startRolloutWorld(proxies, { now: () => clock });
});

afterEach(() => world.taurusDb.onUpgrade(undefined));

afterAll(async () => {
  await world?.close();
});

const postsOf = (fleet: Fleet) =>
  world.taurusDb.upgrades.filter((upgrade) => upgrade.projectId === `project-${fleet}`).map((u) => u.proxyId);

const rolloutEventsOf = (rolloutId: string) =>
  world.eventBridge
    .events()
    .filter(
      (entry) =>
        entry.DetailType?.startsWith('Proxy Rollout') &&
        (entry.Detail as { rollout_id: string }).rollout_id === rolloutId,
    );

const upgradeEventsOf = (proxyId: string) =>
  world.eventBridge
    .events()
    .filter((entry) => (entry.Detail as { request?: { proxy_id?: string } }).request?.proxy_id === proxyId)
    .map((entry) => entry.DetailType);

/** TaurusDB refuses this proxy's upgrade as busy (409 DBS.201205, a backup) `times` times, then accepts. */
function refuseAsBusy(proxyId: string, times = Number.POSITIVE_INFINITY) {
  let left = times;
  world.taurusDb.onUpgrade((upgrade) => {
    if (upgrade.proxyId !== proxyId || left <= 0) return undefined;
    left -= 1;
    return replies.busy();
  });
}

type DeferredDetail = {
  occurred_at: string;
  next_attempt: number;
  next_attempt_at: string;
  deadline: string;
  retried_by: string;
};

/** The details of a proxy's events of one DetailType, in the order published. */
const detailsOf = <Detail>(detailType: string, proxyId: string) =>
  world.eventBridge
    .events()
    .filter(
      (entry) =>
        entry.DetailType === detailType &&
        (entry.Detail as { request: { proxy_id: string } }).request.proxy_id === proxyId,
    )
    .map((entry) => entry.Detail as Detail);

const deferredOf = (proxyId: string) => detailsOf<DeferredDetail>('Proxy Upgrade Deferred', proxyId);

/**
 * Every upgrade POST of the fleet is accepted with workflow `wf-<proxy>`, whose job reads play
 * `jobs[proxy]` (one state per read, the last repeating; default Completed at the first read).
 */
function scriptWorkflows(jobs: Record<string, Array<'Running' | 'Completed' | 'Failed'>>) {
  for (const [proxy, states] of Object.entries(jobs)) {
    world.taurusDb.setJob(
      `wf-${proxy}`,
      ...states.map((status) => ({
        status,
        ...(status === 'Failed' ? { fail_reason: 'proxy kernel did not come back' } : {}),
      })),
    );
  }
  world.taurusDb.onUpgrade((upgrade) => {
    if (!(upgrade.proxyId in jobs)) world.taurusDb.setJob(`wf-${upgrade.proxyId}`, { status: 'Completed' });
    return replies.accept({ workflow_id: `wf-${upgrade.proxyId}` });
  });
}

/** A rollout of the whole fleet, accepted through Scheduler input and planned by the Plan task. */
async function startRollout(fleet: Fleet, settings: Record<string, unknown>) {
  const rolloutId = `ticks-${fleet}`;
  await world.invoke({
    rollout_id: rolloutId,
    targets: Array.from({ length: FLEETS[fleet] }, (_, index) => ({
      project_id: `project-${fleet}`,
      instance_id: `${fleet}-i${index}`,
      proxy_id: `${fleet}-${index}`,
    })),
    target_version: '2.24.03.000',
    ...settings,
  });
  const input = { rollout_id: rolloutId, generation: 0, ticks: 0 };
  await world.handlers.plan(input);
  let ticks = 0;
  /** One Advance task, a minute after the previous one. */
  const tick = async () => {
    clock = new Date(clock.getTime() + 60_000);
    ticks += 1;
    return world.handlers.advance({ ...input, ticks }, lambdaContext());
  };
  /** Ticks until the rollout is done (at most `max`), answering the last tick. */
  const run = async (max = 60) => {
    let answer = await tick();
    for (let turn = 1; turn < max && !answer.done; turn += 1) answer = await tick();
    return answer;
  };
  return { rolloutId, input, tick, run, status: async () => (await world.status(rolloutId)).json };
}

describe('a rollout driven tick by tick through the real handlers', () => {
  it('the canary fails: Halted after wave 1, no further POST however many ticks follow', async () => {
    scriptWorkflows({ 'canary-0': ['Failed'] });
    const rollout = await startRollout('canary', {});
    const answer = await rollout.run();
    expect(answer).toMatchObject({ status: 'halted', wave: 0, done: true });
    expect(postsOf('canary')).toEqual(['canary-0']);
    for (let extra = 0; extra < 3; extra += 1) await rollout.tick();
    expect(postsOf('canary')).toEqual(['canary-0']);
    expect(await rollout.status()).toMatchObject({
      status: 'halted',
      counts: { failed: 1, pending: 3 },
    });
    // The tick, the one poller of rollout upgrades, published the canary's end.
    expect(upgradeEventsOf('canary-0')).toEqual(['Proxy Upgrade Accepted', 'Proxy Upgrade Failed']);
    const halted = rolloutEventsOf(rollout.rolloutId).find((e) => e.DetailType === 'Proxy Rollout Halted');
    expect(halted?.Detail).toMatchObject({
      status: 'halted',
      wave: 0,
      failures: [expect.objectContaining({ proxy_id: 'canary-0' })],
    });
  });

  it('max_failures by count: the ticks halt once failures reach it, following the in-flight upgrade to its end', async () => {
    scriptWorkflows({
      'count-1': ['Failed'],
      'count-2': ['Failed'],
      'count-5': ['Running', 'Running', 'Completed'],
    });
    const rollout = await startRollout('count', {
      waves: [{ size: 1 }, { percent: 100 }],
      concurrency: 5,
      max_failures: { count: 2 },
    });
    await rollout.tick();
    expect(postsOf('count')).toEqual(['count-0']);
    await rollout.tick();
    // The canary ended well: the second wave fills the five slots.
    expect(postsOf('count')).toHaveLength(6);
    expect(await rollout.tick()).toMatchObject({ status: 'halting', done: false });
    const answer = await rollout.run();
    expect(answer).toMatchObject({ status: 'halted', done: true });
    expect(answer.counts).toMatchObject({ failed: 2, completed: 4, in_flight: 0 });
    expect(upgradeEventsOf('count-5')).toEqual(['Proxy Upgrade Accepted', 'Proxy Upgrade Completed']);
    expect(new Set(postsOf('count')).size).toBe(6);
  });

  it('max_failures by percent of the planned targets, rounded up: 15 % of 10 halts at the second failure', async () => {
    scriptWorkflows({ 'percent-1': ['Failed'], 'percent-2': ['Failed'], 'percent-3': ['Failed'] });
    const rollout = await startRollout('percent', {
      waves: [{ size: 1 }, { percent: 100 }],
      concurrency: 1,
      max_failures: { percent: 15 },
    });
    const answer = await rollout.run();
    expect(answer).toMatchObject({ status: 'halted', wave: 1 });
    expect(await rollout.status()).toMatchObject({
      budget: 2,
      counts: { completed: 1, failed: 2, pending: 7 },
    });
    expect(postsOf('percent')).toEqual(['percent-0', 'percent-1', 'percent-2']);
  });

  it('an upgrade whose workflow never ends is Timed Out after the tracking time, and that counts against the budget', async () => {
    scriptWorkflows({ 'timeout-0': ['Running'] });
    const rollout = await startRollout('timeout', { waves: [{ percent: 100 }], concurrency: 1 });
    expect(await rollout.tick()).toMatchObject({ status: 'running', counts: { in_flight: 1 } });
    // ROLLOUT_TRACKING_MAX_SECONDS (2 h by default) later, still Running.
    clock = new Date(clock.getTime() + 7_200_000);
    const answer = await rollout.tick();
    expect(answer).toMatchObject({ status: 'halted', done: true, counts: { timed_out: 1, pending: 2 } });
    expect(postsOf('timeout')).toEqual(['timeout-0']);
    expect(upgradeEventsOf('timeout-0')).toEqual([
      'Proxy Upgrade Accepted',
      'Proxy Upgrade Tracking Timed Out',
    ]);
  });

  it('an auto gate opens soak_minutes after the wave ended, not before', async () => {
    scriptWorkflows({});
    const rollout = await startRollout('soak', { waves: [{ size: 1 }, { percent: 100 }], soak_minutes: 10 });
    await rollout.tick();
    expect(await rollout.tick()).toMatchObject({ status: 'soaking', wave: 0, counts: { completed: 1 } });
    const waveEnded = clock.getTime();
    // Ticks a minute apart: nothing starts until ten minutes have passed since the canary ended.
    while (clock.getTime() + 60_000 < waveEnded + 600_000) {
      expect(await rollout.tick()).toMatchObject({ status: 'soaking' });
      expect(postsOf('soak')).toEqual(['soak-0']);
    }
    expect(await rollout.tick()).toMatchObject({ status: 'running', wave: 1 });
    expect(postsOf('soak')).toEqual(['soak-0', 'soak-1', 'soak-2']);
    expect(await rollout.run()).toMatchObject({ status: 'completed', counts: { completed: 3 } });
  });

  it('pause starts nothing new while in-flight upgrades are followed to their end; resume goes on', async () => {
    scriptWorkflows({ 'pause-0': ['Running', 'Completed'], 'pause-1': ['Running', 'Completed'] });
    const rollout = await startRollout('pause', { waves: [{ percent: 100 }], concurrency: 2 });
    await rollout.tick();
    expect(postsOf('pause')).toEqual(['pause-0', 'pause-1']);
    expect((await world.control(rollout.rolloutId, 'pause')).statusCode).toBe(200);
    for (let turn = 0; turn < 5; turn += 1) await rollout.tick();
    expect(await rollout.status()).toMatchObject({ status: 'paused', counts: { completed: 2, pending: 2 } });
    expect(postsOf('pause')).toHaveLength(2);
    expect((await world.control(rollout.rolloutId, 'resume')).statusCode).toBe(200);
    expect(await rollout.run()).toMatchObject({ status: 'completed', counts: { completed: 4 } });
    expect(postsOf('pause')).toEqual(['pause-0', 'pause-1', 'pause-2', 'pause-3']);
    expect(
      rolloutEventsOf(rollout.rolloutId)
        .map((entry) => entry.DetailType)
        .filter((type) => /Paused|Resumed/.test(type ?? '')),
    ).toEqual(['Proxy Rollout Paused', 'Proxy Rollout Resumed']);
  });

  it('cancel with upgrades in flight: nothing new starts, the in-flight ones are followed to their end', async () => {
    scriptWorkflows({
      'cancel-0': ['Running', 'Running', 'Completed'],
      'cancel-1': ['Running', 'Running', 'Failed'],
    });
    const rollout = await startRollout('cancel', {
      waves: [{ percent: 100 }],
      concurrency: 2,
      max_failures: { count: 3 },
    });
    await rollout.tick();
    expect(postsOf('cancel')).toEqual(['cancel-0', 'cancel-1']);
    expect((await world.control(rollout.rolloutId, 'cancel')).json).toMatchObject({
      flags: { cancelled: true },
    });
    expect(await rollout.tick()).toMatchObject({ status: 'cancelling', done: false });
    const answer = await rollout.run();
    expect(answer).toMatchObject({ status: 'cancelled', done: true });
    expect(answer.counts).toMatchObject({ completed: 1, failed: 1, pending: 2, in_flight: 0 });
    expect(postsOf('cancel')).toEqual(['cancel-0', 'cancel-1']);
    expect(upgradeEventsOf('cancel-0')).toEqual(['Proxy Upgrade Accepted', 'Proxy Upgrade Completed']);
    expect(upgradeEventsOf('cancel-1')).toEqual(['Proxy Upgrade Accepted', 'Proxy Upgrade Failed']);
    expect(rolloutEventsOf(rollout.rolloutId).at(-1)?.DetailType).toBe('Proxy Rollout Cancelled');
    // A cancelled rollout takes no further control call.
    expect((await world.control(rollout.rolloutId, 'resume')).statusCode).toBe(409);
  });

  it("an instance busy with someone else's operation is deferred and retried by the loop, never failed: busy twice, then accepted", async () => {
    refuseAsBusy('busy-0', 2);
    // The default budget is one failure: a single Failed would halt the rollout.
    const rollout = await startRollout('busy', { waves: [{ percent: 100 }] });
    const answer = await rollout.run();
    expect(answer).toMatchObject({ status: 'completed', done: true });
    expect(answer.counts).toMatchObject({ completed: 2, failed: 0 });
    // Three POSTs for the busy one (two refused, the third accepted), one for the other.
    expect(postsOf('busy').sort()).toEqual(['busy-0', 'busy-0', 'busy-0', 'busy-1']);
    const target = ((await rollout.status()).targets as { proxy_id: string; attempt: number }[]).find(
      (entry) => entry.proxy_id === 'busy-0',
    );
    expect(target).toMatchObject({ attempt: 3, state: 'ended', outcome: 'completed' });
    // What was published for it: Deferred, Deferred, then the upgrade's own events; never Failed.
    expect(upgradeEventsOf('busy-0')).toEqual([
      'Proxy Upgrade Deferred',
      'Proxy Upgrade Deferred',
      'Proxy Upgrade Accepted',
      'Proxy Upgrade Completed',
    ]);
    const deferred = deferredOf('busy-0');
    const first = deferred[0] as (typeof deferred)[number];
    // The rollout loop runs the next attempt (no schedule); the deadline is BUSY_RETRY_FOR (PT2H)
    // after the first busy answer and stays put; each attempt kept a delivery id of its own.
    expect(deferred).toEqual([
      expect.objectContaining({
        retried_by: 'rollout',
        next_attempt: 2,
        deadline: new Date(Date.parse(first.occurred_at) + 7_200_000).toISOString(),
        error: expect.objectContaining({ status: 409, error_code: 'DBS.201205' }),
        trigger: expect.objectContaining({
          kind: 'rollout',
          rollout_id: 'ticks-busy',
          id: 'rollout/ticks-busy/project-busy/busy-i0/busy-0#1',
        }),
        reason: expect.stringContaining('rollout ticks-busy runs attempt 2 at'),
      }),
      expect.objectContaining({
        retried_by: 'rollout',
        next_attempt: 3,
        deadline: first.deadline,
        trigger: expect.objectContaining({ id: 'rollout/ticks-busy/project-busy/busy-i0/busy-0#2' }),
      }),
    ]);
    for (const detail of deferred) expect(detail).not.toHaveProperty('schedule_name');
    // The next attempt ran no earlier than the time its Deferred event named.
    const [accepted] = detailsOf<{ occurred_at: string; trigger: { id: string } }>(
      'Proxy Upgrade Accepted',
      'busy-0',
    );
    expect(accepted?.trigger.id).toBe('rollout/ticks-busy/project-busy/busy-i0/busy-0#3');
    expect(Date.parse(accepted?.occurred_at ?? '')).toBeGreaterThanOrEqual(
      Date.parse((deferred[1] as (typeof deferred)[number]).next_attempt_at),
    );
    expect(rolloutEventsOf(rollout.rolloutId).map((entry) => entry.DetailType)).not.toContain(
      'Proxy Rollout Halted',
    );
  });

  it('an instance busy past BUSY_RETRY_FOR: one Proxy Upgrade Failed INSTANCE_BUSY, counted once against the budget', async () => {
    refuseAsBusy('busylong-0');
    // A budget of two: were the busy target counted twice, the rollout would halt instead of ending.
    const rollout = await startRollout('busylong', {
      waves: [{ percent: 100 }],
      max_failures: { count: 2 },
    });
    const answer = await rollout.run(400);
    expect(answer).toMatchObject({ status: 'completed', done: true });
    expect(answer.counts).toMatchObject({ completed: 1, failed: 1 });
    const events = upgradeEventsOf('busylong-0');
    const attempts = postsOf('busylong').filter((proxy) => proxy === 'busylong-0').length;
    // Every busy attempt but the last deferred, the last one failed: exactly one Failed, at the end.
    expect(events).toEqual([
      ...Array.from({ length: attempts - 1 }, () => 'Proxy Upgrade Deferred'),
      'Proxy Upgrade Failed',
    ]);
    expect(attempts).toBeGreaterThan(2);
    const deferred = deferredOf('busylong-0');
    const { deadline } = deferred[0] as (typeof deferred)[number];
    expect(deferred.map((detail) => detail.next_attempt)).toEqual(
      Array.from({ length: attempts - 1 }, (_, index) => index + 2),
    );
    expect(new Set(deferred.map((detail) => detail.deadline))).toEqual(new Set([deadline]));
    const failed = detailsOf('Proxy Upgrade Failed', 'busylong-0');
    expect(failed).toEqual([
      expect.objectContaining({
        error: {
          status: 409,
          error_code: 'INSTANCE_BUSY',
          error_msg: expect.stringContaining(
            `rollout ticks-busylong retried it until BUSY_RETRY_FOR ends at ${deadline}`,
          ),
        },
        trigger: expect.objectContaining({
          id: `rollout/ticks-busylong/project-busylong/busylong-i0/busylong-0#${attempts}`,
        }),
      }),
    ]);
    const status = await rollout.status();
    expect(status).toMatchObject({ status: 'completed', counts: { failed: 1, completed: 1 } });
    expect(
      (status.targets as { proxy_id: string }[]).find((entry) => entry.proxy_id === 'busylong-0'),
    ).toMatchObject({
      state: 'ended',
      outcome: 'failed',
      attempt: attempts,
      error: { error_code: 'INSTANCE_BUSY' },
    });
  });

  it('a tick that died after a busy attempt was deferred resumes it with the same delivery id: the stored Deferred is replayed, no POST', async () => {
    refuseAsBusy('busyrerun-0', 1);
    const rollout = await startRollout('busyrerun', { waves: [{ percent: 100 }] });
    await rollout.tick();
    expect(postsOf('busyrerun')).toEqual(['busyrerun-0']);
    // The tick's last write lost: the record still says the attempt started, nothing of its answer.
    const store = createRolloutStore({ tableName: 'rollouts' });
    const record = (await store.get(rollout.rolloutId)) as RolloutRecord;
    const deferred = record.targets[0] as RolloutTarget;
    expect(deferred).toMatchObject({ state: 'pending', attempt: 1 });
    const { not_before: _next, busy_deadline: deadline, error: _error, ...started } = deferred;
    expect(deadline).toBeDefined();
    record.targets[0] = { ...started, state: 'started' };
    expect(await store.save(record)).toBe(true);
    await rollout.tick();
    expect(postsOf('busyrerun')).toEqual(['busyrerun-0']);
    const published = world.eventBridge
      .events()
      .filter(
        (entry) => (entry.Detail as { request?: { proxy_id?: string } }).request?.proxy_id === 'busyrerun-0',
      );
    expect(published.map((entry) => entry.DetailType)).toEqual([
      'Proxy Upgrade Deferred',
      'Proxy Upgrade Deferred',
    ]);
    expect(new Set(published.map((entry) => (entry.Detail as { event_id: string }).event_id)).size).toBe(1);
    expect((await store.get(rollout.rolloutId))?.targets[0]).toMatchObject({
      state: 'pending',
      attempt: 1,
      not_before: deferred.not_before,
      busy_deadline: deadline,
    });
    const answer = await rollout.run();
    expect(answer).toMatchObject({ status: 'completed', counts: { completed: 1, failed: 0 } });
    expect(postsOf('busyrerun')).toEqual(['busyrerun-0', 'busyrerun-0']);
    expect(upgradeEventsOf('busyrerun-0')).toEqual([
      'Proxy Upgrade Deferred',
      'Proxy Upgrade Deferred',
      'Proxy Upgrade Accepted',
      'Proxy Upgrade Completed',
    ]);
  });

  it('a re-run tick starts nothing twice: every tick run twice at once and once more after, one POST per proxy', async () => {
    scriptWorkflows({});
    const rollout = await startRollout('rerun', { waves: [{ size: 1 }, { percent: 100 }], concurrency: 3 });
    let done = false;
    const conflicts: string[] = [];
    for (let turn = 0; turn < 30 && !done; turn += 1) {
      clock = new Date(clock.getTime() + 60_000);
      const input = { ...rollout.input, ticks: turn };
      // Step Functions' Retry re-runs a task whose first run may still be going (a Lambda timeout).
      const racing = await Promise.allSettled([
        world.handlers.advance(input, lambdaContext()),
        world.handlers.advance(input, lambdaContext()),
      ]);
      for (const result of racing) if (result.status === 'rejected') conflicts.push(String(result.reason));
      // And the same tick once more after both ended (its answer lost on the way to the machine).
      done = (await world.handlers.advance(input, lambdaContext())).done;
    }
    expect(done).toBe(true);
    expect(await rollout.status()).toMatchObject({ status: 'completed', counts: { completed: 6 } });
    const posts = postsOf('rerun');
    expect(posts.sort()).toEqual(['rerun-0', 'rerun-1', 'rerun-2', 'rerun-3', 'rerun-4', 'rerun-5']);
    // The losers of the races sent nothing and said why.
    expect(conflicts.length).toBeGreaterThan(0);
    for (const conflict of conflicts)
      expect(conflict).toMatch(/written by another tick|nothing was sent|another run/);
  });
});
