import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamError, ValidationError } from '../../../lib/errors.ts';
import { createScrubber } from '../../../lib/huawei/auth/scrub.ts';
import { createTaurusDbClient, type TaurusDbClientOptions } from '../../../lib/huawei/taurusdb-client.ts';
import { createConnectionPools } from '../../../lib/huawei/transport.ts';
import {
  closedPort,
  replies,
  startResettingServer,
  startTaurusDbStandIn,
  type TaurusDbStandIn,
} from '../../../stand-ins/taurusdb.ts';
import { describeError } from '../../support/secret-leaks.ts';
import {
  CALL,
  clientOn,
  failureOf,
  fakeAuthenticator,
  fakeTime,
  TOKEN,
  TOKEN_2,
  UPGRADE_PATH,
} from './taurusdb-fakes.ts';

// The retries (429, 401, unreachable, failures after sending) are in taurusdb-retry.test.ts.
describe('createTaurusDbClient against the TaurusDB stand-in', () => {
  let taurusDb: TaurusDbStandIn;
  let time: ReturnType<typeof fakeTime>;

  beforeEach(async () => {
    taurusDb = await startTaurusDbStandIn({ acceptedTokens: [TOKEN] });
    time = fakeTime();
  });
  afterEach(() => taurusDb.close());

  const client = (overrides: Partial<TaurusDbClientOptions> = {}) => clientOn(taurusDb, time, overrides);

  describe('the request on the wire', () => {
    it('posts exactly the seed request: path, headers, body, and no X-Language unless given', async () => {
      const auth = fakeAuthenticator();
      const response = await client({ authenticator: auth.authenticator }).upgradeProxyVersion(CALL);

      expect(taurusDb.requests).toHaveLength(1);
      const [sent] = taurusDb.requests;
      expect(sent?.method).toBe('POST');
      expect(sent?.url).toBe(UPGRADE_PATH);
      expect(sent?.body).toBe('{"source_version":"2.23.12.000","target_version":"2.24.03.000"}');
      expect(sent?.headers['x-auth-token']).toBe(TOKEN);
      expect(sent?.headers['content-type']).toBe('application/json');
      expect(sent?.headers.accept).toBe('application/json');
      expect(sent?.headers).not.toHaveProperty('x-language');

      expect(auth.seen).toHaveLength(1);
      expect(auth.seen[0]).toMatchObject({
        method: 'POST',
        projectId: CALL.projectId,
        body: sent?.body,
        headers: { accept: 'application/json', 'content-type': 'application/json' },
      });
      expect(auth.seen[0]?.url.href).toBe(`${taurusDb.url}${UPGRADE_PATH}`);

      expect(response).toMatchObject({ status: 200, attempts: 1 });
      expect(response.items).toEqual([
        {
          instance_id: null,
          workflow_id: '375ac6a4-2788-4e45-83bf-8a9d2324317f',
          state: 'ACCEPT',
          error_message: null,
        },
      ]);
    });

    it('encodes every id as one path segment', async () => {
      const odd = { ...CALL, projectId: 'proj/../x y', instanceId: 'in?st#1', proxyId: 'px%2F' };
      await client().upgradeProxyVersion(odd);

      expect(taurusDb.requests[0]?.url).toBe(
        '/v3/proj%2F..%2Fx%20y/instances/in%3Fst%231/proxy/px%252F/upgrade-version',
      );
      expect(taurusDb.upgrades[0]).toMatchObject({
        projectId: 'proj/../x y',
        instanceId: 'in?st#1',
        proxyId: 'px%2F',
      });
    });

    it('sends X-Language when the call names a language', async () => {
      await client().upgradeProxyVersion({ ...CALL, language: 'zh-cn' });
      expect(taurusDb.requests[0]?.headers['x-language']).toBe('zh-cn');
      expect(taurusDb.upgrades[0]?.language).toBe('zh-cn');
    });

    it('refuses an empty or dot-only id before sending anything', async () => {
      const error = await failureOf(client().upgradeProxyVersion({ ...CALL, projectId: '', proxyId: '..' }));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((issue) => issue.path)).toEqual([
        'project_id',
        'proxy_id',
      ]);
      expect(taurusDb.requests).toHaveLength(0);
    });

    it('keeps a base path of the endpoint in front of the API path', async () => {
      const prefixed = client({ endpoint: `${taurusDb.url}/gateway/` });
      const error = await failureOf(prefixed.upgradeProxyVersion(CALL));
      // The stand-in serves the API at its root, so the prefixed path is an unknown route there.
      expect(taurusDb.requests[0]?.url).toBe(`/gateway${UPGRADE_PATH}`);
      expect(error).toMatchObject({ status: 404, errorCode: 'APIGW.0101' });
    });
  });

  describe('200 answers', () => {
    it('returns every item of the seed example, REJECT included', async () => {
      taurusDb.script(replies.seedExample());
      const { items } = await client().upgradeProxyVersion(CALL);
      expect(items).toEqual([
        {
          instance_id: null,
          workflow_id: '375ac6a4-2788-4e45-83bf-8a9d2324317f',
          state: 'ACCEPT',
          error_message: null,
        },
        {
          instance_id: null,
          workflow_id: '375ac6a4-2788-4e45-83be-8a9d2324327f',
          state: 'REJECT',
          error_message: 'Upgrade failed due to insufficient subnet ip',
        },
      ]);
    });

    it('turns missing and null fields into null and keeps present ones', async () => {
      taurusDb.script(
        replies.items(
          {},
          { instance_id: CALL.instanceId, workflow_id: null, state: 'ACCEPT' },
          { state: 'REJECT', error_message: 'no quota', extra: 'ignored' },
        ),
      );
      const { items } = await client().upgradeProxyVersion(CALL);
      expect(items).toEqual([
        { instance_id: null, workflow_id: null, state: null, error_message: null },
        { instance_id: CALL.instanceId, workflow_id: null, state: 'ACCEPT', error_message: null },
        { instance_id: null, workflow_id: null, state: 'REJECT', error_message: 'no quota' },
      ]);
    });

    it.each([
      [
        'no update_result array',
        replies.malformed200(),
        'a body that is not an upgrade result (update_result:',
      ],
      [
        'an item field of the wrong type',
        replies.items({ state: 7 }),
        'a body that is not an upgrade result (update_result[0].state:',
      ],
      ['a non-JSON body', replies.nonJson(200), 'a non-JSON body (text/plain)'],
      ['an empty body', replies.empty(200), 'an empty body'],
    ])(
      'reports a 200 with %s as a malformed answer, status 200 kept, never retried',
      async (_label, reply, text) => {
        taurusDb.script(reply);
        const error = await failureOf(client().upgradeProxyVersion(CALL));
        expect(error).toBeInstanceOf(UpstreamError);
        const upstream = error as UpstreamError;
        expect(upstream.message).toContain(`TaurusDB answered 200 with ${text}`);
        expect(upstream.message).toMatch(/the upgrade may have started$/);
        expect(upstream).toMatchObject({ status: 200, statusCode: 502, errorCode: undefined });
        expect(taurusDb.upgradeRequests()).toBe(1);
        expect(time.waits).toEqual([]);
      },
    );
  });

  describe('error answers, never retried', () => {
    it.each([
      [
        '400 DBS.05000008 (already the latest)',
        replies.alreadyLatest(),
        {
          status: 400,
          statusCode: 400,
          errorCode: 'DBS.05000008',
          errorMsg: 'the current version is the latest',
          message: 'TaurusDB answered 400 DBS.05000008: the current version is the latest',
          mayHaveRun: true,
        },
      ],
      [
        '403 in the {error:{code,message}} shape',
        replies.gatewayError(403, 'APIGW.0302', 'The IAM user is not authorized to access the API.'),
        {
          status: 403,
          statusCode: 403,
          errorCode: 'APIGW.0302',
          errorMsg: 'The IAM user is not authorized to access the API.',
          message: 'TaurusDB answered 403 APIGW.0302: The IAM user is not authorized to access the API.',
        },
      ],
      [
        '500 DBS.05000000',
        replies.serverError(),
        {
          status: 500,
          statusCode: 502,
          errorCode: 'DBS.05000000',
          errorMsg: 'Server failure.',
          message: 'TaurusDB answered 500 DBS.05000000: Server failure.',
        },
      ],
      [
        '502 with an HTML page',
        replies.badGatewayHtml(),
        {
          status: 502,
          statusCode: 502,
          errorCode: undefined,
          errorMsg: undefined,
          message: 'TaurusDB answered 502 with a non-JSON body (text/html)',
        },
      ],
      [
        '503 with an empty body',
        replies.empty(503),
        {
          status: 503,
          statusCode: 502,
          errorCode: undefined,
          message: 'TaurusDB answered 503 with an empty body',
        },
      ],
      [
        '500 with JSON of another shape',
        { status: 500, body: { message: 'oops' } },
        { status: 500, statusCode: 502, message: 'TaurusDB answered 500 with a JSON body of unknown shape' },
      ],
    ])('%s → UpstreamError after exactly one request', async (_label, reply, expected) => {
      taurusDb.script(reply);
      const error = await failureOf(client().upgradeProxyVersion(CALL));
      expect(error).toBeInstanceOf(UpstreamError);
      expect(error).toMatchObject(expected);
      expect(taurusDb.upgradeRequests()).toBe(1);
      expect(time.waits).toEqual([]);
    });

    it('bounds an upstream error message instead of echoing it whole', async () => {
      taurusDb.script(replies.error(400, 'DBS.200001', 'x'.repeat(5_000)));
      const error = (await failureOf(client().upgradeProxyVersion(CALL))) as UpstreamError;
      expect(error.errorMsg?.length).toBeLessThanOrEqual(301);
      expect(error.message.length).toBeLessThan(400);
    });

    it('reads an HTML body of any size without quoting it', async () => {
      taurusDb.script({
        status: 502,
        text: `<html>${'<p>busy</p>'.repeat(20_000)}</html>`,
        headers: { 'content-type': 'text/html' },
      });
      const error = (await failureOf(client().upgradeProxyVersion(CALL))) as UpstreamError;
      expect(error.message).toBe('TaurusDB answered 502 with a body larger than 65536 bytes');
    });
  });

  it("reuses one keep-alive connection across calls and clients (the container's pools)", async () => {
    // What the composition root does: one set of pools per container, handed to every client.
    const pools = createConnectionPools();
    const first = createTaurusDbClient({
      endpoint: taurusDb.url,
      authenticator: fakeAuthenticator().authenticator,
      pools,
    });
    const second = createTaurusDbClient({
      endpoint: taurusDb.url,
      authenticator: fakeAuthenticator().authenticator,
      pools,
    });
    try {
      for (const upgrader of [first, second, first, second, first]) {
        expect((await upgrader.upgradeProxyVersion(CALL)).status).toBe(200);
      }
      expect(taurusDb.upgradeRequests()).toBe(5);
      expect(taurusDb.connections()).toBe(1);
    } finally {
      await pools.close();
    }
  });

  it('keeps the connection after error answers too', async () => {
    taurusDb.script(replies.alreadyLatest(), replies.serverError(), replies.badGatewayHtml());
    const upgrader = client();
    for (let i = 0; i < 4; i += 1) await upgrader.upgradeProxyVersion(CALL).catch(() => undefined);
    expect(taurusDb.upgradeRequests()).toBe(4);
    expect(taurusDb.connections()).toBe(1);
  });

  it('measures the duration with the injected clock', async () => {
    taurusDb.script(replies.throttled('2'));
    const response = await client().upgradeProxyVersion(CALL);
    expect(response.durationMs).toBe(2_000);
  });

  it('scrubs the credentials from upstream text that echoes them', async () => {
    taurusDb.script(replies.error(400, 'DBS.200001', `Parameter error. token ${TOKEN} rejected`));
    const error = (await failureOf(client().upgradeProxyVersion(CALL))) as UpstreamError;
    expect(error.errorMsg).toBe('Parameter error. token [redacted] rejected');
    expect(describeError(error)).not.toContain(TOKEN);
  });

  it('scrubs the items of a 200 of the token and of any 12-character piece of it', async () => {
    taurusDb.script(
      replies.items(
        { workflow_id: 'w-1', state: 'REJECT', error_message: `token ${TOKEN} has no right` },
        { workflow_id: 'w-2', state: 'REJECT', error_message: `token …${TOKEN.slice(4, 24)}… refused` },
      ),
      replies.error(400, `DBS.${TOKEN.slice(-12)}`, `near ${TOKEN.slice(0, 11)} only`),
    );
    const response = await client().upgradeProxyVersion(CALL);
    const error = (await failureOf(client().upgradeProxyVersion(CALL))) as UpstreamError;

    expect(response.items.map((item) => item.error_message)).toEqual([
      'token [redacted] has no right',
      'token …[redacted]… refused',
    ]);
    // An 11-character run is left: too short to tell from ordinary text.
    expect([error.errorCode, error.errorMsg]).toEqual(['DBS.[redacted]', `near ${TOKEN.slice(0, 11)} only`]);
  });

  it('scrubs what the authenticator redacts too: credentials it holds that were not sent', async () => {
    const password = 'Pa55w0rd-held-not-sent-77';
    const auth = fakeAuthenticator();
    const authenticator = { ...auth.authenticator, redact: createScrubber([password]) };
    taurusDb.script(replies.reject(`user with password ${password.slice(3, 18)} is locked`));
    const response = await client({ authenticator }).upgradeProxyVersion(CALL);
    expect(response.items[0]?.error_message).toBe('user with password [redacted] is locked');
  });
});

describe('no token in any error', () => {
  it('holds for every failure kind, cause chains included', async () => {
    const taurusDb = await startTaurusDbStandIn({ acceptedTokens: [TOKEN] });
    const resetting = await startResettingServer();
    const port = await closedPort();
    const time = fakeTime();
    const make = (endpoint: string, tokens: string[] = [TOKEN], timeouts = {}) =>
      createTaurusDbClient({
        endpoint,
        authenticator: fakeAuthenticator(tokens).authenticator,
        sleep: time.sleep,
        now: time.now,
        timeouts,
      });
    try {
      taurusDb.script(
        replies.serverError(),
        replies.badGatewayHtml(),
        replies.malformed200(),
        replies.slow(2_000),
        replies.reset(),
      );
      const errors = [
        await failureOf(make(taurusDb.url).upgradeProxyVersion(CALL)),
        await failureOf(make(taurusDb.url).upgradeProxyVersion(CALL)),
        await failureOf(make(taurusDb.url).upgradeProxyVersion(CALL)),
        await failureOf(make(taurusDb.url, [TOKEN], { headersMs: 200 }).upgradeProxyVersion(CALL)),
        await failureOf(make(taurusDb.url).upgradeProxyVersion(CALL)),
        await failureOf(make(taurusDb.url, [TOKEN_2, TOKEN_2]).upgradeProxyVersion(CALL)),
        await failureOf(make(`http://127.0.0.1:${port}`).upgradeProxyVersion(CALL)),
        await failureOf(make(`http://127.0.0.1:${resetting.port}`).upgradeProxyVersion(CALL)),
      ];
      expect(errors.map((error) => (error as Error).name)).toEqual([
        'UpstreamError',
        'UpstreamError',
        'UpstreamError',
        'UpstreamError',
        'UpstreamError',
        'AuthenticationError',
        'UpstreamError',
        'UpstreamError',
      ]);
      for (const error of errors) {
        const text = describeError(error);
        expect(text).not.toContain(TOKEN);
        expect(text).not.toContain(TOKEN_2);
      }
    } finally {
      await resetting.close();
      await taurusDb.close();
    }
  });
});
