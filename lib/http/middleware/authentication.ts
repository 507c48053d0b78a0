import type { MiddlewareObj } from '@middy/core';
import { AuthorizationError } from '../../errors.ts';
import { idempotencyKeyOf } from '../delivery-headers.ts';
import { type HttpEvent, headerMapOf, httpMethodOf, httpPathOf, rawBodyOf } from '../http-event.ts';
import { carriesJwtAuthorization, jwtCallerOf, jwtClaimsOf } from '../jwt-caller.ts';
import { matchRoute, ROUTES, type Route } from '../routes.ts';

export interface WebhookVerifierLike {
  verify(rawBody: string, headers: Record<string, string | undefined>): Promise<unknown>;
}

/**
 * The route's own proof of the caller. On the JWT route API Gateway has checked the token and the
 * function trusts its claims, so the claims must be there; on the signed route claims mean an
 * authorizer is attached where the signature is the proof, and are refused rather than ignored.
 */
function assertJwtAuthorization(event: HttpEvent, route: Route): void {
  if (route.auth === 'jwt') {
    const claims = jwtClaimsOf(event.requestContext);
    if (claims === undefined) {
      throw new AuthorizationError(
        `${route.method} ${route.path} needs the claims of API Gateway's JWT authorizer, and this request has none`,
      );
    }
    if (jwtCallerOf(claims) === undefined) {
      throw new AuthorizationError(
        'the JWT names no caller: it needs a client_id or sub claim of 1 to 256 printable characters',
      );
    }
  } else if (carriesJwtAuthorization(event.requestContext)) {
    throw new AuthorizationError(
      `${route.method} ${route.path} is authorised by its webhook signature; JWT claims here mean an authorizer was attached to the wrong route (use POST /upgrades/oauth)`,
    );
  }
}

/**
 * Before anything parses the body: the headers gathered once under lower-case names (REST's
 * `multiValueHeaders` included), the route matched (404/405), then the route's authentication: the
 * Standard Webhooks signature over the raw body (401), or the JWT claims and an Idempotency-Key
 * (401, 400). An unauthenticated request is refused without its content being touched.
 */
export default function authentication({
  verifier,
  routes = ROUTES,
}: {
  verifier: WebhookVerifierLike;
  /** The function's own route table (each function serves its own routes). */
  routes?: readonly Route[];
}): MiddlewareObj<HttpEvent> {
  return {
    name: 'authentication',
    before: async (request) => {
      const { event } = request;
      event.headers = headerMapOf(event);
      const { route } = matchRoute(httpMethodOf(event), httpPathOf(event), routes);
      assertJwtAuthorization(event, route);
      if (route.auth === 'jwt') idempotencyKeyOf(event.headers, route.path);
      else await verifier.verify(rawBodyOf(event), event.headers);
      // The signature covered the body as a string; anything else (only a direct invocation can send
      // it) must not reach the parser, which would read it differently. Without a body it answers 422.
      if (typeof event.body !== 'string') delete event.body;
    },
  };
}
