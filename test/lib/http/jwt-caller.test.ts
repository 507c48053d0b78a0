import { describe, expect, it } from 'vitest';
import { carriesJwtAuthorization, jwtCallerOf, jwtClaimsOf } from '../../../lib/http/jwt-caller.ts';

describe('the claims of API Gateway JWT authorizer', () => {
  const claims = { sub: 'svc-1', client_id: 'svc-1', iss: 'https://idp.example.com', scope: 'upgrade' };

  it('are read from requestContext.authorizer.jwt.claims only', () => {
    expect(jwtClaimsOf({ authorizer: { jwt: { claims, scopes: null } } })).toEqual(claims);
    expect(jwtClaimsOf({ authorizer: { claims } })).toBeUndefined();
    expect(jwtClaimsOf({ authorizer: { jwt: { claims: 'x' } } })).toBeUndefined();
    expect(jwtClaimsOf(undefined)).toBeUndefined();
  });

  it('tell whether a JWT authorizer ran at all, claims or not', () => {
    expect(carriesJwtAuthorization({ authorizer: { jwt: {} } })).toBe(true);
    expect(carriesJwtAuthorization({ authorizer: { iam: {} } })).toBe(false);
    expect(carriesJwtAuthorization({})).toBe(false);
  });

  it('name the caller by client_id and sub, each only when usable', () => {
    expect(jwtCallerOf(claims)).toStrictEqual({ client_id: 'svc-1', sub: 'svc-1' });
    expect(jwtCallerOf({ sub: 'jira@clients' })).toStrictEqual({ sub: 'jira@clients' });
    expect(jwtCallerOf({ client_id: 'cognito-app' })).toStrictEqual({ client_id: 'cognito-app' });
    expect(jwtCallerOf({ client_id: 'x'.repeat(257), sub: 'ok' })).toStrictEqual({ sub: 'ok' });
    expect(jwtCallerOf({ client_id: 42, sub: '' })).toBeUndefined();
    expect(jwtCallerOf({ iss: 'https://idp.example.com' })).toBeUndefined();
  });
});
