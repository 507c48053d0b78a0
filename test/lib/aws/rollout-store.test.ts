import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRolloutStore, type RolloutStore } from '../../../lib/aws/rollout-store.ts';
import { RolloutReusedError, RolloutServiceError } from '../../../lib/errors.ts';
import { type AdvanceCollaborators, advanceRollout } from '../../../lib/rollouts/advance.ts';
import { planRollout } from '../../../lib/rollouts/plan.ts';
import { initialRecord, type RolloutRecord } from '../../../lib/rollouts/record.ts';
import { parseRolloutRequest } from '../../../lib/rollouts/request.ts';
import { type DynaliteStandIn, startDynalite } from '../../../stand-ins/dynamodb.ts';

let dynamo: DynaliteStandIn;
let store: RolloutStore;

beforeAll(async () => {
  dynamo = await startDynalite({ tableName: 'rollouts' });
  store = createRolloutStore({ tableName: dynamo.tableName, client: dynamo.client() });
});
afterAll(() => dynamo.close());

function newRecord(rolloutId: string, proxies = 3): RolloutRecord {
  const request = parseRolloutRequest(
    {
      rollout_id: rolloutId,
      targets: [{ project_id: 'p', instance_id: 'i', all_proxies: true }],
      target_version: '2.24.03.000',
      waves: [{ percent: 100 }],
    },
    'delivery',
  );
  const candidates = Array.from({ length: proxies }, (_, index) => ({
    project_id: 'p',
    instance_id: `i${index}`,
    proxy_id: `x${index}`,
  }));
  return initialRecord(request, planRollout(candidates, request));
}

function collaborators(posts: string[]): AdvanceCollaborators {
  return {
    save: (record) => store.save(record),
    async startUpgrade(target, deliveryId) {
      posts.push(deliveryId);
      return { kind: 'accepted', workflow_id: `job-${target.proxy_id}` };
    },
    pollWorkflow: async () => ({ kind: 'completed' }),
    announce: async () => {},
    publishRollout: async () => {},
    now: () => new Date('2026-12-02T02:00:00Z'),
    settings: {
      trackingMaxMs: 7_200_000,
      busyRetryDelayMs: 300_000,
      busyRetryForMs: 7_200_000,
      resumeWindowMs: 86_400_000,
    },
    parallelism: 4,
  };
}

describe('rollout store (DynamoDB through dynalite)', () => {
  it('creates a rollout once; the same request finds it, another request under its id is a 409', async () => {
    const record = newRecord('create-once');
    expect(await store.create(record, 'digest-a')).toBe('created');
    expect(await store.create(record, 'digest-a')).toBe('exists');
    await expect(store.create(record, 'digest-b')).rejects.toThrow(
      new RolloutReusedError(
        'rollout create-once already exists for another request; choose another rollout_id (or send the same request to see its status)',
      ),
    );
    // Read back as written: no flag, no attribute more or less (no `approved` before an approve call).
    expect(await store.get('create-once')).toStrictEqual(record);
    expect(await store.get('no-such-rollout')).toBeUndefined();
  });

  it('of two ticks on one revision only one writes, and only that one sends upgrade requests', async () => {
    const record = newRecord('race');
    await store.create(record, 'digest');
    const posts: string[] = [];
    const results = await Promise.allSettled([
      advanceRollout(record, collaborators(posts)),
      advanceRollout(record, collaborators(posts)),
    ]);
    expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(posts).toEqual(['rollout/race/p/i0/x0#1', 'rollout/race/p/i1/x1#1', 'rollout/race/p/i2/x2#1']);
    const stored = (await store.get('race')) as RolloutRecord;
    expect(stored.revision).toBe(2);
    expect(stored.targets.map((target) => [target.state, target.workflow_id])).toEqual([
      ['in_flight', 'job-x0'],
      ['in_flight', 'job-x1'],
      ['in_flight', 'job-x2'],
    ]);
  });

  it('a tick never overwrites the flags a control call set between its read and its write', async () => {
    const record = newRecord('flags');
    await store.create(record, 'digest');
    await store.setFlags('flags', { paused: true, approved: { wave: 1, at: '2026-12-02T02:00:00.000Z' } });
    // The tick read the record before the pause: it starts what it claimed, and the pause stands.
    await advanceRollout(record, collaborators([]));
    const stored = (await store.get('flags')) as RolloutRecord;
    expect(stored.flags).toEqual({
      paused: true,
      cancelled: false,
      approved: { wave: 1, at: '2026-12-02T02:00:00.000Z' },
    });
    const following = { ...collaborators([]), pollWorkflow: async () => ({ kind: 'running' as const }) };
    const next = await advanceRollout(stored, following);
    expect(next.status).toBe('paused');
  });

  it('a tick write sets what the tick owns and removes what it dropped; flags are read back as set', async () => {
    const record = newRecord('tick-owned');
    await store.create(record, 'digest');
    const soaking = {
      ...record,
      status: 'soaking' as const,
      wave: 1,
      wave_ends: [1, 3],
      budget: 2,
      wave_ended_at: '2026-12-02T02:00:00.000Z',
    };
    expect(await store.save(soaking)).toBe(true);
    expect(await store.get('tick-owned')).toStrictEqual({ ...soaking, revision: 1 });
    const { wave_ended_at: _dropped, ...running } = { ...soaking, revision: 1, status: 'running' as const };
    expect(await store.save(running)).toBe(true);
    expect(await store.get('tick-owned')).toStrictEqual({ ...running, revision: 2 });

    await store.setFlags('tick-owned', { cancelled: true, paused: undefined });
    await store.setFlags('tick-owned', {});
    expect((await store.get('tick-owned'))?.flags).toStrictEqual({ paused: false, cancelled: true });
  });

  it('a generation is claimed forward only: of two claims of one only one lands, never an older one, never for an unknown rollout', async () => {
    const record = newRecord('generations');
    await store.create(record, 'digest');
    expect((await store.get('generations'))?.generation).toBe(0);
    expect(
      await Promise.all([store.claimGeneration('generations', 1), store.claimGeneration('generations', 1)]),
    ).toEqual(expect.arrayContaining([true, false]));
    expect(await store.claimGeneration('generations', 0)).toBe(false);
    expect(await store.claimGeneration('generations', 3)).toBe(true);
    const stored = (await store.get('generations')) as RolloutRecord;
    expect(stored.generation).toBe(3);
    // The tick's writes leave it alone.
    expect(await store.save(stored)).toBe(true);
    expect((await store.get('generations'))?.generation).toBe(3);
    expect(await store.claimGeneration('no-such-rollout', 1)).toBe(false);
    expect(await store.get('no-such-rollout')).toBeUndefined();
  });

  it('an unreachable table is a RolloutServiceError naming the rollout, never a silent pass', async () => {
    const unreachable = createRolloutStore({
      tableName: 'rollouts',
      client: new (await import('@aws-sdk/client-dynamodb')).DynamoDBClient({
        endpoint: 'http://127.0.0.1:9',
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
        maxAttempts: 1,
      }),
    });
    const refusals: Array<[Promise<unknown>, string]> = [
      [unreachable.get('any'), 'read'],
      [unreachable.create(newRecord('any'), 'digest'), 'create'],
      [unreachable.save(newRecord('any')), 'write'],
      [unreachable.setFlags('any', { paused: true }), 'flag'],
      [unreachable.claimGeneration('any', 1), 'start generation of'],
    ];
    for (const [call, what] of refusals) {
      const error = await call.then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error, what).toBeInstanceOf(RolloutServiceError);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^rollout table rollouts could not be used to ${what} rollout any \\(.+\\); nothing was started$`,
        ),
      );
      expect((error as Error).cause, what).toBeInstanceOf(Error);
    }
  });
});
