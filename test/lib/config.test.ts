import { describe, expect, it } from 'vitest';
import { loadConfig, loadTrackingConfig } from '../../lib/config.ts';
import { ConfigError } from '../../lib/errors.ts';

const minimal = {
  HUAWEI_REGION: 'cn-east-5',
  HUAWEI_CREDENTIALS_SECRET_ID: 'huawei/credentials',
  EVENT_BUS_NAME: 'upgrades',
};

function configError(
  env: Record<string, string | undefined>,
  load: (env: Record<string, string | undefined>) => unknown = loadConfig,
): ConfigError {
  try {
    load(env);
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
      taurusDbEndpoints: {
        defaultRegion: 'cn-east-5',
        defaultEndpoint: 'https://gaussdb-mysql.cn-east-5.myhuaweicloud.com',
        template: undefined,
        byRegion: undefined,
      },
      iamEndpoint: 'https://iam.myhuaweicloud.com',
      credentialsSecretId: 'huawei/credentials',
      webhookSecretId: undefined,
      eventBusName: 'upgrades',
      eventSource: 'taurusdb.proxy-upgrader',
      idempotencyTable: undefined,
      idempotencyWindowSeconds: { http: 172800, event: 86400, schedule: 86400 },
      awsCalls: { requestTimeoutMs: 1000, maxAttempts: 3 },
      upgradeConcurrency: 10,
      timeouts: { connectMs: 3000, headersMs: 10000, bodyMs: 10000, retryBudgetMs: 8000 },
      deferral: undefined,
      busyRetry: { retryForMs: 7_200_000, firstDelayMs: 300_000, maxDelayMs: 1_800_000 },
    });
  });

  it('takes a {region} placeholder in TAURUSDB_ENDPOINT and an endpoint per region in TAURUSDB_ENDPOINTS', () => {
    const config = loadConfig({
      ...minimal,
      TAURUSDB_ENDPOINT: 'http://127.0.0.1:9000/{region}/',
      TAURUSDB_ENDPOINTS: '{"cn-east-3": "http://127.0.0.1:9001/"}',
    });
    expect(config.taurusDbEndpoint).toBe('http://127.0.0.1:9000/cn-east-5');
    expect(config.taurusDbEndpoints).toStrictEqual({
      defaultRegion: 'cn-east-5',
      defaultEndpoint: 'http://127.0.0.1:9000/cn-east-5',
      template: 'http://127.0.0.1:9000/{region}',
      byRegion: { 'cn-east-3': 'http://127.0.0.1:9001' },
    });
    const message = configError({
      ...minimal,
      HUAWEI_REGION: undefined,
      TAURUSDB_ENDPOINT: 'http://127.0.0.1:9000/{region}',
      TAURUSDB_ENDPOINTS: '{"Not A Region": "ftp://x"}',
    }).message;
    expect(message).toContain('HUAWEI_REGION is required when TAURUSDB_ENDPOINT has a {region} placeholder');
    expect(message).toContain('TAURUSDB_ENDPOINTS');
  });

  it('turns deferred attempts on with the group, the target and the role, and reads BUSY_RETRY_*', () => {
    const config = loadConfig({
      ...minimal,
      DEFERRAL_SCHEDULE_GROUP: 'upgrader-deferred',
      DEFERRAL_TARGET_ARN: 'arn:aws:lambda:eu-west-1:123456789012:function:upgrader',
      DEFERRAL_ROLE_ARN: 'arn:aws:iam::123456789012:role/upgrader-scheduler',
      BUSY_RETRY_FOR: 'P1DT30M',
      BUSY_RETRY_DELAY_SECONDS: '120',
    });
    expect(config.deferral).toStrictEqual({
      groupName: 'upgrader-deferred',
      targetArn: 'arn:aws:lambda:eu-west-1:123456789012:function:upgrader',
      roleArn: 'arn:aws:iam::123456789012:role/upgrader-scheduler',
      deadLetterArn: undefined,
    });
    expect(config.busyRetry).toStrictEqual({
      retryForMs: (24 * 60 + 30) * 60_000,
      firstDelayMs: 120_000,
      maxDelayMs: 1_800_000,
    });
  });

  it('refuses a half-made deferral setting and a bad busy duration, naming each variable', () => {
    const message = configError({
      ...minimal,
      DEFERRAL_SCHEDULE_GROUP: 'upgrader-deferred',
      DEFERRAL_ROLE_ARN: 'not-an-arn',
      BUSY_RETRY_FOR: '2 hours',
      BUSY_RETRY_DELAY_SECONDS: '9',
    }).message;
    expect(message).toContain('DEFERRAL_TARGET_ARN is required when DEFERRAL_SCHEDULE_GROUP is set');
    expect(message).toContain('DEFERRAL_ROLE_ARN must be an ARN (arn:aws:...)');
    expect(message).toContain('BUSY_RETRY_FOR must be an ISO 8601 duration');
    expect(message).toContain('BUSY_RETRY_DELAY_SECONDS must be at least 10');
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

describe('loadTrackingConfig', () => {
  const queueUrl = 'https://sqs.eu-west-1.amazonaws.com/123456789012/taurusdb-proxy-upgrader-dev-tracking';

  it('adds the tracking settings, with their defaults, to the common configuration', () => {
    const config = loadTrackingConfig({ ...minimal, TRACKING_QUEUE_URL: queueUrl });
    expect(config).toEqual({
      ...loadConfig(minimal),
      tracking: { queueUrl, maxSeconds: 7200, initialDelaySeconds: 30, maxDelaySeconds: 300, concurrency: 5 },
    });
  });

  it('is not needed by the upgrade function: loadConfig takes an environment without any TRACKING_ variable', () => {
    expect(() => loadConfig(minimal)).not.toThrow();
    expect(configError(minimal, loadTrackingConfig).message).toBe(
      'Invalid configuration: TRACKING_QUEUE_URL is required',
    );
  });

  it('names every bad tracking value together with the common problems', () => {
    const message = configError(
      {
        HUAWEI_REGION: 'cn-east-5',
        HUAWEI_CREDENTIALS_SECRET_ID: 'huawei/credentials',
        TRACKING_QUEUE_URL: 'tracking',
        TRACKING_MAX_SECONDS: '0',
        TRACKING_MAX_DELAY_SECONDS: '901',
      },
      loadTrackingConfig,
    ).message;
    expect(message).toContain('EVENT_BUS_NAME is required');
    expect(message).toContain('TRACKING_QUEUE_URL must be the http(s) URL of the SQS queue');
    expect(message).toContain('TRACKING_MAX_SECONDS must be at least 1');
    // SQS refuses a per-message DelaySeconds over 900.
    expect(message).toContain('TRACKING_MAX_DELAY_SECONDS must be at most 900');
  });

  it('refuses a first delay longer than the longest one', () => {
    expect(
      configError(
        {
          ...minimal,
          TRACKING_QUEUE_URL: queueUrl,
          TRACKING_INITIAL_DELAY_SECONDS: '600',
          TRACKING_MAX_DELAY_SECONDS: '300',
        },
        loadTrackingConfig,
      ).message,
    ).toBe(
      'Invalid configuration: TRACKING_INITIAL_DELAY_SECONDS must not be more than TRACKING_MAX_DELAY_SECONDS (300)',
    );
  });
});
