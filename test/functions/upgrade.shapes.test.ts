import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  asSvixHeaders,
  headerName,
  httpApiGreedyRoute,
  httpApiNamedStageDefaultRoute,
  httpApiPayload1NamedStage,
  restApiBasePath,
  restApiGreedyResource,
  restApiMultiValueOnly,
} from '../support/aws-shapes.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import {
  type HttpAnswer,
  sample,
  signedHttpEvent,
  startWorld,
  WEBHOOK_SECRET_ID,
  type World,
} from '../support/world.ts';

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const SIGNATURE_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'];

/**
 * The shapes real deployments and real senders produce (issue 15), each through the real handler:
 * what it answered, what reached TaurusDB and what was published.
 */
describe('the upgrade handler with the shapes real deployments deliver', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
  });

  async function expectUpgraded(answer: HttpAnswer, deliveryId?: string) {
    expect(answer.statusCode, JSON.stringify(answer.json)).toBe(200);
    expect(answer.json.outcomes.map((outcome: { outcome: string }) => outcome.outcome)).toEqual(['accepted']);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual(['Proxy Upgrade Accepted']);
    if (deliveryId !== undefined) {
      expect(answer.json.trigger).toEqual({ kind: 'http', id: deliveryId });
      expect(world.eventBridge.events()[0]?.Detail).toMatchObject({
        trigger: { kind: 'http', id: deliveryId },
      });
    }
  }

  function expectNothingUpstream() {
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
  }

  describe('routes: the path after any stage or base-path prefix, whatever the route template', () => {
    it('HTTP API payload 2.0 on a named stage with the $default route (rawPath /prod/upgrades)', async () => {
      const event = httpApiNamedStageDefaultRoute(
        signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_stage_v2' }),
      );
      expect(event.rawPath).toBe('/prod/upgrades');
      await expectUpgraded(await world.invokeHttp(event), 'msg_stage_v2');
    });

    it('HTTP API payload 1.0 on a named stage (path /prod/upgrades)', async () => {
      const v2 = signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_stage_v1' });
      const event = httpApiPayload1NamedStage(v2);
      expect(event.path).toBe('/prod/upgrades');
      await expectUpgraded(await world.invokeHttp(event), 'msg_stage_v1');
    });

    it('REST API behind a custom domain with a base path (path /api/upgrades, resource /upgrades)', async () => {
      const event = restApiBasePath(
        signedHttpEvent(world, 'rest-api-v1.json', REQUEST, { id: 'msg_base_path' }),
      );
      expect(event.path).toBe('/api/upgrades');
      await expectUpgraded(await world.invokeHttp(event), 'msg_base_path');
    });

    it.each([
      ['ANY /{proxy+}', undefined],
      ['POST /{proxy+}', undefined],
      ['ANY /{proxy+}', 'prod'],
    ])('HTTP API greedy route %s (stage %s)', async (routeKey, stage) => {
      const event = httpApiGreedyRoute(signedHttpEvent(world, 'http-api-v2.json', REQUEST), routeKey, stage);
      await expectUpgraded(await world.invokeHttp(event));
    });

    it('REST API greedy resource /{proxy+} behind a base path', async () => {
      const event = restApiBasePath(
        restApiGreedyResource(signedHttpEvent(world, 'rest-api-v1.json', REQUEST)),
        'api',
      );
      event.path = '/api/upgrades';
      await expectUpgraded(await world.invokeHttp(event));
    });

    it('a Function URL with a trailing slash and a base64 body', async () => {
      const event = signedHttpEvent(world, 'function-url.json', REQUEST);
      event.rawPath = '/upgrades/';
      event.requestContext.http.path = '/upgrades/';
      expect(event.isBase64Encoded).toBe(true);
      await expectUpgraded(await world.invokeHttp(event));
    });

    it('a greedy route still answers 404 for a path of no route and 405 for another method, before the signature', async () => {
      const otherPath = signedHttpEvent(world, 'http-api-v2.json', REQUEST);
      otherPath.rawPath = '/admin';
      otherPath.requestContext.http.path = '/admin';
      const notFound = await world.invokeHttp(httpApiGreedyRoute(otherPath));
      expect(notFound.statusCode).toBe(404);
      expect(notFound.json.message).toBe('no route for /admin: use POST /upgrades');

      const get = httpApiGreedyRoute(sample('http-api-v2.json'));
      get.requestContext.http.method = 'GET';
      const notAllowed = await world.invokeHttp(get);
      expect(notAllowed.statusCode).toBe(405);
      expect(notAllowed.headers.allow).toBe('POST');
      expectNothingUpstream();
    });
  });

  describe('delivery headers', () => {
    it("Svix's default names (svix-id, svix-timestamp, svix-signature), signed and verified by svix itself", async () => {
      const body = JSON.stringify(REQUEST);
      const id = `msg_svix_${Date.now()}`;
      const now = new Date();
      const signature = new SvixWebhook(world.webhookKey).sign(id, now, body);
      const event = sample('http-api-v2.json');
      for (const name of SIGNATURE_HEADERS) delete event.headers[name];
      Object.assign(event.headers, {
        'svix-id': id,
        'svix-timestamp': String(Math.floor(now.getTime() / 1000)),
        'svix-signature': signature,
      });
      event.body = body;
      // The oracle: svix's own verifier accepts exactly this request.
      expect(() => new SvixWebhook(world.webhookKey).verify(body, event.headers)).not.toThrow();
      await expectUpgraded(await world.invokeHttp(event), id);
    });

    it('Title-Case Svix names on a REST API', async () => {
      const event = asSvixHeaders(
        signedHttpEvent(world, 'rest-api-v1.json', REQUEST, { id: 'msg_svix_rest' }),
      );
      expect(Object.keys(event.headers)).toContain('Svix-Signature');
      await expectUpgraded(await world.invokeHttp(event), 'msg_svix_rest');
    });

    it('webhook-* wins when both families are present: its id is the delivery id', async () => {
      const event = signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_both_webhook' });
      Object.assign(event.headers, {
        'svix-id': 'msg_both_svix',
        'svix-timestamp': '1',
        'svix-signature': 'v1,x',
      });
      await expectUpgraded(await world.invokeHttp(event), 'msg_both_webhook');
    });

    it('a repeated webhook-signature header, comma-joined by API Gateway (v1,A,v1,B), one of them valid', async () => {
      const event = signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_comma' });
      const valid = event.headers['webhook-signature'];
      const other = new StandardWebhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).sign(
        'msg_comma',
        new Date(),
        JSON.stringify(REQUEST),
      );
      event.headers['webhook-signature'] = `${other},${valid}`;
      await expectUpgraded(await world.invokeHttp(event), 'msg_comma');
    });

    it('REST: a repeated signature header in multiValueHeaders, `headers` holding only the other value', async () => {
      const event = signedHttpEvent(world, 'rest-api-v1.json', REQUEST, { id: 'msg_multi' });
      const valid = event.headers['Webhook-Signature'];
      const other = `v1,${Buffer.alloc(32, 9).toString('base64')}`;
      event.headers['Webhook-Signature'] = other;
      event.multiValueHeaders['Webhook-Signature'] = [valid, other];
      await expectUpgraded(await world.invokeHttp(event), 'msg_multi');
    });

    it('REST: signature and content-type headers only in multiValueHeaders', async () => {
      const event = restApiMultiValueOnly(
        signedHttpEvent(world, 'rest-api-v1.json', REQUEST, { id: 'msg_multi_only' }),
        [...SIGNATURE_HEADERS, 'content-type'],
      );
      expect(headerName(event, 'webhook-id')).toBe('webhook-id');
      await expectUpgraded(await world.invokeHttp(event), 'msg_multi_only');
    });

    it('a request signed by the standardwebhooks library with the key in its bare form', async () => {
      const body = JSON.stringify(REQUEST);
      const now = new Date();
      const event = sample('http-api-v2.json');
      event.body = body;
      Object.assign(event.headers, {
        'webhook-id': 'msg_library',
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new StandardWebhook(world.webhookKey.slice('whsec_'.length)).sign(
          'msg_library',
          now,
          body,
        ),
      });
      await expectUpgraded(await world.invokeHttp(event), 'msg_library');
    });
  });

  describe('envelopes of no known kind', () => {
    it('an HTTP API event without requestContext.http: a 400 answer saying what is missing, nothing upstream', async () => {
      const event = signedHttpEvent(world, 'http-api-v2.json', REQUEST);
      delete event.requestContext.http;
      const answer = await world.invokeHttp(event);
      expect(answer.statusCode).toBe(400);
      expect(answer.json.message).toMatch(/^HTTP event of no known shape: .*requestContext\.http\.method/);
      expectNothingUpstream();
    });

    it.each([
      ['requestContext without anything', { requestContext: {} }],
      [
        'headers that are not an object',
        { ...sample('rest-api-v1.json'), headers: 'x', multiValueHeaders: [1] },
      ],
      ['a method that is not a string', { ...sample('rest-api-v1.json'), httpMethod: 42 }],
      ['rawPath without a requestContext', { version: '2.0', rawPath: '/upgrades', routeKey: '$default' }],
    ])('%s: a 4xx answer, never a crash', async (_name, event) => {
      const answer = (await world.invoke(event)) as { statusCode: number; body: string };
      expect(answer.statusCode).toBeGreaterThanOrEqual(400);
      expect(answer.statusCode).toBeLessThan(500);
      expect(JSON.parse(answer.body).message).toEqual(expect.any(String));
      expectNothingUpstream();
    });
  });

  describe('scheduled rules', () => {
    it('a rule without input ("Scheduled Event", empty detail): a refusal that says to give it a constant input', async () => {
      const failure = await world
        .invoke(sample('scheduled-rule-without-input.json'))
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(world.errors.UnknownEventError);
      expect((failure as Error).message).toBe(
        'a "Scheduled Event" with an empty detail: the rule or schedule that sent it has no input. Give it a ' +
          'constant input holding the upgrade request or batch, which then arrives as the event itself ' +
          '(README "Triggers", "Schedules")',
      );
      expectNothingUpstream();
    });

    it("a rule's constant input: the event is the request, the Lambda request id its delivery id", async () => {
      const context = lambdaContext({ awsRequestId: '22222222-3333-4444-8555-666666666666' });
      const result = (await world.invoke(sample('scheduled-rule.json'), context)) as { trigger: unknown };
      expect(result.trigger).toEqual({ kind: 'schedule', id: '22222222-3333-4444-8555-666666666666' });
      expect(world.taurusDb.upgradeRequests()).toBe(1);
    });

    it('a "Scheduled Event" whose detail holds a request (an input transformer) stays accepted', async () => {
      const event = sample('scheduled-rule-input-transformer.json');
      const result = (await world.invoke(event)) as { trigger: unknown };
      expect(result.trigger).toEqual({ kind: 'schedule', id: event.id });
      expect(world.taurusDb.upgradeRequests()).toBe(1);
    });
  });
});

describe('the upgrade handler with a signing key stored without the whsec_ prefix', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
    // Before the first request, so the verifier's first read finds the bare form.
    world.secretsManager.put(WEBHOOK_SECRET_ID, { keys: [world.webhookKey.slice('whsec_'.length)] });
  });
  afterAll(() => world.close());

  it('verifies with the bare base64 key, as every Standard Webhooks library does', async () => {
    const answer = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_bare' }),
    );
    expect(answer.statusCode, JSON.stringify(answer.json)).toBe(200);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });
});
