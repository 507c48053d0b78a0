import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closedPort, replies } from '../../stand-ins/taurusdb.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { type HttpAnswer, sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

const REQUEST = JSON.parse(sample('http-api-v2.json').body);

describe('the upgrade handler over HTTP: refusals and upstream errors', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
  });

  function post(body: unknown, options: { sampleName?: string; id?: string } = {}): Promise<HttpAnswer> {
    return world.invokeHttp(signedHttpEvent(world, options.sampleName ?? 'http-api-v2.json', body, options));
  }

  function expectNothingUpstream() {
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
  }

  describe('invalid payloads: 400 with every issue named, nothing sent upstream', () => {
    const batchOf = (count: number) => ({ upgrades: Array.from({ length: count }, () => REQUEST) });
    it.each([
      [
        'a number as an id',
        { ...REQUEST, proxy_id: 42 },
        [{ path: 'proxy_id', message: 'must be a string' }],
      ],
      [
        'a missing field',
        { ...REQUEST, target_version: undefined },
        [{ path: 'target_version', message: 'is required' }],
      ],
      [
        'neither proxy_id nor all_proxies',
        { ...REQUEST, proxy_id: undefined },
        [{ path: 'proxy_id', message: 'is required unless "all_proxies" is true' }],
      ],
      [
        '"latest" without the version read',
        { ...REQUEST, target_version: 'latest', preflight: false },
        [{ path: 'target_version', message: '"latest" needs the version read; remove "preflight": false' }],
      ],
      [
        'a path-injection id',
        { ...REQUEST, instance_id: '../x' },
        [{ path: 'instance_id', message: 'must contain only letters, digits and "-" (1 to 64 characters)' }],
      ],
      [
        'an id with a slash',
        { ...REQUEST, proxy_id: 'a/b' },
        [{ path: 'proxy_id', message: 'must contain only letters, digits and "-" (1 to 64 characters)' }],
      ],
      [
        'a version with letters',
        { ...REQUEST, target_version: '2.24.03.000-beta' },
        [
          {
            path: 'target_version',
            message: 'must be "latest" or a dotted version number such as 2.24.03.000',
          },
        ],
      ],
      [
        'a downgrade',
        { ...REQUEST, source_version: '2.24.03.000', target_version: '2.23.12.000' },
        [{ path: 'target_version', message: 'must be newer than source_version 2.24.03.000' }],
      ],
      [
        'an unknown language',
        { ...REQUEST, language: 'fr-fr' },
        [{ path: 'language', message: 'must be one of en-us, zh-cn' }],
      ],
      ['an unknown field', { ...REQUEST, force: true }, [{ path: 'force', message: 'is not a known field' }]],
      [
        'a 51-item batch',
        batchOf(51),
        [{ path: 'upgrades', message: 'must hold 1 to 50 upgrades (got 51)' }],
      ],
      [
        'a bad item deep in a batch',
        {
          // Each item its own proxy: two items naming one proxy are refused for that alone.
          upgrades: ['po01', 'po02', 'po03', 'po04'].map((proxy_id, index) =>
            index === 3 ? { ...REQUEST, proxy_id, target_version: '2.23.12.000' } : { ...REQUEST, proxy_id },
          ),
        },
        [{ path: 'upgrades[3].target_version', message: 'must be newer than source_version 2.23.12.000' }],
      ],
    ])('%s', async (_name, body, issues) => {
      const answer = await post(body);
      expect(answer.statusCode).toBe(400);
      expect(answer.json).toEqual({
        message: 'invalid upgrade request',
        issues,
        request_id: expect.any(String),
      });
      expectNothingUpstream();
    });
  });

  it('answers 415 to a body that is not declared JSON, before parsing it', async () => {
    const event = signedHttpEvent(world, 'http-api-v2.json');
    event.headers['content-type'] = 'text/plain';
    const answer = await world.invokeHttp(event);
    expect(answer.statusCode).toBe(415);
    expect(answer.json.message).toBe('Content-Type must be application/json');
    expectNothingUpstream();
  });

  it('answers 422 to malformed JSON and to a __proto__ key', async () => {
    expect((await post('{"project_id": ')).statusCode).toBe(422);
    const polluted = await post(`{"__proto__": {"admin": true}, ${JSON.stringify(REQUEST).slice(1)}`);
    expect(polluted.statusCode).toBe(422);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expectNothingUpstream();
  });

  describe('signatures: 401 with a short reason, nothing parsed or sent', () => {
    it('refuses a request without the webhook headers', async () => {
      const event = sample('http-api-v2.json');
      for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) delete event.headers[name];
      const answer = await world.invokeHttp(event);
      expect(answer.statusCode).toBe(401);
      expect(answer.json.message).toBe('webhook signature rejected');
      expect(answer.json.reason).toMatch(/missing/);
      expectNothingUpstream();
    });

    it('refuses a tampered body, a stale timestamp and a foreign key', async () => {
      const tampered = signedHttpEvent(world, 'http-api-v2.json');
      tampered.body = tampered.body.replace('2.24.03.000', '2.24.09.000');
      const stale = signedHttpEvent(world, 'http-api-v2.json', undefined, {
        timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
      });
      const foreign = signedHttpEvent(world, 'http-api-v2.json', undefined, {
        key: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      });
      for (const event of [tampered, stale, foreign]) {
        const answer = await world.invokeHttp(event);
        expect(answer.statusCode).toBe(401);
      }
      expectNothingUpstream();
    });
  });

  it('answers 404 for another path and 405 for another method', async () => {
    const otherPath = signedHttpEvent(world, 'function-url.json');
    otherPath.rawPath = '/admin';
    expect((await world.invokeHttp(otherPath)).statusCode).toBe(404);
    const otherMethod = signedHttpEvent(world, 'rest-api-v1.json');
    otherMethod.httpMethod = 'GET';
    expect((await world.invokeHttp(otherMethod)).statusCode).toBe(405);
    expectNothingUpstream();
  });

  describe('upstream errors', () => {
    it('returns a TaurusDB 4xx with its own status, error_code and error_msg, and publishes a Failed event', async () => {
      world.taurusDb.script(replies.alreadyLatest());
      const answer = await post(REQUEST);
      expect(answer.statusCode).toBe(400);
      const [outcome] = answer.json.outcomes;
      expect(outcome.outcome).toBe('failed');
      expect(outcome.error).toEqual({
        status: 400,
        error_code: 'DBS.05000008',
        error_msg: 'the current version is the latest',
      });
      expect(world.taurusDb.upgradeRequests()).toBe(1);
      expect(world.eventBridge.events()).toMatchObject([
        {
          DetailType: 'Proxy Upgrade Failed',
          Detail: {
            event_id: outcome.event_ids[0],
            error: {
              status: 400,
              error_code: 'DBS.05000008',
              error_msg: 'the current version is the latest',
            },
          },
        },
      ]);
      expect((world.eventBridge.events()[0]?.Detail as object) ?? {}).not.toHaveProperty('result');
    });

    it('answers 502 when TaurusDB fails with 5xx, without retrying it', async () => {
      world.taurusDb.script(replies.serverError());
      const answer = await post(REQUEST);
      expect(answer.statusCode).toBe(502);
      expect(answer.json.outcomes[0].error).toMatchObject({ status: 500, error_code: 'DBS.05000000' });
      expect(world.taurusDb.upgradeRequests()).toBe(1);
      expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual(['Proxy Upgrade Failed']);
    });

    it('answers 200 for a batch where one target fails: the others go through', async () => {
      world.taurusDb.script(replies.accept(), replies.serverError(), replies.accept());
      const answer = await post({
        upgrades: [REQUEST, { ...REQUEST, proxy_id: 'proxy-two' }, { ...REQUEST, proxy_id: 'proxy-three' }],
      });
      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes.map((outcome: { outcome: string }) => outcome.outcome).sort()).toEqual([
        'accepted',
        'accepted',
        'failed',
      ]);
      expect(world.taurusDb.upgradeRequests()).toBe(3);
      expect(
        world.eventBridge
          .events()
          .map((entry) => entry.DetailType)
          .sort(),
      ).toEqual(['Proxy Upgrade Accepted', 'Proxy Upgrade Accepted', 'Proxy Upgrade Failed']);
    });

    it('stops waiting for TaurusDB before the Lambda deadline, keeping time to publish the Failed event', async () => {
      world.taurusDb.script(replies.slow(2_500));
      const nearlyOutOfTime = lambdaContext({ getRemainingTimeInMillis: () => 4_000 });
      const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'), nearlyOutOfTime);
      expect(answer.statusCode).toBe(502);
      expect(answer.json.outcomes[0].error.error_msg).toBe(
        'the TaurusDB call was abandoned by the caller; the upgrade may have started',
      );
      expect(world.taurusDb.upgradeRequests()).toBe(1);
      expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual(['Proxy Upgrade Failed']);
    });

    it('never puts a stack trace or a secret into an answer', async () => {
      world.taurusDb.script(replies.badGatewayHtml());
      const answers = [await post(REQUEST), await post({ ...REQUEST, proxy_id: '..' })];
      for (const answer of answers) {
        const text = JSON.stringify(answer);
        expect(text).not.toMatch(/\n\s+at /);
        for (const secret of world.secrets) expect(text).not.toContain(secret);
      }
    });
  });
});

describe('the upgrade handler when TaurusDB cannot be reached', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({
      env: { TAURUSDB_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, TAURUSDB_RETRY_BUDGET_MS: '1' },
    });
  });
  afterAll(() => world.close());

  it('answers 502 saying nothing was sent, and publishes a Failed event', async () => {
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));
    expect(answer.statusCode).toBe(502);
    expect(answer.json.outcomes[0].error.error_msg).toMatch(
      /could not be reached \(ECONNREFUSED\).*nothing was sent/,
    );
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual(['Proxy Upgrade Failed']);
  });
});
