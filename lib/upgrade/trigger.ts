import type { Delivery, TriggerKind } from '../http/triggers.ts';
import type { UpgradeRequest } from './request.ts';

/** The delivery that asked for an upgrade, as events, answers and logs name it. */
export interface TriggerInfo {
  kind: TriggerKind;
  /** The delivery id: webhook-id, EventBridge event id, Scheduler delivery_id or Lambda request id. */
  id: string;
  change_id?: string;
  requested_by?: string;
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
  // Scheduler input has no envelope: `delivery_id` (e.g. <aws.scheduler.execution-id>) names the
  // delivery, else the Lambda request id, which Lambda keeps across its own async retries.
  const id =
    delivery.kind === 'schedule' && delivery.id === undefined
      ? (request.delivery_id ?? invocation.requestId)
      : delivery.id;
  return {
    kind: delivery.kind,
    id: id ?? invocation.requestId,
    ...(request.change_id === undefined ? {} : { change_id: request.change_id }),
    ...(request.requested_by === undefined ? {} : { requested_by: request.requested_by }),
  };
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
