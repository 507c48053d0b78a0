import type { Delivery, TriggerKind } from '../http/triggers.ts';
import type { UpgradeRequest } from './request.ts';

/** The delivery that asked for an upgrade, as events, answers and logs name it. */
export interface TriggerInfo {
  kind: TriggerKind;
  /**
   * The delivery id: webhook-id (or svix-id), Idempotency-Key (the JWT route), EventBridge event id,
   * Scheduler delivery_id or Lambda request id.
   */
  id: string;
  /** Set when API Gateway's JWT authorizer, not a webhook signature, let the caller in. */
  auth?: 'jwt';
  /** The token's `client_id` and `sub` claims (JWT route). */
  client_id?: string;
  sub?: string;
  change_id?: string;
  requested_by?: string;
  /** Set when kind is `rollout`: the rollout this upgrade is a target of. */
  rollout_id?: string;
  /** Set on a deferred attempt (README.md "Deferred upgrades"): its number, the first one being 2. */
  attempt?: number;
  /**
   * A deferred attempt's own delivery id, which duplicate suppression keys it on (each attempt is a
   * step of its own; `id` stays the first delivery's, so events keep naming what asked).
   */
  attemptId?: string;
  /**
   * A rollout's attempt (kind `rollout`): the function's own bookkeeping, never published. The rollout
   * loop, not a Scheduler schedule, runs the next attempt of a busy target (lib/upgrade/step.ts).
   */
  rolloutRetry?: { attempt: number; deadline?: string | undefined };
}

export interface InvocationInfo {
  /** The Lambda request id: Scheduler input's delivery id when the request names none. */
  requestId: string;
  /** Aborted shortly before the Lambda times out, so a slow TaurusDB cannot outlive the invocation. */
  signal?: AbortSignal | undefined;
}

export function triggerFor(
  delivery: Delivery,
  request: UpgradeRequest,
  invocation: InvocationInfo,
): TriggerInfo {
  const { deferral } = request;
  if (deferral !== undefined) {
    // The first delivery's trigger (a JWT caller's claims included) travels in the deferral object.
    const attemptId = request.delivery_id ?? delivery.id ?? invocation.requestId;
    return {
      ...deferral.trigger,
      ...peopleOf(request, deferral.trigger),
      attempt: deferral.attempt,
      attemptId,
    };
  }
  // Scheduler input has no envelope: `delivery_id` (e.g. <aws.scheduler.execution-id>) names the
  // delivery, else the Lambda request id, which Lambda keeps across its own async retries.
  const id =
    delivery.kind === 'schedule' && delivery.id === undefined
      ? (request.delivery_id ?? invocation.requestId)
      : delivery.id;
  const { caller } = delivery;
  return {
    kind: delivery.kind,
    id: id ?? invocation.requestId,
    ...(caller === undefined ? {} : { auth: 'jwt' as const, ...caller }),
    ...(delivery.rollout_id === undefined ? {} : { rollout_id: delivery.rollout_id }),
    ...(delivery.rollout_retry === undefined ? {} : { rolloutRetry: delivery.rollout_retry }),
    ...peopleOf(request, caller),
  };
}

/**
 * The change and the person a request names. A caller that cannot sign is named by its token; the
 * body's own requested_by, when given, says on whose behalf it calls and wins.
 */
function peopleOf(
  request: UpgradeRequest,
  caller?: { client_id?: string | undefined; sub?: string | undefined },
): Pick<TriggerInfo, 'change_id' | 'requested_by'> {
  const requestedBy = request.requested_by ?? caller?.client_id ?? caller?.sub;
  return {
    ...(request.change_id === undefined ? {} : { change_id: request.change_id }),
    ...(requestedBy === undefined ? {} : { requested_by: requestedBy }),
  };
}

/**
 * The id duplicate suppression keys a delivery on. An Idempotency-Key is chosen by its client, so two
 * clients may well pick the same one (a change number): it is scoped to the client, as the IETF
 * draft advises. Signed deliveries and events keep their id as it is, so stored records stay valid.
 */
export function suppressionIdOf(trigger: TriggerInfo): string {
  if (trigger.auth !== 'jwt') return trigger.id;
  return JSON.stringify(['jwt', trigger.client_id ?? null, trigger.sub ?? null, trigger.id]);
}

/**
 * The keys every log line of an invocation carries (functions/upgrade.ts appends them, Powertools'
 * resetKeys drops them after it): the trigger kind, and the delivery id and change id when the whole
 * delivery has one (a batch whose items name different ones leaves that key to each outcome line).
 */
export function correlationKeys(
  delivery: Delivery,
  requests: readonly UpgradeRequest[],
  invocation: InvocationInfo,
): { trigger_kind: TriggerKind; delivery_id?: string; change_id?: string } {
  const only = (values: Array<string | undefined>) => {
    const distinct = [...new Set(values)];
    return distinct.length === 1 ? distinct[0] : undefined;
  };
  const deliveryId = only(requests.map((request) => triggerFor(delivery, request, invocation).id));
  const changeId = only(requests.map((request) => request.change_id));
  return {
    trigger_kind: delivery.kind,
    ...(deliveryId === undefined ? {} : { delivery_id: deliveryId }),
    ...(changeId === undefined ? {} : { change_id: changeId }),
  };
}
