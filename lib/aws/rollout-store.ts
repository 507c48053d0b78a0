import { gunzipSync, gzipSync } from 'node:zlib';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { RolloutReusedError, RolloutServiceError } from '../errors.ts';
import type { RolloutFlags, RolloutRecord } from '../rollouts/record.ts';
import { type AwsCallSettings, awsClientOptions } from './call-budget.ts';
import { awsErrorName } from './error-name.ts';

/**
 * The rollout record in DynamoDB (partition key `id` = the rollout id), one item per rollout.
 *
 * - `create` is the first guard against a redelivered request: a put conditional on the id being
 *   new. The same request (by its digest) again finds its rollout ('exists'); another request under
 *   the same id is a RolloutReusedError (409).
 * - `save` writes only what the advance tick owns, conditional on the revision it read, and bumps
 *   it: of two ticks on one revision only one writes, and the other sends nothing
 *   (lib/rollouts/advance.ts). The flags (paused, cancelled, approved) are the control routes'
 *   attributes, which `save` never writes, so an approve call between a tick's read and its write
 *   is neither lost nor a conflict.
 * - One item holds up to MAX_PLANNED_TARGETS (lib/rollouts/plan.ts) targets. As attributes they
 *   take 350 to 400 bytes each once started and ended, so 1,000 of them pass DynamoDB's 400 KB item
 *   limit (the 1,000-proxy test in test/state-machine.test.ts met the ValidationException): the
 *   target list is stored as gzip-compressed JSON in one binary attribute (`targets_gz`), about a
 *   tenth of that.
 */

export interface RolloutStore {
  create(record: RolloutRecord, requestDigest: string): Promise<'created' | 'exists'>;
  get(rolloutId: string): Promise<RolloutRecord | undefined>;
  save(record: RolloutRecord): Promise<boolean>;
  setFlags(rolloutId: string, flags: Partial<RolloutFlags>): Promise<void>;
  /**
   * Records that generation g is being started, unless the record names g or a later one already:
   * false then, and of two callers moving it to the same g only one gets true.
   */
  claimGeneration(rolloutId: string, generation: number): Promise<boolean>;
}

interface RolloutStoreOptions {
  tableName: string;
  awsCalls?: AwsCallSettings;
  client?: DynamoDBClient;
  now?: () => Date;
}

/** The attributes a tick (and the plan task) writes; the rest is written once, at create. */
const TICK_OWNED = ['status', 'wave', 'wave_ended_at', 'wave_ends', 'budget'] as const;

export function createRolloutStore(options: RolloutStoreOptions): RolloutStore {
  const { tableName } = options;
  const documents = DynamoDBDocumentClient.from(
    options.client ?? new DynamoDBClient(awsClientOptions(options.awsCalls)),
    { marshallOptions: { removeUndefinedValues: true } },
  );
  const now = options.now ?? (() => new Date());
  const failed = (what: string, id: string, error: unknown) =>
    new RolloutServiceError(
      `rollout table ${tableName} could not be used to ${what} rollout ${id} (${awsErrorName(error)}); nothing was started`,
      { cause: error },
    );

  /** The stored item, read consistently (a tick must see the revision the last write left). */
  async function itemOf(rolloutId: string): Promise<Record<string, unknown> | undefined> {
    try {
      const { Item } = await documents.send(
        new GetCommand({ TableName: tableName, Key: { id: rolloutId }, ConsistentRead: true }),
      );
      return Item;
    } catch (error) {
      throw failed('read', rolloutId, error);
    }
  }

  async function get(rolloutId: string): Promise<RolloutRecord | undefined> {
    const item = await itemOf(rolloutId);
    return item === undefined ? undefined : recordOf(item);
  }

  return {
    get,
    async create(record, requestDigest) {
      const { flags, rollout_id, ...rest } = record;
      const { targets, ...others } = rest;
      const item = {
        id: rollout_id,
        ...others,
        targets_gz: packTargets(targets),
        ...flags,
        request_digest: requestDigest,
        created_at: now().toISOString(),
      };
      try {
        await documents.send(
          new PutCommand({
            TableName: tableName,
            Item: item,
            ConditionExpression: 'attribute_not_exists(id)',
          }),
        );
        return 'created';
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw failed('create', rollout_id, error);
      }
      if ((await itemOf(rollout_id))?.request_digest === requestDigest) return 'exists';
      throw new RolloutReusedError(
        `rollout ${rollout_id} already exists for another request; choose another rollout_id (or send the same request to see its status)`,
      );
    },
    save: (record) =>
      landed(
        documents,
        new UpdateCommand({
          TableName: tableName,
          Key: { id: record.rollout_id },
          ...tickUpdate(record),
          ConditionExpression: '#revision = :read',
        }),
        (error) => failed('write', record.rollout_id, error),
      ),
    claimGeneration: (rolloutId, generation) =>
      landed(
        documents,
        new UpdateCommand({ TableName: tableName, Key: { id: rolloutId }, ...generationClaim(generation) }),
        (error) => failed('start generation of', rolloutId, error),
      ),
    async setFlags(rolloutId, flags) {
      const entries = Object.entries(flags).filter(([, value]) => value !== undefined);
      if (entries.length === 0) return;
      try {
        await documents.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { id: rolloutId },
            UpdateExpression: `SET ${entries.map(([name]) => `#${name} = :${name}`).join(', ')}`,
            ConditionExpression: 'attribute_exists(id)',
            ExpressionAttributeNames: Object.fromEntries(entries.map(([name]) => [`#${name}`, name])),
            ExpressionAttributeValues: Object.fromEntries(
              entries.map(([name, value]) => [`:${name}`, value]),
            ),
          }),
        );
      } catch (error) {
        throw failed('flag', rolloutId, error);
      }
    },
  };
}

/** Generation g written over an absent or earlier one only. */
const generationClaim = (generation: number) => ({
  UpdateExpression: 'SET #generation = :generation',
  ConditionExpression:
    'attribute_exists(id) AND (attribute_not_exists(#generation) OR #generation < :generation)',
  ExpressionAttributeNames: { '#generation': 'generation' },
  ExpressionAttributeValues: { ':generation': generation },
});

/** A conditional update: true when it landed, false when its condition did not hold. */
async function landed(
  documents: DynamoDBDocumentClient,
  command: UpdateCommand,
  fault: (error: unknown) => Error,
): Promise<boolean> {
  try {
    await documents.send(command);
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw fault(error);
  }
}

/** The tick's attributes set (or removed when absent) and the revision moved on from the one it read. */
function tickUpdate(record: RolloutRecord) {
  const names: Record<string, string> = { '#revision': 'revision' };
  const values: Record<string, unknown> = { ':read': record.revision, ':next': record.revision + 1 };
  const sets = ['#revision = :next'];
  const removes: string[] = [];
  for (const attribute of TICK_OWNED) {
    names[`#${attribute}`] = attribute;
    if (record[attribute] === undefined) {
      removes.push(`#${attribute}`);
    } else {
      values[`:${attribute}`] = record[attribute];
      sets.push(`#${attribute} = :${attribute}`);
    }
  }
  // The targets go compressed (see above), under their own attribute name.
  names['#targets_gz'] = 'targets_gz';
  values[':targets_gz'] = packTargets(record.targets);
  sets.push('#targets_gz = :targets_gz');
  return {
    UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

const packTargets = (targets: RolloutRecord['targets']) => gzipSync(JSON.stringify(targets));

function recordOf(item: Record<string, unknown>): RolloutRecord {
  const {
    id,
    paused,
    cancelled,
    approved,
    request_digest: _digest,
    created_at: _created,
    targets_gz,
    ...rest
  } = item;
  return {
    ...(rest as Omit<RolloutRecord, 'rollout_id' | 'flags' | 'targets'>),
    targets: JSON.parse(gunzipSync(targets_gz as Uint8Array).toString('utf8')) as RolloutRecord['targets'],
    rollout_id: id as string,
    flags: {
      paused: paused === true,
      cancelled: cancelled === true,
      ...(approved === undefined ? {} : { approved: approved as RolloutFlags['approved'] }),
    },
  };
}
