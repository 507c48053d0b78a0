import { randomBytes } from 'node:crypto';
import { knownRegions } from '../lib/huawei/endpoints.ts';
import type { ReceivedEntry } from '../stand-ins/eventbridge.ts';
import { type IamStandIn, startIamStandIn } from '../stand-ins/iam.ts';
import { type SchedulerStandIn, type StoredSchedule, startSchedulerStandIn } from '../stand-ins/scheduler.ts';
import type { SentMessage } from '../stand-ins/sqs.ts';
import { startTaurusDbStandIn, type TaurusDbExchange, type TaurusDbStandIn } from '../stand-ins/taurusdb.ts';
import { type LocalAws, startLocalAws } from './local-aws.ts';
import { SAMPLE_LATEST_VERSION, SAMPLE_PROXIES, SANDBOX_FLEET } from './sample-proxies.ts';

/**
 * Everything the functions call, on 127.0.0.1, as `npm start` (sandbox/start.ts) and `npm run invoke`
 * (sandbox/invoke.ts) both run it: Huawei IAM, a TaurusDB world holding the events/ samples' proxies,
 * Secrets Manager with both secrets, EventBridge, DynamoDB (dynalite), EventBridge Scheduler (for the
 * deferred attempts of busy instances) and, for the tracker, SQS.
 * `env` is what a handler needs to reach them; nothing here can reach a real cloud.
 */

export const sandboxNames = {
  credentialsSecretId: 'taurusdb-proxy-upgrader/sandbox/huawei-credentials',
  webhookSecretId: 'taurusdb-proxy-upgrader/sandbox/webhook-signing-key',
  eventBusName: 'taurusdb-proxy-upgrader-sandbox',
  idempotencyTable: 'taurusdb-proxy-upgrader-sandbox-idempotency',
  region: 'eu-west-1',
  iamDomain: 'sandbox-domain',
  iamUser: 'sandbox-operator',
  trackingQueue: 'taurusdb-proxy-upgrader-sandbox-tracking',
  scheduleGroup: 'taurusdb-proxy-upgrader-sandbox-deferred',
  rolloutTable: 'taurusdb-proxy-upgrader-sandbox-rollouts',
  rolloutStateMachine: 'taurusdb-proxy-upgrader-sandbox-rollouts',
};

/** Deferred attempts on a sandbox's scale: 10 s, then 20 s, for an hour. */
const SANDBOX_DEFERRAL_ENV = {
  BUSY_RETRY_DELAY_SECONDS: '10',
  BUSY_RETRY_MAX_DELAY_SECONDS: '20',
  BUSY_RETRY_FOR: 'PT1H',
  DEFERRAL_TARGET_ARN:
    'arn:aws:lambda:eu-west-1:000000000000:function:taurusdb-proxy-upgrader-sandbox-upgrade',
  DEFERRAL_ROLE_ARN: 'arn:aws:iam::000000000000:role/taurusdb-proxy-upgrader-sandbox-scheduler',
};

export interface LocalServicesOptions {
  /** Form of the credentials secret; the password form runs the whole IAM token path. */
  credentials: 'password' | 'token';
  webhookKey: string;
  /** Duplicate suppression through dynalite. */
  idempotency: boolean;
  /** How long TaurusDB's upgrade workflow runs before the version moves (0: at once). */
  upgradeDurationMs: number;
  /** Every accepted workflow ends Failed with this reason instead of Completed. */
  upgradeFailReason?: string | undefined;
  /**
   * For this long after the start every instance is busy (TaurusDB refuses with DBS.201205): the
   * upgrade is deferred to the local EventBridge Scheduler.
   */
  busyForMs?: number | undefined;
  onPublished: (entry: ReceivedEntry) => void;
  /** Start the tracking queue; each message sent to it is given here. */
  onQueued?: ((message: SentMessage) => void) | undefined;
  onExchange?: ((exchange: TaurusDbExchange) => void) | undefined;
  /** Each schedule the function creates. */
  onScheduled?: ((schedule: StoredSchedule) => void) | undefined;
}

export interface LocalServices {
  iam: IamStandIn;
  taurusDb: TaurusDbStandIn;
  aws: LocalAws;
  scheduler: SchedulerStandIn;
  /** Variables for the handlers; `undefined` means the variable must be removed. */
  env: Record<string, string | undefined>;
  close(): Promise<void>;
}

export async function startLocalServices(options: LocalServicesOptions): Promise<LocalServices> {
  const started: Array<{ close(): Promise<void> }> = [];
  const close = async () => {
    for (const service of started.splice(0).reverse()) await service.close().catch(() => undefined);
  };
  try {
    // Fresh per run and never printed: the credentials only ever travel between local processes.
    const password = randomBytes(18).toString('base64url');
    const staticToken = `MIIS-sandbox-${randomBytes(18).toString('hex')}`;
    const iam = await startIamStandIn({
      users: [{ domainName: sandboxNames.iamDomain, userName: sandboxNames.iamUser, password }],
    });
    started.push(iam);

    // The TaurusDB stand-in as a world of its own: the samples' proxies, upgrades run as workflows.
    const taurusDb = await startTaurusDbStandIn({
      // What TaurusDB's gateway accepts: a token this IAM issued for that project and not yet expired,
      // or the token of the token-form secret.
      isAccepted: (token, projectId) =>
        (options.credentials === 'token' && token === staticToken) ||
        iam.issuedTokens.some(
          (issued) =>
            issued.token === token &&
            issued.projectId === projectId &&
            Date.parse(issued.expiresAt) > Date.now(),
        ),
      // The samples' proxies first, then the fleet events/rollout.json rolls out over.
      proxies: [...SAMPLE_PROXIES, ...SANDBOX_FLEET],
      latestVersion: SAMPLE_LATEST_VERSION,
      ...(options.busyForMs ? { busyUntil: Date.now() + options.busyForMs } : {}),
      workflows: {
        durationMs: options.upgradeDurationMs,
        ...(options.upgradeFailReason === undefined ? {} : { failReason: options.upgradeFailReason }),
      },
      ...(options.onExchange === undefined ? {} : { onExchange: options.onExchange }),
    });
    started.push(taurusDb);

    const onQueued = options.onQueued;
    const aws = await startLocalAws({
      region: sandboxNames.region,
      secrets: {
        [sandboxNames.credentialsSecretId]:
          options.credentials === 'token'
            ? { token: staticToken }
            : { domain_name: sandboxNames.iamDomain, user_name: sandboxNames.iamUser, password },
        [sandboxNames.webhookSecretId]: { key: options.webhookKey },
      },
      idempotencyTable: options.idempotency ? sandboxNames.idempotencyTable : undefined,
      onPublished: options.onPublished,
      ...(onQueued === undefined ? {} : { trackingQueue: { name: sandboxNames.trackingQueue, onQueued } }),
    });
    started.push(aws);
    const onScheduled = options.onScheduled;
    const scheduler = await startSchedulerStandIn({
      groups: [sandboxNames.scheduleGroup],
      region: sandboxNames.region,
      ...(onScheduled === undefined ? {} : { onCreated: onScheduled }),
    });
    started.push(scheduler);

    const env = {
      ...aws.env,
      ...SANDBOX_DEFERRAL_ENV,
      AWS_ENDPOINT_URL_SCHEDULER: scheduler.url,
      DEFERRAL_SCHEDULE_GROUP: sandboxNames.scheduleGroup,
      TAURUSDB_ENDPOINT: taurusDb.url,
      HUAWEI_REGION: undefined,
      // A request naming a region reaches the stand-in too: nothing leaves the machine.
      TAURUSDB_ENDPOINTS: JSON.stringify(
        Object.fromEntries(knownRegions().map((region) => [region, taurusDb.url])),
      ),
      HUAWEI_IAM_ENDPOINT: iam.url,
      HUAWEI_CREDENTIALS_SECRET_ID: sandboxNames.credentialsSecretId,
      WEBHOOK_SECRET_ID: sandboxNames.webhookSecretId,
      EVENT_BUS_NAME: sandboxNames.eventBusName,
    };
    return { iam, taurusDb, aws, scheduler, env, close };
  } catch (error) {
    await close();
    throw error;
  }
}
