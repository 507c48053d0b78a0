import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretError } from '../../lib/errors.ts';
import { createSecretReader } from '../../lib/secrets.ts';
import {
  type SecretsManagerStandIn,
  startSecretsManagerStandIn,
} from '../support/secrets-manager-stand-in.ts';

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

  it('reads again after invalidate and after the time to live', async () => {
    let clock = 0;
    secretsManager.put('rotating', { token: 'tok-old' });
    const reader = createSecretReader({ client: secretsManager.client(), ttlMs: 1000, now: () => clock });
    expect(await reader.readJson('rotating')).toEqual({ token: 'tok-old' });
    secretsManager.put('rotating', { token: 'tok-new' });
    expect(await reader.readJson('rotating')).toEqual({ token: 'tok-old' });
    reader.invalidate('rotating');
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
});
