import { UnknownEventError } from '../errors.ts';

/** The parts of an API Gateway (REST or HTTP API, payload 1.0 or 2.0) or Function URL event this function reads. */
export interface HttpEvent {
  requestContext?: Record<string, unknown>;
  headers?: Record<string, string | undefined> | null;
  multiValueHeaders?: Record<string, unknown> | null;
  pathParameters?: Record<string, unknown> | null;
  body?: unknown;
  isBase64Encoded?: boolean;
  httpMethod?: unknown;
  path?: unknown;
  rawPath?: unknown;
  resource?: unknown;
  routeKey?: unknown;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether the event came through an HTTP integration, well-formed or not: every API Gateway and
 * Function URL event has a `requestContext`, and the route fields are theirs alone. Such an event is
 * answered over HTTP even when it cannot be read, so its caller gets a 4xx instead of a gateway 500.
 */
export function isHttpEvent(event: unknown): event is HttpEvent {
  if (!isObject(event)) return false;
  return (
    isObject(event.requestContext) ||
    ['rawPath', 'routeKey', 'httpMethod'].some((field) => typeof event[field] === 'string')
  );
}

/** At most 64 characters of caller input go back into a message. */
export function excerpt(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

function unknownShape(missing: string): UnknownEventError {
  return new UnknownEventError(
    `HTTP event of no known shape: ${missing}; expected API Gateway (REST, or HTTP API payload 1.0 or 2.0) or a Lambda Function URL`,
  );
}

/** `requestContext.http.method` (payload 2.0, Function URLs) or `httpMethod` (payload 1.0). */
export function httpMethodOf(event: HttpEvent): string {
  const http = event.requestContext?.http;
  const method = event.httpMethod ?? (isObject(http) ? http.method : undefined);
  if (typeof method !== 'string') {
    throw unknownShape(
      'neither requestContext.http.method (payload 2.0, Function URLs) nor httpMethod (payload 1.0) is a string',
    );
  }
  return method.toUpperCase();
}

const GREEDY_OR_PARAMETER = /\{([^{}+]+)\+?\}/g;

/** The route template as API Gateway matched it: a routeKey's path (2.0) or the REST resource (1.0). */
function routeTemplateOf(event: HttpEvent): string | undefined {
  const template =
    typeof event.routeKey === 'string'
      ? event.routeKey.split(' ').at(-1)
      : typeof event.resource === 'string'
        ? event.resource
        : undefined;
  return template === undefined || template === '$default' || !template.startsWith('/')
    ? undefined
    : template;
}

/**
 * The path to route on. A literal route template (`POST /upgrades`, REST `resource` `/upgrades`) is
 * the path relative to the API whatever stage or base path the request came through; a template with
 * parameters (`ANY /{proxy+}`) is filled from `pathParameters`, which API Gateway fills relative to
 * it; otherwise (`$default`, Function URLs) the raw path, which may carry a stage or base path prefix
 * that matching then skips (lib/http/routes.ts).
 */
export function httpPathOf(event: HttpEvent): string {
  const template = routeTemplateOf(event);
  if (template !== undefined && !template.includes('{')) return template;
  if (template !== undefined && isObject(event.pathParameters)) {
    const parameters = event.pathParameters;
    let complete = true;
    const filled = template.replace(GREEDY_OR_PARAMETER, (_match, name: string) => {
      const value = parameters[name];
      if (typeof value !== 'string') complete = false;
      return typeof value === 'string' ? value : '';
    });
    if (complete) return filled;
  }
  const http = event.requestContext?.http;
  // The event's own field, even when it is unusable: a null rawPath is not made up for by another.
  const path =
    'rawPath' in event
      ? event.rawPath
      : 'path' in event
        ? event.path
        : isObject(http)
          ? http.path
          : undefined;
  if (typeof path !== 'string') throw unknownShape('no path (rawPath, path or requestContext.http.path)');
  return path;
}

/**
 * Every request header once, under its lower-case name. REST events carry repeated headers in
 * `multiValueHeaders` (`headers` keeps only the last value), and a header may arrive there alone:
 * several values are joined with commas, as HTTP APIs and Function URLs join them in `headers`.
 */
export function headerMapOf(event: HttpEvent): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  if (isObject(event.headers)) {
    for (const [name, value] of Object.entries(event.headers)) {
      if (typeof value === 'string') headers[name.toLowerCase()] = value;
    }
  }
  if (isObject(event.multiValueHeaders)) {
    for (const [name, values] of Object.entries(event.multiValueHeaders)) {
      if (!Array.isArray(values)) continue;
      const texts = values.filter((value): value is string => typeof value === 'string');
      const key = name.toLowerCase();
      if (texts.length > 1 || (texts.length === 1 && headers[key] === undefined))
        headers[key] = texts.join(',');
    }
  }
  return headers;
}

/** The body exactly as the caller sent it (signatures are computed over these bytes). */
export function rawBodyOf(event: HttpEvent): string {
  if (typeof event.body !== 'string') return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}
