import type { PlanVerdict } from '../events/detail-types.ts';
import type { ProxyAdvisory, UpdateResultItem } from '../huawei/taurusdb-client.ts';
import type { ProxyVersions, ResolvedVersions } from './versions.ts';

/** Why a target failed: TaurusDB's status and code when it answered, or the function's own code. */
export interface OutcomeError {
  status?: number;
  error_code?: string;
  error_msg: string;
}

/**
 * How one target ended: the one shape that the step returns, duplicate suppression stores (as JSON),
 * the event builder publishes, and answers and logs describe. `versions` is set when the version read
 * ran, `resolved` once both versions of the upgrade were known.
 */
export type TargetOutcome = {
  versions?: ProxyVersions;
  resolved?: ResolvedVersions;
  /** Huawei's advisory (`risk`) from the version read, when it gave one. */
  advisory?: ProxyAdvisory;
} & (
  | { kind: 'completed'; items: UpdateResultItem[] }
  | { kind: 'failed'; error: OutcomeError }
  | { kind: 'skipped'; reason: string }
  | { kind: 'planned'; would: PlanVerdict; reason?: string }
  | {
      /**
       * An earlier attempt of this step reached the "sending" state and may have sent the upgrade
       * request; no second one was sent. `versions` is what the reconciliation read found (absent when
       * that read failed, then `read_error` says why).
       */
      kind: 'unconfirmed';
      sending_at: string;
      reason: string;
      read_error?: string;
    }
  | {
      /**
       * TaurusDB refused because the instance is busy (`error`, nothing ran), or another proxy of the
       * same instance goes first: attempt number `attempt` runs at `next_attempt_at`, until
       * `deadline`, delivered by the Scheduler schedule `schedule_name`; without one, the target is a
       * rollout's and its loop runs the attempt (lib/rollouts/advance.ts).
       */
      kind: 'deferred';
      reason: string;
      error?: OutcomeError;
      attempt: number;
      next_attempt_at: string;
      deadline: string;
      schedule_name?: string;
    }
  | {
      /**
       * Another invocation is processing the same delivery of the same target right now: this one
       * did nothing, so it publishes nothing and stores nothing; the other one reports the result.
       */
      kind: 'in_progress';
      error: OutcomeError;
    }
);

export type FailedOutcome = Extract<TargetOutcome, { kind: 'failed' }>;

/**
 * An outcome with when and how it came about, as duplicate suppression keeps it per delivery and
 * target so a redelivery republishes the same events (its occurred_at included) without a second call.
 */
export interface OutcomeRecord<O extends TargetOutcome = TargetOutcome> {
  outcome: O;
  occurred_at: string;
  /** The status TaurusDB answered, for the log line; null when no answer came back or none was asked. */
  upstream_status: number | null;
  duration_ms: number | null;
}

/**
 * What one run of the step gives: the record, and whether duplicate suppression may keep it. A failure
 * before anything could have reached TaurusDB (a version read, credentials, a refused connection) is
 * reported but not kept, so a redelivery tries again; everything TaurusDB may have acted on is kept.
 */
export interface StepOutcome {
  record: OutcomeRecord;
  store: boolean;
}

/** The outcome as answers, logs and metrics name it. */
export type OutcomeLabel =
  | 'accepted'
  | 'rejected'
  | 'failed'
  | 'in_progress'
  | 'skipped'
  | 'planned'
  | 'unconfirmed'
  | 'deferred';

export const EMPTY_RESULT_MESSAGE =
  'TaurusDB answered 200 without any update_result item; the state of the upgrade is unknown';

/**
 * The error of an outcome that failed, or undefined. A 200 whose `update_result` is empty counts as
 * failed: TaurusDB said nothing about the upgrade, and calling it accepted or rejected would claim
 * something nobody knows; its event is a Failed one, its label `failed`, its answer carries this error.
 */
export function failureIn(outcome: TargetOutcome): OutcomeError | undefined {
  switch (outcome.kind) {
    case 'failed':
    case 'in_progress':
      return outcome.error;
    case 'completed':
      return outcome.items.length === 0 ? { status: 200, error_msg: EMPTY_RESULT_MESSAGE } : undefined;
    default:
      return undefined;
  }
}

export function labelOf(outcome: TargetOutcome): OutcomeLabel {
  if (outcome.kind !== 'completed') return outcome.kind;
  if (failureIn(outcome) !== undefined) return 'failed';
  return outcome.items.every((item) => item.state === 'ACCEPT') ? 'accepted' : 'rejected';
}

/** What answers and log lines say of an outcome, each field absent (undefined) where it does not apply. */
export function outcomeFacts(outcome: TargetOutcome) {
  return {
    label: labelOf(outcome),
    versions: outcome.versions,
    resolved: outcome.resolved,
    advisory: outcome.advisory,
    would: outcome.kind === 'planned' ? outcome.would : undefined,
    deferred:
      outcome.kind === 'deferred'
        ? { attempt: outcome.attempt, next_attempt_at: outcome.next_attempt_at, deadline: outcome.deadline }
        : undefined,
    reason: 'reason' in outcome ? outcome.reason : undefined,
    update_result: outcome.kind === 'completed' ? outcome.items : undefined,
    // A deferred outcome's busy refusal is not a failure, but the caller should see what TaurusDB said.
    error: failureIn(outcome) ?? (outcome.kind === 'deferred' ? outcome.error : undefined),
  };
}
