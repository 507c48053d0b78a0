import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { IdempotencyStoreError, InProgressError } from './errors.ts';

/** What makes one upgrade step unique: the delivery plus the target. Nothing else (not `change_id`). */
export interface StepKey {
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
  run<T extends object>(key: StepKey, step: () => Promise<T>): Promise<StepResult<T>>;
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
  /** How long a completed step is remembered. */
  windowSeconds?: number;
  client?: DynamoDBClient;
  /**
   * Prefix of every record id. Fixed rather than Powertools' default (the Lambda function name) so
   * renaming the function does not forget the records of deliveries still being retried.
   */
  keyPrefix?: string;
}

const defaults = {
  windowSeconds: 3600,
  keyPrefix: 'taurusdb-proxy-upgrader.upgrade-step',
};

let sharedClient: DynamoDBClient | undefined;
/** One client per container with the SDK's standard settings, so `AWS_ENDPOINT_URL_DYNAMODB` applies. */
function defaultClient(): DynamoDBClient {
  sharedClient ??= new DynamoDBClient({});
  return sharedClient;
}

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

/** The DynamoDB failure behind Powertools' wrapper: an exception name, or a socket error code. */
function reasonOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (!(cause instanceof Error)) return 'unknown error';
  const code = (cause as NodeJS.ErrnoException).code;
  return cause.name === 'Error' && typeof code === 'string' ? code : cause.name;
}

function describeTarget(key: StepKey): string {
  return `delivery ${key.deliveryId} to proxy ${key.proxy_id} of instance ${key.instance_id}`;
}

function createPassThroughRunner(): IdempotentRunner {
  return {
    async run(_key, step) {
      return { value: toJson(await step()), replayed: false };
    },
    registerLambdaContext() {},
  };
}

export function createIdempotentRunner(options: IdempotentRunnerOptions): IdempotentRunner {
  const { tableName } = options;
  if (tableName === undefined) return createPassThroughRunner();

  const config = new IdempotencyConfig({
    expiresAfterSeconds: options.windowSeconds ?? defaults.windowSeconds,
    // Never run a step without suppression because its key came out empty.
    throwOnNoIdempotencyKey: true,
  });
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName,
    awsSdkV3Client: options.client ?? defaultClient(),
  });
  let contextRegistered = false;

  const idempotentStep = makeIdempotent(
    async (_payload: ReturnType<typeof keyPayload>, step: () => Promise<object>, trace: CallTrace) => {
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
    },
    {
      persistenceStore,
      config,
      keyPrefix: options.keyPrefix ?? defaults.keyPrefix,
      dataIndexArgument: 0,
    },
  );

  return {
    registerLambdaContext(context) {
      config.registerLambdaContext(context);
      contextRegistered = true;
    },

    async run<T extends object>(key: StepKey, step: () => Promise<T>): Promise<StepResult<T>> {
      if (!contextRegistered) {
        // Without the context Powertools writes no in-progress expiry: a crashed invocation would
        // block every retry of its delivery for the whole window.
        throw new Error('registerLambdaContext(context) must be called before run');
      }
      const payload = keyPayload(key);
      const trace: CallTrace = { ran: false, completed: false, failed: false };
      try {
        const value = (await idempotentStep(payload, step, trace)) as T;
        return { value, replayed: !trace.ran };
      } catch (error) {
        // Powertools replaces the step's error when deleting the in-progress record fails; the
        // step's own error is the one that matters (the record then expires with this invocation).
        if (trace.failed) throw trace.error;
        if (trace.completed) {
          const storeError = new IdempotencyStoreError(
            `the result of ${describeTarget(key)} could not be stored in table ${tableName} (${reasonOf(error)})`,
            { cause: error },
          );
          return { value: trace.value as T, replayed: false, storeError };
        }
        if (error instanceof IdempotencyAlreadyInProgressError) {
          throw new InProgressError(`${describeTarget(key)} is already in progress`, { cause: error });
        }
        throw new IdempotencyStoreError(
          `duplicate suppression table ${tableName} could not be used for ${describeTarget(key)} (${reasonOf(error)}); the upgrade was not attempted`,
          { cause: error },
        );
      }
    },
  };
}
