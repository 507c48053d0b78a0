import { type DynaliteStandIn, startDynalite } from '../stand-ins/dynamodb.ts';
import { type EventBridgeStandIn, startEventBridgeStandIn } from '../stand-ins/eventbridge.ts';
import type { RecordedRequest } from '../stand-ins/loopback-server.ts';
import { type SecretsManagerStandIn, startSecretsManagerStandIn } from '../stand-ins/secrets-manager.ts';
import { type StepFunctionsStandIn, startStepFunctionsStandIn } from '../stand-ins/stepfunctions.ts';
import {
  type ProxySeed,
  startTaurusDbStandIn,
  type TaurusDbStandIn,
  type WorkflowOptions,
} from '../stand-ins/taurusdb.ts';
import { lambdaContext } from '../test/support/lambda-context.ts';
import { runLocally } from '../test/support/local-state-machine.ts';
import type { VirtualClock } from '../test/support/virtual-clock.ts';
import { generateWebhookKey } from '../test/support/webhook-signing.ts';

/**
 * One rollout of the simulated fleet (bench/fleet.ts): the rollout state machine as defined,
 * run on aws-local-stepfunctions with its tasks played by the rollouts function's real handlers
 * (functions/rollouts.ts, lib/composition/rollout-function.ts) in this process, on a virtual clock
 * shared by the Wait states, the handlers and the TaurusDB stand-ins' workflows, against the
 * stand-ins test/state-machine.test.ts uses: TaurusDB per region, dynalite, EventBridge, Secrets
 * Manager, Step Functions.
 */

export interface FleetProxy extends ProxySeed {
  region: string;
}

/** The TaurusDB stand-ins of one fleet, one per region, on one clock. */
export interface Fleet {
  regions: Map<string, TaurusDbStandIn>;
  /** Summed over the regions. */
  calls(): HuaweiCalls;
  /** The most any one proxy got: upgrade POSTs, version reads; the most polls of one workflow. */
  mostPerProxy(): { posts: number; versionReads: number; polls: number };
  close(): Promise<void>;
}

export interface HuaweiCalls {
  posts: number;
  versionReads: number;
  polls: number;
  listings: number;
  instanceReads: number;
  /** Upgrades refused busy because one of the fleet's own workflows ran on the instance. */
  selfBusy: number;
}

export const FLEET_TOKEN = 'MIIT-fleet-bench-token-0123456789';

export async function startFleet(
  proxies: FleetProxy[],
  workflows: WorkflowOptions,
  clock: VirtualClock,
): Promise<Fleet> {
  const regions = new Map<string, TaurusDbStandIn>();
  for (const region of new Set(proxies.map((proxy) => proxy.region))) {
    regions.set(
      region,
      await startTaurusDbStandIn({
        acceptedTokens: [FLEET_TOKEN],
        proxies: proxies.filter((proxy) => proxy.region === region),
        workflows,
        now: clock.now,
      }),
    );
  }
  const sum = (count: (taurusDb: TaurusDbStandIn) => number) =>
    [...regions.values()].reduce((total, taurusDb) => total + count(taurusDb), 0);
  return {
    regions,
    calls: () => ({
      posts: sum((t) => t.upgradeRequests()),
      versionReads: sum((t) => t.reads('version')),
      polls: sum((t) => t.reads('jobs')),
      listings: sum((t) => t.reads('proxies')),
      instanceReads: sum((t) => t.reads('instance')),
      selfBusy: sum((t) => t.concurrencyRefusals()),
    }),
    mostPerProxy: () => mostPerProxy([...regions.values()].flatMap((taurusDb) => taurusDb.requests)),
    close: async () => {
      await Promise.all([...regions.values()].map((taurusDb) => taurusDb.close()));
    },
  };
}

function mostPerProxy(requests: RecordedRequest[]) {
  const tally = (pattern: RegExp, method: string) => {
    const counts = new Map<string, number>();
    for (const request of requests) {
      const found = request.method === method ? pattern.exec(request.url)?.[1] : undefined;
      if (found !== undefined) counts.set(found, (counts.get(found) ?? 0) + 1);
    }
    return Math.max(0, ...counts.values());
  };
  return {
    posts: tally(/^(\/v3\/.+\/proxy\/[^/]+)\/upgrade-version$/, 'POST'),
    versionReads: tally(/^(\/v3\/.+\/proxy\/[^/]+)\/taurusproxy\/proxy-version$/, 'GET'),
    polls: tally(/^\/v3\/[^/]+\/jobs\?id=(.+)$/, 'GET'),
  };
}

export interface RolloutRun {
  /** Simulated milliseconds from StartExecution of generation 0 to the Proxy Rollout Completed event. */
  wallMs: number;
  status: string;
  counts: Record<string, number>;
  executions: number;
  stateTransitions: number;
  /** Lambda invocations: the intake, then every Task state run. */
  invocations: number;
  maxHistoryEvents: number;
  /** Real milliseconds the Plan and Advance tasks took on this machine (not on the clock). */
  taskMs: number;
  /** Rollout events published, in order (`Proxy Rollout Wave Started`, ...). */
  rolloutEvents: string[];
}

const STATE_MACHINE_ARN =
  'arn:aws:states:eu-west-1:123456789012:stateMachine:taurusdb-proxy-upgrader-bench-rollouts';

interface Services {
  secrets: SecretsManagerStandIn;
  eventBridge: EventBridgeStandIn;
  dynalite: DynaliteStandIn;
  sfn: StepFunctionsStandIn;
}

type Handlers = ReturnType<typeof import('../functions/rollouts.ts')['createHandlers']>;
type Dependencies = ReturnType<
  typeof import('../lib/composition/rollout-function.ts')['createRolloutDependencies']
>;

/**
 * Runs `request` (a rollout request, sent as Scheduler input: the intake's unsigned path) to its end
 * over `fleet`. The handlers are built for this run, with the clock's time as theirs.
 */
export async function runRollout(options: {
  definition: Record<string, unknown>;
  fleet: Fleet;
  request: Record<string, unknown>;
  clock: VirtualClock;
  tickSeconds: number;
}): Promise<RolloutRun> {
  const { clock, fleet } = options;
  let handlers: Handlers | undefined;
  let dependencies: Dependencies | undefined;
  const totals = { transitions: 0, invocations: 0, maxHistory: 0, startedAt: Number.NaN, taskMs: 0 };
  /** The task's own real time is kept apart: the clock counts it as zero. */
  const timed =
    <T>(task: (input: never) => Promise<T>) =>
    async (input: unknown) => {
      const began = performance.now();
      try {
        return await task(input as never);
      } finally {
        totals.taskMs += performance.now() - began;
      }
    };
  const services: Services = {
    secrets: await startSecretsManagerStandIn(),
    eventBridge: await startEventBridgeStandIn(),
    dynalite: await startDynalite(),
    sfn: await startStepFunctionsStandIn(async (execution) => {
      if (Number.isNaN(totals.startedAt)) totals.startedAt = clock.now();
      const loaded = handlers as Handlers;
      const run = await runLocally(
        options.definition,
        execution.input,
        {
          Plan: timed((input) => loaded.plan(input)),
          Advance: timed((input) => loaded.advance(input, lambdaContext())),
        },
        {},
        undefined,
        clock,
      );
      totals.transitions += run.stateTransitions;
      totals.invocations += run.taskInvocations;
      totals.maxHistory = Math.max(totals.maxHistory, run.historyEvents);
      return run.output;
    }),
  };
  const previousEnv = { ...process.env };
  try {
    dependencies = await loadDependencies(services, fleet, options);
    handlers = (await import('../functions/rollouts.ts')).createHandlers(dependencies);
    const answer = (await handlers.handler(options.request, lambdaContext())) as { rollout_id: string };
    await services.sfn.settled();
    return outcome(services, totals, await dependencies.tasks.status(answer.rollout_id));
  } finally {
    process.env = previousEnv;
    await Promise.all([
      services.secrets.close(),
      services.eventBridge.close(),
      services.dynalite.close(),
      services.sfn.close(),
    ]);
  }
}

function outcome(
  services: Services,
  totals: { transitions: number; invocations: number; maxHistory: number; startedAt: number; taskMs: number },
  status: { status: string; counts: Record<string, number> },
): RolloutRun {
  const rolloutEvents = services.eventBridge
    .events()
    .filter((entry) => entry.DetailType?.startsWith('Proxy Rollout'));
  const completed = rolloutEvents.find((entry) => entry.DetailType === 'Proxy Rollout Completed');
  const endedAt = Date.parse((completed?.Detail as { occurred_at?: string } | undefined)?.occurred_at ?? '');
  return {
    wallMs: endedAt - totals.startedAt,
    status: status.status,
    counts: status.counts,
    executions: services.sfn.executions.length,
    stateTransitions: totals.transitions,
    invocations: 1 + totals.invocations,
    maxHistoryEvents: totals.maxHistory,
    taskMs: totals.taskMs,
    rolloutEvents: rolloutEvents.map((entry) => entry.DetailType as string),
  };
}

async function loadDependencies(
  services: Services,
  fleet: Fleet,
  options: { clock: VirtualClock; tickSeconds: number },
): Promise<Dependencies> {
  await services.dynalite.createTable('rollouts');
  services.secrets.put('bench/huawei-credentials', { token: FLEET_TOKEN });
  services.secrets.put('bench/webhook', { key: generateWebhookKey() });
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDFLEETBENCH',
    AWS_SECRET_ACCESS_KEY: 'fleet-bench-secret-access-key',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: services.secrets.server.url,
    AWS_ENDPOINT_URL_EVENTBRIDGE: services.eventBridge.url,
    AWS_ENDPOINT_URL_DYNAMODB: services.dynalite.endpoint,
    AWS_ENDPOINT_URL_SFN: services.sfn.url,
    TAURUSDB_ENDPOINT: [...fleet.regions.values()][0]?.url,
    TAURUSDB_ENDPOINTS: JSON.stringify(
      Object.fromEntries([...fleet.regions].map(([region, taurusDb]) => [region, taurusDb.url])),
    ),
    HUAWEI_CREDENTIALS_SECRET_ID: 'bench/huawei-credentials',
    WEBHOOK_SECRET_ID: 'bench/webhook',
    EVENT_BUS_NAME: 'fleet-bench-bus',
    IDEMPOTENCY_TABLE: services.dynalite.tableName,
    ROLLOUT_TABLE: 'rollouts',
    ROLLOUT_STATE_MACHINE_ARN: STATE_MACHINE_ARN,
    ROLLOUT_TICK_SECONDS: String(options.tickSeconds),
    POWERTOOLS_METRICS_NAMESPACE: 'TaurusDbProxyUpgraderBench',
    // Thousands of targets: their info lines would be most of the real time (and of a test's output).
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
  });
  // Loaded once the environment is set: functions/rollouts.ts builds its own handlers at import.
  const { createRolloutDependencies } = await import('../lib/composition/rollout-function.ts');
  const { loadRolloutConfig } = await import('../lib/config.ts');
  return createRolloutDependencies(loadRolloutConfig(), undefined, options.clock.date);
}
