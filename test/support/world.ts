import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { vi } from 'vitest';
import { type DynaliteStandIn, startDynalite } from '../../stand-ins/dynamodb.ts';
import { type EventBridgeStandIn, startEventBridgeStandIn } from '../../stand-ins/eventbridge.ts';
import { type IamStandIn, startIamStandIn } from '../../stand-ins/iam.ts';
import { type SchedulerStandIn, startSchedulerStandIn } from '../../stand-ins/scheduler.ts';
import { type SecretsManagerStandIn, startSecretsManagerStandIn } from '../../stand-ins/secrets-manager.ts';
import { type SqsStandIn, startSqsStandIn } from '../../stand-ins/sqs.ts';
import { startTaurusDbStandIn, type TaurusDbStandIn } from '../../stand-ins/taurusdb.ts';
import { lambdaContext } from './lambda-context.ts';
import { captureProcessOutput } from './process-output.ts';
import { leakedSecrets } from './secret-leaks.ts';
import { projectRoot } from './serverless-package.ts';
import { generateWebhookKey, signWebhook } from './webhook-signing.ts';

export const CREDENTIALS_SECRET_ID = 'test/huawei-credentials';
export const WEBHOOK_SECRET_ID = 'test/webhook-signing-key';
export const EVENT_BUS_NAME = 'taurusdb-upgrades-test';
export const STATIC_TOKEN = 'MIIT-static-test-token-0123456789';
export const IAM_USER = {
  domainName: 'acme-domain',
  userName: 'upgrader-bot',
  password: 'Pa55w0rd!-never-logged',
};
/** The access key of the `aksk` form; the TaurusDB stand-in knows this pair. */
export const AKSK_KEYS = {
  accessKey: 'HPUAWORLDTESTAK0001',
  secretKey: 'sk-world-Qm7Zr2Lx9Vb4Nc8Tp1Hd6Jw3Fy5Ks0',
  securityToken: 'stok-world-temporary-8Gf2Pq9Lm4Xz7Wc1',
};

export interface WorldOptions {
  /** Start dynalite and set IDEMPOTENCY_TABLE. */
  idempotency?: boolean;
  /** The credentials secret's form; `password` runs the IAM exchange, `aksk` signs every request. */
  credentials?: 'token' | 'password' | 'aksk';
  /** With `aksk`: put AKSK_KEYS.securityToken in the secret too (temporary credentials). */
  akSkSecurityToken?: boolean;
  /** With `aksk`: how far the TaurusDB stand-in's clock is ahead of the real one (negative: behind). */
  akSkClockSkewMs?: number;
  /** Extra environment for the handler (e.g. timeouts). */
  env?: Record<string, string>;
  /** Also start the SQS stand-in with a tracking queue and load functions/track.ts (`world.tracking`). */
  tracking?: boolean;
  /** Also start the Scheduler stand-in and turn deferred attempts on (`world.scheduler`). */
  scheduler?: boolean;
}

export const SCHEDULE_GROUP = 'taurusdb-proxy-upgrader-test-deferred';
export const UPGRADE_FUNCTION_ARN =
  'arn:aws:lambda:eu-west-1:123456789012:function:taurusdb-proxy-upgrader-test-upgrade';
export const SCHEDULER_ROLE_ARN = 'arn:aws:iam::123456789012:role/taurusdb-proxy-upgrader-test-scheduler';

/** The tracking function (functions/track.ts) loaded in the same world as the upgrade handler. */
export interface TrackingWorld {
  sqs: SqsStandIn;
  /** The production handler, as functions/track.ts builds it from the environment. */
  handler: Handler;
  /** The same handler wiring with another clock (the maximum tracking time is measured by it). */
  handlerWithClock(now: () => number): Handler;
  invoke(event: unknown, context?: Context): Promise<unknown>;
}

export type Handler = (event: unknown, context: Context) => Promise<unknown>;

export interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: answers are JSON read by assertions
  json: any;
}

export interface World {
  taurusDb: TaurusDbStandIn;
  iam: IamStandIn;
  secretsManager: SecretsManagerStandIn;
  eventBridge: EventBridgeStandIn;
  dynalite: DynaliteStandIn | undefined;
  /** Set when started with `tracking: true`. */
  tracking: TrackingWorld | undefined;
  /** Set when started with `scheduler: true`. */
  scheduler: SchedulerStandIn | undefined;
  webhookKey: string;
  handler: Handler;
  /** Every secret value the world handed out: no log line, answer or event may contain one. */
  secrets: string[];
  /** Every line the handler wrote to stdout/stderr (its JSON logs and EMF metrics), parsed where JSON. */
  logLines(): Array<Record<string, unknown> | string>;
  /** The production modules as the handler loaded them (for `instanceof` against its own classes). */
  errors: typeof import('../../lib/errors.ts');
  /** Forgets the traffic TaurusDB and EventBridge saw (not their state), so a test counts only its own. */
  forgetTraffic(): void;
  /** Invokes the handler with a fresh Lambda context (or the one given). */
  invoke(event: unknown, context?: Context): Promise<unknown>;
  /** Invokes with an HTTP event and parses its JSON answer. */
  invokeHttp(event: unknown, context?: Context): Promise<HttpAnswer>;
  close(): Promise<void>;
}

/** A sample from events/, parsed fresh each time so tests may change it. */
// biome-ignore lint/suspicious/noExplicitAny: samples are Lambda events of several shapes
export function sample(name: string): any {
  return JSON.parse(readFileSync(join(projectRoot, 'events', name), 'utf8'));
}

export interface SignOptions {
  id?: string;
  /** Unix seconds; now by default. */
  timestamp?: number;
  key?: string;
}

let deliveries = 0;

/**
 * An HTTP sample with `body` (a string, or JSON to serialise) in place of its own, signed with the
 * world's webhook key under the sample's own header casing, base64-encoded when the sample is.
 */
// biome-ignore lint/suspicious/noExplicitAny: see sample()
export function signedHttpEvent(world: World, name: string, body?: unknown, options: SignOptions = {}): any {
  const event = sample(name);
  const originalBody = event.isBase64Encoded
    ? Buffer.from(event.body, 'base64').toString('utf8')
    : event.body;
  const text = body === undefined ? originalBody : typeof body === 'string' ? body : JSON.stringify(body);
  deliveries += 1;
  const signed = signWebhook({
    key: options.key ?? world.webhookKey,
    id: options.id ?? `msg_test_${process.pid}_${deliveries}_${Date.now()}`,
    timestamp: options.timestamp ?? Math.floor(Date.now() / 1000),
    body: text,
  });
  for (const [name, value] of Object.entries(signed)) {
    const existing = Object.keys(event.headers).find((key) => key.toLowerCase() === name);
    event.headers[existing ?? name] = value;
    if (event.multiValueHeaders && existing) event.multiValueHeaders[existing] = [value];
  }
  event.body = event.isBase64Encoded ? Buffer.from(text, 'utf8').toString('base64') : text;
  return event;
}

/**
 * Every collaborator of the deployed function, for real, on 127.0.0.1: TaurusDB and IAM stand-ins,
 * Secrets Manager and EventBridge speaking the SDK's protocols, dynalite for duplicate suppression.
 * The handler is `functions/upgrade.ts` itself, imported after the environment points at them, so
 * the production wiring (configuration, module-scope clients, AWS_ENDPOINT_URL_*) is what runs.
 */
export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const iam = await startIamStandIn({ users: [IAM_USER] });
  const [taurusDb, secretsManager, eventBridge, dynalite, sqs, scheduler] = await Promise.all([
    // Tokens IAM issued are the ones TaurusDB accepts, as in Huawei Cloud.
    startTaurusDbStandIn({
      acceptedTokens: [STATIC_TOKEN],
      isAccepted: (token) => iam.issuedTokens.some((issued) => issued.token === token),
      ...(options.credentials === 'aksk'
        ? {
            akSk: {
              keys: { [AKSK_KEYS.accessKey]: AKSK_KEYS.secretKey },
              now: () => new Date(Date.now() + (options.akSkClockSkewMs ?? 0)),
            },
          }
        : {}),
    }),
    startSecretsManagerStandIn(),
    startEventBridgeStandIn(),
    options.idempotency ? startDynalite() : Promise.resolve(undefined),
    options.tracking ? startSqsStandIn({ queues: [TRACKING_QUEUE_NAME] }) : Promise.resolve(undefined),
    options.scheduler ? startSchedulerStandIn({ groups: [SCHEDULE_GROUP] }) : Promise.resolve(undefined),
  ]);
  const webhookKey = generateWebhookKey();
  secretsManager.put(WEBHOOK_SECRET_ID, { key: webhookKey });
  if (options.credentials === 'password') {
    secretsManager.put(CREDENTIALS_SECRET_ID, {
      domain_name: IAM_USER.domainName,
      user_name: IAM_USER.userName,
      password: IAM_USER.password,
    });
  } else if (options.credentials === 'aksk') {
    secretsManager.put(CREDENTIALS_SECRET_ID, {
      access_key: AKSK_KEYS.accessKey,
      secret_key: AKSK_KEYS.secretKey,
      ...(options.akSkSecurityToken ? { security_token: AKSK_KEYS.securityToken } : {}),
    });
  } else {
    secretsManager.put(CREDENTIALS_SECRET_ID, { token: STATIC_TOKEN });
  }

  const environment: Record<string, string> = {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDWORLDTEST',
    AWS_SECRET_ACCESS_KEY: 'world-test-secret-access-key',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.server.url,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
    TAURUSDB_ENDPOINT: taurusDb.url,
    HUAWEI_IAM_ENDPOINT: iam.url,
    HUAWEI_CREDENTIALS_SECRET_ID: CREDENTIALS_SECRET_ID,
    WEBHOOK_SECRET_ID: WEBHOOK_SECRET_ID,
    EVENT_BUS_NAME: EVENT_BUS_NAME,
    POWERTOOLS_METRICS_NAMESPACE: 'TaurusDbProxyUpgraderTest',
    ...(dynalite
      ? { AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint, IDEMPOTENCY_TABLE: dynalite.tableName }
      : {}),
    ...(sqs ? { AWS_ENDPOINT_URL_SQS: sqs.url, TRACKING_QUEUE_URL: sqs.queueUrl(TRACKING_QUEUE_NAME) } : {}),
    ...(scheduler
      ? {
          AWS_ENDPOINT_URL_SCHEDULER: scheduler.url,
          DEFERRAL_SCHEDULE_GROUP: SCHEDULE_GROUP,
          DEFERRAL_TARGET_ARN: UPGRADE_FUNCTION_ARN,
          DEFERRAL_ROLE_ARN: SCHEDULER_ROLE_ARN,
        }
      : {}),
    ...options.env,
  };
  const previous = new Map(Object.keys(environment).map((key) => [key, process.env[key]]));
  Object.assign(process.env, environment);
  const output = captureProcessOutput();
  vi.resetModules();
  const { handler } = (await import('../../functions/upgrade.ts')) as { handler: Handler };
  const errors = await import('../../lib/errors.ts');
  const tracking = sqs ? await loadTracking(sqs) : undefined;

  const world: World = {
    taurusDb,
    iam,
    secretsManager,
    eventBridge,
    dynalite,
    tracking,
    scheduler,
    webhookKey,
    handler,
    errors,
    secrets: [
      webhookKey,
      webhookKey.slice('whsec_'.length),
      STATIC_TOKEN,
      IAM_USER.password,
      AKSK_KEYS.secretKey,
      AKSK_KEYS.securityToken,
    ],
    logLines: () =>
      output.lines().map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return line;
        }
      }),
    forgetTraffic() {
      taurusDb.requests.length = 0;
      taurusDb.upgrades.length = 0;
      eventBridge.reset();
    },
    invoke: (event, context = lambdaContext()) => handler(event, context),
    async invokeHttp(event, context) {
      const answer = (await world.invoke(event, context)) as {
        statusCode: number;
        headers: Record<string, string>;
        body: string;
      };
      return { statusCode: answer.statusCode, headers: answer.headers, json: JSON.parse(answer.body) };
    },
    async close() {
      output.restore();
      // Every world checks its whole output: no test anywhere may make the handler log a secret.
      const leaked = leakedSecrets(output.lines().join('\n'), [
        ...world.secrets,
        ...iam.issuedTokens.map((t) => t.token),
      ]);
      for (const [key, value] of previous) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      await Promise.all([
        taurusDb.close(),
        iam.close(),
        secretsManager.close(),
        eventBridge.close(),
        dynalite?.close(),
        sqs?.close(),
        scheduler?.close(),
      ]);
      if (leaked.length > 0) throw new Error(`the handler logged ${leaked.length} secret value(s)`);
    },
  };
  return world;
}

export const TRACKING_QUEUE_NAME = 'taurusdb-upgrades-test-tracking';

/** functions/track.ts and the modules to rebuild its handler, from the module graph just reset. */
async function loadTracking(sqs: SqsStandIn): Promise<TrackingWorld> {
  const track = await import('../../functions/track.ts');
  const { loadTrackingConfig } = await import('../../lib/config.ts');
  const { createTrackingDependencies } = await import('../../lib/composition/track-function.ts');
  const handler = track.handler as Handler;
  return {
    sqs,
    handler,
    handlerWithClock: (now) =>
      track.createHandler(createTrackingDependencies(loadTrackingConfig(), { now })) as Handler,
    invoke: (event, context = lambdaContext()) => handler(event, context),
  };
}
