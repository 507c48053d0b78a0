import type { FleetSettings, ScenarioFigures } from './fleet.ts';

/** The fleet figures (bench/fleet.ts) as the report's sections (bench/report.ts renders them). */

export interface FleetFigures {
  settings: FleetSettings;
  scenarios: ScenarioFigures[];
  /** Real seconds the fleet part took on this machine. */
  realSeconds: number;
}

export const fleetGoals = {
  /** Wall time over the limit, every scenario. */
  limitFactor: 1.15,
  /** The Terraform way's wall time over the rollout's, in the scenarios that name it. */
  terraformFactor: 5,
  terraformScenarios: ['A', 'B'],
  perProxy: { posts: 1, versionReads: 2, polls: 12 },
  /** Step Functions Standard, list price per state transition. */
  dollarsPerTransition: 0.025 / 1000,
};

interface FleetSection {
  title: string;
  header: string[];
  rows: string[][];
  notes: string[];
}

const mark = (ok: boolean) => (ok ? 'met' : 'NOT MET');
const minutes = (value: number) => `${value.toFixed(value % 1 === 0 ? 0 : 1)} min`;
const times = (value: number) => `${value.toFixed(2)}x`;
const applies = (count: number) => `${count} ${count === 1 ? 'apply' : 'applies'}`;
const per = (count: number, proxies: number) => (count / proxies).toFixed(2).replace(/\.?0+$/, '');

export function limitMet(s: ScenarioFigures): boolean {
  return s.rollout.wallMinutes <= fleetGoals.limitFactor * s.limit.minutes;
}

export function terraformMet(s: ScenarioFigures): boolean | undefined {
  if (!fleetGoals.terraformScenarios.includes(s.scenario.name) || s.terraform === undefined) return undefined;
  return s.terraform.wallMinutes >= fleetGoals.terraformFactor * s.rollout.wallMinutes;
}

export function callsMet(s: ScenarioFigures): boolean {
  const { most, calls } = s.rollout;
  const { perProxy } = fleetGoals;
  return (
    most.posts <= perProxy.posts &&
    most.versionReads <= perProxy.versionReads &&
    most.polls <= perProxy.polls &&
    calls.selfBusy === 0
  );
}

function speedSection(fleet: FleetFigures): FleetSection {
  const rows = fleet.scenarios.map((s) => {
    const factor = s.rollout.wallMinutes / s.limit.minutes;
    const terraform = s.terraform;
    const tfMet = terraformMet(s);
    const goals = [
      s.scenario.extra ? `limit: no goal (extra row)` : `limit ${mark(limitMet(s))}`,
      ...(tfMet === undefined ? [] : [`Terraform ${mark(tfMet)}`]),
    ];
    return [
      `${s.scenario.name}: ${s.scenario.description}, concurrency ${s.scenario.concurrency}, waves ${wavesText(s)}`,
      `${minutes(s.rollout.wallMinutes)} (${s.rollout.status})`,
      `${minutes(s.limit.minutes)} (max of ${minutes(s.limit.serial)}, ${minutes(s.limit.slots)})`,
      times(factor),
      terraform
        ? `${minutes(terraform.wallMinutes)} (${applies(terraform.applies)})`
        : 'not simulated (extra row)',
      terraform ? times(terraform.wallMinutes / s.rollout.wallMinutes) : '',
      `+${s.rollout.taskSeconds.toFixed(1)} s`,
      goals.join(', '),
    ];
  });
  const { tickSeconds, terraform } = fleet.settings;
  return {
    title: `5. Fleet speed: simulated minutes, 10-minute workflows, no soak, ROLLOUT_TICK_SECONDS ${tickSeconds}`,
    header: [
      '',
      'rollout wall time',
      'the limit',
      `wall / limit (goal <= ${fleetGoals.limitFactor}x)`,
      `the Terraform way (parallelism ${terraform.parallelism}, polls every ${terraform.pollMs / 1000} s)`,
      `Terraform / rollout (goal >= ${fleetGoals.terraformFactor}x in A and B)`,
      'task time (real, here)',
      '',
    ],
    rows,
    notes: [
      'Wall time: simulated time from StartExecution to the Proxy Rollout Completed event, on a virtual clock that the Wait states, the handlers, the polls and the stand-in workflows share; task time counts as zero on it (the column beside it is what the tasks took in real time here, which counted 1:1 would add that much).',
      "The limit: the larger of the busiest instance's proxies one after another and ceil(proxies / concurrency) x the workflow duration (no soaks here). A, B and C are judged, with one wave (the formula has no wave term). Extra rows, against the same formula and not judged: A with the default waves (1 / 10 % / 100 %); A with workflows 1 s longer than ten ticks, the worst phase for the tick (each serial proxy then waits up to one tick more: at most 1 tick lost per proxy of the busiest instance); D, uneven instances at concurrency 10, where the tick's longest-remaining-instance-first order matters.",
      `The fleet part took ${fleet.realSeconds.toFixed(0)} s of real time on this machine.`,
    ],
  };
}

function wavesText(s: ScenarioFigures): string {
  return s.scenario.waves
    .map((wave) => ('size' in wave ? String(wave.size) : `${wave.percent} %`))
    .join(' / ');
}

function callsSection(fleet: FleetFigures): FleetSection {
  const { perProxy } = fleetGoals;
  const rows = fleet.scenarios.map((s) => {
    const { calls, most, counts } = s.rollout;
    const n = s.proxies;
    const ended = Object.entries(counts)
      .filter(([, count]) => count > 0)
      .map(([outcome, count]) => `${outcome} ${count}`)
      .join(', ');
    const cost = s.rollout.stateTransitions * fleetGoals.dollarsPerTransition;
    return [
      s.scenario.name,
      ended,
      `${per(calls.posts, n)} (${most.posts})`,
      `${per(calls.versionReads, n)} (${most.versionReads})`,
      `${per(calls.polls, n)} (${most.polls})`,
      per(calls.listings, n),
      String(calls.selfBusy),
      `${per(s.rollout.stateTransitions, n)} (${s.rollout.stateTransitions})`,
      `${per(s.rollout.invocations, n)} (${s.rollout.invocations})`,
      `$${cost.toFixed(4)}`,
      `${s.rollout.executions} (${s.rollout.maxHistoryEvents})`,
      mark(callsMet(s)),
    ];
  });
  return {
    title: '5b. Fleet cost per proxy: Huawei API calls, Step Functions and Lambda (the rollouts of table 5)',
    header: [
      '',
      'outcomes',
      `POSTs per proxy (most on one; goal <= ${perProxy.posts})`,
      `version reads (most; goal <= ${perProxy.versionReads})`,
      `workflow polls (most on one; goal <= ${perProxy.polls})`,
      'instance listings',
      'busy refusals of our own (goal 0)',
      'state transitions per proxy (all)',
      'Lambda invocations per proxy (all)',
      'Step Functions cost ($0.025 / 1,000 transitions)',
      'executions (most history events in one)',
      '',
    ],
    rows,
    notes: [
      "Per proxy: divided by the proxies of the rollout; in brackets the most that any one proxy (a workflow for polls) got, which the goals judge. Version reads: the plan's and the one right before the POST. Busy refusals of our own: upgrades the stand-in refused busy (409 DBS.201205) because another of the rollout's own workflows was running on the instance.",
      'Lambda invocations: the intake, the Plan task and one Advance per tick; DynamoDB and EventBridge calls are not counted here.',
    ],
  };
}

function terraformSection(fleet: FleetFigures): FleetSection {
  const rows = fleet.scenarios.flatMap((s) => {
    const t = s.terraform;
    if (t === undefined) return [];
    const n = s.proxies;
    return [
      [
        s.scenario.name,
        `${minutes(t.wallMinutes)} in ${applies(t.applies)}`,
        `${t.completed} of ${n}`,
        String(t.failures),
        String(t.busyRefusals),
        per(t.calls.posts, n),
        per(t.calls.versionReads, n),
        per(t.calls.polls, n),
      ],
    ];
  });
  return {
    title:
      '5c. The Terraform way, simulated against the same stand-in fleet (for_each over the proxies, sorted keys)',
    header: [
      '',
      'wall time',
      'resources Completed',
      'resource failures (all applies)',
      'busy refusals of its own',
      'POSTs per proxy',
      'version reads per proxy',
      'workflow polls per proxy',
    ],
    rows,
    notes: [
      `Each resource POSTs, then polls its job every ${fleet.settings.terraform.pollMs / 1000} s until it ends and reads the proxy back; a busy refusal, a REJECT or a Failed job fails the resource and the apply goes on; each apply refreshes the resources in state (a version read each); apply is run again at once until every resource is Completed (the operator's time between applies counts as zero).`,
    ],
  };
}

export function fleetSections(fleet: FleetFigures | undefined): FleetSection[] {
  if (fleet === undefined) {
    return [
      {
        title: '5. Fleet speed (scenarios A, B, C of issue 18)',
        header: ['', 'figures'],
        rows: [['scenarios A, B and C', 'not measured in this run']],
        notes: [],
      },
    ];
  }
  return [speedSection(fleet), callsSection(fleet), terraformSection(fleet)];
}
