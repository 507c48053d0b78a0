import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthenticationError, UpstreamError, ValidationError } from '../../../lib/errors.ts';
import type {
  OutgoingRequest,
  RequestAuthenticator,
} from '../../../lib/huawei/auth/request-authenticator.ts';
import { createScrubber } from '../../../lib/huawei/auth/scrub.ts';
import {
  createTaurusDbClient,
  type TaurusDbClientOptions,
  type UpgradeCall,
} from '../../../lib/huawei/taurusdb-client.ts';
import { createConnectionPools } from '../../../lib/huawei/transport.ts';
import {
  closedPort,
  type ResettingServer,
  replies,
  startResettingServer,
  startTaurusDbStandIn,
  type TaurusDbStandIn,
} from '../../../stand-ins/taurusdb.ts';
import { describeError } from '../../support/secret-leaks.ts';

const TOKEN = 'MIIT-secret-token-value-0001';
const TOKEN_2 = 'MIIT-secret-token-value-0002';

const CALL: UpgradeCall = {
  projectId: '054e292c9880d4992f02c0196d3ea468',
  instanceId: '517ea793ab91438cbfcd9c4b1c958b1ein07',
  proxyId: '0f46fc46396e4fb19a0cb52f578e9511po01',
  sourceVersion: '2.23.12.000',
  targetVersion: '2.24.03.000',
};
const UPGRADE_PATH = `/v3/${CALL.projectId}/instances/${CALL.instanceId}/proxy/${CALL.proxyId}/upgrade-version`;

/** Hands out the tokens in order, moving to the next one on every invalidate, as a token cache would. */
function fakeAuthenticator(tokens: string[] = [TOKEN]) {
  const seen: OutgoingRequest[] = [];
  const invalidated: string[] = [];
  const handedOut: Array<Record<string, string>> = [];
  const refused: Array<Readonly<Record<string, string>> | undefined> = [];
  const authenticator: RequestAuthenticator = {
    async headersFor(request) {
      seen.push(request);
      const headers = { 'X-Auth-Token': tokens[Math.min(invalidated.length, tokens.length - 1)] ?? '' };
      handedOut.push(headers);
      return headers;
    },
    invalidate(projectId, rejected) {
      invalidated.push(projectId);
      refused.push(rejected);
    },
  };
  return { authenticator, seen, invalidated, handedOut, refused };
}

/** A clock that only moves when the client sleeps; the waits are recorded instead of slept. */
function fakeTime(start = Date.parse('2026-11-27T10:00:00.000Z')) {
  let clock = start;
  const waits: number[] = [];
  return {
    waits,
    now: () => clock,
    sleep: async (ms: number) => {
      waits.push(ms);
      clock += ms;
    },
  };
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error,
  );
}

describe('createTaurusDbClient against the TaurusDB stand-in', () => {
  let taurusDb: TaurusDbStandIn;
  let time: ReturnType<typeof fakeTime>;

  beforeEach(async () => {
    taurusDb = await startTaurusDbStandIn({ acceptedTokens: [TOKEN] });
    time = fakeTime();
  });
  afterEach(() => taurusDb.close());

  function client(overrides: Partial<TaurusDbClientOptions> = {}) {
    return createTaurusDbClient({
      endpoint: taurusDb.url,
      authenticator: fakeAuthenticator().authenticator,
      sleep: time.sleep,
      now: time.now,
      random: () => 0.5,
      ...overrides,
    });
  }

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

  describe('throttling (429 APIGW.0308)', () => {
    it('waits the Retry-After seconds, then succeeds', async () => {
      taurusDb.script(replies.throttled('2'), replies.accept());
      const response = await client().upgradeProxyVersion(CALL);
      expect(time.waits).toEqual([2_000]);
      expect(response).toMatchObject({ status: 200, attempts: 2 });
      expect(taurusDb.upgradeRequests()).toBe(2);
    });

    it('waits until a Retry-After HTTP-date, read against the injected clock', async () => {
      taurusDb.script(replies.throttled(new Date(time.now() + 3_000).toUTCString()));
      await client().upgradeProxyVersion(CALL);
      expect(time.waits).toEqual([3_000]);
    });

    it('falls back to jittered backoff without Retry-After, and gives up after maxAttempts', async () => {
      taurusDb.script(replies.throttled(), replies.throttled(), replies.throttled(), replies.accept());
      const error = await failureOf(client().upgradeProxyVersion(CALL));
      // random() = 0.5 of the 250 ms and 500 ms ceilings.
      expect(time.waits).toEqual([125, 250]);
      expect(error).toBeInstanceOf(UpstreamError);
      expect(error).toMatchObject({
        status: 429,
        statusCode: 429,
        errorCode: 'APIGW.0308',
        message:
          'TaurusDB answered 429 APIGW.0308: The throttling threshold has been reached (after 3 attempts)',
        // The gateway throttled every copy: a redelivery may try again.
        mayHaveRun: false,
      });
      expect(taurusDb.upgradeRequests()).toBe(3);
    });

    it('fails at once when the asked wait does not fit in the retry budget', async () => {
      taurusDb.script(replies.throttled('60'));
      const error = await failureOf(client({ timeouts: { retryBudgetMs: 8_000 } }).upgradeProxyVersion(CALL));
      expect(error).toMatchObject({ status: 429, errorCode: 'APIGW.0308' });
      expect(time.waits).toEqual([]);
      expect(taurusDb.upgradeRequests()).toBe(1);
    });

    it('counts the waits against the budget', async () => {
      taurusDb.script(replies.throttled('3'), replies.throttled('3'), replies.accept());
      const error = await failureOf(client({ timeouts: { retryBudgetMs: 5_000 } }).upgradeProxyVersion(CALL));
      expect(time.waits).toEqual([3_000]);
      expect(error).toMatchObject({ status: 429, message: expect.stringContaining('(after 2 attempts)') });
    });
  });

  describe('a 401', () => {
    it('drops the credentials once, asks again, and succeeds with the fresh token', async () => {
      taurusDb.acceptToken(TOKEN_2);
      const stale = 'MIIT-stale-token-value-0000';
      const auth = fakeAuthenticator([stale, TOKEN_2]);
      const response = await client({ authenticator: auth.authenticator }).upgradeProxyVersion(CALL);

      expect(auth.invalidated).toEqual([CALL.projectId]);
      // The very headers refused go back, so the authenticator can tell a refresh already made.
      expect(auth.refused).toEqual([auth.handedOut[0]]);
      expect(auth.refused[0]).toBe(auth.handedOut[0]);
      expect(taurusDb.requests.map((request) => request.headers['x-auth-token'])).toEqual([stale, TOKEN_2]);
      expect(taurusDb.upgrades.map((upgrade) => upgrade.token)).toEqual([TOKEN_2]);
      expect(response).toMatchObject({ status: 200, attempts: 2 });
      expect(time.waits).toEqual([]);
    });

    it('twice is an AuthenticationError that names the project and what the gateway said, not the token', async () => {
      const auth = fakeAuthenticator(['MIIT-refused-token-0001', 'MIIT-refused-token-0002']);
      const error = await failureOf(client({ authenticator: auth.authenticator }).upgradeProxyVersion(CALL));

      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as AuthenticationError).message).toBe(
        `TaurusDB refused the credentials for project ${CALL.projectId} (401 APIGW.0301: Incorrect IAM authentication information: decrypt token fail) even after they were fetched again; check the credentials secret`,
      );
      expect(auth.invalidated).toEqual([CALL.projectId]);
      expect(taurusDb.upgradeRequests()).toBe(2);
      expect(describeError(error)).not.toContain('MIIT-refused-token');
    });

    it('re-authenticates without using up a throttling attempt', async () => {
      taurusDb.acceptToken(TOKEN_2);
      taurusDb.script(replies.throttled('1'), replies.throttled('1'));
      const auth = fakeAuthenticator(['MIIT-stale-token-value-0000', TOKEN]);
      // stale → 401; TOKEN → 429, 429; then the third counted attempt succeeds.
      const response = await client({ authenticator: auth.authenticator }).upgradeProxyVersion(CALL);
      expect(response.attempts).toBe(4);
      expect(time.waits).toEqual([1_000, 1_000]);
    });
  });

  describe('a 401 whose refresh fails', () => {
    it('waits for the refresh and fails with its error, sending nothing more', async () => {
      const refusal = new AuthenticationError('Huawei IAM failed to issue a token for project p (503)');
      let settled = false;
      const authenticator: RequestAuthenticator = {
        headersFor: async () => ({ 'x-auth-token': 'MIIT-refused-token-0009' }),
        invalidate: async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          settled = true;
          throw refusal;
        },
      };
      const error = await failureOf(client({ authenticator }).upgradeProxyVersion(CALL));
      expect(settled).toBe(true);
      expect(error).toBe(refusal);
      expect(taurusDb.upgradeRequests()).toBe(1);
    });
  });

  describe('failures after the request was sent, never retried', () => {
    it('a headers timeout says the upgrade may have started', async () => {
      taurusDb.script(replies.slow(2_000));
      const error = await failureOf(
        client({ timeouts: { connectMs: 500, headersMs: 200, bodyMs: 200 } }).upgradeProxyVersion(CALL),
      );
      expect(error).toBeInstanceOf(UpstreamError);
      expect(error).toMatchObject({
        status: undefined,
        statusCode: 502,
        message: 'TaurusDB did not answer within 200 ms; the upgrade may have started',
        mayHaveRun: true,
      });
      expect((error as UpstreamError).cause).toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
      expect(taurusDb.upgradeRequests()).toBe(1);
      expect(time.waits).toEqual([]);
    });

    it('a connection closed after the request was read', async () => {
      taurusDb.script(replies.reset());
      const error = await failureOf(client().upgradeProxyVersion(CALL));
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).message).toMatch(
        /^the connection to TaurusDB failed after the request was sent \(\w+\); the upgrade may have started$/,
      );
      expect(taurusDb.upgradeRequests()).toBe(1);
      expect(time.waits).toEqual([]);
    });

    it('an answer slower than the caller is abandoned, not retried', async () => {
      taurusDb.script(replies.slow(2_000));
      const caller = new AbortController();
      const pending = client().upgradeProxyVersion(CALL, caller.signal);
      for (let i = 0; i < 200 && taurusDb.upgradeRequests() === 0; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      caller.abort(new Error('the invocation is about to time out'));
      const error = await failureOf(pending);
      expect(error).toMatchObject({
        message: 'the TaurusDB call was abandoned by the caller; the upgrade may have started',
        status: undefined,
      });
      expect(taurusDb.upgradeRequests()).toBe(1);
    });
  });

  it('sends nothing when the caller has already given up', async () => {
    const caller = new AbortController();
    caller.abort(new Error('deadline passed'));
    const error = await failureOf(client().upgradeProxyVersion(CALL, caller.signal));
    expect(error).toMatchObject({
      message: 'the TaurusDB call was abandoned by the caller; the upgrade was not started',
    });
    expect(taurusDb.requests).toHaveLength(0);
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

describe('createTaurusDbClient when TaurusDB cannot be reached', () => {
  let resetting: ResettingServer | undefined;
  let agent: Agent | undefined;
  afterEach(async () => {
    await resetting?.close();
    await agent?.close();
    resetting = undefined;
    agent = undefined;
  });

  it('retries a refused connection with backoff, then fails naming the cause', async () => {
    const time = fakeTime();
    const port = await closedPort();
    const error = await failureOf(
      createTaurusDbClient({
        endpoint: `http://127.0.0.1:${port}`,
        authenticator: fakeAuthenticator().authenticator,
        sleep: time.sleep,
        now: time.now,
        random: () => 0.5,
      }).upgradeProxyVersion(CALL),
    );
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({
      status: undefined,
      statusCode: 502,
      message: `TaurusDB at http://127.0.0.1:${port} could not be reached (ECONNREFUSED) after 3 attempts; nothing was sent`,
      mayHaveRun: false,
    });
    expect((error as UpstreamError).cause).toMatchObject({ code: 'ECONNREFUSED' });
    expect(time.waits).toEqual([125, 250]);
  });

  it('stops retrying when the next wait would overrun the budget', async () => {
    const time = fakeTime();
    const port = await closedPort();
    const error = await failureOf(
      createTaurusDbClient({
        endpoint: `http://127.0.0.1:${port}`,
        authenticator: fakeAuthenticator().authenticator,
        sleep: time.sleep,
        now: time.now,
        random: () => 1,
        maxAttempts: 10,
        timeouts: { retryBudgetMs: 300 },
      }).upgradeProxyVersion(CALL),
    );
    // 250 ms fits in 300 ms; the next 500 ms would not.
    expect(time.waits).toEqual([250]);
    expect((error as UpstreamError).message).toContain('(ECONNREFUSED) after 2 attempts');
  });

  it('retries a reset during the TLS handshake: no request byte was written', async () => {
    resetting = await startResettingServer();
    const time = fakeTime();
    const error = await failureOf(
      createTaurusDbClient({
        endpoint: `https://127.0.0.1:${resetting.port}`,
        authenticator: fakeAuthenticator().authenticator,
        sleep: time.sleep,
        now: time.now,
      }).upgradeProxyVersion(CALL),
    );
    expect(resetting.connections()).toBe(3);
    // TLS records start with 0x16 (handshake); no HTTP ever reached the server.
    expect(resetting.received.map((chunk) => chunk[0])).toEqual([0x16, 0x16, 0x16]);
    expect(Buffer.concat(resetting.received).toString('latin1')).not.toContain('upgrade-version');
    expect(error).toMatchObject({
      message: `TaurusDB at https://127.0.0.1:${resetting.port} could not be reached (ECONNRESET) after 3 attempts; nothing was sent`,
    });
  });

  it('does not retry a reset that comes after the request was written', async () => {
    resetting = await startResettingServer();
    const time = fakeTime();
    agent = new Agent();
    const error = await failureOf(
      createTaurusDbClient({
        endpoint: `http://127.0.0.1:${resetting.port}`,
        authenticator: fakeAuthenticator().authenticator,
        dispatcher: agent,
        sleep: time.sleep,
        now: time.now,
      }).upgradeProxyVersion(CALL),
    );
    expect(resetting.connections()).toBe(1);
    expect(resetting.received[0]?.toString('latin1')).toMatch(
      /^POST \/v3\/.*\/upgrade-version HTTP\/1\.1\r\n/,
    );
    expect((error as UpstreamError).message).toMatch(
      /^the connection to TaurusDB failed after the request was sent \(\w+\); the upgrade may have started$/,
    );
    expect(time.waits).toEqual([]);
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
