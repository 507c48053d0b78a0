/**
 * The names and limits every event module shares: the DetailTypes of the upgrade function's and the
 * tracker's events, the verdicts of a dry run, the reason of an Unconfirmed outcome, the tracker's
 * id namespace and its text limits. A leaf module, so the Detail schemas (contract.ts) and the
 * builders (result-events.ts, tracking-events.ts) both import it and never each other's values.
 */

/** `Source` of the published events unless EVENT_SOURCE says otherwise (serverless.yml's eventSource). */
export const DEFAULT_EVENT_SOURCE = 'taurusdb.proxy-upgrader';

export const DETAIL_TYPES = {
  accepted: 'Proxy Upgrade Accepted',
  rejected: 'Proxy Upgrade Rejected',
  failed: 'Proxy Upgrade Failed',
  skipped: 'Proxy Upgrade Skipped',
  planned: 'Proxy Upgrade Planned',
  unconfirmed: 'Proxy Upgrade Unconfirmed',
  deferred: 'Proxy Upgrade Deferred',
} as const;
export type DetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];

/** What a dry run found the real run would do. */
export const PLAN_VERDICTS = ['upgrade', 'skip', 'refuse', 'defer'] as const;
export type PlanVerdict = (typeof PLAN_VERDICTS)[number];

export const UNCONFIRMED_REASON =
  'an earlier attempt may have started this upgrade; no second upgrade request was sent';

/**
 * The DetailTypes the tracker publishes. A workflow that failed is published under the upgrade
 * function's own Failed DetailType, so a consumer of failures has one event to listen to.
 */
export const TRACKING_DETAIL_TYPES = {
  completed: 'Proxy Upgrade Completed',
  failed: DETAIL_TYPES.failed,
  timedOut: 'Proxy Upgrade Tracking Timed Out',
} as const;
export type TrackingDetailType = (typeof TRACKING_DETAIL_TYPES)[keyof typeof TRACKING_DETAIL_TYPES];

/** Namespace of the tracker's event ids, which keeps them apart from the upgrade function's. */
export const TRACKING_EVENT_NAMESPACE = 'taurusdb-proxy-upgrader/tracking-event/v2';

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

/** The rollout's own events (README.md "Fleet rollouts"), published by its advance tick. */
export const ROLLOUT_DETAIL_TYPES = {
  started: 'Proxy Rollout Started',
  waveStarted: 'Proxy Rollout Wave Started',
  waveCompleted: 'Proxy Rollout Wave Completed',
  awaitingApproval: 'Proxy Rollout Awaiting Approval',
  paused: 'Proxy Rollout Paused',
  resumed: 'Proxy Rollout Resumed',
  halted: 'Proxy Rollout Halted',
  cancelled: 'Proxy Rollout Cancelled',
  completed: 'Proxy Rollout Completed',
} as const;
export type RolloutDetailType = (typeof ROLLOUT_DETAIL_TYPES)[keyof typeof ROLLOUT_DETAIL_TYPES];

/** Namespace of the rollout events' ids. */
export const ROLLOUT_EVENT_NAMESPACE = 'taurusdb-proxy-upgrader/rollout-event/v1';
