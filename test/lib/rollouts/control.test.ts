import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRolloutStore, type RolloutStore } from '../../../lib/aws/rollout-store.ts';
import { RolloutNotFoundError, RolloutStateError, ValidationError } from '../../../lib/errors.ts';
import { controlRollout, statusOf } from '../../../lib/rollouts/control.ts';
import { planRollout } from '../../../lib/rollouts/plan.ts';
import { initialRecord, type RolloutRecord } from '../../../lib/rollouts/record.ts';
import { parseRolloutRequest } from '../../../lib/rollouts/request.ts';
import { type DynaliteStandIn, startDynalite } from '../../../stand-ins/dynamodb.ts';

let dynamo: DynaliteStandIn;
let store: RolloutStore;
const now = new Date('2026-12-02T02:00:00Z');

beforeAll(async () => {
  dynamo = await startDynalite({ tableName: 'rollout-control' });
  store = createRolloutStore({ tableName: dynamo.tableName, client: dynamo.client() });
});
afterAll(() => dynamo.close());

async function stored(rolloutId: string, status: RolloutRecord['status'], wave = 0): Promise<void> {
  const request = parseRolloutRequest(
    {
      rollout_id: rolloutId,
      targets: [{ project_id: 'p', instance_id: 'i', proxy_id: 'x' }],
      target_version: 'latest',
      gate: 'approval',
    },
    'delivery',
  );
  const plan = planRollout(
    [
      { project_id: 'p', instance_id: 'i', proxy_id: 'x' },
      { project_id: 'p', instance_id: 'j', proxy_id: 'y' },
    ],
    {
      waves: [{ size: 1 }, { percent: 100 }],
      max_failures: { count: 1 },
    },
  );
  await store.create({ ...initialRecord(request, plan), status, wave }, rolloutId);
}

describe('controlRollout', () => {
  it('approve lets the next wave start once; a redelivered approve changes nothing', async () => {
    await stored('gate', 'awaiting_approval');
    const approved = await controlRollout(store, 'gate', 'approve', now);
    expect(approved.flags.approved).toEqual({ wave: 1, at: now.toISOString() });
    const again = await controlRollout(store, 'gate', 'approve', new Date(now.getTime() + 60_000));
    expect(again.flags.approved).toEqual({ wave: 1, at: now.toISOString() });
  });

  it('approve is refused, naming the status, unless the rollout awaits approval', async () => {
    await stored('running', 'running');
    await expect(controlRollout(store, 'running', 'approve', now)).rejects.toThrow(
      new RolloutStateError('rollout running is running: only a rollout awaiting approval can be approved'),
    );
  });

  it('pause and resume set the flag the tick reads; cancel sticks; a finished rollout takes none of them', async () => {
    await stored('flags', 'running');
    expect((await controlRollout(store, 'flags', 'pause', now)).flags.paused).toBe(true);
    expect((await controlRollout(store, 'flags', 'resume', now)).flags.paused).toBe(false);
    expect((await controlRollout(store, 'flags', 'cancel', now)).flags.cancelled).toBe(true);
    expect((await controlRollout(store, 'flags', 'cancel', now)).flags.cancelled).toBe(true);
    await stored('done', 'completed');
    for (const action of ['pause', 'resume', 'cancel'] as const) {
      await expect(controlRollout(store, 'done', action, now)).rejects.toBeInstanceOf(RolloutStateError);
    }
  });

  it('an unknown rollout is a 404, a malformed id a 400 naming rollout_id, both before any write', async () => {
    await expect(controlRollout(store, 'nobody', 'pause', now)).rejects.toBeInstanceOf(RolloutNotFoundError);
    await expect(controlRollout(store, '../x', 'pause', now)).rejects.toBeInstanceOf(ValidationError);
    expect((await dynamo.scan()).map((item) => item.id)).not.toContain('nobody');
  });
});

describe('statusOf', () => {
  it('answers the counts and each target with its wave, state, outcome and workflow id', async () => {
    await stored('status', 'running');
    const record = (await store.get('status')) as RolloutRecord;
    const status = statusOf(record);
    expect(status).toMatchObject({ rollout_id: 'status', status: 'running', wave: 0, waves: 2, budget: 1 });
    expect(status.counts).toMatchObject({ pending: 2 });
    expect(status.targets[0]).toEqual({
      project_id: 'p',
      instance_id: 'i',
      proxy_id: 'x',
      wave: 0,
      state: 'pending',
      outcome: null,
      workflow_id: null,
      attempt: 0,
    });
  });
});
