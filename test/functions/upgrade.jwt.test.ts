import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { withJwtClaims } from '../support/aws-shapes.ts';
import { expectDetailsMatchSchemas } from '../support/detail-schemas.ts';
import { sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

const JWT_SAMPLE = sample('http-api-jwt.json');
const CLAIMS = JWT_SAMPLE.requestContext.authorizer.jwt.claims;
const REQUEST = JSON.parse(JWT_SAMPLE.body);

/** The JWT route's sample with another Idempotency-Key, body or claims. */
function jwtEvent(
  options: { key?: string | null; body?: unknown; claims?: Record<string, string> | null } = {},
  // biome-ignore lint/suspicious/noExplicitAny: a Lambda event changed field by field
): any {
  const event = sample('http-api-jwt.json');
  if (options.key === null) delete event.headers['idempotency-key'];
  else if (options.key !== undefined) event.headers['idempotency-key'] = options.key;
  if (options.body !== undefined) event.body = JSON.stringify(options.body);
  if (options.claims === null) delete event.requestContext.authorizer;
  else if (options.claims !== undefined) withJwtClaims(event, options.claims);
  return event;
}

/**
 * POST /upgrades/oauth: callers that cannot sign (change-management systems with OAuth 2.0 client
 * credentials) are authorised by API Gateway's JWT authorizer; the function trusts the claims it
 * passes, takes the delivery id from Idempotency-Key and records who called.
 */
describe('the JWT route through the handler', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true });
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
  });

  function expectNothingUpstream() {
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
  }

  it('upgrades with the claims as authorisation: Idempotency-Key is the delivery id, the client recorded in the trigger and as requested_by', async () => {
    const answer = await world.invokeHttp(jwtEvent({ key: '"CHG0031339-first"' }));
    expect(answer.statusCode, JSON.stringify(answer.json)).toBe(200);
    expect(answer.json.trigger).toEqual({ kind: 'http', id: 'CHG0031339-first' });
    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(world.eventBridge.events().map((entry) => entry.Detail)).toMatchObject([
      {
        trigger: {
          kind: 'http',
          id: 'CHG0031339-first',
          auth: 'jwt',
          client_id: CLAIMS.client_id,
          sub: CLAIMS.sub,
          change_id: 'CHG0031339',
          requested_by: CLAIMS.client_id,
        },
      },
    ]);
    // The contract (lib/events/contract.ts) and the committed JSON Schemas take the new fields.
    await expectDetailsMatchSchemas(world.eventBridge.events());
  });

  it("keeps the body's own requested_by, and takes sub when the token has no client_id; a bare key works too", async () => {
    const answer = await world.invokeHttp(
      jwtEvent({
        key: 'CHG0031339-bare',
        body: { ...REQUEST, requested_by: 'carol@example.com' },
        claims: { iss: CLAIMS.iss, sub: 'jira-automation@clients', aud: 'taurusdb-proxy-upgrader' },
      }),
    );
    expect(answer.statusCode, JSON.stringify(answer.json)).toBe(200);
    const [detail] = world.eventBridge.events().map((entry) => entry.Detail as { trigger: object });
    expect(detail?.trigger).toEqual({
      kind: 'http',
      id: 'CHG0031339-bare',
      auth: 'jwt',
      sub: 'jira-automation@clients',
      change_id: 'CHG0031339',
      requested_by: 'carol@example.com',
    });
  });

  it('replays a retry with the same Idempotency-Key from the same client, without a second TaurusDB call', async () => {
    const first = await world.invokeHttp(jwtEvent({ key: '"CHG0031339-retry"' }));
    const again = await world.invokeHttp(jwtEvent({ key: '"CHG0031339-retry"' }));
    expect(first.statusCode).toBe(200);
    expect(again.json.outcomes[0].replayed).toBe(true);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });

  it("scopes Idempotency-Key to the client: another client's same key is its own delivery", async () => {
    await world.invokeHttp(jwtEvent({ key: '"shared-key-1"' }));
    const other = await world.invokeHttp(
      jwtEvent({
        key: '"shared-key-1"',
        body: { ...REQUEST, change_id: 'CHG0099999' },
        claims: { ...CLAIMS, client_id: 'another-client', sub: 'another-client' },
      }),
    );
    expect(other.statusCode, JSON.stringify(other.json)).toBe(200);
    expect(other.json.outcomes[0].replayed).toBe(false);
  });

  it.each([
    ['no Idempotency-Key', null],
    ['an empty Idempotency-Key', '""'],
    ['an Idempotency-Key of 200 characters', 'k'.repeat(200)],
  ])('answers 400 to %s, nothing upstream', async (_name, key) => {
    const answer = await world.invokeHttp(jwtEvent({ key }));
    expect(answer.statusCode).toBe(400);
    expect(answer.json.message).toMatch(/^Idempotency-Key header /);
    expectNothingUpstream();
  });

  it('refuses the JWT route without claims (401): the path alone authorises nothing', async () => {
    const answer = await world.invokeHttp(jwtEvent({ claims: null }));
    expect(answer.statusCode).toBe(401);
    expect(answer.json.reason).toBe(
      "POST /upgrades/oauth needs the claims of API Gateway's JWT authorizer, and this request has none",
    );
    expectNothingUpstream();
  });

  it('refuses claims that name no caller (neither client_id nor sub)', async () => {
    const answer = await world.invokeHttp(jwtEvent({ claims: { iss: CLAIMS.iss, scope: CLAIMS.scope } }));
    expect(answer.statusCode).toBe(401);
    expectNothingUpstream();
  });

  it('refuses a request on the signed route that claims JWT authorisation, even with a valid signature', async () => {
    const signed = withJwtClaims(signedHttpEvent(world, 'http-api-v2.json'), CLAIMS);
    const answer = await world.invokeHttp(signed);
    expect(answer.statusCode).toBe(401);
    expect(answer.json.reason).toBe(
      'POST /upgrades is authorised by its webhook signature; JWT claims here mean an authorizer was attached to the wrong route (use POST /upgrades/oauth)',
    );
    expectNothingUpstream();
  });

  it('a greedy route delivers the JWT route too, and still needs the claims', async () => {
    const event = jwtEvent({ claims: null });
    event.routeKey = 'ANY /{proxy+}';
    event.pathParameters = { proxy: 'upgrades/oauth' };
    expect((await world.invokeHttp(event)).statusCode).toBe(401);
    expectNothingUpstream();
  });
});
