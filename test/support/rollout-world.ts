import type { Context } from 'aws-lambda';
import { vi } from 'vitest';
import { type DynaliteStandIn, startDynalite } from '../../stand-ins/dynamodb.ts';
import { type EventBridgeStandIn, startEventBridgeStandIn } from '../../stand-ins/eventbridge.ts';
import { startSecretsManagerStandIn } from '../../stand-ins/secrets-manager.ts';
import {
  type Execution,
  type StepFunctionsStandIn,
  startStepFunctionsStandIn,
} from '../../stand-ins/stepfunctions.ts';
import { startTaurusDbStandIn, type TaurusDbStandIn } from '../../stand-ins/taurusdb.ts';
import { lambdaContext } from './lambda-context.ts';
import { captureProcessOutput } from './process-output.ts';
import { leakedSecrets } from './secret-leaks.ts';
import { generateWebhookKey, signWebhook } from './webhook-signing.ts';
import { sample } from './world.ts';

/**
 * The rollouts function (functions/rollouts.ts, its production wiring) over the loopback stand-ins:
 * TaurusDB with the given proxies, dynalite, EventBridge, Secrets Manager and the Step Functions
 * stand-in. Its executions run nothing: a test drives the machine's tasks (`plan`, `advance`) itself,
 * tick by tick, so it decides when each tick happens (test/state-machine.test.ts runs the machine).
 */

const STATE_MACHINE_ARN =
  'arn:aws:states:eu-west-1:123456789012:stateMachine:taurusdb-proxy-upgrader-test-rollouts';
const TOKEN = 'MIIT-rollout-intake-token-0123456789';
const ROLLOUT_WORLD_SECRET_ACCESS_KEY = 'rollout-intake-secret-access-key';

export interface RolloutWorld {
  taurusDb: TaurusDbStandIn;
  eventBridge: EventBridgeStandIn;
  dynalite: DynaliteStandIn;
  sfn: StepFunctionsStandIn;
  handlers: Pick<typeof import('../../functions/rollouts.ts'), 'handler' | 'plan' | 'advance'>;
  errors: typeof import('../../lib/errors.ts');
  /** The webhook key in the Secrets Manager stand-in, for tests that look for it where it must not be. */
  webhookKey: string;
  /** Invokes the intake as Lambda would (a fresh context unless one is given). */
  invoke(event: unknown, context?: Context): Promise<unknown>;
  /** GET /rollouts/{id}, signed, parsed. */
  status(rolloutId: string): Promise<HttpAnswer>;
  /** POST /rollouts/{id}/<action>, signed, parsed. */
  control(rolloutId: string, action: 'approve' | 'pause' | 'resume' | 'cancel'): Promise<HttpAnswer>;
  /** POST /rollouts with this body, signed with this webhook-id, parsed. */
  post(body: unknown, webhookId: string): Promise<HttpAnswer>;
  /** Any route, signed with `key` (default: the stand-in's webhook key), parsed. */
  call(method: 'GET' | 'POST', path: string, body: string, key?: string): Promise<HttpAnswer>;
  close(): Promise<void>;
}

export type HttpAnswer = { statusCode: number; json: Record<string, unknown> };

type Proxy = { projectId: string; instanceId: string; proxyId: string; version: string };

export interface RolloutWorldOptions {
  /** The clock of the tick and the upgrade step (lib/composition/rollout-function.ts); default: real time. */
  now?: () => Date;
  /** What a started execution does; default: succeed at once, running nothing. */
  run?: (execution: Execution) => Promise<unknown>;
}

export async function startRolloutWorld(
  proxies: Proxy[],
  options: RolloutWorldOptions = {},
): Promise<RolloutWorld> {
  const [taurusDb, secrets, eventBridge, dynalite, sfn] = await Promise.all([
    startTaurusDbStandIn({ acceptedTokens: [TOKEN], proxies, workflows: { durationMs: 0 } }),
    startSecretsManagerStandIn(),
    startEventBridgeStandIn(),
    startDynalite(),
    startStepFunctionsStandIn(options.run ?? (async () => ({}))),
  ]);
  await dynalite.createTable('rollouts');
  const webhookKey = generateWebhookKey();
  secrets.put('test/huawei-credentials', { token: TOKEN });
  secrets.put('test/webhook', { key: webhookKey });
  const previousEnv = { ...process.env };
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDROLLOUTINTAKE',
    AWS_SECRET_ACCESS_KEY: ROLLOUT_WORLD_SECRET_ACCESS_KEY,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.server.url,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
    AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
    AWS_ENDPOINT_URL_SFN: sfn.url,
    TAURUSDB_ENDPOINT: taurusDb.url,
    HUAWEI_CREDENTIALS_SECRET_ID: 'test/huawei-credentials',
    WEBHOOK_SECRET_ID: 'test/webhook',
    EVENT_BUS_NAME: 'rollout-intake-bus',
    IDEMPOTENCY_TABLE: dynalite.tableName,
    ROLLOUT_TABLE: 'rollouts',
    ROLLOUT_STATE_MACHINE_ARN: STATE_MACHINE_ARN,
    POWERTOOLS_METRICS_NAMESPACE: 'TaurusDbProxyUpgraderTest',
  });
  const output = captureProcessOutput();
  vi.resetModules();
  const module = await import('../../functions/rollouts.ts');
  // The production wiring, with the test's clock when it has one.
  const handlers =
    options.now === undefined
      ? module
      : module.createHandlers(
          (await import('../../lib/composition/rollout-function.ts')).createRolloutDependencies(
            (await import('../../lib/config.ts')).loadRolloutConfig(),
            undefined,
            options.now,
          ),
        );
  const errors = await import('../../lib/errors.ts');
  let calls = 0;
  /** A signed HTTP API call of the rollouts function's routes, as API Gateway hands it over. */
  async function signedCall(
    method: 'GET' | 'POST',
    path: string,
    body: string,
    webhookId?: string,
    key = webhookKey,
  ) {
    calls += 1;
    const event = sample('http-api-v2.json');
    Object.assign(event, { routeKey: `${method} ${path}`, rawPath: path, body });
    Object.assign(event.requestContext, { routeKey: `${method} ${path}` });
    Object.assign(event.requestContext.http, { path, method });
    const id = webhookId ?? `msg_call_${calls}`;
    Object.assign(event.headers, signWebhook({ key, id, timestamp: Math.floor(Date.now() / 1000), body }));
    const answer = (await handlers.handler(event, lambdaContext())) as { statusCode: number; body: string };
    return { statusCode: answer.statusCode, json: JSON.parse(answer.body) as Record<string, unknown> };
  }
  return {
    taurusDb,
    eventBridge,
    dynalite,
    sfn,
    handlers,
    errors,
    webhookKey,
    invoke: (event, context = lambdaContext()) => handlers.handler(event, context),
    status: (rolloutId) => signedCall('GET', `/rollouts/${rolloutId}`, ''),
    control: (rolloutId, action) => signedCall('POST', `/rollouts/${rolloutId}/${action}`, ''),
    post: (body, webhookId) => signedCall('POST', '/rollouts', JSON.stringify(body), webhookId),
    call: (method, path, body, key) => signedCall(method, path, body, undefined, key),
    async close() {
      output.restore();
      // As in world.ts: no rollout test may make a handler log the token, the webhook key or AWS's key.
      const leaked = leakedSecrets(output.lines().join('\n'), [
        TOKEN,
        webhookKey,
        ROLLOUT_WORLD_SECRET_ACCESS_KEY,
      ]);
      process.env = previousEnv;
      await Promise.all([
        taurusDb.close(),
        secrets.close(),
        eventBridge.close(),
        dynalite.close(),
        sfn.close(),
      ]);
      if (leaked.length > 0) throw new Error(`a rollout handler logged ${leaked.length} secret value(s)`);
    },
  };
}
