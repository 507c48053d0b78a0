import type { Delivery, TriggerKind } from '../http/triggers.ts';
import type { UpgradeRequest } from './request.ts';

/** The delivery that asked for an upgrade, as events, answers and logs name it. */
export interface TriggerInfo {
  kind: TriggerKind;
  /** The delivery id: webhook-id, EventBridge event id, Scheduler delivery_id or Lambda request id. */
  id: string;
  change_id?: string;
  requested_by?: string;
  /** Set on a deferred attempt (README.md "Deferred upgrades"): its number, the first one being 2. */
  attempt?: number;
  /**
   * A deferred attempt's own delivery id, which duplicate suppression keys it on (each attempt is a
   * step of its own; `id` stays the first delivery's, so events keep naming what asked).
   */
  attemptId?: string;
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
  const people = {
    ...(request.change_id === undefined ? {} : { change_id: request.change_id }),
    ...(request.requested_by === undefined ? {} : { requested_by: request.requested_by }),
  };
  const { deferral } = request;
  if (deferral !== undefined) {
    const attemptId = request.delivery_id ?? delivery.id ?? invocation.requestId;
    return { ...deferral.trigger, ...people, attempt: deferral.attempt, attemptId };
  }
  // Scheduler input has no envelope: `delivery_id` (e.g. <aws.scheduler.execution-id>) names the
  // delivery, else the Lambda request id, which Lambda keeps across its own async retries.
  const id =
    delivery.kind === 'schedule' && delivery.id === undefined
      ? (request.delivery_id ?? invocation.requestId)
      : delivery.id;
  return {
    kind: delivery.kind,
    id: id ?? invocation.requestId,
    ...people,
  };
}
