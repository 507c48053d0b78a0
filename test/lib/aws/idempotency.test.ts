import { createServer } from 'node:net';
import { IdempotencyAlreadyInProgressError } from '@aws-lambda-powertools/idempotency';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createIdempotentRunner, type IdempotentRunner, type StepKey } from '../../../lib/aws/idempotency.ts';
import { IdempotencyStoreError, InProgressError } from '../../../lib/errors.ts';
import { type DynaliteStandIn, dynamoClientConfig, startDynalite } from '../../../stand-ins/dynamodb.ts';
import { lambdaContext } from '../../support/lambda-context.ts';

const key: StepKey = {
  kind: 'http',
  deliveryId: 'msg_2Kx7QvWjYc3pT9aLm0Nd',
  project_id: '054e292c9880d4992f02c0196d3ea468',
  instance_id: '517ea793ab91438cbfcd9c4b1c958b1ein07',
  proxy_id: '0f46fc46396e4fb19a0cb52f578e9511po01',
  source_version: '2.23.12.000',
  target_version: '2.24.03.000',
};

const otherValues: Record<Exclude<keyof StepKey, 'kind'>, string> = {
  deliveryId: 'msg_9Zq1RbTf0Gh4Ys8uVe2K',
  project_id: '1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d',
  instance_id: '61a4ea66210545909d74a05c27a7179ein07',
  proxy_id: '7f1bd2e4c6a84e19a5d3c0b9e8f7a6d5po01',
  source_version: '2.23.06.000',
  target_version: '2.24.06.000',
};

/** What the caller will store: the TaurusDB outcome plus the time it happened. */
function outcome(workflowId: string) {
  return {
    occurred_at: '2026-11-27T10:00:00.000Z',
    kind: 'completed' as const,
    items: [
      { instance_id: null, workflow_id: workflowId, state: 'ACCEPT', error_message: null },
      {
        instance_id: key.instance_id,
        workflow_id: null,
        state: 'REJECT',
        error_message: 'insufficient subnet ip',
      },
    ],
    // Gone in the JSON form, and DynamoDB marshalling would refuse it.
    retry_after: undefined,
  };
}

/** A step that counts its runs and answers what `produce` gives. */
function countingStep<T>(produce: (run: number) => T | Promise<T>) {
  const step = async () => {
    step.runs += 1;
    return produce(step.runs);
  };
  step.runs = 0;
  return step;
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('createIdempotentRunner over DynamoDB (dynalite)', () => {
  let dynamo: DynaliteStandIn;
  let documents: DynamoDBDocumentClient;

  beforeAll(async () => {
    dynamo = await startDynalite();
    documents = DynamoDBDocumentClient.from(dynamo.client());
  });
  afterAll(() => dynamo.close());

  /** A runner on a table of its own, so the test sees only its own records. */
  async function freshRunner(windowSeconds?: number) {
    const tableName = await dynamo.createTable();
    const runner = createIdempotentRunner({
      tableName,
      client: dynamo.client(),
      ...(windowSeconds === undefined ? {} : { windowSeconds: { http: windowSeconds } }),
    });
    runner.registerLambdaContext(lambdaContext());
    return { tableName, runner };
  }

  async function onlyRecord(tableName: string) {
    const records = await dynamo.scan(tableName);
    expect(records).toHaveLength(1);
    return records[0] as Record<string, unknown> & { id: string };
  }

  it('runs the step once per key and replays the stored JSON value, stored with Powertools default layout', async () => {
    const { tableName, runner } = await freshRunner();
    const step = countingStep(() => outcome('wf-1'));
    const before = Date.now();
    const first = await runner.run(key, step);
    const after = Date.now();
    const second = await runner.run(key, step);

    expect(step.runs).toBe(1);
    expect(first).toStrictEqual({ value: JSON.parse(JSON.stringify(outcome('wf-1'))), replayed: false });
    expect(second).toStrictEqual({ value: first.value, replayed: true });
    expect('retry_after' in first.value).toBe(false);

    const record = await onlyRecord(tableName);
    expect(record.id.startsWith('taurusdb-proxy-upgrader.upgrade-step#')).toBe(true);
    expect(record.status).toBe('COMPLETED');
    expect(record.data).toStrictEqual(first.value);
    // Default window of a webhook: 48 hours (longer than Svix retries), written as epoch seconds in
    // `expiration` (the table's TTL attribute).
    expect(record.expiration).toBeGreaterThanOrEqual(Math.floor(before / 1000) + 48 * 3600);
    expect(record.expiration).toBeLessThanOrEqual(Math.ceil(after / 1000) + 48 * 3600);
  });

  it('keeps each trigger kind for its own window, whichever kind the container served first', async () => {
    const { tableName, runner } = await freshRunner();
    const before = Math.floor(Date.now() / 1000);
    await runner.run({ ...key, kind: 'event', deliveryId: 'event-delivery' }, async () => outcome('wf-e'));
    await runner.run({ ...key, kind: 'http', deliveryId: 'http-delivery' }, async () => outcome('wf-h'));
    const windows = (await dynamo.scan(tableName))
      .map((record) => Number(record.expiration) - before)
      .sort((a, b) => a - b);
    expect(windows).toHaveLength(2);
    expect(windows[0]).toBeGreaterThanOrEqual(24 * 3600);
    expect(windows[0]).toBeLessThan(24 * 3600 + 60);
    expect(windows[1]).toBeGreaterThanOrEqual(48 * 3600);
    expect(windows[1]).toBeLessThan(48 * 3600 + 60);
  });

  it.each(Object.keys(otherValues) as (keyof typeof otherValues)[])(
    'runs again when only %s differs',
    async (field) => {
      const { runner } = await freshRunner();
      const step = countingStep((run) => ({ run }));
      await runner.run(key, step);
      const other = await runner.run({ ...key, [field]: otherValues[field] }, step);
      expect(other).toStrictEqual({ value: { run: 2 }, replayed: false });
      expect(step.runs).toBe(2);
    },
  );

  it('ignores everything else the caller passes along (change_id, requested_by)', async () => {
    const { runner } = await freshRunner();
    const step = countingStep((run) => ({ run }));
    const request = { ...key, change_id: 'CHG0031337', requested_by: 'alice@example.com' };
    await runner.run(request, step);
    const redelivered = { ...request, change_id: 'CHG0049999', requested_by: 'bob@example.com' };
    const again = await runner.run(redelivered, step);
    expect(again).toStrictEqual({ value: { run: 1 }, replayed: true });
    expect(step.runs).toBe(1);
  });

  it('refuses an in-flight duplicate with InProgressError (409), then replays once the first completes', async () => {
    const { runner } = await freshRunner();
    const started = deferred();
    const release = deferred();
    const step = countingStep(async () => {
      started.resolve();
      await release.promise;
      return outcome('wf-concurrent');
    });

    const first = runner.run(key, step);
    await started.promise;
    const duplicate = await runner.run(key, step).catch((caught: unknown) => caught);
    expect(duplicate).toBeInstanceOf(InProgressError);
    expect((duplicate as InProgressError).statusCode).toBe(409);
    expect((duplicate as InProgressError).message).toBe(
      `delivery ${key.deliveryId} to proxy ${key.proxy_id} of instance ${key.instance_id} is already in progress`,
    );
    // Powertools' own error stays reachable for whoever reads the 409's log line.
    expect((duplicate as InProgressError).cause).toBeInstanceOf(IdempotencyAlreadyInProgressError);

    release.resolve();
    expect((await first).replayed).toBe(false);
    const third = await runner.run(key, step);
    expect(third).toStrictEqual({ value: (await first).value, replayed: true });
    expect(step.runs).toBe(1);
  });

  it('lets a retry take over once the in-progress record outlives the invocation that wrote it', async () => {
    const { tableName, runner } = await freshRunner();
    runner.registerLambdaContext(lambdaContext({ getRemainingTimeInMillis: () => 45_000 }));
    const started = deferred();
    const never = deferred<{ run: number }>();
    const stuck = countingStep(async () => {
      started.resolve();
      return never.promise;
    });
    const before = Date.now();
    const abandoned = runner.run(key, stuck);
    await started.promise;
    const after = Date.now();

    const record = await onlyRecord(tableName);
    expect(record.status).toBe('INPROGRESS');
    expect(record.in_progress_expiration).toBeGreaterThanOrEqual(before + 45_000);
    expect(record.in_progress_expiration).toBeLessThanOrEqual(after + 45_000);

    // The invocation "died": its deadline passes instead of waiting 45 s.
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { id: record.id },
        UpdateExpression: 'SET in_progress_expiration = :past',
        ExpressionAttributeValues: { ':past': Date.now() - 1 },
      }),
    );
    const retry = countingStep(() => outcome('wf-retry'));
    const taken = await runner.run(key, retry);
    expect(taken.replayed).toBe(false);
    expect(retry.runs).toBe(1);
    expect((await onlyRecord(tableName)).status).toBe('COMPLETED');

    never.resolve({ run: 1 });
    await abandoned;
  });

  it('runs again once the window is over, and writes the configured window', async () => {
    const { tableName, runner } = await freshRunner(90);
    const step = countingStep((run) => ({ run }));
    const before = Date.now();
    await runner.run(key, step);
    const record = await onlyRecord(tableName);
    expect(record.expiration).toBeGreaterThanOrEqual(Math.floor(before / 1000) + 90);
    expect(record.expiration).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 90);

    // DynamoDB's TTL deletes lazily; an expired record must be overwritten even while it is still there.
    await documents.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { id: record.id },
        UpdateExpression: 'SET expiration = :past',
        ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 },
      }),
    );
    expect(await runner.run(key, step)).toStrictEqual({ value: { run: 2 }, replayed: false });
    expect(await runner.run(key, step)).toStrictEqual({ value: { run: 2 }, replayed: true });
    expect(step.runs).toBe(2);
  });

  it('stores nothing when the step throws, so the next call runs it again', async () => {
    const { tableName, runner } = await freshRunner();
    const failure = new Error('credentials secret could not be read');
    const failing = countingStep((): { run: number } => {
      throw failure;
    });
    await expect(runner.run(key, failing)).rejects.toBe(failure);
    expect(await dynamo.scan(tableName)).toEqual([]);

    const step = countingStep((run) => ({ run }));
    expect(await runner.run(key, step)).toStrictEqual({ value: { run: 1 }, replayed: false });
    expect(failing.runs).toBe(1);
  });

  it('refuses to run before the Lambda context is registered', async () => {
    const tableName = await dynamo.createTable();
    const runner = createIdempotentRunner({ tableName, client: dynamo.client() });
    const step = countingStep((run) => ({ run }));
    await expect(runner.run(key, step)).rejects.toThrow(
      'registerLambdaContext(context) must be called before run',
    );
    expect(step.runs).toBe(0);
    expect(await dynamo.scan(tableName)).toEqual([]);
  });

  it('names the empty key field and touches nothing', async () => {
    const { tableName, runner } = await freshRunner();
    const step = countingStep((run) => ({ run }));
    await expect(runner.run({ ...key, deliveryId: '' }, step)).rejects.toThrow(
      'idempotency key field delivery_id must be a non-empty string',
    );
    expect(step.runs).toBe(0);
    expect(await dynamo.scan(tableName)).toEqual([]);
  });

  it('fails with IdempotencyStoreError naming the table when it does not exist', async () => {
    const runner = createIdempotentRunner({
      tableName: 'upgrades-idempotency-typo',
      client: dynamo.client(),
    });
    runner.registerLambdaContext(lambdaContext());
    const step = countingStep((run) => ({ run }));
    const error = await runner.run(key, step).catch((caught: unknown) => caught);
    expect(step.runs).toBe(0);
    expect(error).toBeInstanceOf(IdempotencyStoreError);
    expect((error as Error).message).toContain(
      'duplicate suppression table upgrades-idempotency-typo could not be used for delivery msg_2Kx7QvWjYc3pT9aLm0Nd',
    );
    expect((error as Error).message).toContain('(ResourceNotFoundException); the upgrade was not attempted');
  });

  it('uses the SDK standard settings by default, so AWS_ENDPOINT_URL_DYNAMODB reaches the table', async () => {
    const tableName = await dynamo.createTable();
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', dynamo.endpoint);
    vi.stubEnv('AWS_REGION', dynamoClientConfig.region);
    vi.stubEnv('AWS_ACCESS_KEY_ID', dynamoClientConfig.credentials.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', dynamoClientConfig.credentials.secretAccessKey);
    const runner = createIdempotentRunner({ tableName });
    runner.registerLambdaContext(lambdaContext());
    await runner.run(key, async () => ({ done: true }));
    expect((await onlyRecord(tableName)).data).toEqual({ done: true });
  });
});

describe('createIdempotentRunner when DynamoDB fails', () => {
  it('fails with IdempotencyStoreError and does not run the step when the table cannot be reached', async () => {
    const client = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${await closedPort()}`,
      ...dynamoClientConfig,
    });
    const runner = createIdempotentRunner({ tableName: 'upgrades-idempotency', client });
    runner.registerLambdaContext(lambdaContext());
    const step = countingStep((run) => ({ run }));
    const error = await runner.run(key, step).catch((caught: unknown) => caught);
    client.destroy();

    expect(step.runs).toBe(0);
    expect(error).toBeInstanceOf(IdempotencyStoreError);
    expect((error as IdempotencyStoreError).statusCode).toBe(503);
    expect((error as IdempotencyStoreError).expose).toBe(true);
    expect((error as IdempotencyStoreError).message).toMatch(
      /^duplicate suppression table upgrades-idempotency could not be used for delivery msg_2Kx7QvWjYc3pT9aLm0Nd to proxy 0f46fc46396e4fb19a0cb52f578e9511po01 of instance 517ea793ab91438cbfcd9c4b1c958b1ein07 \(ECONNREFUSED\); the upgrade was not attempted$/,
    );
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it('still returns what the step produced when only storing it fails, with the store error attached', async () => {
    const dynamo = await startDynalite();
    const client = new DynamoDBClient({ endpoint: dynamo.endpoint, ...dynamoClientConfig });
    const runner = createIdempotentRunner({ tableName: dynamo.tableName, client });
    runner.registerLambdaContext(lambdaContext());
    const step = countingStep(async () => {
      // TaurusDB has answered; now the store goes away before the result is written.
      await dynamo.close();
      return outcome('wf-unstored');
    });
    const result = await runner.run(key, step);
    client.destroy();

    expect(step.runs).toBe(1);
    expect(result.value).toStrictEqual(JSON.parse(JSON.stringify(outcome('wf-unstored'))));
    expect(result.replayed).toBe(false);
    expect(result.storeError).toBeInstanceOf(IdempotencyStoreError);
    // The store's own failure stays its cause: the log line names what DynamoDB said.
    expect(result.storeError?.cause).toBeInstanceOf(Error);
    expect(result.storeError?.message).toMatch(
      new RegExp(
        `^the result of delivery ${key.deliveryId} to proxy ${key.proxy_id} of instance ${key.instance_id} could not be stored in table ${dynamo.tableName} \\(\\w+\\)$`,
      ),
    );
  });
});

describe('createIdempotentRunner without a table', () => {
  let runner: IdempotentRunner;
  beforeAll(() => {
    runner = createIdempotentRunner({ tableName: undefined });
  });

  it('runs the step every time, needs no Lambda context, and returns the JSON form', async () => {
    const step = countingStep(() => outcome('wf-pass'));
    const first = await runner.run(key, step);
    const second = await runner.run(key, step);
    expect(step.runs).toBe(2);
    expect(first).toStrictEqual({ value: JSON.parse(JSON.stringify(outcome('wf-pass'))), replayed: false });
    expect(second.replayed).toBe(false);
    runner.registerLambdaContext(lambdaContext());
  });
});
