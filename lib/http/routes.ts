import { RouteError } from '../errors.ts';
import { excerpt } from './http-event.ts';

/** How a route's callers prove who they are. */
export type RouteAuth = 'webhook-signature' | 'jwt';

export interface Route {
  readonly method: string;
  /** Segments of `{name}` are path parameters, e.g. `/rollouts/{id}/approve`. */
  readonly path: string;
  readonly auth: RouteAuth;
}

export const UPGRADE_ROUTE = { method: 'POST', path: '/upgrades', auth: 'webhook-signature' } as const;
/** For callers that cannot sign: API Gateway's JWT authorizer guards it (README "Triggers"). */
export const JWT_UPGRADE_ROUTE = { method: 'POST', path: '/upgrades/oauth', auth: 'jwt' } as const;

/** Fleet rollouts (README "Fleet rollouts"), served by functions/rollouts.ts. */
export const ROLLOUT_ROUTE = { method: 'POST', path: '/rollouts', auth: 'webhook-signature' } as const;
export const ROLLOUT_STATUS_ROUTE = {
  method: 'GET',
  path: '/rollouts/{id}',
  auth: 'webhook-signature',
} as const;
/** The control calls, each a route of its own (lib/rollouts/control.ts carries them out). */
export const CONTROL_ACTIONS = ['approve', 'pause', 'resume', 'cancel'] as const;
export type ControlAction = (typeof CONTROL_ACTIONS)[number];

export const ROLLOUT_ROUTES: readonly Route[] = [
  ROLLOUT_ROUTE,
  ROLLOUT_STATUS_ROUTE,
  ...CONTROL_ACTIONS.map(
    (action) => ({ method: 'POST', path: `/rollouts/{id}/${action}`, auth: 'webhook-signature' }) as const,
  ),
];

/** Every route the upgrade function serves; a route is added as data. */
export const ROUTES: readonly Route[] = [UPGRADE_ROUTE, JWT_UPGRADE_ROUTE];

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/** A path's segments, trailing slashes ignored; undefined for a path that is not absolute or has `//`. */
function segmentsOf(path: string): string[] | undefined {
  if (!path.startsWith('/')) return undefined;
  const segments = path.replace(/\/+$/, '').slice(1).split('/');
  return segments.every((segment) => segment !== '') ? segments : undefined;
}

const isParameter = (segment: string) => segment.startsWith('{') && segment.endsWith('}');

/** The route's parameters when its segments are the last ones of the path (any prefix before them). */
function matchTail(route: Route, path: string[]): Record<string, string> | undefined {
  const template = segmentsOf(route.path) ?? [];
  if (path.length < template.length) return undefined;
  const tail = path.slice(path.length - template.length);
  const params: Record<string, string> = {};
  for (const [index, segment] of template.entries()) {
    const actual = tail[index] as string;
    if (isParameter(segment)) params[segment.slice(1, -1)] = actual;
    else if (segment !== actual) return undefined;
  }
  return params;
}

/** More literal segments first: `/upgrades/oauth` over `/upgrades`, `/rollouts/{id}` over `/{proxy}`. */
function specificity(route: Route): number {
  const template = segmentsOf(route.path) ?? [];
  return template.filter((segment) => !isParameter(segment)).length * 100 + template.length;
}

/**
 * Matches a request against the route table. The path is matched at its end, so a stage (`/prod`),
 * a custom domain's base path (`/api`) or both may precede the route: API Gateway decides which
 * prefixes reach the function at all. A path no route ends in is 404; a route with another method 405.
 */
export function matchRoute(method: string, path: string, routes: readonly Route[] = ROUTES): RouteMatch {
  const segments = segmentsOf(path) ?? [];
  const candidates = routes
    .map((route) => ({ route, params: matchTail(route, segments) }))
    .filter((candidate): candidate is RouteMatch => candidate.params !== undefined)
    .sort((a, b) => specificity(b.route) - specificity(a.route));
  const samePath = candidates.filter((candidate) => candidate.route.path === candidates[0]?.route.path);
  const match = samePath.find((candidate) => candidate.route.method === method);
  if (match) return match;
  const [first] = samePath;
  if (first === undefined) {
    // The table's first route is the one a lost caller most likely wants.
    const main = routes[0] ?? UPGRADE_ROUTE;
    throw new RouteError(404, `no route for ${excerpt(path) || '/'}: use ${main.method} ${main.path}`);
  }
  const allowed = samePath.map((candidate) => candidate.route.method);
  throw new RouteError(
    405,
    `method ${excerpt(method)} is not allowed on ${first.route.path}: use ${allowed.join(' or ')}`,
    allowed.join(', '),
  );
}
