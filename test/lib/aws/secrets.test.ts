import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretReader, type SecretWarning } from '../../../lib/aws/secrets.ts';
import { SecretError } from '../../../lib/errors.ts';
import {
  type SecretsManagerStandIn,
  startSecretsManagerStandIn,
} from '../../../stand-ins/secrets-manager.ts';

describe('createSecretReader', () => {
  let secretsManager: SecretsManagerStandIn;

  beforeAll(async () => {
    secretsManager = await startSecretsManagerStandIn();
  });
  afterAll(() => secretsManager.close());

  it('reads and parses a JSON secret once, sharing concurrent first reads', async () => {
    secretsManager.put('shared', { token: 'tok-shared-1' });
    const reader = createSecretReader({ client: secretsManager.client() });
    const values = await Promise.all([
      reader.readJson('shared'),
      reader.readJson('shared'),
      reader.readJson('shared'),
    ]);
    expect(values).toEqual([{ token: 'tok-shared-1' }, { token: 'tok-shared-1' }, { token: 'tok-shared-1' }]);
    expect(secretsManager.reads('shared')).toBe(1);
  });

  it('reads again on refresh and after the time to live', async () => {
    let clock = 0;
    secretsManager.put('rotating', { token: 'tok-old' });
    const reader = createSecretReader({ client: secretsManager.client(), ttlMs: 1000, now: () => clock });
    expect(await reader.readJson('rotating')).toEqual({ token: 'tok-old' });
    secretsManager.put('rotating', { token: 'tok-new' });
    expect(await reader.readJson('rotating')).toEqual({ token: 'tok-old' });
    expect(await reader.refresh('rotating')).toEqual({ token: 'tok-new' });
    expect(await reader.readJson('rotating')).toEqual({ token: 'tok-new' });
    clock = 1001;
    await reader.readJson('rotating');
    expect(secretsManager.reads('rotating')).toBe(3);
  });

  it('names the secret id, never its content, when the secret is not JSON', async () => {
    secretsManager.put('garbled', 'password=hunter2-not-json');
    const reader = createSecretReader({ client: secretsManager.client() });
    const error = await reader.readJson('garbled').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SecretError);
    expect((error as SecretError).message).toBe('secret garbled is not JSON');
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('hunter2');
    expect((error as SecretError).cause).toBeUndefined();
  });

  it('reports a missing secret and an outage, and does not cache the failure', async () => {
    const reader = createSecretReader({ client: secretsManager.client() });
    await expect(reader.readJson('absent')).rejects.toThrow(
      'secret absent could not be read from Secrets Manager (ResourceNotFoundException)',
    );
    secretsManager.failing = true;
    secretsManager.put('flaky', { token: 'tok-flaky' });
    await expect(reader.readJson('flaky')).rejects.toBeInstanceOf(SecretError);
    secretsManager.failing = false;
    expect(await reader.readJson('flaky')).toEqual({ token: 'tok-flaky' });
  });

  describe('an outage after a successful read', () => {
    function reader(secretId: string) {
      const clock = { ms: 0 };
      const warnings: Array<Parameters<SecretWarning>> = [];
      const secrets = createSecretReader({
        client: secretsManager.client(),
        ttlMs: 1000,
        retryAfterFailureMs: 200,
        now: () => clock.ms,
        warn: (...args) => warnings.push(args),
      });
      return { secrets, clock, warnings, reads: () => secretsManager.reads(secretId) };
    }

    it('keeps the value read before when a refresh fails, and replaces it once one succeeds', async () => {
      secretsManager.put('kept-on-refresh', { token: 'tok-kept-0123456789' });
      const { secrets, warnings, reads } = reader('kept-on-refresh');
      const before = await secrets.readJson('kept-on-refresh');

      secretsManager.failing = true;
      const refreshed = await secrets.refresh('kept-on-refresh').finally(() => {
        secretsManager.failing = false;
      });
      expect(refreshed).toBe(before);
      expect(await secrets.readJson('kept-on-refresh')).toBe(before);
      expect(warnings).toEqual([
        [
          'secret could not be read again; the value read before stays in use',
          {
            secretId: 'kept-on-refresh',
            reason:
              'secret kept-on-refresh could not be read from Secrets Manager (ServiceUnavailableException)',
          },
        ],
      ]);
      expect(JSON.stringify(warnings)).not.toContain('tok-kept');

      secretsManager.put('kept-on-refresh', { token: 'tok-rotated-0123456789' });
      expect(await secrets.refresh('kept-on-refresh')).toEqual({ token: 'tok-rotated-0123456789' });
      expect(await secrets.readJson('kept-on-refresh')).toEqual({ token: 'tok-rotated-0123456789' });
      expect(reads()).toBe(3);
    });

    it('serves a value past its time to live while re-reads fail, trying again once per interval', async () => {
      secretsManager.put('kept-past-ttl', { token: 'tok-stale-0123456789' });
      const { secrets, clock, warnings, reads } = reader('kept-past-ttl');
      const before = await secrets.readJson('kept-past-ttl');

      secretsManager.failing = true;
      try {
        clock.ms = 1001;
        expect(await secrets.readJson('kept-past-ttl')).toBe(before);
        expect(reads()).toBe(2);
        clock.ms = 1200;
        expect(await secrets.readJson('kept-past-ttl')).toBe(before);
        expect(reads()).toBe(2);
        clock.ms = 1201;
        expect(await secrets.readJson('kept-past-ttl')).toBe(before);
        expect(reads()).toBe(3);
      } finally {
        secretsManager.failing = false;
      }
      expect(warnings).toHaveLength(2);
      clock.ms = 1401;
      secretsManager.put('kept-past-ttl', { token: 'tok-fresh-0123456789' });
      expect(await secrets.readJson('kept-past-ttl')).toEqual({ token: 'tok-fresh-0123456789' });
    });

    it('shares one read among concurrent refreshes and reads, and fails a refresh with nothing to keep', async () => {
      secretsManager.put('refreshed-together', { token: 'tok-together-0123456789' });
      const { secrets, reads } = reader('refreshed-together');
      await secrets.readJson('refreshed-together');
      await Promise.all([
        secrets.refresh('refreshed-together'),
        secrets.refresh('refreshed-together'),
        secrets.readJson('refreshed-together'),
        secrets.refresh('refreshed-together'),
      ]);
      expect(reads()).toBe(2);

      await expect(secrets.refresh('never-stored')).rejects.toThrow(
        'secret never-stored could not be read from Secrets Manager (ResourceNotFoundException)',
      );
    });
  });
});
