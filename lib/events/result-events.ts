import type { UpdateResultItem } from '../huawei/taurusdb-client.ts';
import { failureIn, type OutcomeError, type TargetOutcome } from '../upgrade/outcome.ts';
import { targetOf, type UpgradeRequest, type UpgradeTarget } from '../upgrade/request.ts';
import type { TriggerInfo } from '../upgrade/trigger.ts';
import { LATEST as LATEST_TARGET, type ProxyVersions, type ResolvedVersions } from '../upgrade/versions.ts';
import type {
  AcceptedDetail,
  DeferredDetail,
  FailedDetail,
  PlannedDetail,
  RejectedDetail,
  SkippedDetail,
  UnconfirmedDetail,
} from './contract.ts';
import { DETAIL_TYPES, type PlanVerdict } from './detail-types.ts';
import { contentEventId } from './event-id.ts';

/**
 * The events published for every upgrade (README.md "Published events") and the one builder that
 * turns a request's outcome into events. Their `Detail` schemas are in lib/events/contract.ts, kept
 * apart so the upgrade function's bundle does not build them at every cold start (only types cross).
 *
 * - a 200 gives one event per `update_result` item: `state` `ACCEPT` → Accepted, any other state
 *   (including a missing one) → Rejected;
 * - a call that failed as a whole gives one Failed event; so does a request refused after the version
 *   read (the proxy is not at the source_version the request names), and an all_proxies request whose
 *   instance could not be listed or lists no proxy;
 * - a 200 whose `update_result` is empty also gives one Failed event (status 200, no error_code; the
 *   rule is failureIn's, lib/upgrade/outcome.ts): TaurusDB said nothing about the upgrade, and dropping
 *   it silently would hide that. It is not a Rejected event because nothing was refused that we know of;
 * - no upgrade call because the proxy is already at (or past) the target, or "latest" with
 *   `can_upgrade` false, gives one Skipped event;
 * - a dry run gives one Planned event saying what would have happened;
 * - a target another invocation is processing right now gives none: that invocation publishes it.
 *
 * Every event names the target as requested (`request`: "latest" literally, an omitted source absent),
 * the versions the upgrade used or would use (`resolved`) and what the version read found (`versions`).
 */

export type ResultEvent =
  | { detailType: typeof DETAIL_TYPES.accepted; detail: AcceptedDetail }
  | { detailType: typeof DETAIL_TYPES.rejected; detail: RejectedDetail }
  | { detailType: typeof DETAIL_TYPES.failed; detail: FailedDetail }
  | { detailType: typeof DETAIL_TYPES.skipped; detail: SkippedDetail }
  | { detailType: typeof DETAIL_TYPES.planned; detail: PlannedDetail }
  | { detailType: typeof DETAIL_TYPES.unconfirmed; detail: UnconfirmedDetail }
  | { detailType: typeof DETAIL_TYPES.deferred; detail: DeferredDetail };

/** An event before its id: the id is computed from everything else (lib/events/event-id.ts). */
type Draft = ResultEvent extends infer E
  ? E extends { detailType: infer T; detail: infer D }
    ? { detailType: T; detail: Omit<D, 'event_id'> }
    : never
  : never;

export const RESULT_EVENT_NAMESPACE = 'taurusdb-proxy-upgrader/result-event/v2';

export interface ResultEventInput {
  request: UpgradeRequest;
  trigger: TriggerInfo;
  outcome: TargetOutcome;
  /** When TaurusDB answered; a stored result republished later passes its stored time. */
  occurredAt: Date;
}

/** The `trigger` of an event: what names the delivery, without the function's own bookkeeping. */
export function triggerDetailOf(trigger: TriggerInfo) {
  return {
    kind: trigger.kind,
    id: trigger.id,
    ...(trigger.auth === undefined ? {} : { auth: trigger.auth }),
    ...(trigger.client_id === undefined ? {} : { client_id: trigger.client_id }),
    ...(trigger.sub === undefined ? {} : { sub: trigger.sub }),
    ...(trigger.change_id === undefined ? {} : { change_id: trigger.change_id }),
    ...(trigger.requested_by === undefined ? {} : { requested_by: trigger.requested_by }),
    ...(trigger.rollout_id === undefined ? {} : { rollout_id: trigger.rollout_id }),
    ...(trigger.attempt === undefined ? {} : { attempt: trigger.attempt }),
  };
}

export function buildResultEvents(input: ResultEventInput): ResultEvent[] {
  return draftsOf(input).map(
    (draft, index) =>
      ({
        detailType: draft.detailType,
        detail: {
          event_id: contentEventId(RESULT_EVENT_NAMESPACE, draft.detailType, draft.detail, index),
          ...draft.detail,
        },
      }) as ResultEvent,
  );
}

function draftsOf(input: ResultEventInput): Draft[] {
  const { request, trigger, outcome } = input;
  const base = {
    request: targetOf(request),
    trigger: triggerDetailOf(trigger),
    occurred_at: input.occurredAt.toISOString(),
  };
  const resolved = outcome.resolved ?? explicitVersions(request);
  if (outcome.kind === 'in_progress') return [];
  if (outcome.kind === 'deferred') return [deferredDraft(base, resolved, outcome)];
  const failure = failureIn(outcome);
  if (failure !== undefined) return [failedDraft(base, resolved, outcome.versions, failure)];
  // failureIn answers every failed outcome; this line only tells TypeScript so.
  if (outcome.kind === 'failed') throw new TypeError('a failed outcome carries its error');
  // Every other event is about one proxy, with both versions known.
  const proxy = {
    ...base,
    request: { ...base.request, proxy_id: requireProxy(base.request) },
    resolved: requireResolved(resolved),
  };
  const versions = outcome.versions === undefined ? {} : { versions: outcome.versions };
  const advisory = outcome.advisory === undefined ? {} : { advisory: outcome.advisory };
  switch (outcome.kind) {
    case 'skipped':
      if (outcome.versions === undefined) throw new TypeError('a skipped outcome carries the versions read');
      return [
        {
          detailType: DETAIL_TYPES.skipped,
          detail: { ...proxy, versions: outcome.versions, reason: outcome.reason, ...advisory },
        },
      ];
    case 'planned':
      return [
        { detailType: DETAIL_TYPES.planned, detail: plannedDetail(proxy, outcome, versions, advisory) },
      ];
    case 'unconfirmed': {
      const readError = outcome.read_error === undefined ? {} : { read_error: outcome.read_error };
      const detail = {
        ...proxy,
        ...versions,
        ...readError,
        sending_at: outcome.sending_at,
        reason: outcome.reason,
      };
      return [{ detailType: DETAIL_TYPES.unconfirmed, detail }];
    }
    case 'completed':
      return outcome.items.map((item) => itemDraft(proxy, versions, advisory, item));
  }
}

type DraftBase = Omit<
  FailedDetail,
  'event_id' | 'error' | 'resolved' | 'versions' | 'workflow_id' | 'fail_reason'
>;

function failedDraft(
  base: DraftBase,
  resolved: ResolvedVersions | undefined,
  versions: ProxyVersions | undefined,
  error: OutcomeError,
): Draft {
  return {
    detailType: DETAIL_TYPES.failed,
    detail: {
      request: base.request,
      ...(resolved === undefined ? {} : { resolved }),
      ...(versions === undefined ? {} : { versions }),
      error: {
        ...(error.status === undefined ? {} : { status: error.status }),
        ...(error.error_code === undefined ? {} : { error_code: error.error_code }),
        error_msg: error.error_msg,
      },
      trigger: base.trigger,
      occurred_at: base.occurred_at,
    },
  };
}

function deferredDraft(
  base: DraftBase,
  resolved: ResolvedVersions | undefined,
  outcome: Extract<TargetOutcome, { kind: 'deferred' }>,
): Draft {
  return {
    detailType: DETAIL_TYPES.deferred,
    detail: {
      request: { ...base.request, proxy_id: requireProxy(base.request) },
      ...(resolved === undefined ? {} : { resolved }),
      ...(outcome.versions === undefined ? {} : { versions: outcome.versions }),
      reason: outcome.reason,
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
      next_attempt: outcome.attempt,
      next_attempt_at: outcome.next_attempt_at,
      deadline: outcome.deadline,
      ...(outcome.schedule_name === undefined
        ? { retried_by: 'rollout' as const }
        : { retried_by: 'scheduler' as const, schedule_name: outcome.schedule_name }),
      ...(outcome.advisory === undefined ? {} : { advisory: outcome.advisory }),
      trigger: base.trigger,
      occurred_at: base.occurred_at,
    },
  };
}

function itemDraft(
  proxy: Omit<AcceptedDetail, 'event_id' | 'result' | 'versions' | 'advisory'>,
  versions: { versions?: ProxyVersions },
  advisory: Pick<AcceptedDetail, 'advisory'>,
  item: UpdateResultItem,
): Draft {
  const result = {
    instance_id: item.instance_id,
    workflow_id: item.workflow_id,
    state: item.state,
    error_message: item.error_message,
  };
  if (item.state === 'ACCEPT') {
    return {
      detailType: DETAIL_TYPES.accepted,
      detail: { ...proxy, ...versions, ...advisory, result: { ...result, state: 'ACCEPT' } },
    };
  }
  return { detailType: DETAIL_TYPES.rejected, detail: { ...proxy, ...versions, result } };
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

type PlannedDraft = PlannedDetail extends infer D ? (D extends unknown ? Omit<D, 'event_id'> : never) : never;

/**
 * A dry run's event: its request always says dry_run, and a skip or a refusal always says why (the
 * Planned schema has one variant per verdict).
 */
function plannedDetail(
  proxy: Pick<PlannedDraft, 'resolved' | 'trigger' | 'occurred_at'> & { request: UpgradeTarget },
  outcome: { would: PlanVerdict; reason?: string | undefined },
  versions: { versions?: ProxyVersions },
  advisory: Pick<PlannedDraft, 'advisory'>,
): PlannedDraft {
  const request = { ...proxy.request, proxy_id: requireProxy(proxy.request), dry_run: true as const };
  if (outcome.would === 'upgrade') {
    const reason = outcome.reason === undefined ? {} : { reason: outcome.reason };
    return { ...proxy, request, would: 'upgrade', ...reason, ...versions, ...advisory };
  }
  if (outcome.reason === undefined) throw new TypeError(`a planned ${outcome.would} carries its reason`);
  return { ...proxy, request, would: outcome.would, reason: outcome.reason, ...versions, ...advisory };
}
