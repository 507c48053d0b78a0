import { type DynaliteStandIn, startDynalite } from '../stand-ins/dynamodb.ts';
import {
  type EventBridgeStandIn,
  type ReceivedEntry,
  startEventBridgeStandIn,
} from '../stand-ins/eventbridge.ts';
import { type SecretsManagerStandIn, startSecretsManagerStandIn } from '../stand-ins/secrets-manager.ts';
import { type SentMessage, type SqsStandIn, startSqsStandIn } from '../stand-ins/sqs.ts';

/**
 * The AWS side of the sandbox on 127.0.0.1: Secrets Manager, EventBridge and (through dynalite)
 * DynamoDB, and (for the tracker) SQS, reached by the handlers' own SDK clients through the standard endpoint variables, exactly
 * as in the handler tests. Nothing here can reach real AWS: the endpoints are loopback and the
 * credentials are dummies.
 */

export interface LocalAwsOptions {
  /** Secret id → SecretString value (objects are stored as JSON). */
  secrets: Record<string, unknown>;
  /** Called with each event EventBridge accepts, as it is accepted. */
  onPublished: (entry: ReceivedEntry) => void;
  /** Start dynalite with this idempotency table; undefined = no duplicate suppression. */
  idempotencyTable: string | undefined;
  /** Start SQS with this tracking queue; `onQueued` gets each message sent to it. Undefined = no SQS. */
  trackingQueue?: { name: string; onQueued: (message: SentMessage) => void };
  region: string;
}

export interface LocalAws {
  /** Variables for the handler; `undefined` means the variable must be removed. */
  env: Record<string, string | undefined>;
  secretsManager: SecretsManagerStandIn;
  eventBridge: EventBridgeStandIn;
  dynamo: DynaliteStandIn | undefined;
  sqs: SqsStandIn | undefined;
  close(): Promise<void>;
}

export async function startLocalAws(options: LocalAwsOptions): Promise<LocalAws> {
  const started: Array<{ close(): Promise<void> }> = [];
  const close = async () => {
    await Promise.allSettled(started.map((service) => service.close()));
  };
  try {
    const secretsManager = await startSecretsManagerStandIn();
    started.push(secretsManager);
    for (const [secretId, value] of Object.entries(options.secrets)) secretsManager.put(secretId, value);
    const eventBridge = await startEventBridgeStandIn({ onAccepted: options.onPublished });
    started.push(eventBridge);
    const dynamo =
      options.idempotencyTable === undefined
        ? undefined
        : await startDynalite({ tableName: options.idempotencyTable });
    if (dynamo) started.push(dynamo);
    const queue = options.trackingQueue;
    const sqs =
      queue === undefined
        ? undefined
        : await startSqsStandIn({ queues: [queue.name], region: options.region, onSent: queue.onQueued });
    if (sqs) started.push(sqs);
    return {
      env: {
        AWS_REGION: options.region,
        // Dummies: the SDK refuses to sign without credentials, the stand-ins check none. A developer's
        // own profile or session must not be picked up (and sent, even to loopback).
        AWS_ACCESS_KEY_ID: 'AKIDSANDBOX',
        AWS_SECRET_ACCESS_KEY: 'sandbox-secret-access-key',
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: undefined,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.server.url,
        AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo?.endpoint,
        IDEMPOTENCY_TABLE: dynamo?.tableName,
        AWS_ENDPOINT_URL_SQS: sqs?.url,
        TRACKING_QUEUE_URL: queue && sqs?.queueUrl(queue.name),
      },
      secretsManager,
      eventBridge,
      dynamo,
      sqs,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
