import { mapWithConcurrency } from '../concurrency.ts';
import { RolloutConflictError } from '../errors.ts';
import { ERROR_CODES } from '../upgrade/error-codes.ts';
import { lifecycleEvents, type RolloutEvent } from './lifecycle.ts';
import {
  countsOf,
  failuresOf,
  isActive,
  type OutcomeCounts,
  type RolloutRecord,
  type RolloutStatus,
  type RolloutTarget,
  type TargetEnd,
  type TargetError,
  TERMINAL,
} from './record.ts';

/**
 * One advance tick of a rollout (the state machine runs one per loop turn, README.md "Fleet
 * rollouts"): follow what is in flight, decide where the rollout stands, start new upgrades.
 *
 * - One poller per workflow: THIS tick polls the workflows of its in-flight targets; the tracker
 *   leaves rollout upgrades alone (its rule skips events whose trigger is a rollout).
 * - The durable guard: targets are written `started` (a write conditional on the record's revision)
 *   BEFORE their upgrade requests are sent. A tick that cannot write sends nothing; a re-run tick
 *   finds them `started` and never claims them again. A target left `started` by a tick that died
 *   before recording the answer is resumed with the SAME delivery id, so duplicate suppression
 *   replays (or reconciles) instead of sending a second upgrade; once the idempotency window since
 *   it started has passed, nothing is sent and it ends Unconfirmed.
 * - At most `concurrency` targets active (started or in flight), never two on one instance:
 *   TaurusDB runs one operation per instance.
 * - The failure budget: once the failures reach it, the rollout halts: nothing new starts, what is
 *   in flight is followed to its end. Cancel does the same without counting anything.
 * - Waves: targets of a later wave start only once every target of the current one has ended and the
 *   gate has opened (auto: soak_minutes after the wave ended; approval: soak_minutes after the approve
 *   call for the next wave). Pause starts nothing new; in-flight targets are still followed.
 */

/** What the per-target upgrade step answered, as the tick needs it. */
export type UpgradeResult =
  | {
      kind: 'accepted';
      workflow_id: string | null;
      resolved?: { source_version: string; target_version: string };
    }
  | { kind: 'ended'; outcome: TargetEnd; error?: TargetError }
  /** TaurusDB refused because the instance is busy, or the step deferred it: nothing ran. */
  | { kind: 'busy'; error?: TargetError; not_before?: string }
  /**
   * `"window": "maintenance"` and the instance's window is closed: nothing ran, the target waits for
   * the opening, and that wait counts against no busy retry time (README "Maintenance windows").
   */
  | { kind: 'window'; opens_at: string }
  /** Another invocation holds this very step: the next tick resumes it. */
  | { kind: 'in_progress' };

/** TaurusDB's job as the poll read it: what the end events carry. */
export interface FinishedJob {
  created: string | null;
  ended: string | null;
  fail_reason?: string | null;
}

export type WorkflowState =
  | { kind: 'running' }
  | { kind: 'completed'; job?: FinishedJob }
  | { kind: 'failed'; error: TargetError; job?: FinishedJob };

/** How a followed upgrade ended, for its end event (Completed, Failed, Tracking Timed Out). */
export interface FollowedEnd {
  target: RolloutTarget;
  state: Exclude<WorkflowState, { kind: 'running' }> | { kind: 'timed_out' };
}

export interface AdvanceSettings {
  /** An accepted upgrade whose workflow has not ended this long after it started ends Timed Out. */
  trackingMaxMs: number;
  busyRetryDelayMs: number;
  busyRetryForMs: number;
  /** Duplicate suppression's window: a `started` target is resumed only inside it. */
  resumeWindowMs: number;
}

export interface AdvanceCollaborators {
  /** Writes the tick's attributes with revision + 1 if the stored revision is still `revision`. */
  save(record: RolloutRecord): Promise<boolean>;
  /** Runs the per-target upgrade step (version read, duplicate suppression, windows, events). */
  startUpgrade(target: RolloutTarget, deliveryId: string): Promise<UpgradeResult>;
  pollWorkflow(target: RolloutTarget): Promise<WorkflowState>;
  /**
   * Publishes the end events of what this tick saw end, BEFORE the record says so: a publish that
   * fails fails the tick, the record still shows them in flight, and the next tick polls and
   * publishes again (the events are content-addressed, so a repeat has the same id).
   */
  announce(ends: FollowedEnd[]): Promise<void>;
  /** Publishes the rollout's own events (lib/rollouts/lifecycle.ts), before the write they describe. */
  publishRollout(events: RolloutEvent[]): Promise<void>;
  now(): Date;
  settings: AdvanceSettings;
  /** Calls TaurusDB at once at most (reads and upgrade requests alike). */
  parallelism: number;
}

export interface TickAnswer {
  rollout_id: string;
  status: RolloutStatus;
  wave: number;
  waves: number;
  done: boolean;
  counts: OutcomeCounts;
  revision: number;
}

/** The delivery id of one attempt of one target: readable, and the same whenever it is resumed. */
export const deliveryIdOf = (rolloutId: string, target: RolloutTarget) =>
  `rollout/${rolloutId}/${target.key}#${target.attempt}`;

export async function advanceRollout(stored: RolloutRecord, c: AdvanceCollaborators): Promise<TickAnswer> {
  const record: RolloutRecord = structuredClone(stored);
  if (TERMINAL.has(record.status) || record.status === 'planning') return answerOf(record);
  await follow(record, c);
  decide(record, c.now());
  const claimed = record.status === 'running' ? claim(record, c.now()) : [];
  // A tick that changed nothing (a soak, a gate, workflows still running) writes nothing.
  if (claimed.length > 0 || JSON.stringify(record) !== JSON.stringify(stored))
    await commit(stored, record, c);
  if (claimed.length > 0) {
    const written = structuredClone(record);
    await mapWithConcurrency(claimed, c.parallelism, async (target) =>
      apply(target, await c.startUpgrade(target, deliveryIdOf(record.rollout_id, target)), c),
    );
    decide(record, c.now());
    await commit(written, record, c);
  }
  return answerOf(record);
}

/** The rollout events of what changed since `previous`, then the conditional write. */
async function commit(
  previous: RolloutRecord,
  record: RolloutRecord,
  c: AdvanceCollaborators,
): Promise<void> {
  const events = lifecycleEvents(previous, record, c.now());
  if (events.length > 0) await c.publishRollout(events);
  await saveOrConflict(record, c);
}

async function saveOrConflict(record: RolloutRecord, c: AdvanceCollaborators): Promise<void> {
  if (!(await c.save(record))) {
    throw new RolloutConflictError(
      `rollout ${record.rollout_id} was written by another tick; nothing was sent`,
    );
  }
  record.revision += 1;
}

/** In-flight targets polled; targets a dead tick left `started` resumed (or ended Unconfirmed). */
async function follow(record: RolloutRecord, c: AdvanceCollaborators): Promise<void> {
  const now = c.now();
  const active = record.targets.filter(isActive);
  const ends: FollowedEnd[] = [];
  await mapWithConcurrency(active, c.parallelism, async (target) => {
    const since = now.getTime() - Date.parse(target.started_at ?? now.toISOString());
    if (target.state === 'started') {
      if (since <= c.settings.resumeWindowMs) {
        apply(target, await c.startUpgrade(target, deliveryIdOf(record.rollout_id, target)), c);
        return;
      }
      end(target, 'unconfirmed', now, {
        error_msg:
          'a tick stopped after writing it started and before recording the answer; past the duplicate suppression window nothing was sent again',
      });
      return;
    }
    const state = await c.pollWorkflow(target);
    if (state.kind === 'completed') end(target, 'completed', now);
    else if (state.kind === 'failed') end(target, 'failed', now, state.error);
    else if (since > c.settings.trackingMaxMs) {
      end(target, 'timed_out', now, { error_msg: 'the workflow had not ended within the tracking time' });
      ends.push({ target, state: { kind: 'timed_out' } });
      return;
    } else return;
    ends.push({ target, state });
  });
  if (ends.length > 0) await c.announce(ends);
}

function end(target: RolloutTarget, outcome: TargetEnd, now: Date, error?: TargetError): void {
  target.state = 'ended';
  target.outcome = outcome;
  target.ended_at = now.toISOString();
  if (error !== undefined) target.error = error;
  delete target.not_before;
}

/** One upgrade step's answer recorded on its target. */
function apply(target: RolloutTarget, result: UpgradeResult, c: AdvanceCollaborators): void {
  const now = c.now();
  switch (result.kind) {
    case 'accepted':
      target.state = 'in_flight';
      target.workflow_id = result.workflow_id;
      if (result.resolved !== undefined) target.resolved = result.resolved;
      return;
    case 'ended':
      end(target, result.outcome, now, result.error);
      return;
    case 'in_progress':
      return;
    case 'window':
      target.state = 'pending';
      target.not_before = result.opens_at;
      delete target.busy_since;
      return;
    case 'busy': {
      const busySince = target.busy_since ?? now.toISOString();
      if (now.getTime() - Date.parse(busySince) >= c.settings.busyRetryForMs) {
        end(target, 'failed', now, {
          error_code: ERROR_CODES.instanceBusy,
          error_msg: `instance ${target.instance_id} stayed busy for the whole busy retry time`,
        });
        return;
      }
      target.state = 'pending';
      target.busy_since = busySince;
      target.not_before =
        result.not_before ?? new Date(now.getTime() + c.settings.busyRetryDelayMs).toISOString();
      if (result.error !== undefined) target.error = result.error;
    }
  }
}

/** Where the rollout stands after what was followed: halted, cancelled, paused, gated, or running. */
function decide(record: RolloutRecord, now: Date): void {
  const active = record.targets.some(isActive);
  const { flags } = record;
  if (failuresOf(record.targets).length >= record.budget) {
    record.status = active ? 'halting' : 'halted';
    return;
  }
  if (flags.cancelled) {
    record.status = active ? 'cancelling' : 'cancelled';
    return;
  }
  const waveOpen = record.targets.some(
    (target) => target.wave !== undefined && target.wave <= record.wave && target.state !== 'ended',
  );
  if (waveOpen) {
    record.status = flags.paused ? 'paused' : 'running';
    return;
  }
  if (record.wave >= record.wave_ends.length - 1) {
    record.status = 'completed';
    return;
  }
  record.wave_ended_at ??= now.toISOString();
  record.status = gate(record, now);
  if (record.status === 'running') {
    record.wave += 1;
    delete record.wave_ended_at;
  }
  if (flags.paused && !TERMINAL.has(record.status)) record.status = 'paused';
}

/** The gate after a finished wave: awaiting approval, soaking, or open ('running'). */
function gate(record: RolloutRecord, now: Date): RolloutStatus {
  const next = record.wave + 1;
  let since = record.wave_ended_at as string;
  if (record.settings.gate === 'approval') {
    const { approved } = record.flags;
    if (approved === undefined || approved.wave < next) return 'awaiting_approval';
    since = approved.at;
  }
  const opens = Date.parse(since) + record.settings.soak_minutes * 60_000;
  return now.getTime() >= opens ? 'running' : 'soaking';
}

/**
 * The targets this tick starts, written `started` here (the caller saves before sending anything):
 * pending ones of the current wave or earlier, due, on an instance nothing else occupies, up to the
 * free slots, the instances with the most such targets left first (then in plan order). An
 * instance's proxies go one after another, so the one with the most left bounds the wave: started
 * last (plan order, with fewer slots than instances) it would add its whole series after the others.
 */
function claim(record: RolloutRecord, now: Date): RolloutTarget[] {
  const active = record.targets.filter(isActive);
  const occupied = new Set(active.map(instanceOf));
  let free = record.settings.concurrency - active.length;
  const claimed: RolloutTarget[] = [];
  const eligible = record.targets.filter(
    (target) => target.state === 'pending' && target.wave !== undefined && target.wave <= record.wave,
  );
  const left = new Map<string, number>();
  for (const target of eligible) left.set(instanceOf(target), (left.get(instanceOf(target)) ?? 0) + 1);
  const longestFirst = eligible.sort(
    (a, b) => (left.get(instanceOf(b)) ?? 0) - (left.get(instanceOf(a)) ?? 0),
  );
  for (const target of longestFirst) {
    if (free <= 0) break;
    if (target.not_before !== undefined && Date.parse(target.not_before) > now.getTime()) continue;
    if (occupied.has(instanceOf(target))) continue;
    occupied.add(instanceOf(target));
    target.state = 'started';
    target.attempt += 1;
    target.started_at = now.toISOString();
    delete target.not_before;
    claimed.push(target);
    free -= 1;
  }
  return claimed;
}

const instanceOf = (target: RolloutTarget) => `${target.project_id}/${target.instance_id}`;

function answerOf(record: RolloutRecord): TickAnswer {
  return {
    rollout_id: record.rollout_id,
    status: record.status,
    wave: record.wave,
    waves: record.wave_ends.length,
    done: TERMINAL.has(record.status),
    counts: countsOf(record.targets),
    revision: record.revision,
  };
}
