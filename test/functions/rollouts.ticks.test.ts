import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

  it("an instance busy with someone else's operation is retried by the loop, not failed: the first failure would halt", async () => {
    let busy = 2;
    world.taurusDb.onUpgrade((upgrade) => {
      if (upgrade.proxyId === 'busy-0' && busy > 0) {
        busy -= 1;
        return replies.busy();
      }
      return undefined;
    });
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
    // The rollout's outcome is Completed. Each busy attempt still publishes its own INSTANCE_BUSY
    // Failed event (README "Fleet rollouts", a known gap), saying that the rollout retries it.
    expect(upgradeEventsOf('busy-0')).toEqual([
      'Proxy Upgrade Failed',
      'Proxy Upgrade Failed',
      'Proxy Upgrade Accepted',
      'Proxy Upgrade Completed',
    ]);
    const busyFailures = world.eventBridge
      .events()
      .filter((entry) => entry.DetailType === 'Proxy Upgrade Failed')
      .map((entry) => entry.Detail as { request: { proxy_id: string }; error: Record<string, unknown> })
      .filter((detail) => detail.request.proxy_id === 'busy-0');
    for (const detail of busyFailures) {
      expect(detail.error).toMatchObject({
        error_code: 'INSTANCE_BUSY',
        error_msg: expect.stringContaining('rollout ticks-busy retries it with a new attempt'),
      });
    }
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
