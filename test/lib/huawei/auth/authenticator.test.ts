import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSecretReader } from '../../../../lib/aws/secrets.ts';
import { AuthenticationError, SecretError } from '../../../../lib/errors.ts';
import {
  createTokenAuthenticator,
  type TokenAuthenticatorOptions,
} from '../../../../lib/huawei/auth/authenticator.ts';
import type { OutgoingRequest } from '../../../../lib/huawei/auth/request-authenticator.ts';
import { createTaurusDbClient } from '../../../../lib/huawei/taurusdb-client.ts';
import {
  type AkSkVerdict,
  sendAkSkRejection,
  verifyAkSkRequest,
} from '../../../../stand-ins/aksk-verifier.ts';
import { type IamStandIn, type IamUser, startIamStandIn } from '../../../../stand-ins/iam.ts';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../../../stand-ins/loopback-server.ts';
import {
  type SecretsManagerStandIn,
  startSecretsManagerStandIn,
} from '../../../../stand-ins/secrets-manager.ts';
import { replies, startTaurusDbStandIn } from '../../../../stand-ins/taurusdb.ts';
import { captureOutput, describeError, leakedSecrets } from '../../../support/secret-leaks.ts';

const PROJECT_A = '054e292c9880d4992f02c0196d3ea468';
const PROJECT_B = '1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6';
const HOUR = 60 * 60_000;
const MARGIN = 5 * 60_000;

const deployer: IamUser = {
  domainName: 'acme-domain',
  userName: 'deployer-user',
  password: 'Pa55w0rd-first-7f3c',
};
const passwordSecret = (user: IamUser) => ({
  domain_name: user.domainName,
  user_name: user.userName,
  password: user.password,
});

function upgradeRequest(projectId: string, origin = 'http://127.0.0.1'): OutgoingRequest {
  return {
    method: 'POST',
    url: new URL(`${origin}/v3/${projectId}/instances/i1/proxy/p1/upgrade-version`),
    headers: { 'content-type': 'application/json' },
    body: '{"source_version":"2.23.12.000","target_version":"2.24.03.000"}',
    projectId,
  };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error as Error,
  );
}

describe('createTokenAuthenticator', () => {
  let secretsManager: SecretsManagerStandIn;
  let iam: IamStandIn;
  let clock: number;
  let secretCounter = 0;
  let secretId: string;

  beforeAll(async () => {
    secretsManager = await startSecretsManagerStandIn();
    iam = await startIamStandIn({ now: () => clock });
  });
  afterAll(async () => {
    await iam.close();
    await secretsManager.close();
  });
  beforeEach(() => {
    clock = Date.parse('2026-11-27T10:00:00.000Z');
    iam.users = [{ ...deployer }];
    iam.tokenLifetimeMs = 24 * HOUR;
    iam.requests.length = 0;
    iam.issuedTokens.length = 0;
    secretCounter += 1;
    secretId = `huawei/credentials-${secretCounter}`;
  });

  function authenticator(overrides: Partial<TokenAuthenticatorOptions> = {}) {
    return createTokenAuthenticator({
      secretId,
      secrets: createSecretReader({ client: secretsManager.client() }),
      iamEndpoint: iam.url,
      now: () => clock,
      ...overrides,
    });
  }

  it('uses the token form as is, without asking IAM', async () => {
    secretsManager.put(secretId, { token: 'MIIT-operator-rotated-1' });
    const tokens = authenticator();
    expect(await tokens.headersFor(upgradeRequest(PROJECT_A))).toEqual({
      'x-auth-token': 'MIIT-operator-rotated-1',
    });
    expect(await tokens.headersFor(upgradeRequest(PROJECT_B))).toEqual({
      'x-auth-token': 'MIIT-operator-rotated-1',
    });
    expect(iam.tokenRequests()).toBe(0);
    expect(secretsManager.reads(secretId)).toBe(1);
  });

  it('exchanges the password once per project and reuses the token', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    const tokens = authenticator();

    const forA = await Promise.all(
      Array.from({ length: 100 }, () => tokens.headersFor(upgradeRequest(PROJECT_A))),
    );
    const forB = await tokens.headersFor(upgradeRequest(PROJECT_B));
    for (let i = 0; i < 100; i += 1) await tokens.getToken(PROJECT_A);

    expect(iam.tokenRequests(PROJECT_A)).toBe(1);
    expect(iam.tokenRequests(PROJECT_B)).toBe(1);
    const [issuedA, issuedB] = iam.issuedTokens;
    expect(issuedA?.projectId).toBe(PROJECT_A);
    expect(issuedB?.projectId).toBe(PROJECT_B);
    expect(new Set(forA.map((headers) => headers['x-auth-token']))).toEqual(new Set([issuedA?.token]));
    expect(forB).toEqual({ 'x-auth-token': issuedB?.token });
    expect(issuedA?.token).not.toBe(issuedB?.token);
  });

  it('shares one IAM request among concurrent first callers', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    const tokens = authenticator();
    const release = iam.hold();
    const pending = Array.from({ length: 20 }, () => tokens.getToken(PROJECT_A));
    try {
      // Bounded: once the first exchange is held at IAM, every caller has come while it was in flight.
      for (let tick = 0; tick < 10_000 && iam.tokenRequests() === 0; tick += 1) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      release();
    }
    const values = await Promise.all(pending);

    expect(iam.tokenRequests()).toBe(1);
    expect(new Set(values)).toEqual(new Set([iam.issuedTokens[0]?.token]));
  });

  /** Bounded: lets the event loop run until `done` holds (or gives up; the assertions then fail). */
  async function turnsUntil(done: () => boolean) {
    for (let tick = 0; tick < 10_000 && !done(); tick += 1) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it('prepare starts the first exchange without waiting, and the first request joins it', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    const tokens = authenticator();
    const release = iam.hold();
    let headers: Promise<Record<string, string>>;
    try {
      tokens.prepare(PROJECT_A);
      await turnsUntil(() => iam.tokenRequests() === 1);
      expect(iam.tokenRequests(PROJECT_A)).toBe(1);
      headers = tokens.headersFor(upgradeRequest(PROJECT_A));
    } finally {
      release();
    }
    expect(await headers).toEqual({ 'x-auth-token': iam.issuedTokens[0]?.token });
    expect(iam.tokenRequests()).toBe(1);
    expect(secretsManager.reads(secretId)).toBe(1);
  });

  it('prepare leaves a project that has a token alone, even one due for replacement', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    const tokens = authenticator();
    await tokens.getToken(PROJECT_A);
    clock += 24 * HOUR - MARGIN;
    tokens.prepare(PROJECT_A);
    // Anything prepare started would reach the stand-ins within this bounded wait.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(iam.tokenRequests()).toBe(1);
    expect(secretsManager.reads(secretId)).toBe(1);
  });

  it('a failed prepare is not kept: the first request asks IAM again and gets its token', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    const tokens = authenticator();
    iam.failNext(1, 503);
    tokens.prepare(PROJECT_A);
    await turnsUntil(() => iam.tokenRequests() === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await tokens.getToken(PROJECT_A)).toBe(iam.issuedTokens[0]?.token);
    expect(iam.tokenRequests()).toBe(2);
  });

  it('fetches a new token once the clock reaches expires_at minus the margin', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    const tokens = authenticator();
    const first = await tokens.getToken(PROJECT_A);
    const expiresAt = Date.parse(iam.issuedTokens[0]?.expiresAt ?? '');

    clock = expiresAt - MARGIN - 1;
    expect(await tokens.getToken(PROJECT_A)).toBe(first);
    expect(iam.tokenRequests()).toBe(1);

    clock = expiresAt - MARGIN;
    const second = await tokens.getToken(PROJECT_A);
    expect(iam.tokenRequests()).toBe(2);
    expect(second).toBe(iam.issuedTokens[1]?.token);
    expect(second).not.toBe(first);
  });

  it('honours a custom margin and keeps a short-lived token for half its life', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    const start = clock;
    const custom = authenticator({ refreshMarginMs: HOUR });
    await custom.getToken(PROJECT_A);
    clock = start + 23 * HOUR - 1;
    await custom.getToken(PROJECT_A);
    expect(iam.tokenRequests()).toBe(1);
    clock = start + 23 * HOUR;
    await custom.getToken(PROJECT_A);
    expect(iam.tokenRequests()).toBe(2);

    clock = start;
    iam.tokenLifetimeMs = 2 * 60_000;
    const shortLived = authenticator();
    await shortLived.getToken(PROJECT_B);
    clock = start + 60_000 - 1;
    await shortLived.getToken(PROJECT_B);
    expect(iam.tokenRequests(PROJECT_B)).toBe(1);
    clock = start + 60_000;
    await shortLived.getToken(PROJECT_B);
    expect(iam.tokenRequests(PROJECT_B)).toBe(2);
  });

  it('does not trust an expires_at beyond the 24 hour token life', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    iam.tokenLifetimeMs = 30 * 24 * HOUR;
    const start = clock;
    const tokens = authenticator();
    await tokens.getToken(PROJECT_A);
    clock = start + 24 * HOUR - 1;
    await tokens.getToken(PROJECT_A);
    expect(iam.tokenRequests()).toBe(1);
    clock = start + 24 * HOUR;
    await tokens.getToken(PROJECT_A);
    expect(iam.tokenRequests()).toBe(2);
  });

  it('after invalidate re-reads the secret and exchanges the rotated password', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    const tokens = authenticator();
    const before = await tokens.getToken(PROJECT_A);

    const rotated = { ...deployer, password: 'Pa55w0rd-second-91ab' };
    iam.users = [rotated];
    secretsManager.put(secretId, passwordSecret(rotated));
    expect(await tokens.getToken(PROJECT_A)).toBe(before);
    expect(secretsManager.reads(secretId)).toBe(1);

    tokens.invalidate(PROJECT_A);
    const after = await tokens.getToken(PROJECT_A);

    expect(secretsManager.reads(secretId)).toBe(2);
    expect(iam.tokenRequests(PROJECT_A)).toBe(2);
    expect(JSON.parse(iam.requests[1]?.body ?? '').auth.identity.password.user.password).toBe(
      rotated.password,
    );
    expect(after).toBe(iam.issuedTokens[1]?.token);
    expect(after).not.toBe(before);
  });

  it('after invalidate picks up a token rotated in the secret', async () => {
    secretsManager.put(secretId, { token: 'MIIT-operator-old' });
    const tokens = authenticator();
    expect(await tokens.getToken(PROJECT_A)).toBe('MIIT-operator-old');
    secretsManager.put(secretId, { token: 'MIIT-operator-new' });
    tokens.invalidate(PROJECT_A);
    expect(await tokens.getToken(PROJECT_A)).toBe('MIIT-operator-new');
    expect(secretsManager.reads(secretId)).toBe(2);
  });

  it('reports refused credentials and tries again on the next call', async () => {
    const typo = { ...deployer, password: 'Pa55w0rd-typo-0000' };
    secretsManager.put(secretId, passwordSecret(typo));
    const tokens = authenticator();

    const error = await failure(tokens.getToken(PROJECT_A));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error.message).toBe(
      `Huawei IAM refused the credentials for project ${PROJECT_A} (401 Unauthorized)`,
    );
    await expect(tokens.getToken(PROJECT_A)).rejects.toBeInstanceOf(AuthenticationError);
    expect(iam.tokenRequests()).toBe(2);

    iam.users = [typo];
    expect(await tokens.getToken(PROJECT_A)).toBe(iam.issuedTokens[0]?.token);
    expect(iam.tokenRequests()).toBe(3);
  });

  it('does not cache an IAM outage', async () => {
    secretsManager.put(secretId, passwordSecret(deployer));
    const tokens = authenticator();
    iam.failNext(1, 503);
    await expect(tokens.getToken(PROJECT_A)).rejects.toThrow(
      `Huawei IAM failed to issue a token for project ${PROJECT_A} (503 Internal Server Error)`,
    );
    expect(await tokens.getToken(PROJECT_A)).toBe(iam.issuedTokens[0]?.token);
    expect(iam.tokenRequests()).toBe(2);
  });

  it.each([
    [
      'missing',
      undefined,
      /^secret huawei\/credentials-\d+ could not be read from Secrets Manager \(ResourceNotFoundException\)$/,
    ],
    ['not JSON', 'password=Pa55w0rd-first-7f3c', /^secret huawei\/credentials-\d+ is not JSON$/],
    [
      'of neither form',
      { domain_name: 'acme-domain', password: 'Pa55w0rd-first-7f3c' },
      /^secret huawei\/credentials-\d+ has none of the expected forms \(missing or unusable: user_name\); .*\{"token"\}.*\{"domain_name","user_name","password"\}.*\{"access_key","secret_key","security_token"\?\}/,
    ],
  ])('reports a secret that is %s with its id, without asking IAM', async (_label, value, message) => {
    if (value !== undefined) secretsManager.put(secretId, value);
    const error = await failure(authenticator().getToken(PROJECT_A));
    expect(error).toBeInstanceOf(SecretError);
    expect(error.message).toMatch(message);
    expect(error.message).toContain(secretId);
    expect(iam.tokenRequests()).toBe(0);
  });

  it('never shows a password or token in an error, its causes or the console', async () => {
    const output = captureOutput();
    const errors: unknown[] = [];
    const collect = (promise: Promise<unknown>) => promise.catch((error: unknown) => errors.push(error));
    const typo = { ...deployer, password: 'Pa55w0rd-leak-check-3e1d' };

    secretsManager.put(secretId, passwordSecret(typo));
    const tokens = authenticator();
    await collect(tokens.getToken(PROJECT_A));
    iam.users = [typo];
    iam.failNext(1, 500);
    await collect(tokens.getToken(PROJECT_A));
    const issued = await tokens.getToken(PROJECT_A);

    const unreachable = createTokenAuthenticator({
      secretId,
      secrets: createSecretReader({ client: secretsManager.client() }),
      iamEndpoint: 'http://127.0.0.1:1',
    });
    await collect(unreachable.getToken(PROJECT_B));

    const badSecretId = `${secretId}-bad`;
    const plain = createTokenAuthenticator({
      secretId: badSecretId,
      secrets: createSecretReader({ client: secretsManager.client() }),
      iamEndpoint: iam.url,
    });
    for (const value of [
      `{"password":"${typo.password}"`,
      { token: `MIIT with space ${typo.password}` },
      { token: 'MIIT-both-forms-5a5a', ...passwordSecret(typo) },
    ]) {
      secretsManager.put(badSecretId, value);
      plain.invalidate(PROJECT_A);
      await collect(plain.getToken(PROJECT_A));
    }

    expect(errors).toHaveLength(6);
    const secrets = [
      typo.password,
      issued,
      'MIIT-both-forms-5a5a',
      ...iam.issuedTokens.map((token) => token.token),
    ];
    for (const error of errors) expect(leakedSecrets(describeError(error), secrets)).toEqual([]);
    expect(leakedSecrets(output.text(), secrets)).toEqual([]);
  });

  describe('after a 401: refresh once, keep what works', () => {
    const quiet = { warn: () => undefined };

    it('keeps the old credentials when the secret cannot be read again, and the retried upgrade runs', async () => {
      const taurusDb = await startTaurusDbStandIn({ acceptedTokens: ['MIIT-kept-through-outage-01'] });
      try {
        secretsManager.put(secretId, { token: 'MIIT-kept-through-outage-01' });
        const secrets = createSecretReader({ client: secretsManager.client(), ...quiet });
        const tokens = authenticator({ secrets });
        const client = createTaurusDbClient({ endpoint: taurusDb.url, authenticator: tokens });
        await tokens.getToken(PROJECT_A);

        // One spurious 401 while Secrets Manager is down: the re-read fails, the token read before stays.
        taurusDb.script(replies.unauthorized());
        secretsManager.failing = true;
        const response = await client
          .upgradeProxyVersion({
            projectId: PROJECT_A,
            instanceId: 'i1',
            proxyId: 'p1',
            sourceVersion: '2.23.12.000',
            targetVersion: '2.24.03.000',
          })
          .finally(() => {
            secretsManager.failing = false;
          });

        expect(response).toMatchObject({ status: 200, attempts: 2 });
        expect(taurusDb.upgrades.map((upgrade) => upgrade.token)).toEqual([
          'MIIT-kept-through-outage-01',
          'MIIT-kept-through-outage-01',
        ]);
        expect(secretsManager.reads(secretId)).toBe(2);
        expect(await tokens.getToken(PROJECT_B)).toBe('MIIT-kept-through-outage-01');
      } finally {
        await taurusDb.close();
      }
    });

    it('exchanges the kept password for a new token when the secret cannot be read again', async () => {
      secretsManager.put(secretId, passwordSecret(deployer));
      const tokens = authenticator({
        secrets: createSecretReader({ client: secretsManager.client(), ...quiet }),
      });
      const refused = await tokens.headersFor(upgradeRequest(PROJECT_A));

      secretsManager.failing = true;
      let retried: Record<string, string>;
      try {
        await tokens.invalidate(PROJECT_A, refused);
        retried = await tokens.headersFor(upgradeRequest(PROJECT_A));
      } finally {
        secretsManager.failing = false;
      }

      expect(retried).toEqual({ 'x-auth-token': iam.issuedTokens[1]?.token });
      expect(retried).not.toEqual(refused);
      expect(iam.tokenRequests(PROJECT_A)).toBe(2);
    });

    it('shares one secret re-read and one IAM exchange among concurrent 401s of a project', async () => {
      secretsManager.put(secretId, passwordSecret(deployer));
      const tokens = authenticator();
      const refused = await Promise.all(
        Array.from({ length: 20 }, () => tokens.headersFor(upgradeRequest(PROJECT_A))),
      );

      // Ten 401s at once, then ten more trickling in, each retried as the TaurusDB client does.
      const retry = async (headers: Record<string, string>) => {
        await tokens.invalidate(PROJECT_A, headers);
        return tokens.headersFor(upgradeRequest(PROJECT_A));
      };
      const retried = await Promise.all(refused.slice(0, 10).map(retry));
      for (const headers of refused.slice(10)) retried.push(await retry(headers));

      expect(secretsManager.reads(secretId)).toBe(2);
      expect(iam.tokenRequests(PROJECT_A)).toBe(2);
      expect(new Set(retried.map((headers) => headers['x-auth-token']))).toEqual(
        new Set([iam.issuedTokens[1]?.token]),
      );
    });

    it('only retries, refreshing nothing, for a 401 to a token older than the one already refreshed', async () => {
      secretsManager.put(secretId, passwordSecret(deployer));
      const tokens = authenticator();
      const first = await tokens.headersFor(upgradeRequest(PROJECT_A));
      await tokens.invalidate(PROJECT_A, first);
      const second = await tokens.headersFor(upgradeRequest(PROJECT_A));

      // A slow request sent with the first token comes back 401 after the refresh.
      await tokens.invalidate(PROJECT_A, first);
      expect(await tokens.headersFor(upgradeRequest(PROJECT_A))).toEqual(second);
      expect([secretsManager.reads(secretId), iam.tokenRequests()]).toEqual([2, 2]);

      // The refreshed token refused in turn is a new refusal: it is refreshed again.
      await tokens.invalidate(PROJECT_A, second);
      expect([secretsManager.reads(secretId), iam.tokenRequests()]).toEqual([3, 3]);
    });

    it("fails the refresh with IAM's error when IAM cannot issue the token the 401 asked for", async () => {
      secretsManager.put(secretId, passwordSecret(deployer));
      const tokens = authenticator();
      const refused = await tokens.headersFor(upgradeRequest(PROJECT_A));
      iam.failNext(1, 503);

      const error = await failure(Promise.resolve(tokens.invalidate(PROJECT_A, refused)));
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(error.message).toBe(
        `Huawei IAM failed to issue a token for project ${PROJECT_A} (503 Internal Server Error)`,
      );
      // IAM is back: the next 401 refreshes again.
      await tokens.invalidate(PROJECT_A, refused);
      expect(await tokens.getToken(PROJECT_A)).toBe(iam.issuedTokens[1]?.token);
    });

    it('keeps a token still valid in use when IAM fails to replace it near its end', async () => {
      const warnings: unknown[] = [];
      secretsManager.put(secretId, passwordSecret(deployer));
      const tokens = authenticator({ warn: (...args) => warnings.push(args) });
      const first = await tokens.getToken(PROJECT_A);
      const expiresAt = Date.parse(iam.issuedTokens[0]?.expiresAt ?? '');

      clock = expiresAt - MARGIN;
      iam.failNext(1, 503);
      expect(await tokens.getToken(PROJECT_A)).toBe(first);
      expect(warnings).toEqual([
        [
          'IAM could not issue a new token; the current one stays in use until it expires',
          {
            projectId: PROJECT_A,
            reason: `Huawei IAM failed to issue a token for project ${PROJECT_A} (503 Internal Server Error)`,
          },
        ],
      ]);

      clock = expiresAt;
      iam.failNext(1, 503);
      await expect(tokens.getToken(PROJECT_A)).rejects.toBeInstanceOf(AuthenticationError);
    });

    it('redacts the credentials it holds and the tokens it handed out, without exposing them', async () => {
      secretsManager.put(secretId, passwordSecret(deployer));
      const tokens = authenticator();
      const token = await tokens.getToken(PROJECT_A);
      const echoed = `bad password ${deployer.password.slice(2, 16)} for ${token}`;

      expect(tokens.redact(echoed)).toBe('bad password [redacted] for [redacted]');
      expect(leakedSecrets(describeError(tokens), [deployer.password, token])).toEqual([]);
    });
  });

  describe('the AK/SK form', () => {
    const KEYS = { access_key: 'HPUAPROVIDERAK01', secret_key: 'sk-provider-Xq2Lm9Zr4Vb7Nc1Tp' };
    const gatewayKeys = new Map<string, string>();
    const verdicts: AkSkVerdict[] = [];
    let gateway: LoopbackServer;

    beforeAll(async () => {
      // Huawei's gateway in front of TaurusDB, checking signatures with the independent verifier.
      gateway = await startLoopbackServer((received, response) => {
        const verdict = verifyAkSkRequest(received, {
          secretKeyFor: (accessKey) => gatewayKeys.get(accessKey),
          now: () => new Date(clock),
        });
        verdicts.push(verdict);
        if (verdict.ok) sendJson(response, 200, { access_key: verdict.accessKey });
        else sendAkSkRejection(response, verdict, `req-${verdicts.length}`);
      });
    });
    afterAll(() => gateway.close());
    beforeEach(() => {
      gatewayKeys.clear();
      gatewayKeys.set(KEYS.access_key, KEYS.secret_key);
      verdicts.length = 0;
      gateway.requests.length = 0;
    });

    /** Asks the authenticator for the headers of an upgrade request, then sends it to the gateway. */
    async function send(tokens: ReturnType<typeof authenticator>, projectId = PROJECT_A) {
      const outgoing = upgradeRequest(projectId, gateway.url);
      const added = await tokens.headersFor(outgoing);
      const response = await request(outgoing.url, {
        method: 'POST',
        headers: { ...outgoing.headers, ...added },
        body: outgoing.body,
      });
      return { added, status: response.statusCode, body: await response.body.json() };
    }

    it('signs each request with the key pair instead of sending a token, asking IAM nothing', async () => {
      secretsManager.put(secretId, KEYS);
      const tokens = authenticator();

      const first = await send(tokens, PROJECT_A);
      const second = await send(tokens, PROJECT_B);

      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      expect(verdicts).toEqual([
        { ok: true, accessKey: KEYS.access_key },
        { ok: true, accessKey: KEYS.access_key },
      ]);
      expect(Object.keys(first.added).sort()).toEqual(['authorization', 'x-project-id', 'x-sdk-date']);
      expect(first.added['x-sdk-date']).toBe('20261127T100000Z');
      const [atA, atB] = gateway.requests;
      expect(atA?.headers['x-project-id']).toBe(PROJECT_A);
      expect(atB?.headers['x-project-id']).toBe(PROJECT_B);
      expect(atA?.headers.authorization).toMatch(
        /^SDK-HMAC-SHA256 Access=HPUAPROVIDERAK01, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=[0-9a-f]{64}$/,
      );
      expect(atA?.headers['x-auth-token']).toBeUndefined();
      expect(iam.tokenRequests()).toBe(0);
      expect(secretsManager.reads(secretId)).toBe(1);
    });

    it('dates each signature by the clock it was given', async () => {
      secretsManager.put(secretId, KEYS);
      const tokens = authenticator();
      clock = Date.parse('2027-03-04T05:06:07.890Z');
      const { added, status } = await send(tokens);
      expect(added['x-sdk-date']).toBe('20270304T050607Z');
      expect(status).toBe(200);
    });

    it('after invalidate picks up a rotated key pair, with its security token', async () => {
      secretsManager.put(secretId, { access_key: ' HPUAOLDKEY01 ', secret_key: 'sk-old-0123456789\n' });
      gatewayKeys.clear();
      gatewayKeys.set('HPUAOLDKEY01', 'sk-old-0123456789');
      const tokens = authenticator();
      expect((await send(tokens)).body).toEqual({ access_key: 'HPUAOLDKEY01' });

      // The operator replaces the key: Huawei forgets the old one, the secret holds the new one.
      secretsManager.put(secretId, {
        access_key: 'HPUANEWKEY02',
        secret_key: 'sk-new-9876543210',
        security_token: 'stok-new-1',
      });
      gatewayKeys.clear();
      gatewayKeys.set('HPUANEWKEY02', 'sk-new-9876543210');
      const stale = await send(tokens);
      expect(stale.status).toBe(401);
      expect(stale.body).toMatchObject({ error_code: 'APIGW.0301' });

      tokens.invalidate(PROJECT_A);
      const fresh = await send(tokens);
      expect(fresh).toMatchObject({ status: 200, body: { access_key: 'HPUANEWKEY02' } });
      expect(gateway.requests.at(-1)?.headers['x-security-token']).toBe('stok-new-1');
      expect(gateway.requests.at(-1)?.headers.authorization).toContain(
        'SignedHeaders=content-type;host;x-project-id;x-sdk-date;x-security-token,',
      );
      expect(secretsManager.reads(secretId)).toBe(2);
    });

    it('follows a secret rotated from one form to another, request by request', async () => {
      const tokens = authenticator();
      secretsManager.put(secretId, { token: 'MIIT-operator-form-1' });
      expect(await tokens.headersFor(upgradeRequest(PROJECT_A))).toEqual({
        'x-auth-token': 'MIIT-operator-form-1',
      });

      secretsManager.put(secretId, KEYS);
      tokens.invalidate(PROJECT_A);
      expect((await send(tokens)).status).toBe(200);

      secretsManager.put(secretId, passwordSecret(deployer));
      tokens.invalidate(PROJECT_A);
      expect(await tokens.headersFor(upgradeRequest(PROJECT_A))).toEqual({
        'x-auth-token': iam.issuedTokens[0]?.token,
      });

      // Project A still has a cached IAM token; the secret, read again, decides.
      secretsManager.put(secretId, KEYS);
      tokens.invalidate(PROJECT_B);
      expect((await send(tokens, PROJECT_A)).status).toBe(200);
      expect(secretsManager.reads(secretId)).toBe(4);
      expect(iam.tokenRequests()).toBe(1);
      expect(gateway.requests.map((received) => received.headers['x-auth-token'])).toEqual([
        undefined,
        undefined,
      ]);
    });

    it('keeps to the form of the cached secret until the secret is read again', async () => {
      secretsManager.put(secretId, passwordSecret(deployer));
      const tokens = authenticator();
      const before = await tokens.getToken(PROJECT_A);
      secretsManager.put(secretId, KEYS);
      // Still cached by the secret reader: the password form and its token remain in use.
      expect(await tokens.getToken(PROJECT_A)).toBe(before);
      expect(iam.tokenRequests()).toBe(1);
    });

    it('gives no token for the AK/SK form, and says why without a value', async () => {
      secretsManager.put(secretId, KEYS);
      const error = await failure(authenticator().getToken(PROJECT_A));
      expect(error).toBeInstanceOf(SecretError);
      expect(error.message).toBe(
        `secret ${secretId} holds an AK/SK pair, which signs requests and gives no token`,
      );
      expect(leakedSecrets(describeError(error), [KEYS.secret_key])).toEqual([]);
    });

    it('refuses an unusable key pair before anything is sent, naming the key but no value', async () => {
      const output = captureOutput();
      secretsManager.put(secretId, { access_key: 'HPUAPROVIDERAK01', secret_key: 'sk leak 0123' });
      const error = await failure(authenticator().headersFor(upgradeRequest(PROJECT_A, gateway.url)));
      expect(error).toBeInstanceOf(SecretError);
      expect(error.message).toMatch(
        new RegExp(
          `^secret ${secretId} has none of the expected forms \\(missing or unusable: secret_key\\); `,
        ),
      );
      expect(gateway.requests).toHaveLength(0);
      expect(leakedSecrets(`${describeError(error)}\n${output.text()}`, ['leak 0123'])).toEqual([]);
    });

    it('never shows the secret key or security token in headers, errors or the console', async () => {
      const output = captureOutput();
      const temporary = { ...KEYS, security_token: 'stok-provider-never-shown-77' };
      secretsManager.put(secretId, temporary);
      const tokens = authenticator();
      const signed = await send(tokens);
      gatewayKeys.clear();
      const refused = await send(tokens);
      expect(refused.status).toBe(401);

      expect(leakedSecrets(JSON.stringify([signed.added, refused.added]), [KEYS.secret_key])).toEqual([]);
      expect(leakedSecrets(output.text(), [KEYS.secret_key, temporary.security_token])).toEqual([]);
    });
  });
});
