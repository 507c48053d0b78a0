import {
  type AdvanceCollaborators,
  advanceRollout,
  type TickAnswer,
  type UpgradeResult,
  type WorkflowState,
} from '../../lib/rollouts/advance.ts';
import { type Candidate, planRollout } from '../../lib/rollouts/plan.ts';
import {
  initialRecord,
  type RolloutFlags,
  type RolloutRecord,
  type RolloutTarget,
} from '../../lib/rollouts/record.ts';
import { parseRolloutRequest } from '../../lib/rollouts/request.ts';
import { nextAttempt } from '../../lib/upgrade/deferral.ts';

/**
 * A simulated fleet behind the advance tick's collaborators, for tests of the tick itself: every
 * upgrade request is recorded with what was in flight at that instant (so caps are checked at every
 * start, not only at the end), and each workflow ends after `pollsToEnd` polls with the outcome its
 * proxy was given. The record store is in memory with the real store's rule: a write lands only on
 * the revision it read, and never touches the flags.
 */
export interface FleetProxy extends Candidate {
  /** What the upgrade request answers: accepted (the default), or an end, or busy this many times. */
  answer?: UpgradeResult;
  busyTimes?: number;
  workflow?: 'completed' | 'failed';
}

export interface SimulatedFleet {
  store: { record: RolloutRecord; setFlags(flags: Partial<RolloutFlags>): void };
  collaborators: AdvanceCollaborators;
  posts: { key: string; deliveryId: string; inFlight: number; instanceBusy: boolean }[];
  /** Every end the tick announced (`<key> <kind>`), in order. */
  announced: string[];
  /** Every rollout event published (`<DetailType> <wave>`), in order. */
  rolloutEvents: string[];
  clock: { now: number };
  tick(): Promise<TickAnswer>;
  /** Ticks, a minute apart, until done or `max` ticks. */
  run(max?: number, between?: (answer: TickAnswer) => void): Promise<TickAnswer>;
}

export function simulateFleet(
  proxies: FleetProxy[],
  request: Record<string, unknown>,
  options: { pollsToEnd?: number } = {},
): SimulatedFleet {
  const rollout = parseRolloutRequest(
    {
      targets: [{ project_id: 'p', instance_id: 'i', proxy_id: 'x' }],
      target_version: '2.24.03.000',
      ...request,
    },
    'delivery-1',
  );
  const plan = planRollout(proxies, rollout);
  const byKey = new Map(plan.targets.map((target, index) => [target.key, proxies[index] as FleetProxy]));
  let stored = initialRecord(rollout, plan);
  const clock = { now: Date.parse('2026-12-02T01:00:00Z') };
  const posts: SimulatedFleet['posts'] = [];
  const announced: string[] = [];
  const rolloutEvents: string[] = [];
  const inFlight = new Map<string, { polls: number; instance: string }>();
  const busyLeft = new Map(
    proxies.map((proxy) => [
      `${proxy.project_id}/${proxy.instance_id}/${proxy.proxy_id}`,
      proxy.busyTimes ?? 0,
    ]),
  );
  const instanceOf = (target: RolloutTarget) => `${target.project_id}/${target.instance_id}`;

  const collaborators: AdvanceCollaborators = {
    async save(record) {
      if (record.revision !== stored.revision) return false;
      stored = { ...structuredClone(record), revision: record.revision + 1, flags: stored.flags };
      return true;
    },
    async startUpgrade(target, deliveryId) {
      const busy = [...inFlight.values()].some((flight) => flight.instance === instanceOf(target));
      posts.push({ key: target.key, deliveryId, inFlight: inFlight.size + 1, instanceBusy: busy });
      const left = busyLeft.get(target.key) ?? 0;
      if (left > 0) {
        busyLeft.set(target.key, left - 1);
        return busyAnswer(target, new Date(clock.now));
      }
      const answer = byKey.get(target.key)?.answer ?? { kind: 'accepted', workflow_id: `job-${target.key}` };
      if (answer.kind === 'accepted') inFlight.set(target.key, { polls: 0, instance: instanceOf(target) });
      return answer;
    },
    async publishRollout(events) {
      rolloutEvents.push(...events.map((event) => `${event.detailType} ${event.detail.wave}`));
    },
    async announce(ends) {
      announced.push(...ends.map((ended) => `${ended.target.key} ${ended.state.kind}`));
    },
    async pollWorkflow(target): Promise<WorkflowState> {
      const flight = inFlight.get(target.key);
      if (flight === undefined) throw new Error(`polled ${target.key}, which is not in flight`);
      flight.polls += 1;
      if (flight.polls < (options.pollsToEnd ?? 1)) return { kind: 'running' };
      inFlight.delete(target.key);
      return byKey.get(target.key)?.workflow === 'failed'
        ? { kind: 'failed', error: { error_code: 'JOB_FAILED', error_msg: 'the upgrade workflow failed' } }
        : { kind: 'completed' };
    },
    now: () => new Date(clock.now),
    settings: {
      trackingMaxMs: 7_200_000,
      resumeWindowMs: 86_400_000,
    },
    parallelism: 10,
  };

  const fleet: SimulatedFleet = {
    store: {
      get record() {
        return stored;
      },
      setFlags(flags) {
        stored = { ...stored, flags: { ...stored.flags, ...flags } };
      },
    },
    collaborators,
    posts,
    announced,
    rolloutEvents,
    clock,
    tick: () => advanceRollout(stored, collaborators),
    async run(max = 10_000, between) {
      for (let turn = 0; turn < max; turn += 1) {
        const answer = await fleet.tick();
        between?.(answer);
        if (answer.done) return answer;
        clock.now += 60_000;
      }
      throw new Error(`not done after ${max} ticks`);
    },
  };
  return fleet;
}

/**
 * What the upgrade step answers a rollout attempt that TaurusDB refused as busy: the step's own rule
 * (lib/upgrade/deferral.ts, the defaults of lib/config.ts: PT2H, 5 minutes doubling to 30), from the
 * attempt and the deadline the tick handed back (lib/rollouts/upgrade-runner.ts does the same).
 */
function busyAnswer(target: RolloutTarget, now: Date): UpgradeResult {
  const error = { error_code: 'DBS.201205', error_msg: 'instance busy' };
  const earlier = { attempt: target.attempt, deadline: target.busy_deadline };
  const next = nextAttempt(earlier, 7_200_000, { baseMs: 300_000, capMs: 1_800_000 }, now);
  if (!next.defer)
    return { kind: 'ended', outcome: 'failed', error: { ...error, error_code: 'INSTANCE_BUSY' } };
  return { kind: 'busy', error, not_before: next.at.toISOString(), deadline: next.deadline.toISOString() };
}

/** `count` proxies spread over `instances` instances of two projects. */
export function fleetOf(
  count: number,
  instances: number,
  each: (index: number) => Partial<FleetProxy> = () => ({}),
): FleetProxy[] {
  return Array.from({ length: count }, (_, index) => ({
    project_id: `p${index % 2}`,
    instance_id: `i${index % instances}`,
    proxy_id: `x${index}`,
    ...each(index),
  }));
}
