import { z } from 'zod';
import { isKnownRegion, taurusDbEndpointFor } from './endpoints.ts';
import { ConfigError } from './errors.ts';

const DEFAULT_IAM_ENDPOINT = 'https://iam.myhuaweicloud.com';

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const baseUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .transform((value) => value.replace(/\/+$/, ''));

const positiveInt = (fallback: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`)
    .default(fallback);

const environmentSchema = z.object({
  HUAWEI_REGION: optionalText,
  TAURUSDB_ENDPOINT: optionalText.pipe(baseUrl.optional()),
  HUAWEI_IAM_ENDPOINT: optionalText.pipe(baseUrl.optional()),
  HUAWEI_CREDENTIALS_SECRET_ID: z.string({ error: 'is required' }).trim().min(1, 'is required'),
  WEBHOOK_SECRET_ID: optionalText,
  EVENT_BUS_NAME: z.string({ error: 'is required' }).trim().min(1, 'is required'),
  EVENT_SOURCE: optionalText,
  IDEMPOTENCY_TABLE: optionalText,
  IDEMPOTENCY_WINDOW_SECONDS: positiveInt(3600, 7 * 24 * 3600),
  UPGRADE_CONCURRENCY: positiveInt(10, 50),
  TAURUSDB_CONNECT_TIMEOUT_MS: positiveInt(3_000, 60_000),
  TAURUSDB_HEADERS_TIMEOUT_MS: positiveInt(10_000, 120_000),
  TAURUSDB_BODY_TIMEOUT_MS: positiveInt(10_000, 120_000),
  TAURUSDB_RETRY_BUDGET_MS: positiveInt(8_000, 120_000),
});

/** Checked on the raw environment so it is reported together with every other problem. */
function regionIssues(env: Record<string, string | undefined>): string[] {
  if (env.TAURUSDB_ENDPOINT?.trim()) return [];
  const region = env.HUAWEI_REGION?.trim();
  if (!region) return ['HUAWEI_REGION is required unless TAURUSDB_ENDPOINT is set'];
  if (!isKnownRegion(region))
    return [`HUAWEI_REGION unknown region "${region}"; set TAURUSDB_ENDPOINT to its TaurusDB endpoint`];
  return [];
}

export interface Config {
  taurusDbEndpoint: string;
  iamEndpoint: string;
  credentialsSecretId: string;
  webhookSecretId: string | undefined;
  eventBusName: string;
  eventSource: string;
  idempotencyTable: string | undefined;
  idempotencyWindowSeconds: number;
  upgradeConcurrency: number;
  timeouts: { connectMs: number; headersMs: number; bodyMs: number; retryBudgetMs: number };
}

/**
 * Parses the environment once, at cold start. A bad value fails the cold start with every offending
 * variable named, so a misconfigured deploy fails loudly before any request is taken.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = environmentSchema.safeParse(env);
  const problems = [
    ...(parsed.error?.issues.map((issue) => `${issue.path.join('.') || '(environment)'} ${issue.message}`) ??
      []),
    ...regionIssues(env),
  ];
  const taurusDbEndpoint =
    parsed.data?.TAURUSDB_ENDPOINT ?? taurusDbEndpointFor(parsed.data?.HUAWEI_REGION ?? '');
  if (!parsed.success || taurusDbEndpoint === undefined || problems.length > 0) {
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    taurusDbEndpoint,
    iamEndpoint: e.HUAWEI_IAM_ENDPOINT ?? DEFAULT_IAM_ENDPOINT,
    credentialsSecretId: e.HUAWEI_CREDENTIALS_SECRET_ID,
    webhookSecretId: e.WEBHOOK_SECRET_ID,
    eventBusName: e.EVENT_BUS_NAME,
    eventSource: e.EVENT_SOURCE ?? 'taurusdb.proxy-upgrader',
    idempotencyTable: e.IDEMPOTENCY_TABLE,
    idempotencyWindowSeconds: e.IDEMPOTENCY_WINDOW_SECONDS,
    upgradeConcurrency: e.UPGRADE_CONCURRENCY,
    timeouts: {
      connectMs: e.TAURUSDB_CONNECT_TIMEOUT_MS,
      headersMs: e.TAURUSDB_HEADERS_TIMEOUT_MS,
      bodyMs: e.TAURUSDB_BODY_TIMEOUT_MS,
      retryBudgetMs: e.TAURUSDB_RETRY_BUDGET_MS,
    },
  };
}
