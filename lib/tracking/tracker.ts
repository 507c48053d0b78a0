import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MAX_DELAY_SECONDS, type TrackingQueue } from '../aws/tracking-queue.ts';
import { AppError, ValidationError, type ValidationIssue } from '../errors.ts';
import { TRACKING_DETAIL_TYPES } from '../events/detail-types.ts';
import {
  boundText,
  buildCompletedEvent,
  buildJobFailedEvent,
  buildTimedOutEvent,
  buildVersionCompletedEvent,
  type TrackingEvent,
} from '../events/tracking-events.ts';
import type { ProxyRef, TaurusDbClient } from '../huawei/taurusdb-client.ts';
import { logger as defaultLogger, metrics as defaultMetrics } from '../observability.ts';
import { backoffCeilingMs } from '../retry.ts';
import { compareVersions, isVersion, type ProxyVersions } from '../upgrade/versions.ts';
import type { FollowedWorkflow, TrackedUpgrade } from './message.ts';

/**
 * One check of an upgrade the tracker follows: one read, then either publish how it ended or queue
 * the next check. Never waits for the upgrade itself.
 *
 * An accepted upgrade (`follow: 'workflow'`) has a workflow: its job is read.
 * - Completed → `Proxy Upgrade Completed`; Failed → `Proxy Upgrade Failed` (JOB_FAILED, fail_reason).
 * - Pending, Running, any status TaurusDB may add, a job not visible yet (Huawei: a new job can take
 *   seconds to appear) and a read that failed (unreachable, 5xx, or a 4xx such as 403 or an IAM or
 *   Secrets Manager failure) all mean "not known to be over": the next check is queued. The 4xx cases
 *   are not treated as final on purpose: the tracker cannot tell a policy or credential being fixed
 *   from a lasting one, re-checking is read-only and spaced out, and the maximum tracking time bounds
 *   it; the Timed Out event then carries the last error, and every failed read is logged as a warning
 *   with the `TrackingReadFailures` metric so a lasting problem shows long before that.
 *
 * An unconfirmed upgrade (`follow: 'version'`: an earlier attempt may have sent it, TaurusDB's answer
 * is unknown) has no workflow id: the proxy version is read instead.
 * - current_version at or past resolved.target_version → `Proxy Upgrade Completed` (workflow_id and
 *   job null, the versions read). Below it, or unreadable, means "not known to be over", as above:
 *   the upgrade may be running, or may never have been sent, and only the deadline tells them apart.
 *
 * Either way, when the maximum tracking time since the upgrade began (TaurusDB accepted it, or the
 * earlier attempt was about to send it) has passed and it is not over → `Proxy Upgrade Tracking Timed
 * Out`. The last check is scheduled for that moment, so the limit is kept to the second whatever the
 * backoff. A message that cannot be ours (see implausibility) is refused before anything is read.
 *
 * Delays: `initialDelaySeconds` after the first check, doubling after each one, capped at
 * `maxDelaySeconds` (defaults 30 s growing to 300 s: an upgrade of a few minutes is seen within a
 * minute or two of its end, for about 30 reads over the default two hours).
 *
 * Duplicates are harmless: EventBridge and SQS deliver at least once, so a check may run twice and
 * a second re-check chain may follow the same upgrade. Checks only read. An event_id is the content
 * address of its event (lib/events/tracking-events.ts): chains that see the same workflow end publish the
 * same event (dated by the job's own end time) under the same id, which consumers deduplicate on;
 * events that differ (two chains' Timed Out events, with their own checks and times) never share one.
 */

type LoggerLike = Pick<Logger, 'info' | 'warn'>;
type MetricsLike = Pick<Metrics, 'addMetric'>;

export type JobReader = Pick<TaurusDbClient, 'getJob'>;

export interface ProxyVersionReader {
  getProxyVersion(proxy: ProxyRef, signal?: AbortSignal): Promise<ProxyVersions>;
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
  proxyVersions: ProxyVersionReader;
  publisher: TrackingPublisher;
  queue: Pick<TrackingQueue, 'schedule'>;
  /** Epoch milliseconds. */
  now?: () => number;
  logger?: LoggerLike;
  metrics?: MetricsLike;
}

/** `status`: the job status the check read, or for a followed version the proxy's current_version. */
export type CheckOutcome =
  | { kind: 'completed' | 'failed'; status: string }
  | { kind: 'timed_out'; status: string | null; error?: string }
  | { kind: 'rechecking'; status: string | null; error?: string; delaySeconds: number; messageId: string };

export interface CheckReport {
  follow: TrackedUpgrade['follow'];
  /** null when the proxy version was followed. */
  workflowId: string | null;
  /** This check's attempt number (0 for the check on the Accepted or Unconfirmed event). */
  attempt: number;
  outcome: CheckOutcome;
}

export interface Tracker {
  /**
   * Throws when the outcome could not be published or the next check could not be queued (the
   * delivery must then be retried), when the caller's signal ended the read, and for a ValidationError
   * (a message that cannot be ours).
   */
  check(tracked: TrackedUpgrade, signal?: AbortSignal): Promise<CheckReport>;
}

// last_error and the logged reason name the error and TaurusDB's message; a page of it helps nobody.
const MAX_ERROR_BYTES = 1024;

/** How far apart the clocks of two Lambda hosts (the upgrade function's and the tracker's) may be. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * How long after the maximum tracking time a message of ours may still arrive: a dead letter is kept
 * 14 days and may then be replayed, and the upgrade function republishes a stored result for at most
 * 7 days (IDEMPOTENCY_WINDOW_SECONDS). A message older than this was not written by us.
 */
export const OLDEST_MESSAGE_BEYOND_TRACKING_MS = 30 * 24 * 3600_000;

/**
 * Why a message cannot be one of ours, or undefined when it can. Such a message is refused (a
 * ValidationError: the redrive policy moves it to the dead-letter queue) instead of being followed:
 * - a start in the future: the tracking time would never run out, so it would be re-checked forever;
 * - a start before anything of ours can still be in flight;
 * - more checks than any schedule makes by now: every re-check is queued at least a second after the
 *   check before it, whatever the TRACKING_* settings (so a deploy that changed them refuses nothing),
 *   and the first check runs after the start.
 */
export function implausibility(
  tracked: TrackedUpgrade,
  nowMs: number,
  maxSeconds: number,
): ValidationIssue | undefined {
  const { started_at: startedAt, attempt } = tracked;
  const startedMs = Date.parse(startedAt);
  if (startedMs > nowMs + CLOCK_SKEW_MS) {
    return { path: 'started_at', message: `${startedAt} is in the future` };
  }
  if (startedMs < nowMs - maxSeconds * 1000 - OLDEST_MESSAGE_BEYOND_TRACKING_MS) {
    return { path: 'started_at', message: `${startedAt} is older than any tracking message can be` };
  }
  if (attempt > Math.floor((nowMs + CLOCK_SKEW_MS - startedMs) / 1000)) {
    return { path: 'attempt', message: `${attempt} checks cannot have run since ${startedAt}` };
  }
  return undefined;
}

/** The delay before check `attempt + 1`: the backoff, or less when the tracking time ends sooner. */
export function recheckDelaySeconds(attempt: number, remainingMs: number, schedule: RecheckSchedule): number {
  // The project's one backoff (lib/retry.ts), in seconds and without jitter: the delay is the ceiling.
  const backoff = backoffCeilingMs(attempt + 1, {
    baseMs: schedule.initialDelaySeconds,
    capMs: schedule.maxDelaySeconds,
  });
  return Math.max(1, Math.min(backoff, Math.ceil(remainingMs / 1000)));
}

/** What one check found. `end` is set when the upgrade is over, with the event that says how. */
interface Finding {
  status: string | null;
  error?: string;
  /** A followed version: what the read found, null when it failed. */
  versions?: ProxyVersions | null;
  end?: { kind: 'completed' | 'failed'; event: TrackingEvent };
  checkedAt: number;
}

/** The tracker's collaborators, defaults filled in. */
interface Deps extends TrackerOptions {
  now: () => number;
  log: LoggerLike;
  metrics: MetricsLike;
}

export function createTracker(options: TrackerOptions): Tracker {
  const deps: Deps = {
    ...options,
    now: options.now ?? Date.now,
    log: options.logger ?? defaultLogger,
    metrics: options.metrics ?? defaultMetrics,
  };
  return {
    async check(tracked, signal) {
      const issue = implausibility(tracked, deps.now(), deps.maxSeconds);
      if (issue !== undefined) {
        deps.metrics.addMetric('TrackingMessagesRefused', 'Count', 1);
        throw new ValidationError([issue]);
      }
      const found =
        tracked.follow === 'workflow'
          ? await checkWorkflow(deps, tracked, signal)
          : await checkVersion(deps, tracked, signal);
      deps.metrics.addMetric('TrackingChecks', 'Count', 1);
      const base = { follow: tracked.follow, workflowId: tracked.workflow_id, attempt: tracked.attempt };
      if (found.end !== undefined) return { ...base, outcome: await finish(deps, tracked, found, found.end) };
      const remainingMs = Date.parse(tracked.started_at) + deps.maxSeconds * 1000 - found.checkedAt;
      if (remainingMs <= 0) return { ...base, outcome: await timeOut(deps, tracked, found) };
      return { ...base, outcome: await recheck(deps, tracked, found, remainingMs, signal) };
    },
  };
}

/** The read's value, or why it failed when a later check may do better. */
async function attemptRead<T>(
  deps: Deps,
  tracked: TrackedUpgrade,
  read: () => Promise<T>,
  signal?: AbortSignal,
): Promise<{ value: T; error?: undefined } | { value?: undefined; error: string }> {
  try {
    return { value: await read() };
  } catch (error) {
    // The caller ran out of time: the delivery is retried as a whole rather than a re-check queued
    // that might not be sent either. A ValidationError will not get better by waiting.
    if (signal?.aborted || error instanceof ValidationError || !(error instanceof AppError)) throw error;
    deps.metrics.addMetric('TrackingReadFailures', 'Count', 1);
    const what = tracked.follow === 'workflow' ? 'the job' : 'the proxy version';
    deps.log.warn(`${what} could not be read; checking again later`, {
      ...trackedLogKeys(tracked),
      error: { name: error.name, message: error.message },
    });
    return { error: boundText(`${error.name}: ${error.message}`, MAX_ERROR_BYTES) };
  }
}

async function checkWorkflow(deps: Deps, tracked: FollowedWorkflow, signal?: AbortSignal): Promise<Finding> {
  const { project_id: projectId } = tracked.request;
  const reading = await attemptRead(
    deps,
    tracked,
    () => deps.jobs.getJob(projectId, tracked.workflow_id, signal, tracked.request.region),
    signal,
  );
  const checkedAt = deps.now();
  const job = reading.value;
  const found = { status: job?.status ?? null, ...errorOf(reading), checkedAt };
  const terminal = job?.status.toLowerCase();
  if (job === undefined || (terminal !== 'completed' && terminal !== 'failed')) return found;
  const finished = {
    created: blankToNull(job.created),
    ended: blankToNull(job.ended),
    fail_reason: blankToNull(job.fail_reason),
  };
  const event =
    terminal === 'completed'
      ? buildCompletedEvent(tracked, finished, new Date(checkedAt))
      : buildJobFailedEvent(tracked, finished, new Date(checkedAt));
  return { ...found, end: { kind: terminal, event } };
}

async function checkVersion(deps: Deps, tracked: TrackedUpgrade, signal?: AbortSignal): Promise<Finding> {
  const { project_id: projectId, instance_id: instanceId, proxy_id: proxyId, region } = tracked.request;
  const reading = await attemptRead(
    deps,
    tracked,
    async () =>
      usableVersions(
        await deps.proxyVersions.getProxyVersion(
          { projectId, instanceId, proxyId, ...(region === undefined ? {} : { region }) },
          signal,
        ),
      ),
    signal,
  );
  const checkedAt = deps.now();
  const versions = reading.value ?? null;
  const found = { status: versions?.current_version ?? null, versions, ...errorOf(reading), checkedAt };
  if (versions === null || compareVersions(versions.current_version, tracked.resolved.target_version) < 0) {
    return found;
  }
  return {
    ...found,
    end: { kind: 'completed', event: buildVersionCompletedEvent(tracked, versions, new Date(checkedAt)) },
  };
}

async function finish(deps: Deps, tracked: TrackedUpgrade, found: Finding, end: NonNullable<Finding['end']>) {
  await deps.publisher.publish([end.event]);
  const completed = end.kind === 'completed';
  deps.metrics.addMetric(completed ? 'UpgradesCompleted' : 'UpgradeWorkflowsFailed', 'Count', 1);
  const failReason =
    end.event.detailType === TRACKING_DETAIL_TYPES.failed ? end.event.detail.fail_reason : undefined;
  const what = tracked.follow === 'workflow' ? 'the upgrade workflow' : 'the unconfirmed upgrade';
  deps.log.info(`${what} ${completed ? 'completed' : 'failed'}`, {
    ...trackedLogKeys(tracked),
    ...(failReason === undefined ? {} : { fail_reason: failReason }),
  });
  return { kind: end.kind, status: found.status ?? '' } as const;
}

async function timeOut(deps: Deps, tracked: TrackedUpgrade, found: Finding) {
  const facts = {
    startedAt: tracked.started_at,
    maxSeconds: deps.maxSeconds,
    checks: tracked.attempt + 1,
    lastStatus: tracked.follow === 'workflow' ? found.status : null,
    lastError: found.error,
    ...(tracked.follow === 'version' ? { lastVersions: found.versions ?? null } : {}),
  };
  await deps.publisher.publish([buildTimedOutEvent(tracked, facts, new Date(found.checkedAt))]);
  deps.metrics.addMetric('TrackingTimedOut', 'Count', 1);
  deps.log.warn('tracking gave up: the maximum tracking time is over', {
    ...trackedLogKeys(tracked),
    last_status: found.status,
    max_seconds: deps.maxSeconds,
  });
  return { kind: 'timed_out', status: found.status, ...errorOf(found) } as const;
}

async function recheck(
  deps: Deps,
  tracked: TrackedUpgrade,
  found: Finding,
  remainingMs: number,
  signal?: AbortSignal,
) {
  // The first re-check waits as long as Huawei's advisory says the upgrade takes, within SQS's 900 s.
  const advised = tracked.attempt === 0 ? tracked.first_recheck_seconds : undefined;
  const delaySeconds =
    advised === undefined
      ? recheckDelaySeconds(tracked.attempt, remainingMs, deps)
      : Math.max(1, Math.min(advised, MAX_DELAY_SECONDS, Math.ceil(remainingMs / 1000)));
  const next = { ...tracked, attempt: tracked.attempt + 1 };
  const messageId = await deps.queue.schedule(next, delaySeconds, signal);
  deps.log.info('the upgrade is not over; checking again later', {
    ...trackedLogKeys(tracked),
    status: found.status ?? (found.error === undefined ? 'not visible yet' : 'unreadable'),
    next_check_in_seconds: delaySeconds,
  });
  return { kind: 'rechecking', status: found.status, ...errorOf(found), delaySeconds, messageId } as const;
}

/** The ids a log line names the followed upgrade by (functions/track.ts appends them to a first check's lines). */
export function trackedLogKeys(tracked: TrackedUpgrade) {
  return {
    follow: tracked.follow,
    workflow_id: tracked.workflow_id,
    project_id: tracked.request.project_id,
    instance_id: tracked.request.instance_id,
    proxy_id: tracked.request.proxy_id,
    delivery_id: tracked.trigger.id,
    change_id: tracked.trigger.change_id,
    attempt: tracked.attempt,
    origin_event_id: tracked.origin_event_id,
  };
}

function errorOf(reading: { error?: string | undefined }): { error?: string } {
  return reading.error === undefined ? {} : { error: reading.error };
}

/**
 * The versions as the Completed event's schema takes them. A version that is not a dotted number
 * cannot be compared with the target: it counts as a failed read (re-checked, and named as the last
 * error if it lasts), not as an answer. The text itself is left out of the message: it could be anything.
 */
function usableVersions(found: ProxyVersions): ProxyVersions {
  if (isVersion(found.current_version) && isVersion(found.latest_version)) {
    return {
      current_version: found.current_version,
      latest_version: found.latest_version,
      can_upgrade: found.can_upgrade,
    };
  }
  throw new UnreadableVersionError('TaurusDB answered a proxy version that is not a dotted version number');
}

class UnreadableVersionError extends AppError {}

// The sandbox (and, by Huawei's examples, TaurusDB) sends "" for a time or reason it does not have.
function blankToNull(value: string | null | undefined): string | null {
  return value === undefined || value === null || value.trim() === '' ? null : value;
}
