import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthenticationError, UpstreamError } from '../../../lib/errors.ts';
import type { RequestAuthenticator } from '../../../lib/huawei/auth/request-authenticator.ts';
import { createTaurusDbClient, type TaurusDbClientOptions } from '../../../lib/huawei/taurusdb-client.ts';
import {
  closedPort,
  type ResettingServer,
  replies,
  startResettingServer,
  startTaurusDbStandIn,
  type TaurusDbStandIn,
} from '../../../stand-ins/taurusdb.ts';
import { describeError } from '../../support/secret-leaks.ts';
import { CALL, clientOn, failureOf, fakeAuthenticator, fakeTime, TOKEN, TOKEN_2 } from './taurusdb-fakes.ts';

// The retry loop (lib/huawei/taurusdb-retry.ts) and the re-authentication on a 401
// (lib/huawei/taurusdb-authorisation.ts), through the client.
describe('createTaurusDbClient retrying against the TaurusDB stand-in', () => {
  let taurusDb: TaurusDbStandIn;
  let time: ReturnType<typeof fakeTime>;

  beforeEach(async () => {
    taurusDb = await startTaurusDbStandIn({ acceptedTokens: [TOKEN] });
    time = fakeTime();
  });
  afterEach(() => taurusDb.close());

  const client = (overrides: Partial<TaurusDbClientOptions> = {}) => clientOn(taurusDb, time, overrides);

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
