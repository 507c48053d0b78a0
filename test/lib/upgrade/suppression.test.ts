import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIdempotentRunner,
  type IdempotentRunner,
  type StepGuard,
} from '../../../lib/aws/idempotency.ts';
import type { OutcomeRecord, StepOutcome } from '../../../lib/upgrade/outcome.ts';
import type { UpgradeRequest } from '../../../lib/upgrade/request.ts';
import { guardDeliveries, runSuppressed, stepKey, UNGUARDED } from '../../../lib/upgrade/suppression.ts';
import type { TriggerInfo } from '../../../lib/upgrade/trigger.ts';
import { type DynaliteStandIn, startDynalite } from '../../../stand-ins/dynamodb.ts';
import { lambdaContext } from '../../support/lambda-context.ts';

const request: UpgradeRequest = {
  project_id: '054e292c9880d4992f02c0196d3ea468',
  instance_id: '517ea793ab91438cbfcd9c4b1c958b1ein07',
  proxy_id: '0f46fc46396e4fb19a0cb52f578e9511po01',
  target_version: 'latest',
  change_id: 'CHG0031337',
};
const trigger: TriggerInfo = { kind: 'event', id: 'e1b2c3d4-0000-4000-8000-000000000001' };

const record = (error_msg: string): OutcomeRecord => ({
  outcome: { kind: 'failed', error: { error_msg } },
  occurred_at: '2026-11-27T10:00:00.000Z',
  upstream_status: null,
  duration_ms: null,
});

/** A step that answers the outcomes given, one per run, and counts its runs. */
function scripted(...outcomes: StepOutcome[]) {
  const step = async (_guard: StepGuard) => {
    const next = outcomes[step.runs] ?? outcomes.at(-1);
    step.runs += 1;
    if (next === undefined) throw new Error('no outcome scripted');
    return next;
  };
  step.runs = 0;
  return step;
}

describe('the step key', () => {
  it('keys on the delivery and the target as requested: an omitted source is "current", "latest" itself', () => {
    expect(stepKey(trigger, request)).toEqual({
      kind: 'event',
      deliveryId: trigger.id,
      project_id: request.project_id,
      instance_id: request.instance_id,
      proxy_id: request.proxy_id,
      source_version: 'current',
      target_version: 'latest',
    });
  });

  it('refuses a request that names no proxy', () => {
    const { proxy_id: _none, ...instance } = request;
    expect(() => stepKey(trigger, { ...instance, all_proxies: true })).toThrow(TypeError);
  });
});

describe('guardDeliveries', () => {
  it('guards each delivery id once with the hash of its requests, leaving dry runs out', async () => {
    const calls: unknown[][] = [];
    const runner = {
      guardDelivery: async (...args: unknown[]) => {
        calls.push(args);
      },
    } as unknown as IdempotentRunner;
    const other = { ...request, proxy_id: '7f1bd2e4c6a84e19a5d3c0b9e8f7a6d5po01' };
    await guardDeliveries(runner, [request, other, { ...request, dry_run: true }], () => trigger);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.slice(0, 2)).toEqual(['event', trigger.id]);
    expect(calls[0]?.[2]).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('runSuppressed: the step says whether to keep its record; the runner keeps what it returns', () => {
  let dynamo: DynaliteStandIn;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.close());

  async function runner() {
    const idempotency = createIdempotentRunner({
      tableName: await dynamo.createTable(),
      client: dynamo.client(),
    });
    idempotency.registerLambdaContext(lambdaContext());
    return idempotency;
  }

  it('keeps a record to be kept, and replays it without running the step again', async () => {
    const idempotency = await runner();
    const step = scripted({ record: record('kept'), store: true });
    const first = await runSuppressed(idempotency, stepKey(trigger, request), step);
    const second = await runSuppressed(idempotency, stepKey(trigger, request), step);
    expect(first).toEqual({ record: record('kept'), replayed: false, storeError: undefined });
    expect(second).toEqual({ record: record('kept'), replayed: true, storeError: undefined });
    expect(step.runs).toBe(1);
  });

  it('returns a record not to be kept as a record, and releases the key so the next run runs the step', async () => {
    const idempotency = await runner();
    const step = scripted(
      { record: record('not kept'), store: false },
      { record: record('then'), store: true },
    );
    expect(await runSuppressed(idempotency, stepKey(trigger, request), step)).toEqual({
      record: record('not kept'),
      replayed: false,
    });
    expect(await runSuppressed(idempotency, stepKey(trigger, request), step)).toMatchObject({
      record: record('then'),
      replayed: false,
    });
    expect(step.runs).toBe(2);
  });

  it('does the same without a table (no suppression), and lets a fault through as a throw', async () => {
    const idempotency = createIdempotentRunner({ tableName: undefined });
    expect(
      await runSuppressed(
        idempotency,
        stepKey(trigger, request),
        scripted({ record: record('x'), store: false }),
      ),
    ).toEqual({ record: record('x'), replayed: false });
    const fault = new Error('a bug');
    await expect(
      runSuppressed(idempotency, stepKey(trigger, request), async () => {
        throw fault;
      }),
    ).rejects.toBe(fault);
  });

  it('gives a dry run a guard that always claims and releases nothing', async () => {
    expect(await UNGUARDED.claimSending({ source_version: '1.0', target_version: '2.0' })).toEqual({
      claimed: true,
    });
    await expect(UNGUARDED.releaseSending()).resolves.toBeUndefined();
  });
});
