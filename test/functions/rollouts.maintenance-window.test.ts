import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RolloutWorld, startRolloutWorld } from '../support/rollout-world.ts';

/**
 * `"window": "maintenance"` inside a rollout, through the rollouts function's real tasks (plan,
 * advance) on the stand-ins, with the tick's clock in the test's hand: a target whose instance's
 * window is closed is not upgraded, waits (it is neither failed nor counted against the busy retry
 * time, BUSY_RETRY_FOR, PT2H by default), and is upgraded exactly once when the window opens.
 */

let world: RolloutWorld;
let clock = new Date('2026-12-01T02:00:00Z');
const ROLLOUT = 'window-rollout';
const input = { rollout_id: ROLLOUT, generation: 0, ticks: 0 };
const upgradesOf = (proxyId: string) =>
  world.taurusDb.upgrades.filter((upgrade) => upgrade.proxyId === proxyId);

beforeAll(async () => {
  world = await startRolloutWorld(
    [
      { projectId: 'project-w', instanceId: 'instance-closed', proxyId: 'w-closed', version: '2.23.12.000' },
      { projectId: 'project-w', instanceId: 'instance-open', proxyId: 'w-open', version: '2.23.12.000' },
    ],
    { now: () => clock },
  );
  // Opens five hours after the rollout starts: longer than the busy retry time.
  world.taurusDb.setInstance('instance-closed', { status: 'ACTIVE', maintenance_window: '07:00-08:00' });
  world.taurusDb.setInstance('instance-open', { status: 'ACTIVE', maintenance_window: '01:00-04:00' });
});

afterAll(async () => {
  await world?.close();
});

async function tickAt(iso: string) {
  clock = new Date(iso);
  return world.handlers.advance(input, (await import('../support/lambda-context.ts')).lambdaContext());
}

describe('a rollout with "window": "maintenance"', () => {
  it('upgrades a target outside its window only once the window opens, exactly once', async () => {
    await world.invoke({
      rollout_id: ROLLOUT,
      targets: [
        { project_id: 'project-w', instance_id: 'instance-closed', proxy_id: 'w-closed' },
        { project_id: 'project-w', instance_id: 'instance-open', proxy_id: 'w-open' },
      ],
      target_version: '2.24.03.000',
      window: 'maintenance',
      waves: [{ percent: 100 }],
      max_failures: { count: 2 },
    });
    await world.handlers.plan(input);

    // Every ten minutes for the five hours before the window opens: the open instance's proxy is
    // upgraded, the closed one's never, and it stays pending.
    for (let minute = 0; minute < 300; minute += 10) {
      const at = new Date(Date.parse('2026-12-01T02:00:00Z') + minute * 60_000).toISOString();
      const answer = await tickAt(at);
      expect(answer.done, at).toBe(false);
      expect(upgradesOf('w-closed'), at).toEqual([]);
    }
    expect(upgradesOf('w-open')).toHaveLength(1);
    const waiting = await world.status(ROLLOUT);
    expect(waiting.json).toMatchObject({ status: 'running' });
    const closed = (waiting.json.targets as { proxy_id: string; state: string; outcome: unknown }[]).find(
      (target) => target.proxy_id === 'w-closed',
    );
    expect(closed).toMatchObject({ state: 'pending', outcome: null });
    // Waiting for a window is no failure: no Failed (or any other) upgrade event names it yet.
    const eventsOfClosed = () =>
      world.eventBridge
        .events()
        .filter(
          (entry) => (entry.Detail as { request?: { proxy_id?: string } }).request?.proxy_id === 'w-closed',
        )
        .map((entry) => entry.DetailType);
    expect(eventsOfClosed()).toEqual([]);
    // A moment before the opening, still nothing.
    await tickAt('2026-12-01T06:59:30Z');
    expect(upgradesOf('w-closed')).toEqual([]);

    // The window opens: the next ticks upgrade it once and follow it to its end.
    let answer = await tickAt('2026-12-01T07:00:30Z');
    expect(upgradesOf('w-closed')).toHaveLength(1);
    for (let tick = 1; tick < 20 && !answer.done; tick += 1) {
      answer = await tickAt(new Date(Date.parse('2026-12-01T07:00:30Z') + tick * 60_000).toISOString());
    }
    expect(answer.done).toBe(true);
    expect(upgradesOf('w-closed')).toHaveLength(1);
    expect(upgradesOf('w-open')).toHaveLength(1);
    const done = await world.status(ROLLOUT);
    expect(done.json).toMatchObject({ status: 'completed', counts: { completed: 2 } });
    expect(eventsOfClosed()).toEqual(['Proxy Upgrade Accepted', 'Proxy Upgrade Completed']);
  });
});
