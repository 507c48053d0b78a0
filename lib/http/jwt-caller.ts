import { isObject } from './http-event.ts';

/** Who called the JWT route, as the token's claims name them. */
export interface JwtCaller {
  client_id?: string;
  sub?: string;
}

const CLAIM_TEXT = /^[\x20-\x7e]{1,256}$/;

/**
 * The claims API Gateway's JWT authorizer passes (`requestContext.authorizer.jwt.claims`, payload
 * 2.0), once it has checked the token's signature, issuer, audience and expiry; undefined when the
 * request was not authorised that way. Only API Gateway writes `requestContext`: a caller cannot.
 */
export function jwtClaimsOf(requestContext: unknown): Record<string, unknown> | undefined {
  if (!isObject(requestContext) || !isObject(requestContext.authorizer)) return undefined;
  const { jwt } = requestContext.authorizer;
  return isObject(jwt) && isObject(jwt.claims) ? jwt.claims : undefined;
}

/** Whether the request says it was authorised by a JWT authorizer at all, claims or not. */
export function carriesJwtAuthorization(requestContext: unknown): boolean {
  return (
    isObject(requestContext) && isObject(requestContext.authorizer) && 'jwt' in requestContext.authorizer
  );
}

/**
 * The caller the claims name: `client_id` (what client-credentials tokens of Cognito, Okta and most
 * providers carry) and `sub`, each kept when it is 1 to 256 printable characters; undefined when
 * neither is, so nobody unnamed is let in.
 */
export function jwtCallerOf(claims: Record<string, unknown>): JwtCaller | undefined {
  const usable = (value: unknown) =>
    typeof value === 'string' && CLAIM_TEXT.test(value) ? value : undefined;
  const client_id = usable(claims.client_id);
  const sub = usable(claims.sub);
  if (client_id === undefined && sub === undefined) return undefined;
  return { ...(client_id === undefined ? {} : { client_id }), ...(sub === undefined ? {} : { sub }) };
}
