import * as z from 'zod';
import { ValidationError, type ValidationIssue } from './errors.ts';
import { acceptedDetailSchema } from './event-schemas.ts';
import type { TrackedContext } from './tracking-events.ts';

/**
 * What the tracker knows about one upgrade it follows, and the body of every re-check message on the
 * tracking queue: everything the next check needs travels with it, so the tracker keeps no state of
 * its own (no table, nothing to clean up) and a message can be replayed from the dead-letter queue.
 */

const accepted = acceptedDetailSchema.shape;

export const trackedUpgradeSchema = z.strictObject({
  /** Bumped when the shape changes, so an old message in flight during a deploy is recognised. */
  version: z.literal(1),
  accepted_event_id: z.string().min(1),
  workflow_id: z.string().min(1),
  /** When TaurusDB accepted the upgrade; the maximum tracking time counts from here. */
  accepted_at: z.iso.datetime(),
  /** Checks already made; the first one (on the Accepted event) is attempt 0. */
  attempt: z.int().nonnegative(),
  request: accepted.request,
  resolved: accepted.resolved,
  trigger: accepted.trigger,
});

export type TrackedUpgrade = z.infer<typeof trackedUpgradeSchema> & TrackedContext;

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
});

/** The first check's state, from the Detail of a `Proxy Upgrade Accepted` event. */
export function trackedFromAccepted(detail: unknown): TrackedUpgrade {
  const parsed = acceptedForTrackingSchema.safeParse(detail);
  if (!parsed.success) throw invalid('detail', parsed.error);
  const { event_id, request, resolved, result, trigger, occurred_at } = parsed.data;
  return {
    version: 1,
    accepted_event_id: event_id,
    workflow_id: result.workflow_id,
    accepted_at: occurred_at,
    attempt: 0,
    request,
    resolved,
    trigger,
  };
}

/** A re-check message's body. */
export function parseTrackedMessage(body: string): TrackedUpgrade {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ValidationError([{ path: 'body', message: 'is not JSON' }]);
  }
  const parsed = trackedUpgradeSchema.safeParse(json);
  if (!parsed.success) throw invalid('body', parsed.error);
  return parsed.data;
}

export function serializeTracked(tracked: TrackedUpgrade): string {
  return JSON.stringify(trackedUpgradeSchema.parse(tracked));
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
