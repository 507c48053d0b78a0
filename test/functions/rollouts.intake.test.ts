import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaContext } from '../support/lambda-context.ts';
import { type RolloutWorld, startRolloutWorld } from '../support/rollout-world.ts';

/**
 * The two intakes without an HTTP answer, through the real handler (functions/rollouts.ts) against
 * the loopback stand-ins: an EventBridge `Proxy Rollout Requested` event (delivery id: the event id)
 * and EventBridge Scheduler input (delivery id: Lambda's request id, which Lambda's own retries of
 * the invocation keep). A refusal fails the invocation (README "Fleet rollouts"): Lambda retries it,
 * then the failed-deliveries queue gets the onFailure record.
 */

let world: RolloutWorld;

beforeAll(async () => {
  world = await startRolloutWorld(
    ['a', 'b', 'c'].map((proxy) => ({
      projectId: 'project-intake',
      instanceId: 'instance-intake',
      proxyId: `p-${proxy}`,
      version: '2.23.12.000',
    })),
  );
});

afterAll(async () => {
  await world?.close();
});

const request = (rolloutId?: string) => ({
  ...(rolloutId === undefined ? {} : { rollout_id: rolloutId }),
  targets: [{ project_id: 'project-intake', instance_id: 'instance-intake', all_proxies: true }],
  target_version: '2.24.03.000',
  change_id: 'CHG-intake',
});

function rolloutEvent(id: string, detail: unknown) {
  return {
    version: '0',
    id,
    'detail-type': 'Proxy Rollout Requested',
    source: 'com.example.release-pipeline',
    account: '123456789012',
    time: '2026-12-01T10:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail,
  };
}

const executionsOf = (rolloutId: string) =>
  world.sfn.executions.filter(
    (execution) => (execution.input as { rollout_id: string }).rollout_id === rolloutId,
  );

async function refusal(event: unknown): Promise<Error> {
  const error = await world.invoke(event).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error, 'the invocation fails').toBeInstanceOf(Error);
  return error as Error;
}

describe.each([
  {
    intake: 'an EventBridge "Proxy Rollout Requested" event',
    deliver: (body: unknown, id: string) => world.invoke(rolloutEvent(id, body)),
  },
  {
    intake: 'EventBridge Scheduler input',
    deliver: (body: unknown, id: string) => world.invoke(body, lambdaContext({ awsRequestId: id })),
  },
])('$intake', ({ intake, deliver }) => {
  const tag = intake.startsWith('an EventBridge') ? 'event' : 'schedule';

  it('creates the rollout record and starts its execution once; a redelivery starts nothing new', async () => {
    const rolloutId = `intake-${tag}-1`;
    const first = await deliver(request(rolloutId), `delivery-${tag}-1`);
    expect(first).toMatchObject({ rollout_id: rolloutId, status: 'planning', replayed: false });
    await world.sfn.settled();
    expect(executionsOf(rolloutId).map((execution) => execution.name)).toEqual([`${rolloutId}-g0`]);
    const status = await world.status(rolloutId);
    expect(status.statusCode).toBe(200);
    expect(status.json).toMatchObject({ rollout_id: rolloutId, status: 'planning' });

    // The same delivery again (EventBridge's retry of the event, Lambda's retry of the invocation).
    const again = await deliver(request(rolloutId), `delivery-${tag}-1`);
    expect(again).toMatchObject({ rollout_id: rolloutId, status: 'planning', replayed: true });
    await world.sfn.settled();
    expect(executionsOf(rolloutId)).toHaveLength(1);
    expect(world.taurusDb.upgrades).toEqual([]);
  });

  it('a redelivery without a rollout_id finds the rollout its delivery id named, and starts nothing new', async () => {
    const first = (await deliver(request(), `delivery-${tag}-derived`)) as { rollout_id: string };
    expect(first.rollout_id).toMatch(/^r-[0-9a-f]{32}$/);
    const again = (await deliver(request(), `delivery-${tag}-derived`)) as { rollout_id: string };
    expect(again).toMatchObject({ rollout_id: first.rollout_id, replayed: true });
    await world.sfn.settled();
    expect(executionsOf(first.rollout_id)).toHaveLength(1);
  });

  it('refuses another request under the same rollout_id: the invocation fails, nothing new starts', async () => {
    const rolloutId = `intake-${tag}-2`;
    await deliver(request(rolloutId), `delivery-${tag}-2a`);
    await world.sfn.settled();
    const error = await deliver({ ...request(rolloutId), concurrency: 2 }, `delivery-${tag}-2b`).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(world.errors.RolloutReusedError);
    expect((error as Error).message).toContain(rolloutId);
    expect(executionsOf(rolloutId)).toHaveLength(1);
    expect((await world.status(rolloutId)).json).toMatchObject({ status: 'planning' });
  });

  it('refuses an invalid payload naming the field and the rule: no record, no execution', async () => {
    const rolloutId = `intake-${tag}-bad`;
    const before = world.sfn.executions.length;
    const bad = { ...request(rolloutId), concurrency: 0 };
    const error =
      tag === 'event'
        ? await refusal(rolloutEvent(`delivery-${tag}-bad`, bad))
        : await refusal(bad as unknown);
    expect(error).toBeInstanceOf(world.errors.ValidationError);
    expect(error.message).toMatch(/concurrency/);
    expect(error.message).toMatch(/1/);
    expect(world.sfn.executions).toHaveLength(before);
    expect((await world.status(rolloutId)).statusCode).toBe(404);
  });
});

it('refuses a Proxy Rollout Requested event without a detail object, naming targets', async () => {
  const error = await refusal(rolloutEvent('delivery-empty', {}));
  expect(error).toBeInstanceOf(world.errors.ValidationError);
  expect(error.message).toContain('targets');
});

describe('POST /rollouts refusals', () => {
  const valid = request('intake-http-refused');
  it.each([
    ['targets', { ...valid, targets: [] }, 'must hold 1 to 1000 targets'],
    [
      'targets[0].proxy_id',
      { ...valid, targets: [{ project_id: 'p', instance_id: 'i' }] },
      'is required unless',
    ],
    [
      'waves[1]',
      { ...valid, waves: [{ size: 1 }, { percent: 50 }] },
      'the last wave must be {"percent": 100}',
    ],
    ['concurrency', { ...valid, concurrency: 101 }, 'must be a whole number from 1 to 100'],
    ['max_failures.percent', { ...valid, max_failures: { percent: 0 } }, 'must be a number over 0'],
    ['gate', { ...valid, gate: 'manual' }, 'must be one of auto, approval'],
    ['soak_minutes', { ...valid, soak_minutes: 1441 }, 'must be a whole number from 0 to 1440'],
    ['rollout_id', { ...valid, rollout_id: 'no spaces please' }, 'must contain only letters'],
    ['target_version', { ...valid, source_version: '2.24.03.000' }, 'must be newer than source_version'],
    ['concurrency', { ...valid, concurrency: '10' }, 'must be a whole number'],
  ])(
    'a 400 naming %s and its rule, before anything is written, read or started',
    async (path, body, rule) => {
      const executions = world.sfn.executions.length;
      const taurusDbRequests = world.taurusDb.requests.length;
      const answer = await world.post(body, `msg_refused_${path}_${rule.length}`);
      expect(answer.statusCode).toBe(400);
      expect(answer.json.issues).toContainEqual({ path, message: expect.stringContaining(rule) });
      expect(world.sfn.executions).toHaveLength(executions);
      expect(world.taurusDb.requests).toHaveLength(taurusDbRequests);
      expect((await world.status('intake-http-refused')).statusCode).toBe(404);
    },
  );
});
