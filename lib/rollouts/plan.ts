import type { FailureBudget, Wave } from './request.ts';

/**
 * Planning a rollout, pure: the fleet as the plan task found it (every entry expanded to its proxies,
 * each proxy's version read done) to waves and a failure budget.
 *
 * - A proxy already at the target is planned as skipped: it belongs to no wave and takes no slot, and
 *   "percent" means percent of the proxies that need the upgrade.
 * - Wave i covers the planned targets up to its cumulative end: a size as is, a percent rounded up,
 *   neither past the last target. Waves take the targets round-robin over their instances (each
 *   instance's first proxy, in the order the instances first come, then each one's second, ...):
 *   TaurusDB runs one upgrade per instance at a time, so a 10 % wave of a fleet listed instance by
 *   instance would otherwise be a few instances' proxies one after another (100 minutes of 10-minute
 *   workflows in bench scenario A, docs/performance.md) where one proxy of each runs side by side;
 *   and a wave then touches one proxy of many instances, their other proxies still serving. A wave that would add nobody (10 % of 5 is the canary's 1) is
 *   dropped, so every wave of a plan starts somebody.
 * - The budget is the number of failures at which the rollout halts: a count as is, a percent of the
 *   planned targets rounded up, at least 1 (so the first failure of a small fleet halts it).
 */

/** More proxies than one rollout record keeps (a DynamoDB item holds at most 400 KB). */
export const MAX_PLANNED_TARGETS = 1000;

interface ProxyAddress {
  project_id: string;
  instance_id: string;
  proxy_id: string;
  region?: string;
}

export interface Candidate extends ProxyAddress {
  /** Set when the version read found the proxy at (or past) the target, or not advised: why it is skipped. */
  skip_reason?: string;
}

export interface PlannedTarget extends ProxyAddress {
  /** Unique within the rollout: `project/instance/proxy`. */
  key: string;
  /** Index of its wave; undefined for a skipped target. */
  wave?: number;
  skip_reason?: string;
}

export interface RolloutPlan {
  /** Every candidate, in the order given: the planned ones with their wave, the skipped ones without. */
  targets: PlannedTarget[];
  /** Cumulative number of planned targets at the end of each wave; empty when nothing needs the upgrade. */
  wave_ends: number[];
  budget: number;
}

export const targetKey = (proxy: ProxyAddress) =>
  `${proxy.project_id}/${proxy.instance_id}/${proxy.proxy_id}`;

/** Percent of a count, rounded up; the small tolerance keeps 33.3 % of 3 at 1, not 2, after float error. */
function shareOf(percent: number, count: number): number {
  return Math.ceil((percent * count) / 100 - 1e-9);
}

export function waveEnds(waves: readonly Wave[], planned: number): number[] {
  const ends: number[] = [];
  for (const wave of waves) {
    const wanted = 'size' in wave ? wave.size : shareOf(wave.percent, planned);
    const end = Math.min(planned, wanted);
    if (end > (ends.at(-1) ?? 0)) ends.push(end);
  }
  return ends;
}

export function failureBudget(budget: FailureBudget, planned: number): number {
  return 'count' in budget ? budget.count : Math.max(1, shareOf(budget.percent, planned));
}

export function planRollout(
  candidates: readonly Candidate[],
  settings: { waves: readonly Wave[]; max_failures: FailureBudget },
): RolloutPlan {
  const positions = waveOrder(candidates);
  const ends = waveEnds(settings.waves, positions.size);
  const targets = candidates.map((candidate, index): PlannedTarget => {
    const target = { ...candidate, key: targetKey(candidate) };
    const position = positions.get(index);
    if (position === undefined) return target;
    return { ...target, wave: ends.findIndex((end) => position < end) };
  });
  return { targets, wave_ends: ends, budget: failureBudget(settings.max_failures, positions.size) };
}

/** Each planned candidate's index → its place in the waves: round-robin over instances (above). */
function waveOrder(candidates: readonly Candidate[]): Map<number, number> {
  const byInstance = new Map<string, number[]>();
  candidates.forEach((candidate, index) => {
    if (candidate.skip_reason !== undefined) return;
    const instance = `${candidate.project_id}/${candidate.instance_id}`;
    byInstance.set(instance, [...(byInstance.get(instance) ?? []), index]);
  });
  const positions = new Map<number, number>();
  const queues = [...byInstance.values()];
  const planned = queues.reduce((count, queue) => count + queue.length, 0);
  for (let round = 0; positions.size < planned; round += 1) {
    for (const queue of queues) {
      const index = queue[round];
      if (index !== undefined) positions.set(index, positions.size);
    }
  }
  return positions;
}
