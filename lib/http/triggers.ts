import { UnknownEventError } from '../errors.ts';
import { idempotencyKeyOf, webhookHeadersOf } from './delivery-headers.ts';
import {
  type HttpEvent,
  headerMapOf,
  httpMethodOf,
  httpPathOf,
  isHttpEvent,
  isObject,
} from './http-event.ts';
import { type JwtCaller, jwtCallerOf, jwtClaimsOf } from './jwt-caller.ts';
import { matchRoute, ROUTES, type Route, UPGRADE_ROUTE } from './routes.ts';

/**
 * What can start the upgrade function: the one list, which the events' trigger.kind enum, duplicate
 * suppression's windows and the recognition below are all typed by.
 */
export const TRIGGER_KINDS = ['http', 'schedule', 'event', 'rollout'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** Where a payload came from: its kind, the delivery id the sender gave it, and the payload itself. */
export interface Delivery {
  kind: TriggerKind;
  /**
   * webhook-id or svix-id (signed HTTP), Idempotency-Key (the JWT route), EventBridge event id (rules
   * and pipeline events); undefined for Scheduler input.
   */
  id: string | undefined;
  payload: unknown;
  /** Set by a rollout's tick (lib/rollouts/upgrade-runner.ts): the rollout the upgrade belongs to. */
  rollout_id?: string;
  /**
   * Set by a rollout's tick with `rollout_id`: the attempt this delivery is (its delivery id ends in
   * `#<attempt>`) and, once the target's instance was found busy, the deadline its first busy answer
   * set. The upgrade step decides from it whether a busy answer is retried (lib/upgrade/step.ts).
   */
  rollout_retry?: { attempt: number; deadline?: string | undefined };
  /** On the JWT route: who the token's claims name. */
  caller?: JwtCaller;
}

export const PIPELINE_DETAIL_TYPE = 'Proxy Upgrade Requested';
/** The DetailType of a pipeline's request for a fleet rollout (functions/rollouts.ts). */
export const ROLLOUT_REQUESTED_DETAIL_TYPE = 'Proxy Rollout Requested';
export const SCHEDULED_DETAIL_TYPE = 'Scheduled Event';

function describeEvent(event: unknown): string {
  if (event === null) return 'null';
  if (Array.isArray(event)) return 'an array';
  if (!isObject(event)) return `a ${typeof event}`;
  if (typeof event['detail-type'] === 'string')
    return `an EventBridge event of detail-type "${event['detail-type'].slice(0, 64)}"`;
  if (Array.isArray(event.Records)) return 'a Records event (SQS, SNS, S3, ...)';
  return 'an object with none of the expected keys';
}

/**
 * An HTTP delivery, once the authentication middleware (lib/http/middleware/authentication.ts) let it
 * through: the JWT route's delivery is named by its Idempotency-Key and its caller by the claims; a
 * signed one by the signature's own id header.
 */
function httpDeliveryOf(event: HttpEvent, routes: readonly Route[]): Delivery {
  const headers = headerMapOf(event);
  const { route } = matchRoute(httpMethodOf(event), httpPathOf(event), routes);
  if (route.auth === 'jwt') {
    const claims = jwtClaimsOf(event.requestContext);
    const caller = claims === undefined ? undefined : jwtCallerOf(claims);
    return {
      kind: 'http',
      id: idempotencyKeyOf(headers, route.path),
      payload: event.body,
      ...(caller === undefined ? {} : { caller }),
    };
  }
  return { kind: 'http', id: webhookHeadersOf(headers).id, payload: event.body };
}

const SCHEDULE_WITHOUT_INPUT =
  `a "${SCHEDULED_DETAIL_TYPE}" with an empty detail: the rule or schedule that sent it has no input. Give it a ` +
  'constant input holding the upgrade request or batch, which then arrives as the event itself ' +
  '(README "Triggers", "Schedules")';

/** A scheduled rule without input sends `detail: {}`; with a constant input, the input arrives instead. */
function isEmptyDetail(detail: unknown): boolean {
  return detail === undefined || detail === null || (isObject(detail) && Object.keys(detail).length === 0);
}

/**
 * Recognises the trigger from the event's shape:
 * - HTTP (API Gateway REST/HTTP API, Function URL): a signed delivery or the JWT route's;
 * - EventBridge envelopes: `Scheduled Event` (scheduled rule) and `Proxy Upgrade Requested` (pipeline),
 *   with the request or batch in `detail` and the event `id` as delivery id;
 * - EventBridge Scheduler or a rule with constant input, where the event *is* the request or batch.
 */
/** What a function's deliveries look like: the pipeline event's DetailType and Scheduler input's keys. */
export interface DeliveryShape {
  detailType: string;
  inputKeys: readonly string[];
  /** The function's route table. */
  routes: readonly Route[];
  /** Named in the refusal of an event of no known kind. */
  expected: string;
}

const UPGRADE_DELIVERIES: DeliveryShape = {
  detailType: PIPELINE_DETAIL_TYPE,
  inputKeys: ['upgrades', 'project_id'],
  routes: ROUTES,
  expected: `POST ${UPGRADE_ROUTE.path} over HTTP, an EventBridge "${SCHEDULED_DETAIL_TYPE}" or "${PIPELINE_DETAIL_TYPE}" event, or an upgrade request (an object with project_id or upgrades) as Scheduler input`,
};

export function recogniseTrigger(event: unknown, shape: DeliveryShape = UPGRADE_DELIVERIES): Delivery {
  if (isHttpEvent(event)) return httpDeliveryOf(event, shape.routes);
  if (isObject(event) && typeof event['detail-type'] === 'string' && 'detail' in event) {
    const id = typeof event.id === 'string' && event.id !== '' ? event.id : undefined;
    if (event['detail-type'] === shape.detailType) return { kind: 'event', id, payload: event.detail };
    if (event['detail-type'] === SCHEDULED_DETAIL_TYPE) {
      if (isEmptyDetail(event.detail)) throw new UnknownEventError(SCHEDULE_WITHOUT_INPUT);
      return { kind: 'schedule', id, payload: event.detail };
    }
  } else if (isObject(event) && shape.inputKeys.some((key) => key in event)) {
    return { kind: 'schedule', id: undefined, payload: event };
  }
  throw new UnknownEventError(`event of no known kind (${describeEvent(event)}): expected ${shape.expected}`);
}

/** A Scheduler input's own `delivery_id`, as a log key: only when it is a short printable text. */
const LOGGABLE_ID = /^[^\p{Cc}]{1,128}$/u;

/**
 * The keys a log line about an event carries when the event is of a known kind: its trigger kind
 * and its delivery id (webhook-id or svix-id, Idempotency-Key, event id; for Scheduler input the
 * input's own `delivery_id`, when it names one at its top level). Both functions' refusal and failure
 * lines use it (lib/http/middleware/error-response.ts `correlate`), written after Powertools reset
 * the keys the handler appended. Only ids: never a header that signs, nor the payload itself.
 */
export function triggerKeysOf(
  event: unknown,
  shape: DeliveryShape = UPGRADE_DELIVERIES,
): { trigger_kind?: TriggerKind; delivery_id?: string } {
  let delivery: Delivery;
  try {
    delivery = recogniseTrigger(event, shape);
  } catch {
    return {};
  }
  const named =
    delivery.kind === 'schedule' && isObject(delivery.payload) ? delivery.payload.delivery_id : undefined;
  const id = delivery.id ?? (typeof named === 'string' && LOGGABLE_ID.test(named) ? named : undefined);
  return { trigger_kind: delivery.kind, ...(id === undefined ? {} : { delivery_id: id }) };
}
