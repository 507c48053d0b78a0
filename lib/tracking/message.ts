import * as z from 'zod';
import { ValidationError, type ValidationIssue } from '../errors.ts';
import { acceptedDetailSchema } from '../events/contract.ts';
import { DETAIL_TYPES } from '../events/detail-types.ts';
import { parseUpgradeDuration } from '../upgrade/duration.ts';

/**
 * What the tracker knows about one upgrade it follows, and the body of every re-check message on the
 * tracking queue: everything the next check needs travels with it, so the tracker keeps no state of
 * its own (no table, nothing to clean up) and a message can be replayed from the dead-letter queue.
 *
 * Two ways to follow an upgrade:
 * - `workflow`: TaurusDB accepted it and gave a workflow id (`Proxy Upgrade Accepted`): its job is
 *   read until it is Completed or Failed;
 * - `version`: an earlier attempt may have sent the upgrade request but nobody knows what TaurusDB
 *   answered (`Proxy Upgrade Unconfirmed`), so there is no workflow to read: the proxy's version is
 *   read until it reaches the target.
 */

/** The events that start a tracking chain (both under this service's own source). */
export const TRACKED_DETAIL_TYPES = {
  accepted: DETAIL_TYPES.accepted,
  unconfirmed: DETAIL_TYPES.unconfirmed,
} as const;

const accepted = acceptedDetailSchema.shape;

const followed = {
  /** The Accepted or Unconfirmed event that started the chain; logged, to trace a chain to its start. */
  origin_event_id: z.string().min(1),
  /**
   * When TaurusDB accepted the upgrade, or when the earlier attempt was about to send it (Unconfirmed
   * `sending_at`); the maximum tracking time counts from here.
   */
  started_at: z.iso.datetime(),
  /** Checks already made; the first one (on the Accepted or Unconfirmed event) is attempt 0. */
  attempt: z.int().nonnegative(),
  request: accepted.request,
  resolved: accepted.resolved,
  trigger: accepted.trigger,
  /**
   * The first re-check's delay, when Huawei's advisory said how long the upgrade takes
   * (`upgrade_duration`): checking before it ends only finds it running.
   */
  first_recheck_seconds: z.int().positive().optional(),
};

/** Bumped when the shape changes, so an old message in flight during a deploy is recognised. */
export const TRACKED_MESSAGE_VERSION = 2;

export const trackedUpgradeSchema = z.discriminatedUnion('follow', [
  z.strictObject({
    version: z.literal(TRACKED_MESSAGE_VERSION),
    follow: z.literal('workflow'),
    workflow_id: z.string().min(1),
    ...followed,
  }),
  z.strictObject({
    version: z.literal(TRACKED_MESSAGE_VERSION),
    follow: z.literal('version'),
    workflow_id: z.null(),
    ...followed,
  }),
]);

export type TrackedUpgrade = z.infer<typeof trackedUpgradeSchema>;
export type FollowedWorkflow = Extract<TrackedUpgrade, { follow: 'workflow' }>;
export type FollowedVersion = Extract<TrackedUpgrade, { follow: 'version' }>;

// The messages queued before the `version` variant existed: a workflow followed since accepted_at.
const trackedUpgradeV1Schema = z.strictObject({
  version: z.literal(1),
  accepted_event_id: z.string().min(1),
  workflow_id: z.string().min(1),
  accepted_at: z.iso.datetime(),
  attempt: z.int().nonnegative(),
  request: accepted.request,
  resolved: accepted.resolved,
  trigger: accepted.trigger,
});

function fromV1(v1: z.infer<typeof trackedUpgradeV1Schema>): FollowedWorkflow {
  const { accepted_event_id, accepted_at, workflow_id, attempt, request, resolved, trigger } = v1;
  return {
    version: TRACKED_MESSAGE_VERSION,
    follow: 'workflow',
    workflow_id,
    origin_event_id: accepted_event_id,
    started_at: accepted_at,
    attempt,
    request,
    resolved,
    trigger,
  };
}

// Only what tracking needs from the Accepted detail is required; anything else it carries is ignored,
// so the upgrade function can add fields without breaking the tracker.
const acceptedForTrackingSchema = z.object({
  event_id: z.string().min(1),
  request: accepted.request,
  resolved: accepted.resolved,
  result: z.object({
    workflow_id: z
      .string({ error: 'is missing: TaurusDB gave no workflow to follow' })
      .min(1, 'is empty: TaurusDB gave no workflow to follow'),
  }),
  trigger: accepted.trigger,
  occurred_at: z.iso.datetime(),
  // Advice: an advisory that does not read is ignored, never a reason to refuse the event.
  advisory: z.object({ upgrade_duration: z.string().nullish() }).nullish().catch(undefined),
});

/** The first check's state, from the Detail of a `Proxy Upgrade Accepted` event. */
export function trackedFromAccepted(detail: unknown): FollowedWorkflow {
  const parsed = acceptedForTrackingSchema.safeParse(detail);
  if (!parsed.success) throw invalid('detail', parsed.error);
  const { event_id, request, resolved, result, trigger, occurred_at, advisory } = parsed.data;
  const expectedMs = parseUpgradeDuration(advisory?.upgrade_duration);
  return {
    version: TRACKED_MESSAGE_VERSION,
    follow: 'workflow',
    workflow_id: result.workflow_id,
    origin_event_id: event_id,
    started_at: occurred_at,
    attempt: 0,
    request,
    resolved,
    trigger,
    ...(expectedMs === undefined ? {} : { first_recheck_seconds: Math.ceil(expectedMs / 1000) }),
  };
}

// As for Accepted: what tracking needs (lib/events/contract.ts' unconfirmedDetailSchema has the rest).
const unconfirmedForTrackingSchema = z.object({
  event_id: z.string().min(1),
  request: accepted.request,
  resolved: accepted.resolved,
  sending_at: z.iso.datetime(),
  trigger: accepted.trigger,
});

/**
 * The first check's state, from the Detail of a `Proxy Upgrade Unconfirmed` event: the proxy version
 * is followed, and the maximum tracking time counts from when the earlier attempt was about to send
 * the upgrade (not from the redelivery that found out), because that is when the upgrade may have begun.
 */
export function trackedFromUnconfirmed(detail: unknown): FollowedVersion {
  const parsed = unconfirmedForTrackingSchema.safeParse(detail);
  if (!parsed.success) throw invalid('detail', parsed.error);
  const { event_id, request, resolved, sending_at, trigger } = parsed.data;
  return {
    version: TRACKED_MESSAGE_VERSION,
    follow: 'version',
    workflow_id: null,
    origin_event_id: event_id,
    started_at: sending_at,
    attempt: 0,
    request,
    resolved,
    trigger,
  };
}

/** A re-check message's body, of this version or the one before. */
export function parseTrackedMessage(body: string): TrackedUpgrade {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ValidationError([{ path: 'body', message: 'is not JSON' }]);
  }
  if ((json as { version?: unknown } | null)?.version === 1) {
    const v1 = trackedUpgradeV1Schema.safeParse(json);
    if (!v1.success) throw invalid('body', v1.error);
    return fromV1(v1.data);
  }
  // Any other version is judged against the current shape, so its issues name what is wrong.
  const parsed = trackedUpgradeSchema.safeParse(json);
  if (!parsed.success) throw invalid('body', parsed.error);
  return parsed.data;
}

export function serializeTracked(tracked: TrackedUpgrade): string {
  return JSON.stringify(trackedUpgradeSchema.parse(tracked));
}

/** What a chain follows, for log lines and error messages: never more than ids. */
export function followedName(tracked: TrackedUpgrade): string {
  return tracked.follow === 'workflow'
    ? `workflow ${tracked.workflow_id}`
    : `the version of proxy ${tracked.request.proxy_id}`;
}

// At most this many issues are named: a message that is wrong everywhere needs no longer a list.
const MAX_ISSUES = 5;

function invalid(root: string, error: z.ZodError): ValidationError {
  const issues: ValidationIssue[] = error.issues.slice(0, MAX_ISSUES).map((issue) => ({
    path: [root, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  return new ValidationError(issues);
}
