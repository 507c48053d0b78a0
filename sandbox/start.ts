import { relative } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ROLLOUT_ROUTE, ROLLOUT_ROUTES } from '../lib/http/routes.ts';
import type { ReceivedEntry } from '../stand-ins/eventbridge.ts';
import type { IamStandIn } from '../stand-ins/iam.ts';
import type { StoredSchedule } from '../stand-ins/scheduler.ts';
import type { SentMessage } from '../stand-ins/sqs.ts';
import type { TaurusDbExchange, TaurusDbStandIn } from '../stand-ins/taurusdb.ts';
import { type HttpAdapter, type LambdaHandler, startHttpAdapter } from './http-adapter.ts';
import type { LocalAws } from './local-aws.ts';
import { fastClock, type LocalRollouts, startLocalRollouts } from './local-rollouts.ts';
import { createLocalScheduler, type UpgradeHandler } from './local-scheduler.ts';
import { sandboxNames, startLocalServices } from './local-services.ts';
import { createLocalTracking, type LocalTracking, type TrackHandler } from './local-tracking.ts';
import { SAMPLE_PROXIES, SANDBOX_FLEET } from './sample-proxies.ts';
import { DEFAULT_PORT, portFrom, UPGRADES_PATH, webhookKeyFrom } from './settings.ts';

export { sandboxNames };

/**
 * `npm start`: the real handler (functions/upgrade.ts) on http://127.0.0.1:3000/upgrades, behind an
 * API Gateway HTTP API stand-in, with every service it calls running on 127.0.0.1: a stateful TaurusDB,
 * Huawei IAM, Secrets Manager, EventBridge and DynamoDB (dynalite). No request leaves the machine.
 * With `tracking` (on for `npm start`) the tracker (functions/track.ts) runs too: each Accepted event
 * invokes it as the EventBridge rule would, and its re-checks go through a local SQS queue whose
 * messages are delivered after their DelaySeconds (sandbox/local-tracking.ts), so an upgrade is seen
 * from the request to `Proxy Upgrade Completed`.
 *
 * Output. stdout carries one JSON line per published event, `{"published":{...PutEvents entry}}`,
 * one per TaurusDB call, `{"taurusdb":{...}}`, and one per re-check queued, `{"queued":{...}}`; the
 * handlers' own Powertools logs, every level, are JSON lines on the same stream, told apart by their
 * `level` key (see withStderrAs). The banner and sandbox notes go to stderr so that stdout stays JSON
 * lines: `npm start --silent | jq -c 'select(.published)'` keeps the events (`--silent` keeps npm's
 * own "> node sandbox/start.ts" banner off stdout). A reader that goes away (EPIPE) stops the sandbox.
 */

export interface SandboxOptions {
  /** Port of the upgrades endpoint; 0 lets the OS choose. Default: `PORT`, else 3000. */
  port?: number;
  /** JSON lines: published events and TaurusDB calls. Default stdout. */
  out?: Writable;
  /** The banner and notes for the person at the terminal. Default stderr. */
  log?: Writable;
  /** Form of the credentials secret; the password form runs the whole IAM token path. */
  credentials?: 'password' | 'token';
  webhookKey?: string;
  /** Duplicate suppression through dynalite. */
  idempotency?: boolean;
  /** How long TaurusDB's upgrade workflow runs before the version moves (0: at once). */
  upgradeDurationMs?: number;
  /** Every accepted workflow ends Failed with this reason instead of Completed. */
  upgradeFailReason?: string;
  /**
   * For this long after the start every instance is busy (TaurusDB refuses with DBS.201205): the
   * upgrade is deferred to a local EventBridge Scheduler, which fires it again into the handler.
   */
  busyForMs?: number;
  /**
   * Run the tracker on every Accepted event, its re-checks through a local delay queue. Off by
   * default here, on for `npm start`. Its delays default to 2 s growing to 5 s and its maximum time
   * to 10 minutes; TRACKING_* in `env` override them.
   */
  tracking?: boolean;
  /** Print each TaurusDB call on `out`. */
  showTaurusDbCalls?: boolean;
  /** More variables for the handler, e.g. `{ POWERTOOLS_LOG_LEVEL: 'WARN' }`. */
  env?: Record<string, string>;
  banner?: boolean;
  /**
   * Fleet rollouts (functions/rollouts.ts on /rollouts, its state machine on aws-local-stepfunctions);
   * on unless duplicate suppression is off (the rollouts need DynamoDB).
   */
  rollouts?: boolean;
}

export interface Sandbox {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `http://127.0.0.1:<port>/upgrades` */
  upgradesUrl: string;
  /** Every published event so far, in order (the same entries `out` shows). */
  events: ReceivedEntry[];
  taurusDb: TaurusDbStandIn;
  iam: IamStandIn;
  aws: LocalAws;
  /** The Step Functions side of the rollouts, when they are on. */
  rollouts: LocalRollouts | undefined;
  stop(): Promise<void>;
}

/**
 * The rollouts' clock runs this many times as fast as the wall clock: a soak minute lasts 0.1 s, so
 * events/rollout.json's 30-minute soaks take 3 s. Rollout events' `occurred_at` run ahead by as much;
 * the upgrades' own events (Proxy Upgrade Accepted and the ends) keep the wall clock.
 */
export const SANDBOX_ROLLOUT_CLOCK_SPEED = 600;
/** The Wait between two ticks (ROLLOUT_TICK_SECONDS on AWS). */
const SANDBOX_TICK_MS = 500;

/** An execution as the console shows it, when it starts and when it ends. */
function executionLine(execution: { name: string; status: string; error?: string }) {
  return {
    execution: {
      name: execution.name,
      status: execution.status,
      ...(execution.error === undefined ? {} : { error: execution.error }),
    },
  };
}

async function loadRolloutHandlers(out: Writable, speed: number) {
  const [functions, composition, config] = await withStderrAs(out, () =>
    Promise.all([
      import('../functions/rollouts.ts'),
      import('../lib/composition/rollout-function.ts'),
      import('../lib/config.ts'),
    ]),
  );
  return functions.createHandlers(
    composition.createRolloutDependencies(config.loadRolloutConfig(), undefined, fastClock(speed)),
  );
}

/** A schedule as the console shows it. */
function scheduleLine(key: 'scheduled' | 'fired', schedule: StoredSchedule) {
  const input = schedule.input as { proxy_id?: unknown; deferral?: { attempt?: unknown } } | undefined;
  return {
    [key]: {
      name: schedule.name,
      at: new Date(schedule.at).toISOString(),
      proxy_id: input?.proxy_id,
      attempt: input?.deferral?.attempt,
    },
  };
}

/** Tracking on a sandbox's scale: checks seconds apart, giving up after ten minutes. */
const SANDBOX_TRACKING_ENV = {
  TRACKING_INITIAL_DELAY_SECONDS: '2',
  TRACKING_MAX_DELAY_SECONDS: '5',
  TRACKING_MAX_SECONDS: '600',
};

/** A re-check as the console shows it: which workflow, which check, when. */
function queuedLine(message: SentMessage) {
  let tracked: { workflow_id?: unknown; attempt?: unknown } = {};
  try {
    tracked = JSON.parse(message.body);
  } catch {
    // Shown without them; the tracker itself refuses such a message.
  }
  return {
    queued: {
      queue: message.queueName,
      message_id: message.messageId,
      workflow_id: tracked.workflow_id,
      attempt: tracked.attempt,
      delay_seconds: message.delaySeconds ?? 0,
    },
  };
}

// The handler reads its configuration once, when its module is first imported, and the lib/ modules
// keep one AWS client per process: a second sandbox in the same process would talk to the first one's
// (closed) ports. So one per process, said plainly instead of failing in a confusing way later.
let startedInThisProcess = false;

function line(stream: Writable, value: unknown) {
  // A stream whose reader went away (main() stops the sandbox then) takes nothing more.
  if (stream.destroyed || stream.writableEnded) return;
  stream.write(`${JSON.stringify(value)}\n`);
}

/** Sets the variables, remembering what was there so `stop` can put it back. */
function applyEnv(variables: Record<string, string | undefined>): () => void {
  const previous = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(variables)) {
    previous.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

/** The entries of `defaults` whose variable `env` does not set already (an empty value counts as unset). */
function withoutThoseSet(defaults: Record<string, string>, env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(defaults).filter(([name]) => !env[name]?.trim()));
}

/**
 * Runs `load` (the handlers' first import) with `process.stderr` standing for `out`. Powertools'
 * Logger builds its console from process.stdout and process.stderr when lib/observability.ts is first
 * loaded and writes WARN and ERROR lines to stderr, as Lambda expects; the sandbox promises one
 * stream of JSON lines (stdout), so for this process its stderr is `out` too. Lambda itself is
 * unaffected: nothing in functions/ or lib/ knows of this.
 */
async function withStderrAs<T>(out: Writable, load: () => Promise<T>): Promise<T> {
  const original = Object.getOwnPropertyDescriptor(process, 'stderr');
  Object.defineProperty(process, 'stderr', { configurable: true, enumerable: true, get: () => out });
  try {
    return await load();
  } finally {
    if (original) Object.defineProperty(process, 'stderr', original);
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return `${error.name}${code ? ` ${code}` : ''}: ${error.message}`;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  if (startedInThisProcess) {
    throw new Error(
      'startSandbox runs once per process: the handler reads its configuration when first imported',
    );
  }
  startedInThisProcess = true;
  const out = options.out ?? process.stdout;
  const log = options.log ?? process.stderr;
  const port = options.port ?? portFrom(process.env);
  const credentialsForm = options.credentials ?? 'password';
  const events: ReceivedEntry[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log.write(`sandbox: a service did not stop cleanly (${describeError(error)})\n`);
      }
    }
  };

  try {
    // Set once the tracker is loaded; events and messages before that have nobody to go to.
    let localTracking: LocalTracking | undefined;
    const services = await startLocalServices({
      credentials: credentialsForm,
      webhookKey: options.webhookKey ?? webhookKeyFrom(process.env),
      idempotency: options.idempotency !== false,
      upgradeDurationMs: options.upgradeDurationMs ?? 0,
      upgradeFailReason: options.upgradeFailReason,
      busyForMs: options.busyForMs,
      onScheduled: (schedule) => line(out, scheduleLine('scheduled', schedule)),
      onPublished: (entry) => {
        events.push(entry);
        line(out, { published: entry });
        localTracking?.onPublished(entry);
      },
      onQueued: options.tracking
        ? (message: SentMessage) => {
            line(out, queuedLine(message));
            localTracking?.onQueued(message);
          }
        : undefined,
      onExchange:
        options.showTaurusDbCalls === false
          ? undefined
          : (exchange: TaurusDbExchange) => line(out, { taurusdb: exchange }),
    });
    cleanups.push(() => services.close());
    const { iam, taurusDb, aws } = services;
    const rolloutsOn = options.rollouts !== false && aws.dynamo !== undefined;
    const rollouts =
      rolloutsOn && aws.dynamo
        ? await startLocalRollouts({
            dynamo: aws.dynamo,
            region: sandboxNames.region,
            tickMs: SANDBOX_TICK_MS,
            onExecution: (execution) => {
              line(out, executionLine(execution));
              void execution.done.then(() => line(out, executionLine(execution)));
            },
            log: (text) => log.write(text),
          })
        : undefined;
    if (rollouts) cleanups.push(() => rollouts.close());

    const restoreEnv = applyEnv({
      ...services.env,
      // EMF metric blobs would drown the log lines; `POWERTOOLS_METRICS_DISABLED=false npm start` shows them.
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
      // What the Lambda runtime sets, and what Powertools reads to say cold_start: true on the first
      // invocation of this process (one process plays both functions' first containers).
      AWS_LAMBDA_INITIALIZATION_TYPE: process.env.AWS_LAMBDA_INITIALIZATION_TYPE ?? 'on-demand',
      // The sandbox's scale, unless the user set a TRACKING_* variable of their own.
      ...(options.tracking ? withoutThoseSet(SANDBOX_TRACKING_ENV, process.env) : {}),
      ...rollouts?.env,
      ...options.env,
    });
    cleanups.push(restoreEnv);

    const { handler } = await withStderrAs(
      out,
      () => import('../functions/upgrade.ts') as Promise<{ handler: LambdaHandler }>,
    );
    // EventBridge Scheduler's side: due schedules fire into the handler, as its Lambda target would.
    const localScheduler = createLocalScheduler({
      scheduler: services.scheduler,
      // The same handler, given the Scheduler input as its event (functions/upgrade.ts takes any).
      handler: handler as unknown as UpgradeHandler,
      region: sandboxNames.region,
      onFired: (schedule) => line(out, scheduleLine('fired', schedule)),
      log: (text) => log.write(text),
    });
    cleanups.push(() => localScheduler.close());
    const sqs = aws.sqs;
    if (options.tracking && sqs) {
      const track = await withStderrAs(
        out,
        () => import('../functions/track.ts') as Promise<{ handler: TrackHandler }>,
      );
      const tracking = createLocalTracking({
        handler: track.handler,
        eventSource: process.env.EVENT_SOURCE?.trim() || 'taurusdb.proxy-upgrader',
        queueArn: sqs.queueArn,
        region: sandboxNames.region,
        log: (text) => log.write(text),
      });
      localTracking = tracking;
      cleanups.push(() => tracking.close());
    }
    const rolloutHandlers = rollouts
      ? await loadRolloutHandlers(out, SANDBOX_ROLLOUT_CLOCK_SPEED)
      : undefined;
    if (rolloutHandlers) rollouts?.use(rolloutHandlers);
    let adapter: HttpAdapter;
    try {
      adapter = await startHttpAdapter({
        handler,
        ...(rolloutHandlers
          ? {
              functions: [
                {
                  prefix: ROLLOUT_ROUTE.path,
                  handler: rolloutHandlers.handler as unknown as LambdaHandler,
                  functionName: `${sandboxNames.rolloutStateMachine}`,
                },
              ],
              api: {
                routes: [
                  `POST ${UPGRADES_PATH}`,
                  ...ROLLOUT_ROUTES.map((route) => `${route.method} ${route.path}`),
                ],
              },
            }
          : {}),
        port,
        region: sandboxNames.region,
        onError: (error, requestId) =>
          log.write(`sandbox: invocation ${requestId} failed: ${describeError(error)} (answered 500)\n`),
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new Error(
          `port ${port} is already in use: stop whatever listens there, or run PORT=<another port> npm start ` +
            '(and the same PORT for npm run send)',
        );
      }
      throw error;
    }
    cleanups.push(() => adapter.close());

    const sandbox: Sandbox = {
      url: adapter.url,
      upgradesUrl: `${adapter.url}${UPGRADES_PATH}`,
      events,
      taurusDb,
      iam,
      aws,
      rollouts,
      stop,
    };
    if (options.banner !== false) {
      log.write(banner(sandbox, credentialsForm, options));
    }
    return sandbox;
  } catch (error) {
    await stop();
    throw error;
  }
}

function banner(sandbox: Sandbox, credentialsForm: 'password' | 'token', options: SandboxOptions): string {
  const upgradeDurationMs = options.upgradeDurationMs ?? 0;
  const ending =
    options.upgradeFailReason === undefined ? '' : `, then fails ("${options.upgradeFailReason}")`;
  const sqs = sandbox.aws.sqs;
  const port = new URL(sandbox.url).port;
  const send = `${port === String(DEFAULT_PORT) ? '' : `PORT=${port} `}npm run send --`;
  // Continuation lines of the examples below start under their explanations.
  const more = ' '.repeat(`  ${send} `.length + 40);
  const settingsFile = relative(process.cwd(), fileURLToPath(new URL('./settings.ts', import.meta.url)));
  const samples = new Set(SAMPLE_PROXIES.map((proxy) => proxy.proxyId));
  const proxies = sandbox.taurusDb
    .proxies()
    .filter((proxy) => samples.has(proxy.proxyId))
    .map((proxy) => `      ${proxy.projectId} / ${proxy.instanceId} / ${proxy.proxyId}  ${proxy.version}`);
  const fleetInstances = new Set(SANDBOX_FLEET.map((proxy) => proxy.instanceId)).size;
  const dynamo = sandbox.aws.dynamo;
  return [
    '',
    'taurusdb-proxy-upgrader sandbox: the real handler, every service on 127.0.0.1, nothing leaves this machine',
    '',
    `  POST ${sandbox.upgradesUrl}   (API Gateway HTTP API, payload 2.0 -> functions/upgrade.ts)`,
    '',
    `  TaurusDB        ${sandbox.taurusDb.url}   stateful; latest kernel version ${sandbox.taurusDb.latestVersion}; ` +
      (upgradeDurationMs > 0
        ? `an upgrade runs ${upgradeDurationMs / 1000} s${ending}`
        : `an upgrade ends at once${ending}`),
    '    project / instance / proxy  version:',
    ...proxies,
    `    and a fleet of ${SANDBOX_FLEET.length} more proxies on ${fleetInstances} instances for events/rollout.json`,
    `  Huawei IAM      ${sandbox.iam.url}   credentials secret in the ${credentialsForm} form`,
    `  Secrets Manager ${sandbox.aws.secretsManager.server.url}`,
    `  EventBridge     ${sandbox.aws.eventBridge.url}   bus ${sandboxNames.eventBusName}`,
    dynamo
      ? `  DynamoDB        ${dynamo.endpoint}   table ${dynamo.tableName} (duplicate suppression on)`
      : '  DynamoDB        off (duplicate suppression off)',
    sqs && options.tracking
      ? `  SQS             ${sqs.url}   queue ${sandboxNames.trackingQueue} (the tracker's re-checks)`
      : '  Tracking        off',
    `  Scheduler       group ${sandboxNames.scheduleGroup}: deferred attempts of busy instances fire into the handler` +
      (options.busyForMs ? ` (every instance busy for the first ${options.busyForMs / 1000} s)` : ''),
    ...(options.tracking
      ? [
          '',
          'Tracking: functions/track.ts checks each accepted workflow at once, then again through the queue',
          `  (every ${process.env.TRACKING_INITIAL_DELAY_SECONDS ?? '?'} s growing to ${process.env.TRACKING_MAX_DELAY_SECONDS ?? '?'} s), until it publishes`,
          '  Proxy Upgrade Completed, Proxy Upgrade Failed or Proxy Upgrade Tracking Timed Out.',
        ]
      : []),
    ...(sandbox.rollouts
      ? [
          '',
          `Fleet rollouts: ${sandbox.url}/rollouts -> functions/rollouts.ts; its state machine (serverless.yml) runs on`,
          `  aws-local-stepfunctions via a Step Functions stand-in (${sandbox.rollouts.sfn.url}); ticks ${SANDBOX_TICK_MS} ms apart,`,
          `  the rollouts' clock ${SANDBOX_ROLLOUT_CLOCK_SPEED}x fast (a soak minute lasts ${60_000 / SANDBOX_ROLLOUT_CLOCK_SPEED / 1000} s)`,
        ]
      : []),
    '',
    'From another terminal, send a signed webhook:',
    `  ${send} events/http-api-v2.json                 upgrades the first proxy; again while its workflow runs: Rejected`,
    `${more}("being upgraded"); again once it has ended: Skipped (at the target)`,
    `  ${send} events/pipeline-event.json              an upgrade sample's body, detail or itself is sent;`,
    `${more}the tracking-*.json samples are the tracker's: npm run invoke -- track <file>`,
    `  ${send} events/http-api-v2.json --id msg_demo1  twice: the second is replayed, TaurusDB is not called again`,
    ...(sandbox.rollouts
      ? [
          `  ${send} events/rollout.json                     a rollout over the fleet: waves, then Awaiting Approval;`,
          `  ${send} --approve kernel-2-24-canary            opens the gate (twice: after wave 1 and wave 2), then Completed;`,
          `  ${send} --status kernel-2-24-canary             where it is; --pause, --resume, --cancel <rollout_id> likewise`,
        ]
      : []),
    `Webhooks are signed with the sandbox-only key in ${settingsFile}; SANDBOX_WEBHOOK_KEY overrides it on both sides.`,
    '',
    'Settings: PORT, SANDBOX_CREDENTIALS=password|token, SANDBOX_UPGRADE_SECONDS, SANDBOX_UPGRADE_FAIL_REASON,',
    'SANDBOX_BUSY_FOR (seconds every instance is busy: deferred, then upgraded),',
    'SANDBOX_WEBHOOK_KEY, TRACKING_INITIAL_DELAY_SECONDS, TRACKING_MAX_DELAY_SECONDS, TRACKING_MAX_SECONDS.',
    'stdout, JSON lines only: {"published":{...}} per event published, {"taurusdb":{...}} per TaurusDB call,',
    '{"queued":{...}} per re-check the tracker queues, {"scheduled"/"fired":{...}} per deferred attempt,',
    '{"execution":{...}} when a rollout execution starts and ends,',
    "and the handlers' Powertools logs of every level",
    '(JSON with "level"); this banner and the sandbox\'s notes are on stderr. Only the events:',
    "  npm start --silent | jq -c 'select(.published)'",
    'Ctrl+C stops; restart for fresh versions.',
    '',
    '',
  ].join('\n');
}

/**
 * The options `npm start` takes from the environment: `SANDBOX_CREDENTIALS` (`password`, the default,
 * or `token`), `SANDBOX_UPGRADE_SECONDS` (how long TaurusDB's upgrade workflow runs; NPM_START_DEFAULTS
 * below says 6) and `SANDBOX_UPGRADE_FAIL_REASON` (every workflow then ends Failed with it).
 */
export function sandboxOptionsFromEnv(env: Record<string, string | undefined>): SandboxOptions {
  const options: SandboxOptions = {};
  const credentials = env.SANDBOX_CREDENTIALS?.trim();
  if (credentials) {
    if (credentials !== 'password' && credentials !== 'token') {
      throw new Error('SANDBOX_CREDENTIALS must be password or token');
    }
    options.credentials = credentials;
  }
  const seconds = env.SANDBOX_UPGRADE_SECONDS?.trim();
  if (seconds) {
    if (!/^[0-9]{1,5}(\.[0-9]+)?$/.test(seconds)) {
      throw new Error('SANDBOX_UPGRADE_SECONDS must be a number of seconds from 0 to 99999');
    }
    options.upgradeDurationMs = Math.round(Number(seconds) * 1000);
  }
  const failReason = env.SANDBOX_UPGRADE_FAIL_REASON?.trim();
  if (failReason) options.upgradeFailReason = failReason;
  const busy = env.SANDBOX_BUSY_FOR?.trim();
  if (busy) {
    if (!/^[0-9]{1,5}$/.test(busy))
      throw new Error('SANDBOX_BUSY_FOR must be a whole number of seconds from 0 to 99999');
    options.busyForMs = Number(busy) * 1000;
  }
  return options;
}

/**
 * What `npm start` runs with before the environment has its say: the tracker on, and upgrades that
 * take a few seconds, so the re-checks and then `Proxy Upgrade Completed` show on the console.
 */
export const NPM_START_DEFAULTS: SandboxOptions = { tracking: true, upgradeDurationMs: 6_000 };

async function main() {
  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox({ ...NPM_START_DEFAULTS, ...sandboxOptionsFromEnv(process.env) });
  } catch (error) {
    process.stderr.write(`sandbox: could not start: ${describeError(error)}\n`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl+C does not wait for the servers.
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`\nsandbox: ${signal}, stopping\n`);
    sandbox.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  // `npm start | head`, or jq quitting: the next write fails with EPIPE. Nobody reads any more, so
  // stop as a pipeline's producer does, instead of dying on an unhandled 'error' event.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (stopping) return;
    stopping = true;
    process.stderr.write('sandbox: stdout was closed by its reader, stopping\n');
    sandbox.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

if (import.meta.main) await main();
