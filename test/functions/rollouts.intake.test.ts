import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveRolloutId } from '../../lib/rollouts/request.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { type RolloutWorld, startRolloutWorld } from '../support/rollout-world.ts';
import { captureOutput } from '../support/secret-leaks.ts';
import { generateWebhookKey } from '../support/webhook-signing.ts';

/**
 * The two intakes without an HTTP answer, through the real handler (functions/rollouts.ts) against
 * the loopback stand-ins: an EventBridge `Proxy Rollout Requested` event (delivery id: the event id)
 * and EventBridge Scheduler input (delivery id: the input's delivery_id, or its rollout_id names the
 * rollout; Lambda's request id is not used, a replay of the input gets a new one). A refusal fails the invocation (README "Fleet rollouts"): Lambda retries it,
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
    // Scheduler fills delivery_id from <aws.scheduler.execution-id>; every invocation gets a fresh
    // Lambda request id, as an operator's replay of the input from the failed-deliveries queue does.
    deliver: (body: unknown, id: string) =>
      world.invoke({ ...(body as object), delivery_id: id }, lambdaContext()),
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
        : await refusal({ ...bad, delivery_id: `delivery-${tag}-bad` });
    expect(error).toBeInstanceOf(world.errors.ValidationError);
    expect(error.message).toMatch(/concurrency/);
    expect(error.message).toMatch(/1/);
    expect(world.sfn.executions).toHaveLength(before);
    expect((await world.status(rolloutId)).statusCode).toBe(404);
  });
});

it('refuses Scheduler input naming neither rollout_id nor delivery_id: a replay of it would start a second rollout', async () => {
  const before = world.sfn.executions.length;
  const records = (await world.dynalite.scan('rollouts')).length;
  const error = await refusal(request());
  expect(error).toBeInstanceOf(world.errors.ValidationError);
  expect((error as InstanceType<typeof world.errors.ValidationError>).issues).toEqual([
    { path: 'rollout_id', message: expect.stringContaining('unless delivery_id names the delivery') },
  ]);
  expect(world.sfn.executions).toHaveLength(before);
  expect(await world.dynalite.scan('rollouts')).toHaveLength(records);
});

it('a replayed Scheduler input (a new Lambda request id, the same delivery_id) finds its rollout and starts nothing new', async () => {
  const input = { ...request(), delivery_id: 'c6a1f0e2-9b8d-4c7a-a6e5-d4c3b2a19081' };
  const first = (await world.invoke(input, lambdaContext())) as { rollout_id: string };
  await world.sfn.settled();
  const replay = await world.invoke(structuredClone(input), lambdaContext());
  expect(replay).toMatchObject({ rollout_id: first.rollout_id, replayed: true });
  expect(executionsOf(first.rollout_id)).toHaveLength(1);
  // A later run of the schedule is another execution id, so another rollout.
  const next = (await world.invoke({ ...input, delivery_id: 'next-execution' }, lambdaContext())) as {
    rollout_id: string;
  };
  expect(next.rollout_id).not.toBe(first.rollout_id);
});

const sampleOf = async (file: string) =>
  JSON.parse(await readFile(new URL(`../../events/${file}`, import.meta.url), 'utf8'));

describe('the committed samples', () => {
  it.each([
    ['rollout-pipeline-event.json', (sample: { detail: { rollout_id: string } }) => sample.detail.rollout_id],
    [
      'rollout-scheduler-input.json',
      (sample: { delivery_id: string }) => deriveRolloutId(`schedule:${sample.delivery_id}`),
    ],
  ])(
    '%s starts its rollout: a planning record and generation 0 of its execution, once',
    async (file, idOf) => {
      const sample = await sampleOf(file);
      const rolloutId = (idOf as (sample: unknown) => string)(sample);
      expect(await world.invoke(structuredClone(sample))).toMatchObject({
        rollout_id: rolloutId,
        status: 'planning',
        replayed: false,
      });
      await world.sfn.settled();
      expect(executionsOf(rolloutId).map((execution) => [execution.name, execution.input])).toEqual([
        [`${rolloutId}-g0`, { rollout_id: rolloutId, generation: 0, ticks: 0 }],
      ]);
      // Redelivered (EventBridge's retry, or the input replayed from the failed-deliveries queue).
      expect(await world.invoke(structuredClone(sample))).toMatchObject({
        rollout_id: rolloutId,
        replayed: true,
      });
      expect(executionsOf(rolloutId)).toHaveLength(1);
    },
  );

  it.each([
    ['rollout-pipeline-event.json', (sample: { detail: Record<string, unknown> }) => sample.detail],
    ['rollout-scheduler-input.json', (sample: Record<string, unknown>) => sample],
  ])(
    '%s with a bad field fails the invocation naming it; nothing is written or started',
    async (file, bodyOf) => {
      const sample = await sampleOf(file);
      const body = (bodyOf as (sample: unknown) => Record<string, unknown>)(sample);
      body.gate = 'manual';
      body.targets = [{ project_id: 'p', instance_id: 'i', proxy_id: 'x', all_proxies: true }];
      const before = world.sfn.executions.length;
      const records = (await world.dynalite.scan('rollouts')).length;
      const error = await refusal(sample);
      expect(error).toBeInstanceOf(world.errors.ValidationError);
      expect((error as InstanceType<typeof world.errors.ValidationError>).issues).toEqual([
        { path: 'gate', message: 'must be one of auto, approval' },
        {
          path: 'targets[0].all_proxies',
          message: 'cannot be combined with proxy_id: name one proxy, or all of them',
        },
      ]);
      expect(world.sfn.executions).toHaveLength(before);
      expect(await world.dynalite.scan('rollouts')).toHaveLength(records);
    },
  );
});

it('refuses a Proxy Rollout Requested event without a detail object, naming targets', async () => {
  const error = await refusal(rolloutEvent('delivery-empty', {}));
  expect(error).toBeInstanceOf(world.errors.ValidationError);
  expect(error.message).toContain('targets');
});

describe('the signed routes', () => {
  it('refuse a caller that does not sign with the webhook key: 401, nothing written, started or flagged', async () => {
    const forger = generateWebhookKey();
    const rolloutId = 'intake-http-signed';
    const body = JSON.stringify(request(rolloutId));
    const executions = world.sfn.executions.length;
    expect((await world.call('POST', '/rollouts', body, forger)).statusCode).toBe(401);
    expect(world.sfn.executions).toHaveLength(executions);
    expect((await world.status(rolloutId)).statusCode).toBe(404);

    expect((await world.post(request(rolloutId), 'msg_signed_ok')).statusCode).toBe(202);
    expect((await world.call('GET', `/rollouts/${rolloutId}`, '', forger)).statusCode).toBe(401);
    for (const action of ['approve', 'pause', 'resume', 'cancel']) {
      expect((await world.call('POST', `/rollouts/${rolloutId}/${action}`, '', forger)).statusCode).toBe(401);
    }
    expect((await world.status(rolloutId)).json).toMatchObject({
      flags: { paused: false, cancelled: false },
    });
  });
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

describe('the "request refused" line', () => {
  const refusedLines = (text: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.message === 'request refused');

  it("names the trigger kind and the delivery id, as the upgrade function's does, and no secret", async () => {
    const output = captureOutput();
    const bad = { ...request('intake-log-refused'), concurrency: 0 };
    await refusal(rolloutEvent('delivery-log-event', bad));
    await refusal({ ...bad, delivery_id: 'delivery-log-schedule' });
    const http = await world.post(bad, 'msg_log_http');
    expect(http.statusCode).toBe(400);

    const lines = refusedLines(output.text());
    expect(
      lines.map(({ level, trigger_kind, delivery_id }) => ({ level, trigger_kind, delivery_id })),
    ).toEqual([
      { level: 'WARN', trigger_kind: 'event', delivery_id: 'delivery-log-event' },
      { level: 'WARN', trigger_kind: 'schedule', delivery_id: 'delivery-log-schedule' },
      { level: 'WARN', trigger_kind: 'http', delivery_id: 'msg_log_http' },
    ]);
    for (const line of lines) {
      expect((line.error as { message: string }).message).toContain('concurrency: must be a whole number');
    }
    expect(output.text()).not.toContain(world.webhookKey.slice('whsec_'.length));
  });
});
