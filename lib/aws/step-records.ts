import { createHash, randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DeliveryReusedError, IdempotencyStoreError } from '../errors.ts';
import { awsErrorName } from './error-name.ts';

/**
 * The two records that Powertools idempotency does not keep, in the same table (partition key `id`,
 * TTL attribute `expiration`):
 *
 * - the **sending record** of a step, written (conditionally) just before the upgrade POST. Powertools'
 *   in-progress record expires with the invocation, which is right for a lock and wrong for a
 *   non-idempotent upstream: an invocation that dies after the POST leaves nothing that tells the
 *   next one the POST went out. The sending record does, for `sendingRecordSeconds` (30 days by
 *   default, far beyond any sender's retries and any duplicate-suppression window), whatever happened
 *   to the in-progress or completed record;
 * - the **delivery record**: a hash of the delivery's canonical request, so one delivery id can only
 *   ever mean one request. Kept as long as the sending records, so a reused id is refused for as long
 *   as its steps are remembered.
 */

export interface SendingClaim {
  /** When the attempt that holds the claim was about to send. */
  sending_at: string;
  source_version: string;
  target_version: string;
}

export type ClaimResult = { claimed: true } | { claimed: false; earlier: SendingClaim };

export interface StepRecordsOptions {
  tableName: string;
  client: DynamoDBClient;
  keyPrefix: string;
  sendingRecordSeconds: number;
  now?: () => number;
}

export interface StepRecords {
  /**
   * Claims the right to send the step's POST. `claimed: false` means an earlier attempt of the same
   * step got there first and may have sent it: the caller must not send. Throws IdempotencyStoreError
   * when the table cannot be used (nothing may be sent then either).
   */
  claimSending(
    stepId: string,
    owner: string,
    versions: Omit<SendingClaim, 'sending_at'>,
  ): Promise<ClaimResult>;
  /** Gives the claim back after a failure that provably sent nothing, so a redelivery sends again. */
  releaseSending(stepId: string, owner: string): Promise<void>;
  /** Throws DeliveryReusedError when the delivery id was already used for another request hash. */
  guardDelivery(deliveryKey: string, describe: string, requestHash: string): Promise<void>;
}

export function newOwner(): string {
  return randomUUID();
}

/** sha256 hex of a string: record ids never carry the delivery id or target as given. */
export function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** String attributes of a raw DynamoDB item, as the failed condition returns it (not unmarshalled). */
function textsOf(item: Record<string, { S?: string }>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(item).map(([name, value]) => [name, value.S]));
}

function conditionFailed(error: unknown): error is ConditionalCheckFailedException {
  return error instanceof ConditionalCheckFailedException;
}

function storeError(what: string, tableName: string, error: unknown): IdempotencyStoreError {
  return new IdempotencyStoreError(
    `duplicate suppression table ${tableName} could not be used for ${what} (${awsErrorName(error)}); the upgrade was not attempted`,
    { cause: error },
  );
}

export function createStepRecords(options: StepRecordsOptions): StepRecords {
  const documents = DynamoDBDocumentClient.from(options.client);
  const now = options.now ?? Date.now;
  const { tableName, keyPrefix } = options;
  const expiration = () => Math.floor(now() / 1000) + options.sendingRecordSeconds;
  // An item past its TTL may linger until DynamoDB deletes it (up to days): it counts as absent.
  const absent = 'attribute_not_exists(id) OR #expiration < :now';

  /**
   * The claim that beat ours. DynamoDB returns it with the failed condition; dynalite and older
   * emulators do not, so it is read (consistently) when missing. Only an attempt that must not send
   * pays for this read.
   */
  async function readClaim(id: string): Promise<Record<string, string | undefined>> {
    try {
      const { Item } = await documents.send(
        new GetCommand({ TableName: tableName, Key: { id }, ConsistentRead: true }),
      );
      return (Item ?? {}) as Record<string, string | undefined>;
    } catch {
      // What matters is known already: someone else holds the claim. Its details are a courtesy.
      return {};
    }
  }

  async function release(stepId: string, owner: string): Promise<void> {
    try {
      await documents.send(
        new DeleteCommand({
          TableName: tableName,
          Key: { id: `${keyPrefix}.sending#${stepId}` },
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      if (conditionFailed(error)) return;
      throw storeError(`releasing the sending record of step ${stepId}`, tableName, error);
    }
  }

  return {
    async claimSending(stepId, owner, versions) {
      const item = {
        id: `${keyPrefix}.sending#${stepId}`,
        expiration: expiration(),
        owner,
        sending_at: new Date(now()).toISOString(),
        ...versions,
      };
      try {
        await documents.send(
          new PutCommand({
            TableName: tableName,
            Item: item,
            ConditionExpression: absent,
            ExpressionAttributeNames: { '#expiration': 'expiration' },
            ExpressionAttributeValues: { ':now': Math.floor(now() / 1000) },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { claimed: true };
      } catch (error) {
        if (!conditionFailed(error)) {
          // The write may have landed with its answer lost. Nothing was sent, so take it back if
          // possible: the redelivery then sends cleanly instead of reconciling a POST that never was.
          await release(stepId, owner).catch(() => undefined);
          throw storeError(`the sending record of step ${stepId}`, tableName, error);
        }
        const old = error.Item === undefined ? await readClaim(item.id) : textsOf(error.Item);
        // Our own write, answered too late and retried by the SDK: the claim is ours.
        if (old.owner === owner) return { claimed: true };
        return {
          claimed: false,
          earlier: {
            sending_at: old.sending_at ?? new Date(0).toISOString(),
            source_version: old.source_version ?? versions.source_version,
            target_version: old.target_version ?? versions.target_version,
          },
        };
      }
    },

    releaseSending: release,

    async guardDelivery(deliveryKey, describe, requestHash) {
      try {
        await documents.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              id: `${keyPrefix}.delivery#${digest(deliveryKey)}`,
              expiration: expiration(),
              request_hash: requestHash,
            },
            ConditionExpression: `${absent} OR request_hash = :hash`,
            ExpressionAttributeNames: { '#expiration': 'expiration' },
            ExpressionAttributeValues: { ':now': Math.floor(now() / 1000), ':hash': requestHash },
          }),
        );
      } catch (error) {
        if (conditionFailed(error)) {
          throw new DeliveryReusedError(`delivery id ${describe} was already used for a different request`);
        }
        throw storeError(`delivery ${describe}`, tableName, error);
      }
    },
  };
}
