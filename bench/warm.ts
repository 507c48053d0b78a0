import { readFileSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import { Agent } from 'undici';
import { lambdaContext } from '../test/support/lambda-context.ts';
import { signWebhook } from '../test/support/webhook-signing.ts';
import {
  BARE_TOKEN,
  CREDENTIALS_SECRET_ID,
  type TimedCall,
  type UpstreamCounts,
  type Upstreams,
  WEBHOOK_SECRET_ID,
} from './upstreams.ts';

export type Handler = (event: unknown, context: Context) => Promise<unknown>;

const sample = JSON.parse(readFileSync(new URL('../events/http-api-v2.json', import.meta.url), 'utf8'));
/** The single-target request every invocation sends: the HTTP sample's own body. */
export const SAMPLE_REQUEST = JSON.parse(sample.body) as Record<string, string>;
export const EVENT_BUS_NAME = 'taurusdb-upgrades-bench';
const AWS_CREDENTIALS = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret-access-key' };

/** The environment of the deployed function (serverless.yml), aimed at the upstreams. */
export function handlerEnvironment(
  upstreams: Upstreams,
  { idempotency, concurrency }: { idempotency: boolean; concurrency: number },
): Record<string, string> {
  return {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: AWS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: AWS_CREDENTIALS.secretAccessKey,
    AWS_LAMBDA_FUNCTION_NAME: 'taurusdb-proxy-upgrader-bench-upgrade',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: upstreams.secretsManager,
    AWS_ENDPOINT_URL_EVENTBRIDGE: upstreams.eventBridge,
    AWS_ENDPOINT_URL_DYNAMODB: upstreams.dynamoDb,
    TAURUSDB_ENDPOINT: upstreams.taurusDb,
    HUAWEI_IAM_ENDPOINT: upstreams.iam,
    HUAWEI_CREDENTIALS_SECRET_ID: CREDENTIALS_SECRET_ID,
    WEBHOOK_SECRET_ID: WEBHOOK_SECRET_ID,
    EVENT_BUS_NAME: EVENT_BUS_NAME,
    // The default, spelled out because the batch's ideal time is computed from it.
    UPGRADE_CONCURRENCY: String(concurrency),
    POWERTOOLS_LOG_LEVEL: 'INFO',
    ...(idempotency ? { IDEMPOTENCY_TABLE: upstreams.tableName } : {}),
  };
}

/**
 * Imports the bundle as a new module instance (its own clients, pools and caches: a new container)
 * after setting the environment it reads at import.
 */
export async function importHandler(
  bundleFile: string,
  environment: Record<string, string>,
  instance: string,
): Promise<Handler> {
  delete process.env.IDEMPOTENCY_TABLE;
  Object.assign(process.env, environment);
  const url = `${pathToFileURL(bundleFile).href}?container=${encodeURIComponent(instance)}`;
  const module = (await import(url)) as { handler: Handler };
  return module.handler;
}

let deliveries = 0;

/** The HTTP API (payload 2.0) sample with `body`, signed as a Standard Webhooks sender would. */
export function signedHttpEvent(webhookKey: string, body: unknown): unknown {
  const event = structuredClone(sample);
  const text = JSON.stringify(body);
  deliveries += 1;
  Object.assign(
    event.headers,
    signWebhook({
      key: webhookKey,
      id: `msg_bench_${process.pid}_${deliveries}`,
      timestamp: Math.floor(Date.now() / 1000),
      body: text,
    }),
  );
  event.headers['content-length'] = String(Buffer.byteLength(text));
  event.body = text;
  return event;
}

/** The sample request aimed at another proxy (a batch needs distinct targets). */
export function requestFor(index: number): Record<string, string> {
  return { ...SAMPLE_REQUEST, proxy_id: `bench${String(index).padStart(4, '0')}po01` };
}

export interface InvocationRun {
  /** Wall time of each invocation. */
  elapsedMs: number[];
  /** Wall time minus the latency the proxies gave the requests it made. */
  overheadMs: number[];
  /** Answers that were not "200, every target accepted", described. */
  failures: string[];
  /**
   * Where the overhead went: the time before the first call, between one call's answer and the next
   * call, and after the last answer, by the calls around it (`start → GET version`, ...).
   */
  segments: Record<string, number[]>;
}

/** Why an answer is not "HTTP 200 with every outcome accepted"; undefined when it is. */
export function answerProblem(answer: unknown, targets: number): string | undefined {
  const { statusCode, body } = (answer ?? {}) as { statusCode?: number; body?: string };
  let outcomes: Array<{ outcome?: string }> = [];
  try {
    outcomes = (JSON.parse(body ?? '{}') as { outcomes?: Array<{ outcome?: string }> }).outcomes ?? [];
  } catch {
    return `status ${statusCode}, body not JSON`;
  }
  const accepted = outcomes.filter((outcome) => outcome.outcome === 'accepted').length;
  if (statusCode === 200 && accepted === targets) return undefined;
  return `status ${statusCode}, ${accepted} of ${targets} accepted: ${String(body).slice(0, 300)}`;
}

/** Invokes the handler once per event, one after the other, as warm invocations of one container. */
export async function runInvocations(
  handler: Handler,
  events: unknown[],
  upstreams: Upstreams,
): Promise<InvocationRun> {
  const run: InvocationRun = { elapsedMs: [], overheadMs: [], failures: [], segments: {} };
  for (const event of events) {
    const context = lambdaContext();
    const before = upstreams.tally();
    const startedAt = performance.now();
    const answer = await handler(event, context);
    const endedAt = performance.now();
    const elapsed = endedAt - startedAt;
    const after = upstreams.tally();
    run.elapsedMs.push(elapsed);
    run.overheadMs.push(elapsed - (after.injectedMs - before.injectedMs));
    addSegments(run.segments, startedAt, endedAt, upstreams.timeline(startedAt, endedAt));
    const problem = answerProblem(answer, 1);
    if (problem !== undefined) run.failures.push(problem);
  }
  return run;
}

function addSegments(
  segments: Record<string, number[]>,
  startedAt: number,
  endedAt: number,
  calls: TimedCall[],
) {
  const add = (label: string, ms: number) => {
    const values = segments[label] ?? [];
    values.push(ms);
    segments[label] = values;
  };
  let from = 'start';
  let at = startedAt;
  for (const call of calls) {
    add(`${from} → ${call.label}`, call.arrivedAt - at);
    from = call.label;
    at = call.answeredAt ?? call.arrivedAt;
  }
  add(`${from} → end`, endedAt - at);
}

export interface BareLoopOptions {
  iterations: number;
  /** Also read the proxy version first, when the handler was seen doing so. */
  versionRead: boolean;
  /** Also write the four duplicate-suppression records, with the SDK's DynamoDB client. */
  idempotencyTable?: string | undefined;
  /** Makes the records' keys distinct from another loop's in the same process. */
  keyPrefix?: string;
  /**
   * How PutEvents is sent: with undici (issue 8's bare loop, table 2) or with the SDK's EventBridge
   * client, as the function and the cold-start floor send it (issue 18's CPU comparison, table 2c:
   * docs/performance.md says why).
   */
  putEventsWith?: 'undici' | 'sdk';
}

/** A conditional write like the function's delivery and sending records (lib/aws/step-records.ts). */
function conditionalPut(
  tableName: string | undefined,
  id: string,
  attributes: Record<string, { S: string }>,
) {
  return new PutItemCommand({
    TableName: tableName,
    Item: { id: { S: id }, expiration: { N: String(Math.floor(Date.now() / 1000) + 3600) }, ...attributes },
    ConditionExpression: 'attribute_not_exists(id) OR #expiration < :now',
    ExpressionAttributeNames: { '#expiration': 'expiration' },
    ExpressionAttributeValues: { ':now': { N: String(Math.floor(Date.now() / 1000)) } },
  });
}

/**
 * The floor of a warm invocation: the same calls, made directly against the same upstreams (TaurusDB
 * with undici, PutEvents with undici or the SDK's EventBridge client, DynamoDB with the SDK's client),
 * with nothing else around them: no trigger parsing, validation, signing check, logging, metrics or
 * events to build. Answers are read and parsed.
 */
export async function runBareLoop(upstreams: Upstreams, options: BareLoopOptions): Promise<InvocationRun> {
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  const dynamo = options.idempotencyTable
    ? new DynamoDBClient({
        endpoint: upstreams.dynamoDb,
        region: 'eu-west-1',
        credentials: AWS_CREDENTIALS,
        maxAttempts: 1,
      })
    : undefined;
  const sdkEvents =
    options.putEventsWith === 'sdk'
      ? new EventBridgeClient({
          endpoint: upstreams.eventBridge,
          region: 'eu-west-1',
          credentials: AWS_CREDENTIALS,
          maxAttempts: 1,
        })
      : undefined;
  const { project_id, instance_id, proxy_id } = SAMPLE_REQUEST;
  const proxyPath = `/v3/${project_id}/instances/${instance_id}/proxy/${proxy_id}`;
  const upgradeBody = JSON.stringify({
    source_version: SAMPLE_REQUEST.source_version,
    target_version: SAMPLE_REQUEST.target_version,
  });
  const headers = { accept: 'application/json', 'x-auth-token': BARE_TOKEN, 'x-language': 'en-us' };

  interface BareCall {
    origin: string;
    method: 'GET' | 'POST';
    path: string;
    headers: Record<string, string>;
    body?: string;
  }
  // biome-ignore lint/suspicious/noExplicitAny: answers are JSON, read as the function reads them
  async function call({ origin, method, path, headers, body }: BareCall): Promise<any> {
    const response = await agent.request({ origin, path, method, headers, body: body ?? null });
    const parsed = JSON.parse(await response.body.text());
    if (response.statusCode !== 200)
      throw new Error(`bare loop: ${method} ${path} answered ${response.statusCode}`);
    // As the function's client does: one turn lets undici reuse the socket just freed.
    await nextTurn();
    return parsed;
  }

  const run: InvocationRun = { elapsedMs: [], overheadMs: [], failures: [], segments: {} };
  for (let index = 0; index < options.iterations; index += 1) {
    const before = upstreams.tally();
    const startedAt = performance.now();
    const key = `bench.bare#${process.pid}-${options.keyPrefix ?? ''}${index}`;
    // The delivery record (the request's hash), once per delivery, before anything else.
    if (dynamo)
      await dynamo.send(
        conditionalPut(options.idempotencyTable, `${key}.delivery`, { request_hash: { S: key } }),
      );
    if (dynamo) {
      await dynamo.send(
        new PutItemCommand({
          TableName: options.idempotencyTable,
          Item: {
            id: { S: key },
            status: { S: 'INPROGRESS' },
            expiration: { N: String(Math.floor(Date.now() / 1000) + 3600) },
            in_progress_expiration: { N: String(Date.now() + 29_000) },
          },
          ConditionExpression: 'attribute_not_exists(#id) OR #expiry < :now',
          ExpressionAttributeNames: { '#id': 'id', '#expiry': 'expiration' },
          ExpressionAttributeValues: { ':now': { N: String(Math.floor(Date.now() / 1000)) } },
        }),
      );
    }
    if (options.versionRead) {
      await call({
        origin: upstreams.taurusDb,
        method: 'GET',
        path: `${proxyPath}/taurusproxy/proxy-version`,
        headers,
      });
    }
    // The sending record, right before the POST.
    if (dynamo)
      await dynamo.send(conditionalPut(options.idempotencyTable, `${key}.sending`, { owner: { S: key } }));
    const upgrade = await call({
      origin: upstreams.taurusDb,
      method: 'POST',
      path: `${proxyPath}/upgrade-version`,
      headers: { ...headers, 'content-type': 'application/json' },
      body: upgradeBody,
    });
    if (dynamo) {
      await dynamo.send(
        new UpdateItemCommand({
          TableName: options.idempotencyTable,
          Key: { id: { S: key } },
          UpdateExpression: 'SET #response_data = :response_data, #expiry = :expiry, #status = :status',
          ExpressionAttributeNames: {
            '#response_data': 'data',
            '#expiry': 'expiration',
            '#status': 'status',
          },
          ExpressionAttributeValues: {
            ':response_data': { S: JSON.stringify(upgrade) },
            ':expiry': { N: String(Math.floor(Date.now() / 1000) + 3600) },
            ':status': { S: 'COMPLETED' },
          },
        }),
      );
    }
    const entry = {
      Source: 'taurusdb.proxy-upgrader',
      DetailType: 'Proxy Upgrade Accepted',
      Detail: JSON.stringify({ request: SAMPLE_REQUEST, result: upgrade.update_result[0], index }),
      EventBusName: EVENT_BUS_NAME,
    };
    if (sdkEvents) {
      const sent = await sdkEvents.send(new PutEventsCommand({ Entries: [entry] }));
      if (sent.FailedEntryCount) throw new Error('bare loop: PutEvents failed an entry');
    } else {
      await call({
        origin: upstreams.eventBridge,
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
        body: JSON.stringify({ Entries: [entry] }),
      });
    }
    const endedAt = performance.now();
    const elapsed = endedAt - startedAt;
    const after = upstreams.tally();
    run.elapsedMs.push(elapsed);
    run.overheadMs.push(elapsed - (after.injectedMs - before.injectedMs));
    addSegments(run.segments, startedAt, endedAt, upstreams.timeline(startedAt, endedAt));
  }
  dynamo?.destroy();
  sdkEvents?.destroy();
  await agent.close();
  return run;
}

export interface BatchRun {
  wallMs: number;
  problem: string | undefined;
}

/** One invocation with a batch of `targets` distinct targets. */
export async function runBatch(handler: Handler, webhookKey: string, targets: number): Promise<BatchRun> {
  const event = signedHttpEvent(webhookKey, {
    upgrades: Array.from({ length: targets }, (_, index) => requestFor(index)),
  });
  const startedAt = performance.now();
  const answer = await handler(event, lambdaContext());
  const wallMs = performance.now() - startedAt;
  return { wallMs, problem: answerProblem(answer, targets) };
}

/** What changed between two snapshots of the upstream counts. */
export function countsDelta(after: UpstreamCounts, before: UpstreamCounts): UpstreamCounts {
  const operations: Record<string, number> = {};
  for (const [name, count] of Object.entries(after.dynamoDb.operations)) {
    const delta = count - (before.dynamoDb.operations[name] ?? 0);
    if (delta !== 0) operations[name] = delta;
  }
  const minus = <T extends Record<string, unknown>>(a: T, b: T): T =>
    Object.fromEntries(
      Object.entries(a).map(([name, value]) => [
        name,
        typeof value === 'number' ? value - (b[name] as number) : value,
      ]),
    ) as T;
  return {
    taurusDb: minus(after.taurusDb, before.taurusDb),
    eventBridge: minus(after.eventBridge, before.eventBridge),
    dynamoDb: { ...minus(after.dynamoDb, before.dynamoDb), operations },
    secretsManager: minus(after.secretsManager, before.secretsManager),
    iam: minus(after.iam, before.iam),
  };
}
