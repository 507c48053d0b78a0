import * as z from 'zod';
import { ConfigError } from './errors.ts';
import { DEFAULT_EVENT_SOURCE } from './events/detail-types.ts';
import {
  isKnownRegion,
  REGION_PLACEHOLDER,
  type RegionalEndpoints,
  taurusDbEndpointFor,
} from './huawei/endpoints.ts';
import { DURATION_RULE, parseBusyRetryFor } from './upgrade/duration.ts';

const DEFAULT_IAM_ENDPOINT = 'https://iam.myhuaweicloud.com';

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const baseUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .transform((value) => value.replace(/\/+$/, ''));

// A `{region}` placeholder is filled per request; the URL is checked with a region in its place.
const endpointTemplate = z
  .string()
  .refine((text) => baseUrl.safeParse(text.replaceAll(REGION_PLACEHOLDER, 'eu-west-101')).success, {
    error: 'must be an http(s) URL, optionally with a {region} placeholder',
  })
  .transform((value) => value.replace(/\/+$/, ''));

const REGION_ID = /^[a-z0-9]+(?:-[a-z0-9]+){1,4}$/;

const endpointMap = optionalText.pipe(
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of region id to endpoint URL' });
        return z.NEVER;
      }
    })
    .pipe(
      z.record(z.string().regex(REGION_ID, 'keys must be Huawei region ids such as eu-west-101'), baseUrl, {
        error: 'must be a JSON object of region id to endpoint URL',
      }),
    )
    .optional(),
);

const positiveInt = (fallback: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`)
    .default(fallback);

const isoDuration = z
  .string()
  .trim()
  .default('PT2H')
  .transform((text, ctx) => {
    const ms = parseBusyRetryFor(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: DURATION_RULE });
      return z.NEVER;
    }
    return ms;
  });

const arn = optionalText.pipe(
  z
    .string()
    .regex(/^arn:aws[a-z-]*:[a-z0-9-]+:/, 'must be an ARN (arn:aws:...)')
    .optional(),
);

const environmentSchema = z.object({
  HUAWEI_REGION: optionalText,
  TAURUSDB_ENDPOINT: optionalText.pipe(endpointTemplate.optional()),
  TAURUSDB_ENDPOINTS: endpointMap,
  HUAWEI_IAM_ENDPOINT: optionalText.pipe(baseUrl.optional()),
  HUAWEI_CREDENTIALS_SECRET_ID: z.string({ error: 'is required' }).trim().min(1, 'is required'),
  WEBHOOK_SECRET_ID: optionalText,
  EVENT_BUS_NAME: z.string({ error: 'is required' }).trim().min(1, 'is required'),
  EVENT_SOURCE: optionalText,
  IDEMPOTENCY_TABLE: optionalText,
  // Defaults: lib/aws/idempotency.ts says which sender each covers.
  IDEMPOTENCY_WINDOW_HTTP_SECONDS: positiveInt(48 * 3600, 30 * 24 * 3600),
  IDEMPOTENCY_WINDOW_EVENT_SECONDS: positiveInt(24 * 3600, 30 * 24 * 3600),
  IDEMPOTENCY_WINDOW_SCHEDULE_SECONDS: positiveInt(24 * 3600, 30 * 24 * 3600),
  AWS_REQUEST_TIMEOUT_MS: positiveInt(1_000, 10_000),
  AWS_MAX_ATTEMPTS: positiveInt(3, 5),
  UPGRADE_CONCURRENCY: positiveInt(10, 50),
  TAURUSDB_CONNECT_TIMEOUT_MS: positiveInt(3_000, 60_000),
  TAURUSDB_HEADERS_TIMEOUT_MS: positiveInt(10_000, 120_000),
  TAURUSDB_BODY_TIMEOUT_MS: positiveInt(10_000, 120_000),
  TAURUSDB_RETRY_BUDGET_MS: positiveInt(8_000, 120_000),
  // Deferred attempts (README.md "Deferred upgrades").
  DEFERRAL_SCHEDULE_GROUP: optionalText.pipe(
    z
      .string()
      .regex(/^[0-9a-zA-Z-_.]{1,64}$/, 'must be a schedule group name (1 to 64 of [0-9a-zA-Z-_.])')
      .optional(),
  ),
  DEFERRAL_TARGET_ARN: arn,
  DEFERRAL_ROLE_ARN: arn,
  // Not checked for the arn: form: a template may pass a queue ARN only CloudFormation resolves.
  DEFERRAL_DEAD_LETTER_ARN: optionalText,
  BUSY_RETRY_FOR: isoDuration,
  // Scheduler's at() has whole seconds; 10 s is for the sandbox, minutes are what an instance needs.
  BUSY_RETRY_DELAY_SECONDS: positiveInt(300, 24 * 3600).pipe(z.number().min(10, 'must be at least 10')),
  BUSY_RETRY_MAX_DELAY_SECONDS: positiveInt(1_800, 24 * 3600),
});

/** The three deferral variables go together: a group without its target or role is a half-made setting. */
function deferralIssues(env: Record<string, string | undefined>): string[] {
  if (!env.DEFERRAL_SCHEDULE_GROUP?.trim()) return [];
  return (['DEFERRAL_TARGET_ARN', 'DEFERRAL_ROLE_ARN'] as const)
    .filter((name) => !env[name]?.trim())
    .map((name) => `${name} is required when DEFERRAL_SCHEDULE_GROUP is set`);
}

/** Checked on the raw environment so it is reported together with every other problem. */
function regionIssues(env: Record<string, string | undefined>): string[] {
  const region = env.HUAWEI_REGION?.trim();
  if (env.TAURUSDB_ENDPOINT?.includes(REGION_PLACEHOLDER) && !region) {
    return [
      'HUAWEI_REGION is required when TAURUSDB_ENDPOINT has a {region} placeholder (it fills the default)',
    ];
  }
  if (env.TAURUSDB_ENDPOINT?.trim()) return [];
  if (!region) return ['HUAWEI_REGION is required unless TAURUSDB_ENDPOINT is set'];
  if (!isKnownRegion(region))
    return [`HUAWEI_REGION unknown region "${region}"; set TAURUSDB_ENDPOINT to its TaurusDB endpoint`];
  return [];
}

export interface Config {
  taurusDbEndpoint: string;
  /** Where each request's region is served (README.md "Regions"). */
  taurusDbEndpoints: RegionalEndpoints;
  iamEndpoint: string;
  credentialsSecretId: string;
  webhookSecretId: string | undefined;
  eventBusName: string;
  eventSource: string;
  idempotencyTable: string | undefined;
  /** How long a delivery is remembered, per trigger kind. */
  idempotencyWindowSeconds: { http: number; event: number; schedule: number };
  /** Every AWS SDK call's timeout and attempts; the publish reserve is derived from them. */
  awsCalls: { requestTimeoutMs: number; maxAttempts: number };
  upgradeConcurrency: number;
  timeouts: { connectMs: number; headersMs: number; bodyMs: number; retryBudgetMs: number };
  /** Where deferred attempts are scheduled; undefined: off, a busy instance fails the target at once. */
  deferral:
    | { groupName: string; targetArn: string; roleArn: string; deadLetterArn: string | undefined }
    | undefined;
  busyRetry: { retryForMs: number; firstDelayMs: number; maxDelayMs: number };
}

/** Every problem with the common variables, and the configuration when there is none. */
function parseConfig(env: Record<string, string | undefined>): {
  config: Config | undefined;
  problems: string[];
} {
  const parsed = environmentSchema.safeParse(env);
  const problems = [...issueTexts(parsed.error), ...regionIssues(env), ...deferralIssues(env)];
  const template = parsed.data?.TAURUSDB_ENDPOINT;
  const defaultRegion = parsed.data?.HUAWEI_REGION;
  const taurusDbEndpoint =
    template?.replaceAll(REGION_PLACEHOLDER, defaultRegion ?? '') ?? taurusDbEndpointFor(defaultRegion ?? '');
  if (!parsed.success || taurusDbEndpoint === undefined || problems.length > 0) {
    return { config: undefined, problems };
  }
  const e = parsed.data;
  return {
    problems,
    config: {
      taurusDbEndpoint,
      taurusDbEndpoints: {
        defaultRegion,
        defaultEndpoint: taurusDbEndpoint,
        template: template?.includes(REGION_PLACEHOLDER) ? template : undefined,
        byRegion: e.TAURUSDB_ENDPOINTS,
      },
      iamEndpoint: e.HUAWEI_IAM_ENDPOINT ?? DEFAULT_IAM_ENDPOINT,
      credentialsSecretId: e.HUAWEI_CREDENTIALS_SECRET_ID,
      webhookSecretId: e.WEBHOOK_SECRET_ID,
      eventBusName: e.EVENT_BUS_NAME,
      eventSource: e.EVENT_SOURCE ?? DEFAULT_EVENT_SOURCE,
      idempotencyTable: e.IDEMPOTENCY_TABLE,
      idempotencyWindowSeconds: {
        http: e.IDEMPOTENCY_WINDOW_HTTP_SECONDS,
        event: e.IDEMPOTENCY_WINDOW_EVENT_SECONDS,
        schedule: e.IDEMPOTENCY_WINDOW_SCHEDULE_SECONDS,
      },
      awsCalls: { requestTimeoutMs: e.AWS_REQUEST_TIMEOUT_MS, maxAttempts: e.AWS_MAX_ATTEMPTS },
      upgradeConcurrency: e.UPGRADE_CONCURRENCY,
      timeouts: {
        connectMs: e.TAURUSDB_CONNECT_TIMEOUT_MS,
        headersMs: e.TAURUSDB_HEADERS_TIMEOUT_MS,
        bodyMs: e.TAURUSDB_BODY_TIMEOUT_MS,
        retryBudgetMs: e.TAURUSDB_RETRY_BUDGET_MS,
      },
      deferral:
        e.DEFERRAL_SCHEDULE_GROUP && e.DEFERRAL_TARGET_ARN && e.DEFERRAL_ROLE_ARN
          ? {
              groupName: e.DEFERRAL_SCHEDULE_GROUP,
              targetArn: e.DEFERRAL_TARGET_ARN,
              roleArn: e.DEFERRAL_ROLE_ARN,
              deadLetterArn: e.DEFERRAL_DEAD_LETTER_ARN,
            }
          : undefined,
      busyRetry: {
        retryForMs: e.BUSY_RETRY_FOR,
        firstDelayMs: e.BUSY_RETRY_DELAY_SECONDS * 1000,
        maxDelayMs: Math.max(e.BUSY_RETRY_DELAY_SECONDS, e.BUSY_RETRY_MAX_DELAY_SECONDS) * 1000,
      },
    },
  };
}

function issueTexts(error: z.ZodError | undefined): string[] {
  return error?.issues.map((issue) => `${issue.path.join('.') || '(environment)'} ${issue.message}`) ?? [];
}

/**
 * Parses the environment once, at cold start. A bad value fails the cold start with every offending
 * variable named, so a misconfigured deploy fails loudly before any request is taken.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const { config, problems } = parseConfig(env);
  if (config === undefined) throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  return config;
}

// SQS takes a per-message DelaySeconds from 0 to 900: no re-check can be scheduled further out.
const MAX_SQS_DELAY_SECONDS = 900;

/**
 * The tracker's own variables (functions/track.ts). Kept apart from `environmentSchema` so that the
 * upgrade function never needs a tracking queue.
 */
const trackingEnvironmentSchema = z.object({
  TRACKING_QUEUE_URL: z
    .string({ error: 'is required' })
    .trim()
    .min(1, 'is required')
    .pipe(z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of the SQS queue' })),
  TRACKING_MAX_SECONDS: positiveInt(7_200, 7 * 24 * 3600),
  TRACKING_INITIAL_DELAY_SECONDS: positiveInt(30, MAX_SQS_DELAY_SECONDS),
  TRACKING_MAX_DELAY_SECONDS: positiveInt(300, MAX_SQS_DELAY_SECONDS),
  TRACKING_CONCURRENCY: positiveInt(5, 10),
});

export interface TrackingSettings {
  /** SQS queue the re-checks travel through (each message delayed with DelaySeconds). */
  queueUrl: string;
  /** After this long since TaurusDB accepted the upgrade, tracking gives up (Tracking Timed Out). */
  maxSeconds: number;
  /** Delay before the first re-check; each next one doubles, up to `maxDelaySeconds`. */
  initialDelaySeconds: number;
  maxDelaySeconds: number;
  /** Records of one SQS batch checked at the same time. */
  concurrency: number;
}

export interface TrackingConfig extends Config {
  tracking: TrackingSettings;
}

/**
 * The configuration of the tracking function: the common variables (TaurusDB, IAM, credentials
 * secret, bus and source) plus TRACKING_*, every problem of both reported at once.
 */
export function loadTrackingConfig(env: Record<string, string | undefined> = process.env): TrackingConfig {
  const base = parseConfig(env);
  const parsed = trackingEnvironmentSchema.safeParse(env);
  const problems = [...base.problems, ...issueTexts(parsed.error)];
  if (parsed.success && parsed.data.TRACKING_INITIAL_DELAY_SECONDS > parsed.data.TRACKING_MAX_DELAY_SECONDS) {
    problems.push(
      `TRACKING_INITIAL_DELAY_SECONDS must not be more than TRACKING_MAX_DELAY_SECONDS (${parsed.data.TRACKING_MAX_DELAY_SECONDS})`,
    );
  }
  if (base.config === undefined || !parsed.success || problems.length > 0) {
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    ...base.config,
    tracking: {
      queueUrl: e.TRACKING_QUEUE_URL,
      maxSeconds: e.TRACKING_MAX_SECONDS,
      initialDelaySeconds: e.TRACKING_INITIAL_DELAY_SECONDS,
      maxDelaySeconds: e.TRACKING_MAX_DELAY_SECONDS,
      concurrency: e.TRACKING_CONCURRENCY,
    },
  };
}

const rolloutEnvironmentSchema = z.object({
  ROLLOUT_TABLE: z.string({ error: 'is required' }).trim().min(1, 'is required'),
  ROLLOUT_STATE_MACHINE_ARN: z
    .string({ error: 'is required' })
    .trim()
    .regex(
      /^arn:[a-z-]+:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/,
      'must be a state machine ARN',
    ),
  // 60 s: an upgrade of a few minutes is seen ending within a minute, at about 10 history events per
  // tick (README.md "Fleet rollouts").
  ROLLOUT_TICK_SECONDS: positiveInt(60, 3600),
  // Ticks per execution before continue-as-new: about 11 history events each, so 500 ticks (8 h at
  // 60 s) are about 5,500 events, far below the 25,000 a Standard execution may hold.
  ROLLOUT_TICKS_PER_EXECUTION: positiveInt(500, 2000),
  ROLLOUT_TRACKING_MAX_SECONDS: positiveInt(7_200, 7 * 24 * 3600),
});

export interface RolloutConfig extends Config {
  rollouts: {
    tableName: string;
    stateMachineArn: string;
    tickSeconds: number;
    ticksPerExecution: number;
    trackingMaxSeconds: number;
  };
}

/** The configuration of the rollouts function: the common variables plus ROLLOUT_*, every problem at once. */
export function loadRolloutConfig(env: Record<string, string | undefined> = process.env): RolloutConfig {
  const base = parseConfig(env);
  const parsed = rolloutEnvironmentSchema.safeParse(env);
  const problems = [...base.problems, ...issueTexts(parsed.error)];
  if (base.config === undefined || !parsed.success || problems.length > 0) {
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    ...base.config,
    rollouts: {
      tableName: e.ROLLOUT_TABLE,
      stateMachineArn: e.ROLLOUT_STATE_MACHINE_ARN,
      tickSeconds: e.ROLLOUT_TICK_SECONDS,
      ticksPerExecution: e.ROLLOUT_TICKS_PER_EXECUTION,
      trackingMaxSeconds: e.ROLLOUT_TRACKING_MAX_SECONDS,
    },
  };
}
