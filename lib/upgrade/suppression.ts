import type { IdempotentRunner, StepGuard, StepKey } from '../aws/idempotency.ts';
import { digest } from '../aws/step-records.ts';
import type { IdempotencyStoreError } from '../errors.ts';
import { canonicalJson } from '../events/event-id.ts';
import type { OutcomeRecord, StepOutcome } from './outcome.ts';
import type { UpgradeRequest } from './request.ts';
import { suppressionIdOf, type TriggerInfo } from './trigger.ts';

/**
 * Duplicate suppression keys on the delivery and the target *as requested*, never on what the version
 * read resolved: a redelivery must find its stored outcome before anything is read, and a later read
 * could resolve "latest" to a newer version and miss it. An omitted source keys as "current" and
 * "latest" as itself; neither can be mistaken for a version. A proxy of an all_proxies request keys on
 * its listed id: each proxy's upgrade is a step of its own, so a retry after a failure part-way through
 * an instance replays the proxies that ran and runs the others (the listing, a read, runs again).
 */
export function stepKey(trigger: TriggerInfo, request: UpgradeRequest): StepKey {
  if (request.proxy_id === undefined) throw new TypeError('a step is keyed on one proxy');
  return {
    ...suppressedDelivery(trigger),
    project_id: request.project_id,
    instance_id: request.instance_id,
    proxy_id: request.proxy_id,
    source_version: request.source_version ?? 'current',
    target_version: request.target_version,
  };
}

/**
 * The delivery duplicate suppression knows a trigger by: its own, or a deferred attempt's (each attempt
 * a delivery of its own, remembered as long as Scheduler retries it).
 */
function suppressedDelivery(trigger: TriggerInfo): Pick<StepKey, 'kind' | 'deliveryId'> {
  return trigger.attemptId === undefined
    ? { kind: trigger.kind, deliveryId: suppressionIdOf(trigger) }
    : { kind: 'schedule', deliveryId: trigger.attemptId };
}

/**
 * One delivery id, one request: the canonical request of each delivery id is checked against the
 * one stored with its first use, before any step or upstream call (a DeliveryReusedError refuses the
 * whole delivery). The trigger's signature headers are not part of it, since a sender's retry signs
 * afresh; dry runs change nothing and are left out, so a dry run may share its id with the real run.
 */
export async function guardDeliveries(
  idempotency: IdempotentRunner,
  requests: UpgradeRequest[],
  triggerOf: (request: UpgradeRequest) => TriggerInfo,
): Promise<void> {
  const groups = new Map<string, { kind: TriggerInfo['kind']; requests: UpgradeRequest[] }>();
  for (const request of requests) {
    if (request.dry_run === true) continue;
    const { kind, deliveryId } = suppressedDelivery(triggerOf(request));
    const group = groups.get(deliveryId) ?? { kind, requests: [] };
    group.requests.push(request);
    groups.set(deliveryId, group);
  }
  for (const [id, group] of groups) {
    await idempotency.guardDelivery(group.kind, id, digest(canonicalJson(group.requests)));
  }
}

/** A dry run sends nothing, so it claims nothing. */
export const UNGUARDED: StepGuard = {
  claimSending: async () => ({ claimed: true }) as const,
  releaseSending: async () => {},
};

export interface SuppressedRun {
  record: OutcomeRecord;
  /** True when the record came from the store rather than from running the step. */
  replayed: boolean;
  /** Set when the step ran and its record is right, but could not be stored. */
  storeError?: IdempotencyStoreError | undefined;
}

/** Carries a record that must not be kept through the runner, which keeps whatever is returned. */
class NotStored extends Error {
  readonly record: OutcomeRecord;
  constructor(record: OutcomeRecord) {
    super('failure before the upgrade ran; not stored so that a redelivery can try again');
    this.record = record;
  }
}

/**
 * The step under duplicate suppression. The step says whether its record may be kept (`store`); the
 * runner's contract is that a throw releases the key and anything returned is stored. This is the one
 * place that turns the first into the second: a record not to be kept crosses the runner as a throw
 * and comes back out of it as a record again, so the caller never sees the throw.
 */
export async function runSuppressed(
  idempotency: IdempotentRunner,
  key: StepKey,
  step: (guard: StepGuard) => Promise<StepOutcome>,
): Promise<SuppressedRun> {
  try {
    const result = await idempotency.run(key, async (guard) => {
      const ran = await step(guard);
      if (!ran.store) throw new NotStored(ran.record);
      return ran.record;
    });
    return { record: result.value, replayed: result.replayed, storeError: result.storeError };
  } catch (error) {
    if (error instanceof NotStored) return { record: error.record, replayed: false };
    throw error;
  }
}
