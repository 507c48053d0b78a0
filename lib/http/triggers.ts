import { RouteError, UnknownEventError } from '../errors.ts';

/**
 * What can start the upgrade function: the one list, which the events' trigger.kind enum, duplicate
 * suppression's windows and the recognition below are all typed by.
 */
export const TRIGGER_KINDS = ['http', 'schedule', 'event'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** Where a payload came from: its kind, the delivery id the sender gave it, and the payload itself. */
export interface Delivery {
  kind: TriggerKind;
  /** webhook-id (HTTP), EventBridge event id (rules and pipeline events); undefined for Scheduler input. */
  id: string | undefined;
  payload: unknown;
}

/** The parts of an API Gateway (REST v1, HTTP v2) or Function URL event this function reads. */
export interface HttpEvent {
  requestContext: Record<string, unknown>;
  headers?: Record<string, string | undefined> | null;
  body?: unknown;
  isBase64Encoded?: boolean;
  httpMethod?: string;
  path?: string;
  rawPath?: string;
  routeKey?: string;
}

export const PIPELINE_DETAIL_TYPE = 'Proxy Upgrade Requested';
export const SCHEDULED_DETAIL_TYPE = 'Scheduled Event';
export const UPGRADE_ROUTE = '/upgrades';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** API Gateway REST (payload 1.0) has `httpMethod`; HTTP API (2.0) and Function URLs have `requestContext.http`. */
export function isHttpEvent(event: unknown): event is HttpEvent {
  if (!isObject(event) || !isObject(event.requestContext)) return false;
  return typeof event.httpMethod === 'string' || isObject(event.requestContext.http);
}

// API Gateway and Function URLs always send strings; a direct invocation may send any JSON.
function stringOrEmpty(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** At most 64 characters of caller input go back into a message. */
function excerpt(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

export function httpMethodOf(event: HttpEvent): string {
  const http = event.requestContext.http;
  return stringOrEmpty(event.httpMethod ?? (isObject(http) ? http.method : undefined)).toUpperCase();
}

/**
 * The route path. HTTP API events carry the matched route in `routeKey` ("POST /upgrades"), which is
 * stage-independent; Function URLs and `$default` routes only have `rawPath`; REST events have `path`.
 */
export function httpPathOf(event: HttpEvent): string {
  if (typeof event.routeKey === 'string' && event.routeKey !== '$default') {
    return event.routeKey.split(' ').at(-1) ?? '';
  }
  return stringOrEmpty(event.rawPath ?? event.path);
}

/** Only `POST /upgrades` is served; anything else is refused before the signature is even checked. */
export function assertUpgradeRoute(event: HttpEvent): void {
  const path = httpPathOf(event).replace(/\/+$/, '');
  if (path !== UPGRADE_ROUTE)
    throw new RouteError(404, `no route for ${excerpt(path) || '/'}: use POST ${UPGRADE_ROUTE}`);
  const method = httpMethodOf(event);
  if (method !== 'POST')
    throw new RouteError(405, `method ${excerpt(method)} is not allowed on ${UPGRADE_ROUTE}: use POST`);
}

/** The body exactly as the caller sent it (signatures are computed over these bytes). */
export function rawBodyOf(event: HttpEvent): string {
  if (typeof event.body !== 'string') return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

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
 * Recognises the trigger from the event's shape:
 * - HTTP (API Gateway REST/HTTP API, Function URL), whose delivery id is the verified `webhook-id`;
 * - EventBridge envelopes: `Scheduled Event` (scheduled rule) and `Proxy Upgrade Requested` (pipeline),
 *   with the request or batch in `detail` and the event `id` as delivery id;
 * - EventBridge Scheduler or a rule with constant input, where the event *is* the request or batch.
 */
export function recogniseTrigger(event: unknown): Delivery {
  if (isHttpEvent(event)) {
    const webhookId = event.headers?.['webhook-id'];
    return { kind: 'http', id: webhookId, payload: event.body };
  }
  if (isObject(event) && typeof event['detail-type'] === 'string' && 'detail' in event) {
    const id = typeof event.id === 'string' && event.id !== '' ? event.id : undefined;
    if (event['detail-type'] === PIPELINE_DETAIL_TYPE) return { kind: 'event', id, payload: event.detail };
    if (event['detail-type'] === SCHEDULED_DETAIL_TYPE)
      return { kind: 'schedule', id, payload: event.detail };
  } else if (isObject(event) && ('upgrades' in event || 'project_id' in event)) {
    return { kind: 'schedule', id: undefined, payload: event };
  }
  throw new UnknownEventError(
    `event of no known kind (${describeEvent(event)}): expected POST ${UPGRADE_ROUTE} over HTTP, an EventBridge ` +
      `"${SCHEDULED_DETAIL_TYPE}" or "${PIPELINE_DETAIL_TYPE}" event, or an upgrade request ` +
      '(an object with project_id or upgrades) as Scheduler input',
  );
}
