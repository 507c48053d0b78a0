import { inspect } from 'node:util';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretReader } from '../../../lib/aws/secrets.ts';
import { SecretError, SignatureError } from '../../../lib/errors.ts';
import { createWebhookVerifier, type WebhookHeaders } from '../../../lib/http/webhook-verifier.ts';
import {
  type SecretsManagerStandIn,
  startSecretsManagerStandIn,
} from '../../../stand-ins/secrets-manager.ts';
import { generateWebhookKey, signWebhook, webhookSignature } from '../../support/webhook-signing.ts';

/** Unix seconds the tests' clock starts at. */
const NOW = 1_795_000_000;
const BODY = JSON.stringify({
  project_id: '054e292c9880d4992f02c0196d3ea468',
  instance_id: '517ea793ab91438cbfcd9c4b1c958b1ein07',
  proxy_id: '0f46fc46396e4fb19a0cb52f578e9511po01',
  source_version: '2.23.12.000',
  target_version: '2.24.03.000',
});

const reasons = {
  missingHeader:
    'missing webhook-id, webhook-timestamp or webhook-signature header (webhook-* or svix-* names)',
  outsideTolerance: 'webhook-timestamp is outside the 5 minute tolerance',
  malformedTimestamp: 'webhook-timestamp must be a whole number of unix seconds',
  noMatch: 'no signature matches',
  notConfigured: 'webhook signing key is not configured',
  unreadableKey: 'webhook signing key could not be read',
};

describe('createWebhookVerifier', () => {
  let secretsManager: SecretsManagerStandIn;
  let client: SecretsManagerClient;
  let secretCount = 0;

  beforeAll(async () => {
    secretsManager = await startSecretsManagerStandIn();
    client = secretsManager.client();
  });
  afterAll(async () => {
    client.destroy();
    await secretsManager.close();
  });

  /** A verifier on a fresh secret id (holding `secret` unless undefined) and a clock the test moves. */
  function setUp(secret: unknown, options: { keyRefreshIntervalMs?: number } = {}) {
    secretCount += 1;
    const secretId = `webhook-signing-${secretCount}`;
    if (secret !== undefined) secretsManager.put(secretId, secret);
    const clock = { ms: NOW * 1000 };
    const now = () => clock.ms;
    const secrets = createSecretReader({ client, now });
    const verifier = createWebhookVerifier({ secretId, secrets, now, ...options });
    return { secretId, clock, verifier };
  }

  async function signatureError(promise: Promise<unknown>): Promise<SignatureError> {
    const error = await promise.then(
      () => expect.unreachable('verification passed'),
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SignatureError);
    return error as SignatureError;
  }

  /** Everything an error would show when logged, cause chain and extra properties included. */
  const fullText = (error: unknown) => inspect(error, { depth: 10, showHidden: true });

  describe('signatures', () => {
    it('passes a valid signature and returns the webhook id and timestamp', async () => {
      const key = generateWebhookKey();
      const { verifier } = setUp({ key });
      const headers = signWebhook({ key, id: 'msg_2Lh9TQ', timestamp: NOW, body: BODY });

      await expect(verifier.verify(BODY, headers)).resolves.toEqual({
        webhookId: 'msg_2Lh9TQ',
        timestamp: new Date(NOW * 1000),
      });
    });

    it('signs the raw body as UTF-8, non-ASCII characters included', async () => {
      const key = generateWebhookKey();
      const { verifier } = setUp({ key });
      const body = '{"requested_by":"zoë@example.com","change_id":"CHG-✓-🚀"}';
      const headers = signWebhook({ key, id: 'msg_utf8', timestamp: NOW, body });

      await expect(verifier.verify(body, headers)).resolves.toMatchObject({ webhookId: 'msg_utf8' });
    });

    it('passes when one of several space-separated signatures is valid', async () => {
      const key = generateWebhookKey();
      const { verifier } = setUp({ key });
      const toSign = { key, id: 'msg_many', timestamp: NOW, body: BODY };
      const valid = webhookSignature(toSign);
      const other = webhookSignature({ ...toSign, key: generateWebhookKey() });
      const headers = {
        ...signWebhook(toSign),
        'webhook-signature': `${other} v1a,${valid.slice(3)} ${valid}`,
      };

      await expect(verifier.verify(BODY, headers)).resolves.toMatchObject({ webhookId: 'msg_many' });
    });

    it.each([
      ['a tampered body', (body: string) => body.replace('2.24.03.000', '2.24.04.000')],
      ['a re-serialised body', (body: string) => JSON.stringify(JSON.parse(body), null, 2)],
      ['a trailing newline', (body: string) => `${body}\n`],
    ])('refuses %s', async (_name, tamper) => {
      const key = generateWebhookKey();
      const { verifier } = setUp({ key });
      const headers = signWebhook({ key, id: 'msg_tamper', timestamp: NOW, body: BODY });

      const error = await signatureError(verifier.verify(tamper(BODY), headers));
      expect(error.message).toBe(reasons.noMatch);
      expect(error.statusCode).toBe(401);
      expect(error.expose).toBe(true);
    });

    it('refuses a signature made with another key, without showing the key or the expected signature', async () => {
      const key = generateWebhookKey();
      const { verifier } = setUp({ key });
      const toSign = { id: 'msg_wrong_key', timestamp: NOW, body: BODY };
      const headers = signWebhook({ ...toSign, key: generateWebhookKey() });

      const error = await signatureError(verifier.verify(BODY, headers));
      expect(error.message).toBe(reasons.noMatch);
      const text = fullText(error);
      expect(text).not.toContain(key.slice('whsec_'.length));
      expect(text).not.toContain(webhookSignature({ ...toSign, key }).slice(3));
    });

    it('refuses a replayed webhook id and timestamp carrying a new body', async () => {
      const key = generateWebhookKey();
      const { verifier } = setUp({ key });
      const headers = signWebhook({ key, id: 'msg_replay', timestamp: NOW, body: BODY });
      await verifier.verify(BODY, headers);
      const replayed = BODY.replace('2.24.03.000', '2.25.01.000');

      expect((await signatureError(verifier.verify(replayed, headers))).message).toBe(reasons.noMatch);
    });

    it.each([
      ['another version only', (signature: string) => `v1a,${signature.slice(3)}`],
      ['a v2 signature', (signature: string) => `v2,${signature.slice(3)}`],
      ['no version', (signature: string) => signature.slice(3)],
      ['a truncated signature', (signature: string) => signature.slice(0, -2)],
    ])('refuses %s without reading the secret', async (_name, mangle) => {
      const key = generateWebhookKey();
      const { verifier, secretId } = setUp({ key });
      const headers = signWebhook({ key, id: 'msg_version', timestamp: NOW, body: BODY });
      headers['webhook-signature'] = mangle(headers['webhook-signature']);

      expect((await signatureError(verifier.verify(BODY, headers))).message).toBe(reasons.noMatch);
      expect(secretsManager.reads(secretId)).toBe(0);
    });
  });

  describe('headers and timestamp', () => {
    it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])(
      'refuses a request without %s, or with it empty',
      async (name) => {
        const key = generateWebhookKey();
        const { verifier } = setUp({ key });
        const headers: WebhookHeaders = signWebhook({ key, id: 'msg_missing', timestamp: NOW, body: BODY });

        const without = (await signatureError(verifier.verify(BODY, { ...headers, [name]: undefined })))
          .message;
        const empty = (await signatureError(verifier.verify(BODY, { ...headers, [name]: '' }))).message;
        expect([without, empty]).toEqual([reasons.missingHeader, reasons.missingHeader]);
      },
    );

    it.each([
      ['6 minutes old', -360],
      ['6 minutes ahead', 360],
      ['one second past the tolerance', -301],
    ])('refuses a timestamp %s', async (_name, offsetSeconds) => {
      const key = generateWebhookKey();
      const { verifier } = setUp({ key });
      const headers = signWebhook({ key, id: 'msg_stale', timestamp: NOW + offsetSeconds, body: BODY });

      expect((await signatureError(verifier.verify(BODY, headers))).message).toBe(reasons.outsideTolerance);
    });

    it('passes timestamps exactly 5 minutes old and ahead, judged by the injected clock', async () => {
      const key = generateWebhookKey();
      const { verifier, clock } = setUp({ key });
      const old = signWebhook({ key, id: 'msg_old', timestamp: NOW - 300, body: BODY });
      const ahead = signWebhook({ key, id: 'msg_ahead', timestamp: NOW + 300, body: BODY });

      await expect(verifier.verify(BODY, old)).resolves.toMatchObject({ webhookId: 'msg_old' });
      await expect(verifier.verify(BODY, ahead)).resolves.toMatchObject({ webhookId: 'msg_ahead' });
      clock.ms += 1000;
      expect((await signatureError(verifier.verify(BODY, old))).message).toBe(reasons.outsideTolerance);
    });

    it.each(['soon', `${NOW}.5`, `${NOW}abc`, `-${NOW}`, `0${NOW}`, ` ${NOW}`, '1795000000000000'])(
      'refuses the malformed timestamp %j',
      async (timestamp) => {
        const key = generateWebhookKey();
        const { verifier } = setUp({ key });
        const headers = {
          ...signWebhook({ key, id: 'msg_bad_time', timestamp: NOW, body: BODY }),
          'webhook-timestamp': timestamp,
        };

        expect((await signatureError(verifier.verify(BODY, headers))).message).toBe(
          reasons.malformedTimestamp,
        );
      },
    );
  });

  describe('signing keys', () => {
    it('accepts signatures by any key of a rotation list', async () => {
      const oldKey = generateWebhookKey();
      const newKey = generateWebhookKey(32);
      const { verifier } = setUp({ keys: [oldKey, newKey] });

      for (const [id, key] of [
        ['msg_old_key', oldKey],
        ['msg_new_key', newKey],
      ] as const) {
        const headers = signWebhook({ key, id, timestamp: NOW, body: BODY });
        await expect(verifier.verify(BODY, headers)).resolves.toMatchObject({ webhookId: id });
      }
      const stranger = signWebhook({ key: generateWebhookKey(), id: 'msg_x', timestamp: NOW, body: BODY });
      expect((await signatureError(verifier.verify(BODY, stranger))).message).toBe(reasons.noMatch);
    });

    it('refuses every webhook when no secret id is configured', async () => {
      const secrets = createSecretReader({ client });
      const verifier = createWebhookVerifier({ secretId: undefined, secrets });
      const key = generateWebhookKey();

      const error = await signatureError(
        verifier.verify(BODY, signWebhook({ key, id: 'msg_unconfigured', timestamp: NOW, body: BODY })),
      );
      expect([error.message, error.statusCode]).toEqual([reasons.notConfigured, 401]);
    });

    const key = generateWebhookKey();
    const bareKey = key.slice('whsec_'.length);
    it.each([
      ['is not JSON', key, 'is not JSON'],
      ['is neither form', { secret: key }, 'must be {"key":"whsec_..."} or {"keys":'],
      ['has both forms', { key, keys: [key] }, 'must be {"key":"whsec_..."} or {"keys":'],
      ['has no keys', { keys: [] }, 'with 1 to 10 keys'],
      ['has 11 keys', { keys: Array.from({ length: 11 }, () => key) }, 'with 1 to 10 keys'],
      ['holds a non-string key', { keys: [key, 42] }, 'key 2 must be the base64 of at least 24 bytes'],
      ['holds a short key', { key: generateWebhookKey(16) }, 'of at least 24 bytes'],
      ['holds a short bare key', { key: generateWebhookKey(16).slice(6) }, 'of at least 24 bytes'],
      ['holds a key that is not base64', { key: `${key}!` }, 'key 1 must be the base64'],
      [
        'holds a password pasted by mistake',
        { key: 'correct horse battery staple' },
        'key 1 must be the base64',
      ],
    ])(
      'refuses every webhook when the secret %s, naming the secret but not the key',
      async (_name, secret, rule) => {
        const { verifier, secretId } = setUp(secret);
        const headers = signWebhook({ key, id: 'msg_bad_secret', timestamp: NOW, body: BODY });

        const error = await signatureError(verifier.verify(BODY, headers));
        expect(error.message).toBe(reasons.unreadableKey);
        expect(error.cause).toBeInstanceOf(SecretError);
        expect((error.cause as SecretError).message).toContain(`secret ${secretId} `);
        expect((error.cause as SecretError).message).toContain(rule);
        expect(fullText(error)).not.toContain(bareKey);
      },
    );

    it('refuses every webhook when the secret is missing or Secrets Manager is down', async () => {
      const key = generateWebhookKey();
      const headers = signWebhook({ key, id: 'msg_outage', timestamp: NOW, body: BODY });
      const missing = setUp(undefined);
      const outage = setUp({ key });

      const missingError = await signatureError(missing.verifier.verify(BODY, headers));
      secretsManager.failing = true;
      const outageError = await signatureError(outage.verifier.verify(BODY, headers)).finally(() => {
        secretsManager.failing = false;
      });

      expect([missingError.message, outageError.message]).toEqual([
        reasons.unreadableKey,
        reasons.unreadableKey,
      ]);
      expect((missingError.cause as Error).message).toBe(
        `secret ${missing.secretId} could not be read from Secrets Manager (ResourceNotFoundException)`,
      );
      expect((outageError.cause as Error).message).toBe(
        `secret ${outage.secretId} could not be read from Secrets Manager (ServiceUnavailableException)`,
      );
      expect(fullText(outageError)).not.toContain(key.slice('whsec_'.length));
      // The outage is not cached: the same verifier passes once Secrets Manager is back.
      await expect(outage.verifier.verify(BODY, headers)).resolves.toMatchObject({ webhookId: 'msg_outage' });
    });
  });

  describe('re-reading the secret after a failed match', () => {
    it('picks up a rotated key at once instead of waiting for the secret cache to expire', async () => {
      const oldKey = generateWebhookKey();
      const newKey = generateWebhookKey();
      const { verifier, secretId } = setUp({ key: oldKey });
      await verifier.verify(BODY, signWebhook({ key: oldKey, id: 'msg_before', timestamp: NOW, body: BODY }));

      secretsManager.put(secretId, { keys: [oldKey, newKey] });
      const rotated = signWebhook({ key: newKey, id: 'msg_after', timestamp: NOW, body: BODY });

      await expect(verifier.verify(BODY, rotated)).resolves.toMatchObject({ webhookId: 'msg_after' });
      expect(secretsManager.reads(secretId)).toBe(2);
    });

    it('re-reads at most once per interval however many bad signatures arrive', async () => {
      const key = generateWebhookKey();
      const { verifier, secretId, clock } = setUp({ key }, { keyRefreshIntervalMs: 60_000 });
      const forge = (id: string) =>
        signWebhook({ key: generateWebhookKey(), id, timestamp: Math.floor(clock.ms / 1000), body: BODY });

      await verifier.verify(BODY, signWebhook({ key, id: 'msg_good', timestamp: NOW, body: BODY }));
      expect(secretsManager.reads(secretId)).toBe(1);

      const first = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => verifier.verify(BODY, forge(`msg_forged_${i}`))),
      );
      for (let i = 0; i < 20; i += 1) await signatureError(verifier.verify(BODY, forge(`msg_more_${i}`)));
      expect(first.map((outcome) => outcome.status)).toEqual(Array(5).fill('rejected'));
      expect(secretsManager.reads(secretId)).toBe(2);

      clock.ms += 59_999;
      await signatureError(verifier.verify(BODY, forge('msg_almost')));
      expect(secretsManager.reads(secretId)).toBe(2);

      clock.ms += 1;
      await signatureError(verifier.verify(BODY, forge('msg_next_interval')));
      await signatureError(verifier.verify(BODY, forge('msg_next_interval_again')));
      expect(secretsManager.reads(secretId)).toBe(3);
    });

    it('keeps the cached key when the re-read forced by a forged signature fails (Secrets Manager outage)', async () => {
      const key = generateWebhookKey();
      const { verifier, secretId, clock } = setUp({ key }, { keyRefreshIntervalMs: 60_000 });
      const genuine = (id: string) =>
        signWebhook({ key, id, timestamp: Math.floor(clock.ms / 1000), body: BODY });
      await verifier.verify(BODY, genuine('msg_before_outage'));

      secretsManager.failing = true;
      try {
        const forged = signWebhook({
          key: generateWebhookKey(),
          id: 'msg_forged',
          timestamp: NOW,
          body: BODY,
        });
        expect((await signatureError(verifier.verify(BODY, forged))).message).toBe(reasons.noMatch);
        expect(secretsManager.reads(secretId)).toBe(2);

        await expect(verifier.verify(BODY, genuine('msg_during_outage'))).resolves.toMatchObject({
          webhookId: 'msg_during_outage',
        });
        // Past the secret cache's own time to live too, the key read before stays in use.
        clock.ms += 6 * 60_000;
        await expect(verifier.verify(BODY, genuine('msg_later_in_outage'))).resolves.toMatchObject({
          webhookId: 'msg_later_in_outage',
        });
      } finally {
        secretsManager.failing = false;
      }
    });

    it('does not re-read for a stale timestamp or a missing header, which no key can fix', async () => {
      const key = generateWebhookKey();
      const { verifier, secretId } = setUp({ key });
      const stale = signWebhook({ key, id: 'msg_stale', timestamp: NOW - 3600, body: BODY });

      await signatureError(verifier.verify(BODY, stale));
      await signatureError(verifier.verify(BODY, { ...stale, 'webhook-timestamp': undefined }));
      expect(secretsManager.reads(secretId)).toBe(0);
    });
  });

  describe('interoperability with real signers', () => {
    // The test vector of the Standard Webhooks reference libraries (libraries/javascript/src/webhook.test.ts
    // of standard-webhooks/standard-webhooks, "sign function works"). The specification's own example
    // (spec/standard-webhooks.md) shows a signature but not the key, so it cannot be checked.
    const VECTOR = {
      key: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };

    function vectorVerifier(secret: unknown) {
      const { verifier, clock } = setUp(secret);
      clock.ms = VECTOR.timestamp * 1000;
      return verifier;
    }

    it.each([
      ['with its whsec_ prefix', VECTOR.key],
      ['in its bare form', VECTOR.key.slice('whsec_'.length)],
    ])('accepts the reference test vector, the key %s', async (_name, key) => {
      const headers = {
        'webhook-id': VECTOR.id,
        'webhook-timestamp': String(VECTOR.timestamp),
        'webhook-signature': VECTOR.signature,
      };
      await expect(vectorVerifier({ key }).verify(VECTOR.body, headers)).resolves.toEqual({
        webhookId: VECTOR.id,
        timestamp: new Date(VECTOR.timestamp * 1000),
      });
      // The oracle agrees, and so does our own node:crypto signer.
      expect(new StandardWebhook(key).sign(VECTOR.id, new Date(VECTOR.timestamp * 1000), VECTOR.body)).toBe(
        VECTOR.signature,
      );
      expect(webhookSignature({ ...VECTOR, key: VECTOR.key })).toBe(VECTOR.signature);
    });

    it('refuses the vector with one character of the body changed', async () => {
      const headers = {
        'webhook-id': VECTOR.id,
        'webhook-timestamp': String(VECTOR.timestamp),
        'webhook-signature': VECTOR.signature,
      };
      const error = await signatureError(
        vectorVerifier({ key: VECTOR.key }).verify('{"test": 2432232315}', headers),
      );
      expect(error.message).toBe(reasons.noMatch);
    });

    it("accepts what svix signs under Svix's default header names, exactly when svix's own verifier does", async () => {
      const key = generateWebhookKey(32);
      const verifier = setUp({ key }).verifier;
      const svix = new SvixWebhook(key);
      const signed = {
        'svix-id': 'msg_svix_1',
        'svix-timestamp': String(NOW),
        'svix-signature': svix.sign('msg_svix_1', new Date(NOW * 1000), BODY),
      };
      await expect(verifier.verify(BODY, signed)).resolves.toMatchObject({ webhookId: 'msg_svix_1' });

      const tampered = BODY.replace('2.24.03.000', '2.24.04.000');
      expect(() =>
        svix.verify(tampered, { ...signed, 'svix-timestamp': String(Math.floor(Date.now() / 1000)) }),
      ).toThrow();
      expect((await signatureError(verifier.verify(tampered, signed))).message).toBe(reasons.noMatch);
    });

    it('reads webhook-* when both families are present, and never mixes them', async () => {
      const key = generateWebhookKey();
      const verifier = setUp({ key }).verifier;
      const webhook = signWebhook({ key, id: 'msg_family', timestamp: NOW, body: BODY });
      const svix = { 'svix-id': 'msg_other', 'svix-timestamp': String(NOW), 'svix-signature': 'v1,bogus' };
      await expect(verifier.verify(BODY, { ...svix, ...webhook })).resolves.toMatchObject({
        webhookId: 'msg_family',
      });

      // webhook-id alone decides the family: a missing webhook-signature is not taken from svix-*.
      const mixed = { ...svix, 'webhook-id': 'msg_family', 'webhook-timestamp': String(NOW) };
      expect((await signatureError(verifier.verify(BODY, mixed))).message).toBe(reasons.missingHeader);
    });

    it.each([
      ['comma-joined (a repeated header)', (other: string, valid: string) => `${other},${valid}`],
      ['comma and space joined', (other: string, valid: string) => `${other}, ${valid}`],
      [
        'space separated, as the specification writes it',
        (other: string, valid: string) => `${other} ${valid}`,
      ],
      ['a v1a entry before it', (_other: string, valid: string) => `v1a,${valid.slice(3)},${valid}`],
    ])('passes one valid signature among several, %s', async (_name, join) => {
      const key = generateWebhookKey();
      const { verifier } = setUp({ key });
      const toSign = { key, id: 'msg_joined', timestamp: NOW, body: BODY };
      const header = join(
        webhookSignature({ ...toSign, key: generateWebhookKey() }),
        webhookSignature(toSign),
      );
      const headers = { ...signWebhook(toSign), 'webhook-signature': header };
      await expect(verifier.verify(BODY, headers)).resolves.toMatchObject({ webhookId: 'msg_joined' });
    });
  });
});
