import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { ConfigError } from '../../lib/errors.ts';

const minimal = {
  HUAWEI_REGION: 'cn-east-5',
  HUAWEI_CREDENTIALS_SECRET_ID: 'huawei/credentials',
  EVENT_BUS_NAME: 'upgrades',
};

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('derives the TaurusDB endpoint from the region and fills the documented defaults', () => {
    const config = loadConfig(minimal);
    expect(config).toEqual({
      taurusDbEndpoint: 'https://gaussdb-mysql.cn-east-5.myhuaweicloud.com',
      iamEndpoint: 'https://iam.myhuaweicloud.com',
      credentialsSecretId: 'huawei/credentials',
      webhookSecretId: undefined,
      eventBusName: 'upgrades',
      eventSource: 'taurusdb.proxy-upgrader',
      idempotencyTable: undefined,
      idempotencyWindowSeconds: 3600,
      upgradeConcurrency: 10,
      timeouts: { connectMs: 3000, headersMs: 10000, bodyMs: 10000, retryBudgetMs: 8000 },
    });
  });

  it('lets TAURUSDB_ENDPOINT override the region, trailing slash removed', () => {
    const config = loadConfig({
      ...minimal,
      HUAWEI_REGION: undefined,
      TAURUSDB_ENDPOINT: 'http://127.0.0.1:9000/',
    });
    expect(config.taurusDbEndpoint).toBe('http://127.0.0.1:9000');
  });

  it('refuses an unknown region without an override, naming the variable and the way out', () => {
    expect(configError({ ...minimal, HUAWEI_REGION: 'mars-north-1' }).message).toBe(
      'Invalid configuration: HUAWEI_REGION unknown region "mars-north-1"; set TAURUSDB_ENDPOINT to its TaurusDB endpoint',
    );
  });

  it('names every missing required variable', () => {
    const message = configError({}).message;
    expect(message).toContain('HUAWEI_CREDENTIALS_SECRET_ID is required');
    expect(message).toContain('EVENT_BUS_NAME is required');
    expect(message).toContain('HUAWEI_REGION is required unless TAURUSDB_ENDPOINT is set');
  });

  it('names a bad number and a bad URL', () => {
    const message = configError({
      ...minimal,
      UPGRADE_CONCURRENCY: 'ten',
      HUAWEI_IAM_ENDPOINT: 'iam',
    }).message;
    expect(message).toContain('UPGRADE_CONCURRENCY must be a number');
    expect(message).toContain('HUAWEI_IAM_ENDPOINT must be an http(s) URL');
  });

  it('treats empty strings as unset, as CloudFormation writes them', () => {
    const config = loadConfig({ ...minimal, IDEMPOTENCY_TABLE: '', EVENT_SOURCE: ' ' });
    expect(config.idempotencyTable).toBeUndefined();
    expect(config.eventSource).toBe('taurusdb.proxy-upgrader');
  });
});
