import type { PlannedTarget, RolloutPlan } from './plan.ts';
import type { RolloutRequest, TargetEntry } from './request.ts';

/**
 * The rollout record (lib/aws/rollout-store.ts keeps it in DynamoDB): the plan, each target's state,
 * where the rollout stands, and the operator's flags. The advance tick owns everything but the flags;
 * the control routes own the flags. Each writes only its own attributes, so neither overwrites the other.
 *
 * A target's life: `pending` → `started` (written BEFORE its upgrade request, the durable guard) →
 * `in_flight` (TaurusDB accepted it; its workflow id recorded) → `ended` with its outcome. A busy
 * instance (nothing ran, the step deferred it) sends it back to `pending` until `not_before`, a new
 * attempt with a delivery id of its own. A skipped target (already at the target when planned) is `ended` from the start.
 */

const TARGET_ENDS = ['completed', 'skipped', 'failed', 'rejected', 'timed_out', 'unconfirmed'] as const;
export type TargetEnd = (typeof TARGET_ENDS)[number];

/** What counts against the failure budget (issue 17: Failed, Rejected, Timed Out, Unconfirmed). */
export const FAILURE_ENDS: ReadonlySet<TargetEnd> = new Set([
  'failed',
  'rejected',
  'timed_out',
  'unconfirmed',
]);

export interface TargetError {
  error_code?: string;
  error_msg: string;
}

export interface RolloutTarget extends PlannedTarget {
  state: 'pending' | 'started' | 'in_flight' | 'ended';
  /** Attempts started so far; the delivery id of attempt n ends in `#n`. */
  attempt: number;
  /** A busy instance's next attempt (or a maintenance window's opening), not earlier. */
  not_before?: string;
  /**
   * BUSY_RETRY_FOR after the first busy answer, as the upgrade step set it (lib/upgrade/deferral.ts):
   * each next attempt hands it back to the step, which fails the target INSTANCE_BUSY once an attempt
   * would fall after it.
   */
  busy_deadline?: string;
  started_at?: string;
  /** The workflow (job) TaurusDB gave when it accepted; null when it gave none. */
  workflow_id?: string | null;
  /** The versions of its upgrade as the step resolved them (what its end events repeat). */
  resolved?: { source_version: string; target_version: string };
  outcome?: TargetEnd;
  error?: TargetError;
  ended_at?: string;
}

const ROLLOUT_STATUSES = [
  'planning',
  'running',
  'soaking',
  'awaiting_approval',
  'paused',
  'halting',
  'halted',
  'cancelling',
  'cancelled',
  'completed',
] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
export const TERMINAL: ReadonlySet<RolloutStatus> = new Set(['halted', 'cancelled', 'completed']);

export interface RolloutFlags {
  paused: boolean;
  cancelled: boolean;
  /** The latest approve call: the wave it lets start and when it came. */
  approved?: { wave: number; at: string };
}

export type RolloutSettings = Pick<
  RolloutRequest,
  | 'concurrency'
  | 'gate'
  | 'soak_minutes'
  | 'window'
  | 'only_if_advised'
  | 'target_version'
  | 'waves'
  | 'max_failures'
> &
  Partial<Pick<RolloutRequest, 'source_version' | 'change_id' | 'requested_by'>>;

export interface RolloutRecord {
  rollout_id: string;
  /** Bumped by every tick write; a write conditional on it fails when another tick wrote first. */
  revision: number;
  status: RolloutStatus;
  /** Index of the wave that may start targets now. */
  wave: number;
  wave_ends: number[];
  budget: number;
  settings: RolloutSettings;
  /** The targets as requested; the plan task expands them into `targets`. */
  entries: TargetEntry[];
  /** When the current wave's last target ended: the soak of an auto gate counts from here. */
  wave_ended_at?: string;
  targets: RolloutTarget[];
  flags: RolloutFlags;
  /**
   * The latest execution generation started for this rollout (`<rollout_id>-g<generation>`),
   * written before its StartExecution; absent on records older than it (read as 0). A resume call
   * reads it to see whether anything still drives the rollout (lib/rollouts/tasks.ts).
   */
  generation?: number;
}

export type OutcomeCounts = Record<TargetEnd | 'pending' | 'started' | 'in_flight', number>;

export function countsOf(targets: readonly RolloutTarget[]): OutcomeCounts {
  const counts: OutcomeCounts = {
    pending: 0,
    started: 0,
    in_flight: 0,
    completed: 0,
    skipped: 0,
    failed: 0,
    rejected: 0,
    timed_out: 0,
    unconfirmed: 0,
  };
  for (const target of targets) {
    const key = target.state === 'ended' ? (target.outcome ?? 'failed') : target.state;
    counts[key] += 1;
  }
  return counts;
}

export const failuresOf = (targets: readonly RolloutTarget[]) =>
  targets.filter((target) => target.outcome !== undefined && FAILURE_ENDS.has(target.outcome));

export const isActive = (target: RolloutTarget) => target.state === 'started' || target.state === 'in_flight';

/** The record a new rollout starts with, before the plan task has read the fleet. */
export function requestedRecord(request: RolloutRequest): RolloutRecord {
  const { concurrency, gate, soak_minutes, window, only_if_advised, target_version } = request;
  const { source_version, change_id, requested_by, waves, max_failures } = request;
  return {
    rollout_id: request.rollout_id,
    revision: 0,
    status: 'planning',
    wave: 0,
    wave_ends: [],
    budget: 1,
    settings: {
      concurrency,
      gate,
      soak_minutes,
      window,
      only_if_advised,
      target_version,
      waves,
      max_failures,
      ...(source_version === undefined ? {} : { source_version }),
      ...(change_id === undefined ? {} : { change_id }),
      ...(requested_by === undefined ? {} : { requested_by }),
    },
    entries: request.targets,
    targets: [],
    flags: { paused: false, cancelled: false },
    generation: 0,
  };
}

/** The record once planned: every planned target pending, every skipped one ended. */
export function plannedRecord(record: RolloutRecord, plan: RolloutPlan): RolloutRecord {
  return {
    ...record,
    status: 'running',
    wave_ends: plan.wave_ends,
    budget: plan.budget,
    targets: plan.targets.map((target) =>
      target.wave === undefined
        ? { ...target, state: 'ended', outcome: 'skipped', attempt: 0 }
        : { ...target, state: 'pending', attempt: 0 },
    ),
  };
}

/** A request planned at once over known candidates (tests, the sandbox). */
export function initialRecord(request: RolloutRequest, plan: RolloutPlan): RolloutRecord {
  return plannedRecord(requestedRecord(request), plan);
}
