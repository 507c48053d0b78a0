import { ERROR_CODES } from '../upgrade/error-codes.ts';
import type { ProxyVersions } from '../upgrade/versions.ts';
import type { CompletedDetail, JobFailedDetail, TimedOutDetail } from './contract.ts';
import {
  MAX_UPSTREAM_FIELD_BYTES,
  MAX_UPSTREAM_TEXT_BYTES,
  TRACKING_DETAIL_TYPES,
  TRACKING_EVENT_NAMESPACE,
  type TrackingDetailType,
} from './detail-types.ts';
import { contentEventId } from './event-id.ts';

/**
 * The events the tracker (functions/track.ts) publishes when it has followed an accepted upgrade's
 * workflow (`GET /v3/{project_id}/jobs?id=`) to its end, or an unconfirmed upgrade's proxy version
 * (`GET .../taurusproxy/proxy-version`) to the target (their `Detail` schemas are in contract.ts):
 *
 * - the job Completed, or the proxy at (or past) the target version → `Proxy Upgrade Completed`
 *   (`workflow_id` and `job` null, `versions` set when it was the version that was followed);
 * - the job Failed → `Proxy Upgrade Failed`, the same DetailType (and the same Detail, plus
 *   `workflow_id` and `fail_reason`) as a call that failed as a whole, so a consumer of failures has
 *   one event to listen to; `error.error_code` is `JOB_FAILED`;
 * - the job not finished (or not readable), or the proxy still below the target, when the maximum
 *   tracking time is over → `Proxy Upgrade Tracking Timed Out`: the upgrade may still finish, nobody
 *   is watching it any more.
 *
 * `request`, `resolved` and `trigger` are carried over from the Accepted (or Unconfirmed) event
 * unchanged, so a consumer correlates by them (or by `workflow_id`) without keeping state.
 */

/** `error.error_code` of a Failed event for a workflow that TaurusDB reports as Failed. */
export const JOB_FAILED = ERROR_CODES.jobFailed;
export const DEFAULT_JOB_FAILURE_MESSAGE = 'the upgrade workflow failed';

/**
 * `text` when it fits in `maxBytes` of UTF-8; otherwise its beginning, cut at a character boundary,
 * followed by `…[truncated from N bytes]` (N: the whole text's UTF-8 length), all within `maxBytes`.
 * The marker is part of the text rather than a flag beside it, so it travels with error_msg into
 * every consumer of Failed events, whose Detail schema is the upgrade function's.
 */
export function boundText(text: string, maxBytes: number = MAX_UPSTREAM_TEXT_BYTES): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const marker = `…[truncated from ${bytes.length} bytes]`;
  let end = Math.max(0, maxBytes - Buffer.byteLength(marker, 'utf8'));
  // Back off to the start of a character: a UTF-8 continuation byte is 10xxxxxx.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return `${bytes.subarray(0, end).toString('utf8')}${marker}`;
}

export type TrackingEvent =
  | { detailType: typeof TRACKING_DETAIL_TYPES.completed; detail: CompletedDetail }
  | { detailType: typeof TRACKING_DETAIL_TYPES.failed; detail: JobFailedDetail }
  | { detailType: typeof TRACKING_DETAIL_TYPES.timedOut; detail: TimedOutDetail };

/** What every tracking event repeats from the Accepted (or Unconfirmed) event. */
export interface TrackedContext {
  workflow_id: string | null;
  request: CompletedDetail['request'];
  resolved: CompletedDetail['resolved'];
  trigger: CompletedDetail['trigger'];
}

export interface FinishedJob {
  created: string | null;
  ended: string | null;
  fail_reason?: string | null;
}

/** The fields every tracking event repeats from the Accepted (or Unconfirmed) event. */
function carriedOver(tracked: TrackedContext) {
  return {
    request: tracked.request,
    resolved: tracked.resolved,
    workflow_id: tracked.workflow_id,
    trigger: tracked.trigger,
  };
}

type Draft<D extends TrackingDetailType> = Omit<
  Extract<TrackingEvent, { detailType: D }>['detail'],
  'event_id'
>;

/**
 * The event with its id: the content address of everything else in it (lib/events/event-id.ts). The id
 * names no chain or check, only what the event says: repeats of one fact share it, and an event that
 * says anything else gets another one.
 */
function named<D extends TrackingDetailType>(detailType: D, draft: Draft<D>): TrackingEvent {
  const eventId = contentEventId(TRACKING_EVENT_NAMESPACE, detailType, draft);
  // Draft<D> already tied the detail to its DetailType; TypeScript does not follow D through the spread.
  return { detailType, detail: { event_id: eventId, ...draft } } as unknown as TrackingEvent;
}

export function buildCompletedEvent(
  tracked: TrackedContext,
  job: FinishedJob,
  observedAt: Date,
): TrackingEvent {
  return named(TRACKING_DETAIL_TYPES.completed, {
    ...carriedOver(tracked),
    job: { status: 'Completed', created: boundField(job.created), ended: boundField(job.ended) },
    occurred_at: endedAt(job.ended, observedAt),
  });
}

/** The proxy of an unconfirmed upgrade reached the target: Completed, with no workflow and no job. */
export function buildVersionCompletedEvent(
  tracked: TrackedContext,
  versions: ProxyVersions,
  observedAt: Date,
): TrackingEvent {
  return named(TRACKING_DETAIL_TYPES.completed, {
    ...carriedOver(tracked),
    workflow_id: null,
    job: null,
    versions,
    occurred_at: observedAt.toISOString(),
  });
}

/** Only a followed workflow can fail: a version read shows where the proxy is, not how an upgrade went. */
export function buildJobFailedEvent(
  tracked: TrackedContext & { workflow_id: string },
  job: FinishedJob,
  observedAt: Date,
): TrackingEvent {
  const failReason =
    job.fail_reason === undefined || job.fail_reason === null ? null : boundText(job.fail_reason);
  return named(TRACKING_DETAIL_TYPES.failed, {
    ...carriedOver(tracked),
    workflow_id: tracked.workflow_id,
    error: { error_code: JOB_FAILED, error_msg: failReason ?? DEFAULT_JOB_FAILURE_MESSAGE },
    fail_reason: failReason,
    occurred_at: endedAt(job.ended, observedAt),
  });
}

export interface TimedOutFacts {
  startedAt: string;
  maxSeconds: number;
  checks: number;
  lastStatus: string | null;
  lastError?: string | undefined;
  /** Set when the proxy version was followed: what the last read found, null when it failed. */
  lastVersions?: ProxyVersions | null | undefined;
}

export function buildTimedOutEvent(
  tracked: TrackedContext,
  facts: TimedOutFacts,
  observedAt: Date,
): TrackingEvent {
  return named(TRACKING_DETAIL_TYPES.timedOut, {
    ...carriedOver(tracked),
    started_at: facts.startedAt,
    max_seconds: facts.maxSeconds,
    checks: facts.checks,
    last_status: boundField(facts.lastStatus),
    ...(facts.lastVersions === undefined ? {} : { last_versions: facts.lastVersions }),
    ...(facts.lastError === undefined ? {} : { last_error: boundText(facts.lastError) }),
    occurred_at: observedAt.toISOString(),
  });
}

function boundField(text: string | null): string | null {
  return text === null ? null : boundText(text, MAX_UPSTREAM_FIELD_BYTES);
}

/**
 * TaurusDB writes job times as `2026-11-27T10:05:00+0000` (no colon in the offset, which ISO 8601's
 * extended form and zod's datetime want). The workflow's own end time makes every repeat of an end
 * event carry the same occurred_at; the time the tracker saw it is the fallback.
 */
function endedAt(ended: string | null, observedAt: Date): string {
  const text = ended?.trim().replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const epochMs = text ? Date.parse(text) : Number.NaN;
  return new Date(Number.isNaN(epochMs) ? observedAt.getTime() : epochMs).toISOString();
}
