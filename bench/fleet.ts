import { createVirtualClock } from '../test/support/virtual-clock.ts';
import { type FleetProxy, type HuaweiCalls, runRollout, startFleet } from './fleet-rollout.ts';
import { TERRAFORM, type TerraformRun, terraformWay } from './terraform-way.ts';

/**
 * The simulated fleet of issue 18 (`npm run bench`, and `--fleet-only`): each scenario is rolled
 * out twice over a fresh stand-in fleet, each time on a fresh virtual clock starting at the same
 * instant (test/support/virtual-clock.ts): by the rollout state machine with the real handlers
 * (bench/fleet-rollout.ts), and the Terraform way (bench/terraform-way.ts). Both meet the same
 * workflows: the same duration, the same seeded failures.
 */

export interface Scenario {
  name: string;
  description: string;
  /** The fleet: so many instances of so many proxies each, in the order listed. */
  layout: Array<{ instances: number; perInstance: number }>;
  concurrency: number;
  waves: Array<{ size: number } | { percent: number }>;
  maxFailures?: { percent: number } | { count: number };
  failShare: number;
  workflowMinutes: number;
  soakMinutes: number;
  /** An extra row: no goal of its own, compared with the same limit. */
  extra?: boolean;
  /** Also simulated the Terraform way. */
  terraform: boolean;
}

export const REGIONS = ['eu-west-101', 'ap-southeast-3'] as const;
export const SOURCE_VERSION = '2.23.12.000';
export const TARGET_VERSION = '2.24.03.000';
const ONE_WAVE = [{ percent: 100 }];
const DEFAULT_WAVES = [{ size: 1 }, { percent: 10 }, { percent: 100 }];

/** What every scenario of issue 18 has: 10-minute workflows, no soak, concurrency 100, one wave. */
const ISSUE_18 = {
  concurrency: 100,
  waves: ONE_WAVE,
  failShare: 0,
  workflowMinutes: 10,
  soakMinutes: 0,
  terraform: true,
};
const A_FLEET = [{ instances: 100, perInstance: 10 }];

export const SCENARIOS: Scenario[] = [
  { ...ISSUE_18, name: 'A', description: '1,000 proxies over 100 instances (10 each)', layout: A_FLEET },
  {
    ...ISSUE_18,
    name: 'A, default waves',
    description: 'as A',
    layout: A_FLEET,
    waves: DEFAULT_WAVES,
    extra: true,
    terraform: false,
  },
  {
    ...ISSUE_18,
    name: 'A, 10 min 1 s workflows',
    description: "as A, workflows 1 s longer than ten ticks (the tick's worst phase)",
    layout: A_FLEET,
    workflowMinutes: 10 + 1 / 60,
    extra: true,
    terraform: false,
  },
  {
    ...ISSUE_18,
    name: 'B',
    description: '1,000 proxies over 1,000 instances',
    layout: [{ instances: 1000, perInstance: 1 }],
  },
  {
    ...ISSUE_18,
    name: 'C',
    description: '200 proxies on 20 instances, 5 % of workflows failing, max_failures 20 %',
    layout: [{ instances: 20, perInstance: 10 }],
    maxFailures: { percent: 20 },
    failShare: 0.05,
  },
  {
    ...ISSUE_18,
    name: 'D',
    description: 'uneven: 90 instances of 1 proxy, then 1 of 10',
    layout: [
      { instances: 90, perInstance: 1 },
      { instances: 1, perInstance: 10 },
    ],
    concurrency: 10,
    extra: true,
    terraform: false,
  },
];

/** The fleet of a scenario: instances alternate between the two regions, two projects in each. */
export function fleetOf(scenario: Pick<Scenario, 'layout'>): FleetProxy[] {
  const sizes = scenario.layout.flatMap(({ instances, perInstance }) => Array(instances).fill(perInstance));
  return sizes.flatMap((perInstance: number, i) => {
    const region = REGIONS[i % 2] as string;
    const instanceId = `inst${String(i).padStart(4, '0')}`;
    return Array.from({ length: perInstance }, (_, p) => ({
      projectId: `${region}-project${Math.floor(i / 2) % 2}`,
      instanceId,
      proxyId: `${instanceId}-proxy${String(p).padStart(2, '0')}`,
      version: SOURCE_VERSION,
      region,
    }));
  });
}

/** The request: every instance's proxies (`all_proxies`), in the fleet's order. */
export function requestOf(scenario: Scenario, proxies: FleetProxy[]): Record<string, unknown> {
  const instances = new Map(proxies.map((proxy) => [proxy.instanceId, proxy]));
  return {
    rollout_id: `bench-${scenario.name.replace(/[^A-Za-z0-9]+/g, '-')}`,
    targets: [...instances.values()].map((proxy) => ({
      project_id: proxy.projectId,
      instance_id: proxy.instanceId,
      region: proxy.region,
      all_proxies: true,
    })),
    target_version: TARGET_VERSION,
    waves: scenario.waves,
    concurrency: scenario.concurrency,
    ...(scenario.maxFailures ? { max_failures: scenario.maxFailures } : {}),
    soak_minutes: scenario.soakMinutes,
  };
}

/**
 * The limit of issue 18: the larger of the busiest instance's proxies one after another and
 * ceil(proxies / concurrency) workflows one after another, plus the soaks (one between waves).
 * No wave term: a wave boundary costs only what its stragglers cost.
 */
export function limitMinutes(scenario: Scenario): { minutes: number; serial: number; slots: number } {
  const proxies = scenario.layout.reduce((sum, part) => sum + part.instances * part.perInstance, 0);
  const busiest = Math.max(...scenario.layout.map((part) => part.perInstance));
  const serial = busiest * scenario.workflowMinutes;
  const slots = Math.ceil(proxies / scenario.concurrency) * scenario.workflowMinutes;
  const soaks = (scenario.waves.length - 1) * scenario.soakMinutes;
  return { minutes: Math.max(serial, slots) + soaks, serial, slots };
}

export interface ScenarioFigures {
  scenario: Scenario;
  proxies: number;
  limit: ReturnType<typeof limitMinutes>;
  rollout: {
    wallMinutes: number;
    status: string;
    counts: Record<string, number>;
    calls: HuaweiCalls;
    most: { posts: number; versionReads: number; polls: number };
    executions: number;
    stateTransitions: number;
    invocations: number;
    maxHistoryEvents: number;
    /** Real seconds the tasks took here: what the wall would gain were task time counted 1:1. */
    taskSeconds: number;
    realMs: number;
  };
  terraform?: TerraformRun & { wallMinutes: number; calls: HuaweiCalls; realMs: number };
}

export interface FleetSettings {
  tickSeconds: number;
  seed: number;
  terraform: typeof TERRAFORM;
}

export async function runScenario(
  scenario: Scenario,
  definition: Record<string, unknown>,
  settings: Pick<FleetSettings, 'tickSeconds' | 'seed'>,
): Promise<ScenarioFigures> {
  const proxies = fleetOf(scenario);
  const workflows = {
    durationMs: scenario.workflowMinutes * 60_000,
    failShare: scenario.failShare,
    seed: settings.seed,
  };
  const began = performance.now();
  const clock = createVirtualClock();
  const fleet = await startFleet(proxies, workflows, clock);
  let rollout: ScenarioFigures['rollout'];
  try {
    const run = await runRollout({
      definition,
      fleet,
      request: requestOf(scenario, proxies),
      clock,
      tickSeconds: settings.tickSeconds,
    });
    rollout = {
      wallMinutes: run.wallMs / 60_000,
      status: run.status,
      counts: run.counts,
      calls: fleet.calls(),
      most: fleet.mostPerProxy(),
      executions: run.executions,
      stateTransitions: run.stateTransitions,
      invocations: run.invocations,
      maxHistoryEvents: run.maxHistoryEvents,
      taskSeconds: run.taskMs / 1000,
      realMs: performance.now() - began,
    };
  } finally {
    await fleet.close();
  }
  const figures: ScenarioFigures = {
    scenario,
    proxies: proxies.length,
    limit: limitMinutes(scenario),
    rollout,
  };
  if (scenario.terraform) figures.terraform = await terraformOf(proxies, workflows);
  return figures;
}

async function terraformOf(proxies: FleetProxy[], workflows: Parameters<typeof startFleet>[1]) {
  const began = performance.now();
  const clock = createVirtualClock();
  const fleet = await startFleet(proxies, workflows, clock);
  try {
    const run = await terraformWay({
      fleet,
      proxies,
      clock,
      sourceVersion: SOURCE_VERSION,
      targetVersion: TARGET_VERSION,
    });
    return {
      ...run,
      wallMinutes: run.wallMs / 60_000,
      calls: fleet.calls(),
      realMs: performance.now() - began,
    };
  } finally {
    await fleet.close();
  }
}

export async function runFleet(
  definition: Record<string, unknown>,
  settings: Pick<FleetSettings, 'tickSeconds' | 'seed'>,
  scenarios: Scenario[] = SCENARIOS,
  progress: (line: string) => void = () => undefined,
): Promise<{ settings: FleetSettings; scenarios: ScenarioFigures[] }> {
  const figures: ScenarioFigures[] = [];
  for (const scenario of scenarios) {
    progress(`fleet scenario ${scenario.name}: ${scenario.description} ...`);
    figures.push(await runScenario(scenario, definition, settings));
  }
  return { settings: { ...settings, terraform: TERRAFORM }, scenarios: figures };
}
