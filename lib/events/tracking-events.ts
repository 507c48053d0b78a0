import * as z from 'zod';
import { ERROR_CODES } from '../upgrade/error-codes.ts';
import type { ProxyVersions } from '../upgrade/versions.ts';
import { acceptedDetailSchema, failedDetailSchema } from './contract.ts';
import { DETAIL_TYPES } from './detail-types.ts';
import { contentEventId } from './event-id.ts';

/**
 * The events the tracker (functions/track.ts) publishes when it has followed an accepted upgrade's
 * workflow (`GET /v3/{project_id}/jobs?id=`) to its end, or an unconfirmed upgrade's proxy version
 * (`GET .../taurusproxy/proxy-version`) to the target, and their `Detail` schemas:
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

export const TRACKING_DETAIL_TYPES = {
  completed: 'Proxy Upgrade Completed',
  failed: DETAIL_TYPES.failed,
  timedOut: 'Proxy Upgrade Tracking Timed Out',
} as const;
export type TrackingDetailType = (typeof TRACKING_DETAIL_TYPES)[keyof typeof TRACKING_DETAIL_TYPES];

/** `error.error_code` of a Failed event for a workflow that TaurusDB reports as Failed. */
export const JOB_FAILED = ERROR_CODES.jobFailed;
export const DEFAULT_JOB_FAILURE_MESSAGE = 'the upgrade workflow failed';

/**
 * The most UTF-8 bytes a text from TaurusDB (fail_reason, and so error.error_msg) or about it
 * (last_error) takes in an event. The tracker must always be able to publish how a workflow ended,
 * and EventBridge refuses an entry over 256 KB: a Failed detail carries fail_reason twice, and JSON
 * escaping grows a text at most six-fold (a control character becomes \u00XX), so two texts of this
 * size stay far under that limit whatever TaurusDB sent (bytes that are not UTF-8 become U+FFFD, three
 * bytes each).
 */
export const MAX_UPSTREAM_TEXT_BYTES = 8 * 1024;

/** The same for a job's status and times, which are a few characters when TaurusDB is well. */
export const MAX_UPSTREAM_FIELD_BYTES = 256;

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

const TRUNCATION_NOTE = `Longer than ${MAX_UPSTREAM_TEXT_BYTES} bytes of UTF-8, it is cut at a character boundary and ends with "…[truncated from N bytes]" (N: the full length), the whole at most ${MAX_UPSTREAM_TEXT_BYTES} bytes.`;
const FIELD_TRUNCATION_NOTE = `Cut the same way beyond ${MAX_UPSTREAM_FIELD_BYTES} bytes.`;

const accepted = acceptedDetailSchema.shape;

/** Namespace of the tracker's event ids, which keeps them apart from the upgrade function's. */
export const TRACKING_EVENT_NAMESPACE = 'taurusdb-proxy-upgrader/tracking-event/v2';

const eventIdSchema = z.uuid({ version: 'v8' }).meta({
  description: `The event's content address (lib/events/event-id.ts: sha256 of "${TRACKING_EVENT_NAMESPACE}", the DetailType and this Detail without event_id): the same id always means the same event, field for field, so a repeat can be dropped. Two checks that see the same workflow end (dated by the job's own ended time) publish the same id; events that differ in anything (a Timed Out event's checks or occurred_at, a Completed event of a followed version, dated by the check that read it) have different ids.`,
});

const workflowIdSchema = z
  .string()
  .min(1)
  .meta({ description: 'The workflow (job) id TaurusDB gave when it accepted the upgrade.' });

const followedWorkflowIdSchema = workflowIdSchema.nullable().meta({
  description:
    "The workflow (job) id TaurusDB gave when it accepted the upgrade; null when the upgrade was unconfirmed (Proxy Upgrade Unconfirmed: nobody knows TaurusDB's answer) and the tracker followed the proxy version instead.",
});

const versionsSchema = accepted.versions.unwrap();

const jobTimeSchema = z
  .string()
  .nullable()
  .meta({
    description: `As TaurusDB reports it (e.g. 2026-11-27T10:05:00+0000); null when it gave none. ${FIELD_TRUNCATION_NOTE}`,
  });

const occurredAtSchema = z.iso.datetime().meta({
  description:
    'When the workflow ended (its `ended` time, when TaurusDB gave a readable one), else when the tracker saw it end (for a followed version: the check that read the target version).',
});

export const completedDetailSchema = z
  .strictObject({
    event_id: eventIdSchema,
    request: accepted.request,
    resolved: accepted.resolved,
    workflow_id: followedWorkflowIdSchema,
    job: z
      .strictObject({
        status: z.literal('Completed'),
        created: jobTimeSchema,
        ended: jobTimeSchema,
      })
      .nullable()
      .meta({
        description:
          'The workflow as GET /v3/{project_id}/jobs?id= reported it; null when there was no workflow to follow (workflow_id null).',
      }),
    versions: versionsSchema.optional().meta({
      description:
        'Present when workflow_id is null: what the version read (GET .../taurusproxy/proxy-version) found, current_version at or past resolved.target_version. Absent when the workflow was followed.',
    }),
    trigger: accepted.trigger,
    occurred_at: occurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Completed (event detail)',
    description:
      'The upgrade finished: TaurusDB reports the workflow of the accepted upgrade Completed, or (for an unconfirmed upgrade, workflow_id null) the proxy version read reached resolved.target_version. The proxy now runs resolved.target_version.',
  });

/**
 * A workflow that TaurusDB reports Failed. The Detail of every `Proxy Upgrade Failed` event, plus the
 * workflow id and TaurusDB's `fail_reason`. (lib/events/result-events.ts' failedDetailSchema, which documents
 * the DetailType as a whole, needs these two as optional fields.)
 */
export const jobFailedDetailSchema = failedDetailSchema
  .extend({
    workflow_id: workflowIdSchema,
    fail_reason: z
      .string()
      .nullable()
      .meta({
        description: `TaurusDB's fail_reason for the workflow; null when it gave none. ${TRUNCATION_NOTE}`,
      }),
  })
  .meta({
    title: 'Proxy Upgrade Failed, workflow failed (event detail)',
    description: `The workflow of an accepted upgrade failed: TaurusDB reports the job Failed. error.error_code is JOB_FAILED and error.error_msg its fail_reason (cut and marked the same way).`,
  });

export const timedOutDetailSchema = z
  .strictObject({
    event_id: eventIdSchema,
    request: accepted.request,
    resolved: accepted.resolved,
    workflow_id: followedWorkflowIdSchema,
    started_at: z.iso.datetime().meta({
      description:
        "When TaurusDB accepted the upgrade (the Accepted event's occurred_at), or, for an unconfirmed upgrade, when the earlier attempt was about to send it (the Unconfirmed event's sending_at).",
    }),
    max_seconds: z
      .int()
      .positive()
      .meta({ description: 'The maximum tracking time (TRACKING_MAX_SECONDS).' }),
    checks: z.int().positive().meta({
      description: 'How many times the job (or, with workflow_id null, the proxy version) was read.',
    }),
    last_status: z
      .string()
      .nullable()
      .meta({
        description: `The job status the last check read (Pending, Running); null when the job was never visible or could not be read, and when no workflow was followed. ${FIELD_TRUNCATION_NOTE}`,
      }),
    last_versions: versionsSchema.nullable().optional().meta({
      description:
        'Present when workflow_id is null: what the last version read found (the proxy still below resolved.target_version); null when that read failed.',
    }),
    last_error: z
      .string()
      .optional()
      .meta({
        description: `Why the last check could not read the job or the proxy version (TaurusDB unreachable, 5xx, 403…); absent when it read it. ${TRUNCATION_NOTE}`,
      }),
    trigger: accepted.trigger,
    occurred_at: z.iso.datetime().meta({ description: 'When the tracker gave up.' }),
  })
  .meta({
    title: 'Proxy Upgrade Tracking Timed Out (event detail)',
    description:
      'The maximum tracking time passed before the workflow of an accepted upgrade completed or failed, or before the proxy of an unconfirmed upgrade (workflow_id null) reached the target version. The upgrade may still finish; its outcome is no longer reported.',
  });

export type CompletedDetail = z.infer<typeof completedDetailSchema>;
export type JobFailedDetail = z.infer<typeof jobFailedDetailSchema>;
export type TimedOutDetail = z.infer<typeof timedOutDetailSchema>;

export type TrackingEvent =
  | { detailType: typeof TRACKING_DETAIL_TYPES.completed; detail: CompletedDetail }
  | { detailType: typeof TRACKING_DETAIL_TYPES.failed; detail: JobFailedDetail }
  | { detailType: typeof TRACKING_DETAIL_TYPES.timedOut; detail: TimedOutDetail };

/** The Detail schema of each DetailType the tracker publishes. */
export const TRACKING_DETAIL_SCHEMAS = {
  [TRACKING_DETAIL_TYPES.completed]: completedDetailSchema,
  [TRACKING_DETAIL_TYPES.failed]: jobFailedDetailSchema,
  [TRACKING_DETAIL_TYPES.timedOut]: timedOutDetailSchema,
} as const;

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
