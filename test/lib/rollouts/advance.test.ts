import { describe, expect, it } from 'vitest';
import { RolloutConflictError } from '../../../lib/errors.ts';
import { advanceRollout } from '../../../lib/rollouts/advance.ts';
import { fleetOf, simulateFleet } from '../../support/rollout-fleet.ts';

const posted = (fleet: ReturnType<typeof simulateFleet>) => fleet.posts.map((post) => post.key);

describe('advanceRollout', () => {
  it('a failing canary halts the rollout after wave 1: no further upgrade request', async () => {
    const fleet = simulateFleet(
      fleetOf(20, 5, (index) => (index === 0 ? { workflow: 'failed' } : {})),
      {},
    );
    const answer = await fleet.run();
    expect(answer).toMatchObject({ status: 'halted', wave: 0, done: true });
    expect(answer.counts).toMatchObject({ failed: 1, pending: 19, completed: 0 });
    expect(posted(fleet)).toEqual(['p0/i0/x0']);
    expect(fleet.store.record.targets[0]).toMatchObject({
      state: 'ended',
      outcome: 'failed',
      workflow_id: 'job-p0/i0/x0',
    });
  });

  it('runs every wave to completion: one request per proxy that needs it, none for the skipped', async () => {
    const fleet = simulateFleet(
      fleetOf(30, 6, (index) => (index % 10 === 9 ? { skip_reason: 'already at 2.24.03.000' } : {})),
      { concurrency: 4 },
    );
    const waves: number[] = [];
    const answer = await fleet.run(10_000, (tick) => waves.push(tick.wave));
    expect(answer).toMatchObject({ status: 'completed', wave: 2, waves: 3, done: true });
    expect(answer.counts).toMatchObject({ completed: 27, skipped: 3, pending: 0, failed: 0 });
    expect(new Set(posted(fleet)).size).toBe(27);
    expect(posted(fleet)).toHaveLength(27);
    expect(posted(fleet)).not.toContain('p1/i3/x9');
    expect(fleet.posts.every((post) => post.inFlight <= 4 && !post.instanceBusy)).toBe(true);
    expect(new Set(waves)).toEqual(new Set([0, 1, 2]));
    expect(fleet.rolloutEvents).toEqual([
      'Proxy Rollout Started 0',
      'Proxy Rollout Wave Started 0',
      'Proxy Rollout Wave Completed 0',
      'Proxy Rollout Wave Started 1',
      'Proxy Rollout Wave Completed 1',
      'Proxy Rollout Wave Started 2',
      'Proxy Rollout Wave Completed 2',
      'Proxy Rollout Completed 2',
    ]);
    // Every workflow end announced once (the tracker leaves rollout upgrades to the tick).
    expect(fleet.announced).toHaveLength(27);
    expect(new Set(fleet.announced).size).toBe(27);
  });

  it('never two upgrades in flight on one instance: the proxies of an instance go one after the other', async () => {
    // all_proxies lists an instance's proxies together: four of each of three instances, in a row.
    const proxies = fleetOf(12, 1).map((proxy, index) => ({
      ...proxy,
      project_id: 'p',
      instance_id: `i${Math.floor(index / 4)}`,
    }));
    const fleet = simulateFleet(proxies, { waves: [{ percent: 100 }], concurrency: 10 }, { pollsToEnd: 2 });
    expect((await fleet.run()).counts).toMatchObject({ completed: 12 });
    expect(fleet.posts).toHaveLength(12);
    expect(fleet.posts.some((post) => post.instanceBusy)).toBe(false);
    expect(Math.max(...fleet.posts.map((post) => post.inFlight))).toBe(3);
  });

  it('starts the instance with the most proxies left first, so it does not add its series after the others', async () => {
    // Six instances of one proxy, then one of six listed last; two slots.
    const small = Array.from({ length: 6 }, (_, index) => ({
      project_id: 'p',
      instance_id: `small${index}`,
      proxy_id: `s${index}`,
    }));
    const big = Array.from({ length: 6 }, (_, index) => ({
      project_id: 'p',
      instance_id: 'big',
      proxy_id: `b${index}`,
    }));
    const fleet = simulateFleet([...small, ...big], { concurrency: 2, waves: [{ percent: 100 }] });
    let ticks = 0;
    const answer = await fleet.run(100, () => {
      ticks += 1;
    });
    expect(answer).toMatchObject({ status: 'completed', counts: { completed: 12 } });
    // The first tick starts the big instance and the first small one.
    expect(fleet.posts.slice(0, 2).map((post) => post.key)).toEqual(['p/big/b0', 'p/small0/s0']);
    expect(fleet.posts.every((post) => post.inFlight <= 2 && !post.instanceBusy)).toBe(true);
    // Six rounds of two (each workflow ends at the next tick's poll) and the tick that sees the last
    // end; in plan order it would be the six small ones first, then the big one's six alone: 9 + 1.
    expect(ticks).toBe(7);
  });

  it('max_failures by count: the third failure halts, in-flight upgrades are followed to their end', async () => {
    const fleet = simulateFleet(
      fleetOf(40, 40, (index) => (index >= 1 && index <= 6 ? { workflow: 'failed' } : {})),
      { max_failures: { count: 3 }, waves: [{ size: 1 }, { percent: 100 }], concurrency: 10 },
      { pollsToEnd: 2 },
    );
    const answer = await fleet.run();
    expect(answer.status).toBe('halted');
    // The second wave's first ten started together; three of them failing halts, the rest end.
    expect(answer.counts).toMatchObject({ failed: 6, completed: 5, in_flight: 0, started: 0, pending: 29 });
    expect(fleet.posts).toHaveLength(11);
  });

  it('max_failures by percent of the planned targets, rounded up', async () => {
    // 10 % of 25 is 2.5, so the third failure halts; the canary passes.
    const fleet = simulateFleet(
      fleetOf(25, 25, (index) => (index >= 1 ? { answer: { kind: 'ended', outcome: 'rejected' } } : {})),
      { max_failures: { percent: 10 }, waves: [{ size: 1 }, { percent: 100 }], concurrency: 1 },
    );
    const answer = await fleet.run();
    expect(answer).toMatchObject({ status: 'halted', wave: 1 });
    expect(answer.counts).toMatchObject({ completed: 1, rejected: 3, pending: 21 });
  });

  it('an approval gate holds the next wave until approved, then soaks', async () => {
    const fleet = simulateFleet(fleetOf(10, 10), {
      gate: 'approval',
      soak_minutes: 5,
      waves: [{ size: 1 }, { percent: 100 }],
    });
    for (let turn = 0; turn < 6; turn += 1) {
      await fleet.tick();
      fleet.clock.now += 60_000;
    }
    expect(fleet.store.record.status).toBe('awaiting_approval');
    expect(fleet.posts).toHaveLength(1);
    fleet.store.setFlags({ approved: { wave: 1, at: new Date(fleet.clock.now).toISOString() } });
    expect((await fleet.tick()).status).toBe('soaking');
    fleet.clock.now += 5 * 60_000;
    const opened = await fleet.tick();
    expect(opened).toMatchObject({ status: 'running', wave: 1 });
    expect(fleet.posts).toHaveLength(10);
    expect((await fleet.run()).status).toBe('completed');
    expect(fleet.rolloutEvents).toContain('Proxy Rollout Awaiting Approval 0');
    expect(fleet.rolloutEvents.indexOf('Proxy Rollout Awaiting Approval 0')).toBeLessThan(
      fleet.rolloutEvents.indexOf('Proxy Rollout Wave Started 1'),
    );
  });

  it('pause starts nothing new while in-flight upgrades are followed; resume goes on', async () => {
    const fleet = simulateFleet(
      fleetOf(6, 6),
      { waves: [{ percent: 100 }], concurrency: 2 },
      { pollsToEnd: 2 },
    );
    await fleet.tick();
    expect(fleet.posts).toHaveLength(2);
    fleet.store.setFlags({ paused: true });
    fleet.clock.now += 60_000;
    await fleet.tick();
    fleet.clock.now += 60_000;
    const paused = await fleet.tick();
    expect(paused).toMatchObject({ status: 'paused', done: false });
    expect(paused.counts).toMatchObject({ completed: 2, pending: 4 });
    expect(fleet.posts).toHaveLength(2);
    fleet.store.setFlags({ paused: false });
    expect((await fleet.run()).counts).toMatchObject({ completed: 6 });
    expect(fleet.rolloutEvents.filter((event) => /Paused|Resumed/.test(event))).toEqual([
      'Proxy Rollout Paused 0',
      'Proxy Rollout Resumed 0',
    ]);
    expect(fleet.posts).toHaveLength(6);
  });

  it('cancel with upgrades in flight: nothing new, the in-flight ones followed to their end', async () => {
    const fleet = simulateFleet(
      fleetOf(10, 10),
      { waves: [{ percent: 100 }], concurrency: 3 },
      { pollsToEnd: 3 },
    );
    await fleet.tick();
    fleet.store.setFlags({ cancelled: true });
    fleet.clock.now += 60_000;
    expect((await fleet.tick()).status).toBe('cancelling');
    const answer = await fleet.run();
    expect(answer).toMatchObject({ status: 'cancelled', done: true });
    expect(fleet.rolloutEvents.at(-1)).toBe('Proxy Rollout Cancelled 0');
    expect(answer.counts).toMatchObject({ completed: 3, pending: 7 });
    expect(fleet.posts).toHaveLength(3);
  });

  it('a re-run tick that lost the write race sends nothing', async () => {
    const fleet = simulateFleet(fleetOf(4, 4), { waves: [{ percent: 100 }] });
    const before = structuredClone(fleet.store.record);
    await fleet.tick();
    expect(fleet.posts).toHaveLength(4);
    // The same tick again on the record it read: its write is refused before any request.
    await expect(advanceRollout(before, fleet.collaborators)).rejects.toBeInstanceOf(RolloutConflictError);
    expect(fleet.posts).toHaveLength(4);
  });

  it('a tick that died after writing `started` is resumed with the same delivery id, never a new one', async () => {
    const fleet = simulateFleet(fleetOf(2, 2), { waves: [{ percent: 100 }] });
    const { startUpgrade } = fleet.collaborators;
    fleet.collaborators.startUpgrade = async () => {
      throw new Error('Lambda timed out');
    };
    await expect(fleet.tick()).rejects.toThrow('Lambda timed out');
    expect(fleet.store.record.targets.map((target) => target.state)).toEqual(['started', 'started']);
    fleet.collaborators.startUpgrade = startUpgrade;
    fleet.clock.now += 60_000;
    await fleet.run();
    expect(fleet.posts.map((post) => post.deliveryId)).toEqual(
      ['rollout/r-rollout/p0/i0/x0#1', 'rollout/r-rollout/p1/i1/x1#1'].map((id) =>
        id.replace('r-rollout', fleet.store.record.rollout_id),
      ),
    );
  });

  it('past the duplicate suppression window a `started` target ends Unconfirmed without a request', async () => {
    const fleet = simulateFleet(fleetOf(1, 1), { waves: [{ percent: 100 }] });
    fleet.collaborators.startUpgrade = async () => {
      throw new Error('Lambda timed out');
    };
    await expect(fleet.tick()).rejects.toThrow();
    fleet.clock.now += 86_400_000 + 1;
    const answer = await fleet.tick();
    expect(answer).toMatchObject({ status: 'halted' });
    expect(answer.counts).toMatchObject({ unconfirmed: 1 });
  });

  it('a busy instance is retried by the loop with a new attempt, not failed', async () => {
    const fleet = simulateFleet(
      fleetOf(1, 1, () => ({ busyTimes: 2 })),
      { waves: [{ percent: 100 }] },
    );
    const answer = await fleet.run();
    expect(answer.counts).toMatchObject({ completed: 1 });
    expect(fleet.posts.map((post) => post.deliveryId.split('#')[1])).toEqual(['1', '2', '3']);
  });

  it('an instance busy for the whole busy retry time fails INSTANCE_BUSY', async () => {
    const fleet = simulateFleet(
      fleetOf(1, 1, () => ({ busyTimes: 1000 })),
      { waves: [{ percent: 100 }] },
    );
    const answer = await fleet.run();
    expect(answer).toMatchObject({ status: 'halted' });
    expect(fleet.store.record.targets[0]?.error?.error_code).toBe('INSTANCE_BUSY');
  });

  it('an end that could not be announced is not recorded: the next tick polls and announces it again', async () => {
    const fleet = simulateFleet(fleetOf(1, 1), { waves: [{ percent: 100 }] }, { pollsToEnd: 1 });
    await fleet.tick();
    const { announce } = fleet.collaborators;
    fleet.collaborators.announce = async () => {
      throw new Error('PutEvents failed');
    };
    fleet.clock.now += 60_000;
    await expect(fleet.tick()).rejects.toThrow('PutEvents failed');
    expect(fleet.store.record.targets[0]?.state).toBe('in_flight');
    fleet.collaborators.announce = announce;
    // The stand-in's workflow ended at the first poll; a second poll of it reads it ended again.
    fleet.collaborators.pollWorkflow = async () => ({ kind: 'completed' });
    expect((await fleet.tick()).counts).toMatchObject({ completed: 1 });
    expect(fleet.announced).toEqual(['p0/i0/x0 completed']);
  });

  it('1,000 proxies over 100 instances of two regions: one request each, within concurrency and one per instance', async () => {
    const proxies = fleetOf(1000, 100, (index) => ({
      project_id: `p${index % 4}`,
      region: index % 2 === 0 ? 'eu-west-101' : 'ap-southeast-3',
      ...(index % 50 === 7 ? { skip_reason: 'already at 2.24.03.000' } : {}),
    }));
    const fleet = simulateFleet(
      proxies,
      { concurrency: 25, max_failures: { percent: 5 } },
      { pollsToEnd: 3 },
    );
    const answer = await fleet.run();
    expect(answer).toMatchObject({ status: 'completed', done: true });
    expect(answer.counts).toMatchObject({ completed: 980, skipped: 20 });
    expect(fleet.posts).toHaveLength(980);
    expect(new Set(posted(fleet)).size).toBe(980);
    expect(Math.max(...fleet.posts.map((post) => post.inFlight))).toBe(25);
    expect(fleet.posts.some((post) => post.instanceBusy)).toBe(false);
  });

  it('a fleet already at the target completes at once', async () => {
    const fleet = simulateFleet(
      fleetOf(3, 3, () => ({ skip_reason: 'already at 2.24.03.000' })),
      {},
    );
    expect(await fleet.tick()).toMatchObject({ status: 'completed', done: true });
    expect(fleet.posts).toHaveLength(0);
  });
});
