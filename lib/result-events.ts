import { createHash } from 'node:crypto';
import type {
  AcceptedDetail,
  FailedDetail,
  PlannedDetail,
  RejectedDetail,
  SkippedDetail,
} from './event-schemas.ts';
import type { UpdateResultItem } from './taurusdb-client.ts';
import { targetOf, type UpgradeRequest, type UpgradeTarget } from './upgrade-request.ts';
import { LATEST as LATEST_TARGET, type ProxyVersions, type ResolvedVersions } from './versions.ts';

/**
 * The events published for every upgrade (DESIGN.md "Published events") and the one builder that
 * turns a request's outcome into events. Their `Detail` schemas are in lib/event-schemas.ts, kept
 * apart so the upgrade function's bundle does not build them at every cold start (only types cross).
 *
 * - a 200 gives one event per `update_result` item: `state` `ACCEPT` → Accepted, any other state
 *   (including a missing one) → Rejected;
 * - a call that failed as a whole gives one Failed event; so does a request refused after the version
 *   read (the proxy is not at the source_version the request names), and an all_proxies request whose
 *   instance could not be listed or lists no proxy;
 * - a 200 whose `update_result` is empty also gives one Failed event (status 200, no error_code):
 *   TaurusDB said nothing about the upgrade, and dropping it silently would hide that. It is not a
 *   Rejected event because nothing was refused that we know of;
 * - no upgrade call because the proxy is already at (or past) the target, or "latest" with
 *   `can_upgrade` false, gives one Skipped event;
 * - a dry run gives one Planned event saying what would have happened.
 *
 * Every event names the target as requested (`request`: "latest" literally, an omitted source absent),
 * the versions the upgrade used or would use (`resolved`) and what the version read found (`versions`).
 */

export const DETAIL_TYPES = {
  accepted: 'Proxy Upgrade Accepted',
  rejected: 'Proxy Upgrade Rejected',
  failed: 'Proxy Upgrade Failed',
  skipped: 'Proxy Upgrade Skipped',
  planned: 'Proxy Upgrade Planned',
} as const;
export type DetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];

export interface TriggerInfo {
  kind: 'http' | 'schedule' | 'event';
  /** The delivery id: webhook-id, EventBridge event id, Scheduler delivery_id or Lambda request id. */
  id: string;
  change_id?: string;
  requested_by?: string;
}

/** What a dry run found the real run would do. */
export const PLAN_VERDICTS = ['upgrade', 'skip', 'refuse'] as const;
export type PlanVerdict = (typeof PLAN_VERDICTS)[number];

/** The function's own error codes in Failed events and answers, beside TaurusDB's DBS.xxx codes. */
export const ERROR_CODES = {
  /** The version read found the proxy at another version than the request's source_version. */
  versionMismatch: 'VERSION_MISMATCH',
  /** all_proxies on an instance that lists no proxy. */
  noProxies: 'NO_PROXIES',
  /** all_proxies expanded the delivery past the number of targets one invocation takes on. */
  tooManyTargets: 'TOO_MANY_TARGETS',
  /** The version read answered a version that is not a dotted number. */
  unreadableVersion: 'UNREADABLE_VERSION',
  /** The tracker saw the accepted upgrade's workflow end as Failed. */
  jobFailed: 'JOB_FAILED',
  /** TaurusDB or IAM refused the credentials even after they were fetched again. */
  authenticationFailed: 'AUTHENTICATION_FAILED',
  /** The credentials secret could not be read or has no usable form. */
  credentialsUnavailable: 'CREDENTIALS_UNAVAILABLE',
  /** The same delivery of the same target is being processed by another invocation (no event). */
  inProgress: 'IN_PROGRESS',
} as const;

export interface OutcomeError {
  status?: number;
  error_code?: string;
  error_msg: string;
}

/**
 * How one target ended, in the JSON form duplicate suppression stores. `versions` is set when the
 * version read ran, `resolved` once both versions of the upgrade were known.
 */
export type TargetOutcome = { versions?: ProxyVersions; resolved?: ResolvedVersions } & (
  | { kind: 'completed'; items: UpdateResultItem[] }
  | { kind: 'failed'; error: OutcomeError }
  | { kind: 'skipped'; reason: string }
  | { kind: 'planned'; would: PlanVerdict; reason?: string }
);

export const EMPTY_RESULT_MESSAGE =
  'TaurusDB answered 200 without any update_result item; the state of the upgrade is unknown';

export type ResultEvent =
  | { detailType: typeof DETAIL_TYPES.accepted; detail: AcceptedDetail }
  | { detailType: typeof DETAIL_TYPES.rejected; detail: RejectedDetail }
  | { detailType: typeof DETAIL_TYPES.failed; detail: FailedDetail }
  | { detailType: typeof DETAIL_TYPES.skipped; detail: SkippedDetail }
  | { detailType: typeof DETAIL_TYPES.planned; detail: PlannedDetail };

export interface ResultEventInput {
  request: UpgradeRequest;
  trigger: TriggerInfo;
  outcome: TargetOutcome;
  /** When TaurusDB answered; a stored result republished later passes its stored time. */
  occurredAt: Date;
}

export function buildResultEvents(input: ResultEventInput): ResultEvent[] {
  const { request, trigger, outcome } = input;
  const target = targetOf(request);
  const base = {
    request: target,
    trigger: {
      kind: trigger.kind,
      id: trigger.id,
      ...(trigger.change_id === undefined ? {} : { change_id: trigger.change_id }),
      ...(trigger.requested_by === undefined ? {} : { requested_by: trigger.requested_by }),
    },
    occurred_at: input.occurredAt.toISOString(),
  };
  const resolved = outcome.resolved ?? explicitVersions(request);
  const versions = outcome.versions === undefined ? {} : { versions: outcome.versions };
  const eventId = (detailType: DetailType, index: number) =>
    resultEventId(trigger.id, target, detailType, index);

  if (outcome.kind === 'failed' || (outcome.kind === 'completed' && outcome.items.length === 0)) {
    const error =
      outcome.kind === 'failed' ? outcome.error : { status: 200, error_msg: EMPTY_RESULT_MESSAGE };
    const detailType = DETAIL_TYPES.failed;
    return [
      {
        detailType,
        detail: {
          event_id: eventId(detailType, 0),
          request: base.request,
          ...(resolved === undefined ? {} : { resolved }),
          ...versions,
          error: {
            ...(error.status === undefined ? {} : { status: error.status }),
            ...(error.error_code === undefined ? {} : { error_code: error.error_code }),
            error_msg: error.error_msg,
          },
          trigger: base.trigger,
          occurred_at: base.occurred_at,
        },
      },
    ];
  }

  // Every other event is about one proxy, with both versions known.
  const proxyRequest = { ...base.request, proxy_id: requireProxy(base.request) };
  const known = requireResolved(resolved);

  if (outcome.kind === 'skipped') {
    if (outcome.versions === undefined) throw new TypeError('a skipped outcome carries the versions read');
    const detailType = DETAIL_TYPES.skipped;
    return [
      {
        detailType,
        detail: {
          event_id: eventId(detailType, 0),
          request: proxyRequest,
          resolved: known,
          versions: outcome.versions,
          reason: outcome.reason,
          trigger: base.trigger,
          occurred_at: base.occurred_at,
        },
      },
    ];
  }

  if (outcome.kind === 'planned') {
    const detailType = DETAIL_TYPES.planned;
    return [
      {
        detailType,
        detail: {
          event_id: eventId(detailType, 0),
          request: proxyRequest,
          would: outcome.would,
          ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
          resolved: known,
          ...versions,
          trigger: base.trigger,
          occurred_at: base.occurred_at,
        },
      },
    ];
  }

  return outcome.items.map((item, index): ResultEvent => {
    const detailType = item.state === 'ACCEPT' ? DETAIL_TYPES.accepted : DETAIL_TYPES.rejected;
    const detail = {
      event_id: eventId(detailType, index),
      request: proxyRequest,
      resolved: known,
      ...versions,
      result: {
        instance_id: item.instance_id,
        workflow_id: item.workflow_id,
        state: item.state,
        error_message: item.error_message,
      },
      trigger: base.trigger,
      occurred_at: base.occurred_at,
    };
    return detailType === DETAIL_TYPES.accepted
      ? { detailType, detail: { ...detail, result: { ...detail.result, state: 'ACCEPT' } } }
      : { detailType, detail };
  });
}

/** A request that named both versions needs no read to know them. */
function explicitVersions(request: UpgradeRequest): ResolvedVersions | undefined {
  const { source_version, target_version } = request;
  if (source_version === undefined || target_version === LATEST_TARGET) return undefined;
  return { source_version, target_version };
}

function requireProxy(target: UpgradeTarget): string {
  if (target.proxy_id === undefined) throw new TypeError('only a Failed event may leave proxy_id out');
  return target.proxy_id;
}

function requireResolved(resolved: ResolvedVersions | undefined): ResolvedVersions {
  if (resolved === undefined)
    throw new TypeError('an outcome past the version read carries resolved versions');
  return resolved;
}

/**
 * event_id = the first 128 bits of
 *   sha256(JSON.stringify(["taurusdb-proxy-upgrader/result-event/v1", deliveryId, project_id,
 *                          instance_id, proxy_id, source_version, target_version, detailType, index]))
 * written as an RFC 9562 version 8 (custom) UUID: the version nibble set to 8 and the variant bits
 * to 10, so 122 bits of the hash remain.
 *
 * The inputs are what duplicate suppression keys on (delivery id + target as requested) plus the
 * item's position and kind: a redelivery republishes identical ids and consumers can drop the repeat,
 * while a new delivery id (a deliberate new attempt) gets new ids. The versions are the request's own
 * ("latest" literally; an omitted source and the proxy_id of an instance-wide failure are null), so an
 * id is known before the version read. A dry run appends "dry-run": the plan and the later real run of
 * the same delivery must never share an id, or consumers would drop the real outcome as a repeat.
 * Requests with neither (every request before these features) keep the ids they always had. JSON array
 * encoding keeps the fields from running into each other. The occurrence time is deliberately not an
 * input.
 */
export function resultEventId(
  deliveryId: string,
  target: UpgradeTarget,
  detailType: DetailType,
  index: number,
): string {
  const material = JSON.stringify([
    'taurusdb-proxy-upgrader/result-event/v1',
    deliveryId,
    target.project_id,
    target.instance_id,
    target.proxy_id ?? null,
    target.source_version ?? null,
    target.target_version,
    detailType,
    index,
    ...(target.dry_run === true ? ['dry-run'] : []),
  ]);
  const bytes = createHash('sha256').update(material).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
