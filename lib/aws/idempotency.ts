import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { IdempotencyStoreError, InProgressError } from '../errors.ts';
import type { TriggerKind } from '../http/triggers.ts';
import { type AwsCallSettings, awsClientOptions } from './call-budget.ts';
import { awsErrorName } from './error-name.ts';
import { type ClaimResult, createStepRecords, digest, newOwner, type SendingClaim } from './step-records.ts';

/** What makes one upgrade step unique: the delivery plus the target. Nothing else (not `change_id`). */
export interface StepKey {
  /** Which window applies: each sender retries for its own time. Not part of the key itself. */
  kind: TriggerKind;
  deliveryId: string;
  project_id: string;
  instance_id: string;
  proxy_id: string;
  source_version: string;
  target_version: string;
}

export interface StepResult<T> {
  /** The step's value in its JSON form, the same shape whether it ran now or came from the store. */
  value: T;
  /** True when the value came from the store: the step did not run in this call. */
  replayed: boolean;
  /**
   * Set when the step ran but its value could not be stored. The value is still returned so the
   * caller publishes it and succeeds instead of provoking a retry that would run the step again;
   * the caller should log this, because a redelivery after the in-progress expiry would run it again.
   */
  storeError?: IdempotencyStoreError;
}

/** What a running step may ask of duplicate suppression about its one non-idempotent call. */
export interface StepGuard {
  /**
   * Call right before the upgrade POST. `claimed: false`: an earlier attempt of this step got as far
   * and may have sent it; do not send, reconcile instead. Throws when the table cannot be used.
   */
  claimSending(versions: Omit<SendingClaim, 'sending_at'>): Promise<ClaimResult>;
  /** Call after a failure that provably sent nothing, before throwing it, so a redelivery may send. */
  releaseSending(): Promise<void>;
}

export interface IdempotentRunner {
  /**
   * Runs `step` once per key within the window; a repeat returns the stored value; an in-flight
   * duplicate throws InProgressError.
   *
   * Contract for `step`: return every outcome in which TaurusDB may have acted (accepted, rejected,
   * an upstream error, a timeout after the request was sent) as a value, so it is stored and
   * replayed. Throw only when the call provably did not happen: a throw releases the key (Powertools
   * deletes the in-progress record), so the trigger's retry runs the step again.
   */
  run<T extends object>(key: StepKey, step: (guard: StepGuard) => Promise<T>): Promise<StepResult<T>>;
  /**
   * Call once per delivery, before any step or upstream call: the same delivery id with another
   * request hash throws DeliveryReusedError. A store failure throws IdempotencyStoreError.
   */
  guardDelivery(kind: TriggerKind, deliveryId: string, requestHash: string): Promise<void>;
  /**
   * Call once per invocation, before `run`. The in-progress record expires when this invocation's
   * time runs out, so a retry can take over from an invocation that died mid-step instead of being
   * refused for the whole window.
   */
  registerLambdaContext(context: Context): void;
}

export interface IdempotentRunnerOptions {
  /** DynamoDB table (partition key `id`, TTL attribute `expiration`); undefined = no suppression. */
  tableName: string | undefined;
  /** How long a completed step is remembered, per trigger kind: as long as that kind's sender retries. */
  windowSeconds?: Partial<Record<TriggerKind, number>>;
  /**
   * How long a sending record (and a delivery's request hash) is kept. Never less than the longest
   * window: within it no redelivery of a step that may have sent its POST ever sends it again.
   */
  sendingRecordSeconds?: number;
  client?: DynamoDBClient;
  /** Timeouts and attempts of the default client. */
  awsCalls?: AwsCallSettings;
  /**
   * Prefix of every record id. Fixed rather than Powertools' default (the Lambda function name) so
   * renaming the function does not forget the records of deliveries still being retried.
   */
  keyPrefix?: string;
}

/**
 * How long a rollout target's delivery id is remembered: the rollout tick resumes a target it left
 * `started` only within it (lib/composition/rollout-function.ts).
 */
export const ROLLOUT_WINDOW_SECONDS = 24 * 3600;

const defaults = {
  // Svix, the origin of Standard Webhooks, retries for about 27 hours (immediately, 5 s, 5 min, 30 min,
  // 2 h, 5 h, 10 h, 10 h); 48 h covers it and most webhook senders. EventBridge retries delivery for up
  // to 24 h, Lambda's own asynchronous retries for at most 6 h, and Scheduler for up to 24 h. A
  // rollout's tick resumes a target it left `started` on its next turn, a minute later
  // (lib/rollouts/advance.ts); past 24 h it ends the target Unconfirmed without sending again.
  windowSeconds: {
    http: 48 * 3600,
    event: 24 * 3600,
    schedule: 24 * 3600,
    rollout: ROLLOUT_WINDOW_SECONDS,
  } satisfies Record<TriggerKind, number>,
  sendingRecordSeconds: 30 * 24 * 3600,
  keyPrefix: 'taurusdb-proxy-upgrader.upgrade-step',
};

/**
 * The hashed payload. Built field by field so that whatever else the caller's object carries
 * (change_id, requested_by, language) never changes the key.
 */
function keyPayload(key: StepKey) {
  const payload = {
    delivery_id: key.deliveryId,
    project_id: key.project_id,
    instance_id: key.instance_id,
    proxy_id: key.proxy_id,
    source_version: key.source_version,
    target_version: key.target_version,
  };
  for (const [field, value] of Object.entries(payload)) {
    if (typeof value !== 'string' || value === '') {
      throw new TypeError(`idempotency key field ${field} must be a non-empty string`);
    }
  }
  return payload;
}

/** DynamoDB cannot store `undefined` (marshalling throws) and a replay can only give back JSON. */
function toJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** What one call saw of its own step; how `replayed` is told apart from a fresh run. */
interface CallTrace {
  ran: boolean;
  completed: boolean;
  value?: unknown;
  failed: boolean;
  error?: unknown;
}

function describeTarget(key: StepKey): string {
  return `delivery ${key.deliveryId} to proxy ${key.proxy_id} of instance ${key.instance_id}`;
}

const unguarded: StepGuard = {
  async claimSending() {
    return { claimed: true };
  },
  async releaseSending() {},
};

function createPassThroughRunner(): IdempotentRunner {
  return {
    async run(_key, step) {
      return { value: toJson(await step(unguarded)), replayed: false };
    },
    async guardDelivery() {},
    registerLambdaContext() {},
  };
}

type StepFunction = (
  payload: ReturnType<typeof keyPayload>,
  step: () => Promise<object>,
  trace: CallTrace,
) => Promise<object>;

async function tracedStep(
  _payload: ReturnType<typeof keyPayload>,
  step: () => Promise<object>,
  trace: CallTrace,
): Promise<object> {
  trace.ran = true;
  let value: object;
  try {
    value = await step();
  } catch (error) {
    trace.failed = true;
    trace.error = error;
    throw error;
  }
  trace.completed = true;
  // Kept raw first: should serialising fail, the caller still gets what TaurusDB answered.
  trace.value = value;
  const json = toJson(value);
  trace.value = json;
  return json;
}

/** What a Powertools error means for the caller, once the step's own outcome is known. */
function settle<T>(error: unknown, trace: CallTrace, key: StepKey, tableName: string): StepResult<T> {
  // Powertools replaces the step's error when deleting the in-progress record fails; the
  // step's own error is the one that matters (the record then expires with this invocation).
  if (trace.failed) throw trace.error;
  if (trace.completed) {
    const storeError = new IdempotencyStoreError(
      `the result of ${describeTarget(key)} could not be stored in table ${tableName} (${awsErrorName(error)})`,
      { cause: error },
    );
    return { value: trace.value as T, replayed: false, storeError };
  }
  if (error instanceof IdempotencyAlreadyInProgressError) {
    throw new InProgressError(`${describeTarget(key)} is already in progress`, { cause: error });
  }
  throw new IdempotencyStoreError(
    `duplicate suppression table ${tableName} could not be used for ${describeTarget(key)} (${awsErrorName(error)}); the upgrade was not attempted`,
    { cause: error },
  );
}

export function createIdempotentRunner(options: IdempotentRunnerOptions): IdempotentRunner {
  const { tableName } = options;
  if (tableName === undefined) return createPassThroughRunner();

  const table: string = tableName;
  // The SDK's standard region and endpoint (`AWS_ENDPOINT_URL_DYNAMODB` applies), with the request
  // timeout and bounded retries of every AWS call here (lib/aws/call-budget.ts). One runner, made
  // once per container by the composition root, so one client.
  const client = options.client ?? new DynamoDBClient(awsClientOptions(options.awsCalls));
  const keyPrefix = options.keyPrefix ?? defaults.keyPrefix;
  const windows = { ...defaults.windowSeconds, ...options.windowSeconds };
  const records = createStepRecords({
    tableName,
    client,
    keyPrefix,
    sendingRecordSeconds: Math.max(
      options.sendingRecordSeconds ?? defaults.sendingRecordSeconds,
      ...Object.values(windows),
    ),
  });
  // One Powertools configuration per trigger kind: the window is a setting of the configuration.
  const perKind = new Map<TriggerKind, { config: IdempotencyConfig; step: StepFunction }>();
  let context: Context | undefined;

  function forKind(kind: TriggerKind) {
    let entry = perKind.get(kind);
    if (entry === undefined) {
      const config = new IdempotencyConfig({
        expiresAfterSeconds: windows[kind],
        // Never run a step without suppression because its key came out empty.
        throwOnNoIdempotencyKey: true,
      });
      // A persistence layer of its own per kind: Powertools configures a layer from the first
      // configuration it is used with and keeps that window for every later one.
      const persistenceStore = new DynamoDBPersistenceLayer({ tableName: table, awsSdkV3Client: client });
      const step = makeIdempotent(tracedStep, { persistenceStore, config, keyPrefix, dataIndexArgument: 0 });
      entry = { config, step };
      perKind.set(kind, entry);
    }
    if (context !== undefined) entry.config.registerLambdaContext(context);
    return entry;
  }

  return {
    registerLambdaContext(lambdaContext) {
      context = lambdaContext;
    },

    guardDelivery(kind, deliveryId, requestHash) {
      return records.guardDelivery(`${kind}:${deliveryId}`, deliveryId, requestHash);
    },

    async run<T extends object>(
      key: StepKey,
      step: (guard: StepGuard) => Promise<T>,
    ): Promise<StepResult<T>> {
      if (context === undefined) {
        // Without the context Powertools writes no in-progress expiry: a crashed invocation would
        // block every retry of its delivery for the whole window.
        throw new Error('registerLambdaContext(context) must be called before run');
      }
      const payload = keyPayload(key);
      const stepId = digest(JSON.stringify(payload));
      const owner = newOwner();
      const guard: StepGuard = {
        claimSending: (versions) => records.claimSending(stepId, owner, versions),
        releaseSending: () => records.releaseSending(stepId, owner),
      };
      const trace: CallTrace = { ran: false, completed: false, failed: false };
      try {
        const value = (await forKind(key.kind).step(payload, () => step(guard), trace)) as T;
        return { value, replayed: !trace.ran };
      } catch (error) {
        return settle<T>(error, trace, key, tableName);
      }
    },
  };
}
