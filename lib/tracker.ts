import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { AppError, ValidationError, type ValidationIssue } from './errors.ts';
import { logger as defaultLogger, metrics as defaultMetrics } from './observability.ts';
import type { JobStatus } from './taurusdb-client.ts';
import {
  boundText,
  buildCompletedEvent,
  buildJobFailedEvent,
  buildTimedOutEvent,
  type TrackingEvent,
} from './tracking-events.ts';
import type { TrackedUpgrade } from './tracking-message.ts';
import type { TrackingQueue } from './tracking-queue.ts';

/**
 * One check of an accepted upgrade's workflow: read the job once, then either publish how it ended
 * or queue the next check. Never waits for the workflow itself.
 *
 * - Completed → `Proxy Upgrade Completed`; Failed → `Proxy Upgrade Failed` (JOB_FAILED, fail_reason).
 * - Pending, Running, any status TaurusDB may add, a job not visible yet (Huawei: a new job can take
 *   seconds to appear) and a read that failed (unreachable, 5xx, or a 4xx such as 403 or an IAM or
 *   Secrets Manager failure) all mean "not known to be over": the next check is queued. The 4xx cases
 *   are not treated as final on purpose: the tracker cannot tell a policy or credential being fixed
 *   from a lasting one, re-checking is read-only and spaced out, and the maximum tracking time bounds
 *   it; the Timed Out event then carries the last error, and every failed read is logged as a warning
 *   with the `TrackingReadFailures` metric so a lasting problem shows long before that.
 * - When the maximum tracking time since TaurusDB accepted the upgrade has passed and the job is not
 *   over → `Proxy Upgrade Tracking Timed Out`. The last check is scheduled for that moment, so the
 *   limit is kept to the second whatever the backoff.
 *
 * Delays: `initialDelaySeconds` after the first check, doubling after each one, capped at
 * `maxDelaySeconds` (defaults 30 s growing to 300 s: an upgrade of a few minutes is seen within a
 * minute or two of its end, for about 30 reads over the default two hours).
 *
 * Duplicates are harmless: EventBridge and SQS deliver at least once, so a check may run twice and
 * a second re-check chain may follow the same workflow. Checks only read; both chains publish the end
 * event under the same event_id (lib/tracking-events.ts), which consumers deduplicate on.
 */

type LoggerLike = Pick<Logger, 'info' | 'warn'>;
type MetricsLike = Pick<Metrics, 'addMetric'>;

export interface JobReader {
  getJob(projectId: string, jobId: string, signal?: AbortSignal): Promise<JobStatus | undefined>;
}

export interface TrackingPublisher {
  publish(events: TrackingEvent[]): Promise<unknown>;
}

export interface RecheckSchedule {
  maxSeconds: number;
  initialDelaySeconds: number;
  maxDelaySeconds: number;
}

export interface TrackerOptions extends RecheckSchedule {
  jobs: JobReader;
  publisher: TrackingPublisher;
  queue: Pick<TrackingQueue, 'schedule'>;
  /** Epoch milliseconds. */
  now?: () => number;
  logger?: LoggerLike;
  metrics?: MetricsLike;
}

export type CheckOutcome =
  | { kind: 'completed' | 'failed'; status: string }
  | { kind: 'timed_out'; status: string | null; error?: string }
  | { kind: 'rechecking'; status: string | null; error?: string; delaySeconds: number; messageId: string };

export interface CheckReport {
  workflowId: string;
  /** This check's attempt number (0 for the check on the Accepted event). */
  attempt: number;
  outcome: CheckOutcome;
}

export interface Tracker {
  /**
   * Throws when the outcome could not be published or the next check could not be queued (the
   * delivery must then be retried), when the caller's signal ended the read, and for a ValidationError.
   */
  check(tracked: TrackedUpgrade, signal?: AbortSignal): Promise<CheckReport>;
}

// last_error and the logged reason name the error and TaurusDB's message; a page of it helps nobody.
const MAX_ERROR_BYTES = 1024;

/** How far apart the clocks of two Lambda hosts (the upgrade function's and the tracker's) may be. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * How long after the maximum tracking time a message of ours may still arrive: a dead letter is kept
 * 14 days and may then be replayed, and the upgrade function republishes a stored Accepted event for
 * at most 7 days (IDEMPOTENCY_WINDOW_SECONDS). A message older than this was not written by us.
 */
export const OLDEST_MESSAGE_BEYOND_TRACKING_MS = 30 * 24 * 3600_000;

/**
 * Why a message cannot be one of ours, or undefined when it can. Such a message is refused (a
 * ValidationError: the redrive policy moves it to the dead-letter queue) instead of being followed:
 * - acceptance in the future: the tracking time would never run out, so it would be re-checked
 *   forever;
 * - acceptance before anything of ours can still be in flight;
 * - more checks than any schedule makes by now: every re-check is queued at least a second after the
 *   check before it, whatever the TRACKING_* settings (so a deploy that changed them refuses nothing),
 *   and the first check runs after the acceptance.
 */
export function implausibility(
  tracked: TrackedUpgrade,
  nowMs: number,
  maxSeconds: number,
): ValidationIssue | undefined {
  const startedMs = Date.parse(tracked.accepted_at);
  if (startedMs > nowMs + CLOCK_SKEW_MS) {
    return { path: 'accepted_at', message: `${tracked.accepted_at} is in the future` };
  }
  if (startedMs < nowMs - maxSeconds * 1000 - OLDEST_MESSAGE_BEYOND_TRACKING_MS) {
    return {
      path: 'accepted_at',
      message: `${tracked.accepted_at} is older than any tracking message can be`,
    };
  }
  const reachable = Math.floor((nowMs + CLOCK_SKEW_MS - startedMs) / 1000);
  if (tracked.attempt > reachable) {
    return {
      path: 'attempt',
      message: `${tracked.attempt} checks cannot have run since ${tracked.accepted_at}`,
    };
  }
  return undefined;
}

/** The delay before check `attempt + 1`: the backoff, or less when the tracking time ends sooner. */
export function recheckDelaySeconds(attempt: number, remainingMs: number, schedule: RecheckSchedule): number {
  const backoff = Math.min(
    schedule.maxDelaySeconds,
    schedule.initialDelaySeconds * 2 ** Math.min(attempt, 20),
  );
  return Math.max(1, Math.min(backoff, Math.ceil(remainingMs / 1000)));
}

type Reading = { job: JobStatus | undefined; error?: undefined } | { job?: undefined; error: string };

export function createTracker(options: TrackerOptions): Tracker {
  const now = options.now ?? Date.now;
  const log = options.logger ?? defaultLogger;
  const metrics = options.metrics ?? defaultMetrics;

  async function read(tracked: TrackedUpgrade, signal?: AbortSignal): Promise<Reading> {
    try {
      return { job: await options.jobs.getJob(tracked.request.project_id, tracked.workflow_id, signal) };
    } catch (error) {
      // The caller ran out of time: the delivery is retried as a whole rather than a re-check queued
      // that might not be sent either. A ValidationError will not get better by waiting.
      if (signal?.aborted || error instanceof ValidationError || !(error instanceof AppError)) throw error;
      metrics.addMetric('TrackingReadFailures', 'Count', 1);
      log.warn('the job could not be read; checking again later', {
        workflow_id: tracked.workflow_id,
        attempt: tracked.attempt,
        error: { name: error.name, message: error.message },
      });
      return { error: boundText(`${error.name}: ${error.message}`, MAX_ERROR_BYTES) };
    }
  }

  return {
    async check(tracked, signal) {
      const issue = implausibility(tracked, now(), options.maxSeconds);
      if (issue !== undefined) {
        metrics.addMetric('TrackingMessagesRefused', 'Count', 1);
        throw new ValidationError([issue]);
      }
      const reading = await read(tracked, signal);
      const checkedAt = now();
      const status = reading.job?.status ?? null;
      const base = { workflowId: tracked.workflow_id, attempt: tracked.attempt };
      metrics.addMetric('TrackingChecks', 'Count', 1);

      const terminal = status?.toLowerCase();
      if (reading.job !== undefined && (terminal === 'completed' || terminal === 'failed')) {
        const job = {
          created: blankToNull(reading.job.created),
          ended: blankToNull(reading.job.ended),
          fail_reason: blankToNull(reading.job.fail_reason),
        };
        const completed = terminal === 'completed';
        const event = completed
          ? buildCompletedEvent(tracked, job, new Date(checkedAt))
          : buildJobFailedEvent(tracked, job, new Date(checkedAt));
        await options.publisher.publish([event]);
        metrics.addMetric(completed ? 'UpgradesCompleted' : 'UpgradeWorkflowsFailed', 'Count', 1);
        log.info(`the upgrade workflow ${completed ? 'completed' : 'failed'}`, {
          workflow_id: tracked.workflow_id,
          attempt: tracked.attempt,
          ...(completed ? {} : { fail_reason: job.fail_reason }),
        });
        return { ...base, outcome: { kind: completed ? 'completed' : 'failed', status: status as string } };
      }

      const remainingMs = Date.parse(tracked.accepted_at) + options.maxSeconds * 1000 - checkedAt;
      const error = reading.error === undefined ? {} : { error: reading.error };
      if (remainingMs <= 0) {
        await options.publisher.publish([
          buildTimedOutEvent(
            tracked,
            {
              startedAt: tracked.accepted_at,
              maxSeconds: options.maxSeconds,
              checks: tracked.attempt + 1,
              lastStatus: status,
              lastError: reading.error,
            },
            new Date(checkedAt),
          ),
        ]);
        metrics.addMetric('TrackingTimedOut', 'Count', 1);
        log.warn('tracking gave up: the maximum tracking time is over', {
          workflow_id: tracked.workflow_id,
          attempt: tracked.attempt,
          last_status: status,
          max_seconds: options.maxSeconds,
        });
        return { ...base, outcome: { kind: 'timed_out', status, ...error } };
      }

      const delaySeconds = recheckDelaySeconds(tracked.attempt, remainingMs, options);
      const messageId = await options.queue.schedule(
        { ...tracked, attempt: tracked.attempt + 1 },
        delaySeconds,
        signal,
      );
      log.info('the upgrade workflow is not over; checking again later', {
        workflow_id: tracked.workflow_id,
        attempt: tracked.attempt,
        status: status ?? (reading.error === undefined ? 'not visible yet' : 'unreadable'),
        next_check_in_seconds: delaySeconds,
      });
      return { ...base, outcome: { kind: 'rechecking', status, ...error, delaySeconds, messageId } };
    },
  };
}

// The sandbox (and, by Huawei's examples, TaurusDB) sends "" for a time or reason it does not have.
function blankToNull(value: string | null | undefined): string | null {
  return value === undefined || value === null || value.trim() === '' ? null : value;
}
