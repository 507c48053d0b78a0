import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leakedSecrets } from '../support/secret-leaks.ts';
import {
  AKSK_KEYS,
  CREDENTIALS_SECRET_ID,
  type HttpAnswer,
  sample,
  signedHttpEvent,
  startWorld,
  type World,
} from '../support/world.ts';

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const SDK_DATE = /^\d{8}T\d{6}Z$/;
const WRONG_SECRET_KEY = 'sk-wrong-Hd8Kq3Zx6Lm1Vr9Tb4Nw7Pc2';

function post(world: World): Promise<HttpAnswer> {
  return world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', REQUEST));
}

/** Every handler log line as one text; the world's close checks it too, this makes the check visible. */
function expectNoSecretLogged(world: World, ...extra: string[]) {
  const logged = world.logLines().map((line) => (typeof line === 'string' ? line : JSON.stringify(line)));
  expect(logged.length).toBeGreaterThan(0);
  expect(leakedSecrets(logged.join('\n'), [AKSK_KEYS.secretKey, AKSK_KEYS.securityToken, ...extra])).toEqual(
    [],
  );
}

const refusedTwice = (detail: string, hint: string) =>
  `TaurusDB refused the credentials for project ${REQUEST.project_id} (401 APIGW.0301: Incorrect IAM authentication information: ${detail}) even after they were fetched again; ${hint}`;

describe('the upgrade handler with AK/SK credentials', () => {
  describe('a permanent key pair', () => {
    let world: World;
    let answer: HttpAnswer;

    beforeAll(async () => {
      world = await startWorld({ credentials: 'aksk' });
      answer = await post(world);
    });
    afterAll(() => world.close());

    it('reaches TaurusDB signed, with no token: the version read, then the upgrade', () => {
      const [read, upgrade] = world.taurusDb.requests;
      expect(world.taurusDb.requests.map((received) => received.method)).toEqual(['GET', 'POST']);
      for (const received of [read, upgrade]) {
        expect(received?.headers.authorization).toMatch(
          new RegExp(
            `^SDK-HMAC-SHA256 Access=${AKSK_KEYS.accessKey}, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`,
          ),
        );
        expect(received?.headers['x-sdk-date']).toMatch(SDK_DATE);
        expect(received?.headers['x-project-id']).toBe(REQUEST.project_id);
        expect(received?.headers['x-auth-token']).toBeUndefined();
        expect(received?.headers['x-security-token']).toBeUndefined();
      }
      expect(read?.headers.authorization).toContain('SignedHeaders=accept;host;x-project-id;x-sdk-date,');
      expect(upgrade?.headers.authorization).toContain(
        'SignedHeaders=accept;content-type;host;x-language;x-project-id;x-sdk-date,',
      );
      expect(world.iam.tokenRequests()).toBe(0);
    });

    it('is accepted by the signature check and answered ACCEPT', () => {
      expect(world.taurusDb.upgrades).toMatchObject([
        {
          token: `aksk:${AKSK_KEYS.accessKey}`,
          projectId: REQUEST.project_id,
          instanceId: REQUEST.instance_id,
          proxyId: REQUEST.proxy_id,
        },
      ]);
      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes).toMatchObject([{ outcome: 'accepted' }]);
      expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual(['Proxy Upgrade Accepted']);
    });

    it('logs no secret key', () => {
      expectNoSecretLogged(world);
    });
  });

  it('sends and signs the security token of temporary credentials', async () => {
    const world = await startWorld({ credentials: 'aksk', akSkSecurityToken: true });
    try {
      const answer = await post(world);
      expect(answer.statusCode).toBe(200);
      const [received] = world.taurusDb.requests;
      expect(received?.headers['x-security-token']).toBe(AKSK_KEYS.securityToken);
      expect(received?.headers.authorization).toContain(';x-sdk-date;x-security-token,');
      expect(world.taurusDb.upgrades).toMatchObject([{ token: `aksk:${AKSK_KEYS.accessKey}` }]);
      expectNoSecretLogged(world);
    } finally {
      await world.close();
    }
  });

  it('fails with 502 after two refusals of a wrong secret key, reading the secret again in between', async () => {
    const world = await startWorld({ credentials: 'aksk' });
    world.secrets.push(WRONG_SECRET_KEY);
    try {
      world.secretsManager.put(CREDENTIALS_SECRET_ID, {
        access_key: AKSK_KEYS.accessKey,
        secret_key: WRONG_SECRET_KEY,
      });
      const answer = await post(world);

      expect(answer.statusCode).toBe(502);
      const message = refusedTwice('verify aksk signature fail', 'check the credentials secret');
      expect(answer.json.outcomes).toMatchObject([
        { outcome: 'failed', error: { error_code: 'AUTHENTICATION_FAILED', error_msg: message } },
      ]);
      // The version read, which goes first, is refused twice; no upgrade is attempted after that.
      expect(world.taurusDb.reads('version')).toBe(2);
      expect(world.taurusDb.upgradeRequests()).toBe(0);
      expect(world.secretsManager.reads(CREDENTIALS_SECRET_ID)).toBe(2);
      expect(world.eventBridge.events()).toMatchObject([
        { DetailType: 'Proxy Upgrade Failed', Detail: { error: { error_code: 'AUTHENTICATION_FAILED' } } },
      ]);
      expectNoSecretLogged(world, WRONG_SECRET_KEY);
    } finally {
      await world.close();
    }
  });

  it.each([
    ['ahead', 16 * 60_000],
    ['behind', -16 * 60_000],
  ])('says to check the clock when the gateway clock is 16 minutes %s', async (_direction, skewMs) => {
    const world = await startWorld({ credentials: 'aksk', akSkClockSkewMs: skewMs });
    try {
      const answer = await post(world);

      expect(answer.statusCode).toBe(502);
      expect(answer.json.outcomes[0].error).toEqual({
        error_code: 'AUTHENTICATION_FAILED',
        error_msg: refusedTwice(
          'X-Sdk-Date is more than 15 minutes off',
          'check the credentials secret and the clock',
        ),
      });
      expect(world.taurusDb.reads('version')).toBe(2);
      expect(world.taurusDb.upgradeRequests()).toBe(0);
      expect(world.taurusDb.requests.map((received) => received.headers['x-sdk-date'])).toEqual([
        expect.stringMatching(SDK_DATE),
        expect.stringMatching(SDK_DATE),
      ]);
      expectNoSecretLogged(world);
    } finally {
      await world.close();
    }
  });
});
