import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepRecords } from '../../../lib/aws/step-records.ts';
import { DeliveryReusedError, IdempotencyStoreError } from '../../../lib/errors.ts';
import { type DynaliteStandIn, dynamoClientConfig, startDynalite } from '../../../stand-ins/dynamodb.ts';
import { closedPort } from '../../../stand-ins/taurusdb.ts';

const VERSIONS = { source_version: '2.23.12.000', target_version: '2.24.03.000' };
const PREFIX = 'taurusdb-proxy-upgrader.upgrade-step';

describe('sending and delivery records over DynamoDB (dynalite)', () => {
  let dynamo: DynaliteStandIn;
  let clock = Date.parse('2026-12-01T10:00:00.000Z');

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.close());

  async function fresh() {
    const tableName = await dynamo.createTable();
    const records = createStepRecords({
      tableName,
      client: dynamo.client(),
      keyPrefix: PREFIX,
      sendingRecordSeconds: 3600,
      now: () => clock,
    });
    return { tableName, records };
  }

  it('the first claim wins; any other attempt learns when and what the earlier one was sending', async () => {
    const { tableName, records } = await fresh();
    expect(await records.claimSending('step-1', 'owner-a', VERSIONS)).toEqual({ claimed: true });
    expect(await records.claimSending('step-1', 'owner-b', { ...VERSIONS, target_version: '9.9.9' })).toEqual(
      {
        claimed: false,
        earlier: { sending_at: '2026-12-01T10:00:00.000Z', ...VERSIONS },
      },
    );
    const [record, ...others] = await dynamo.scan(tableName);
    expect(others).toEqual([]);
    expect(record).toMatchObject({
      id: `${PREFIX}.sending#step-1`,
      owner: 'owner-a',
      expiration: Math.floor(clock / 1000) + 3600,
      ...VERSIONS,
    });
  });

  it('a claim retried by its own owner (its first write landed, the answer was lost) is still its own', async () => {
    const { records } = await fresh();
    await records.claimSending('step-1', 'owner-a', VERSIONS);
    expect(await records.claimSending('step-1', 'owner-a', VERSIONS)).toEqual({ claimed: true });
  });

  it('a released claim can be taken again; only its owner can release it', async () => {
    const { records } = await fresh();
    await records.claimSending('step-1', 'owner-a', VERSIONS);
    await records.releaseSending('step-1', 'owner-b');
    expect((await records.claimSending('step-1', 'owner-c', VERSIONS)).claimed).toBe(false);
    await records.releaseSending('step-1', 'owner-a');
    expect((await records.claimSending('step-1', 'owner-c', VERSIONS)).claimed).toBe(true);
  });

  it('a record past its TTL that DynamoDB has not deleted yet counts as absent', async () => {
    const { records } = await fresh();
    await records.claimSending('step-1', 'owner-a', VERSIONS);
    clock += 3601_000;
    expect((await records.claimSending('step-1', 'owner-b', VERSIONS)).claimed).toBe(true);
  });

  it('one delivery id, one request hash', async () => {
    const { records } = await fresh();
    await records.guardDelivery('http:msg_1', 'msg_1', 'hash-a');
    await records.guardDelivery('http:msg_1', 'msg_1', 'hash-a');
    await records.guardDelivery('event:msg_1', 'msg_1', 'hash-b');
    const reused = records.guardDelivery('http:msg_1', 'msg_1', 'hash-b');
    await expect(reused).rejects.toBeInstanceOf(DeliveryReusedError);
    await expect(reused).rejects.toThrow('delivery id msg_1 was already used for a different request');
  });

  it('reads the earlier claim from the failed condition when DynamoDB returns it (as the real service does)', async () => {
    // dynalite never returns the item with a failed condition; DynamoDB does, over the same protocol.
    const targets: string[] = [];
    const server = createServer((request, response) => {
      targets.push(String(request.headers['x-amz-target']));
      request.resume();
      response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(
        JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
          message: 'The conditional request failed',
          Item: {
            owner: { S: 'owner-a' },
            sending_at: { S: '2026-12-01T09:00:00.000Z' },
            target_version: { S: '2.24.09.000' },
          },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = new DynamoDBClient({ ...dynamoClientConfig, endpoint: `http://127.0.0.1:${port}` });
    try {
      const records = createStepRecords({
        tableName: 't',
        client,
        keyPrefix: PREFIX,
        sendingRecordSeconds: 60,
      });
      expect(await records.claimSending('step-1', 'owner-b', VERSIONS)).toEqual({
        claimed: false,
        earlier: {
          sending_at: '2026-12-01T09:00:00.000Z',
          source_version: VERSIONS.source_version,
          target_version: '2.24.09.000',
        },
      });
      expect(await records.claimSending('step-1', 'owner-a', VERSIONS)).toEqual({ claimed: true });
      // No extra read: the answer carried the item.
      expect(targets).toEqual(['DynamoDB_20120810.PutItem', 'DynamoDB_20120810.PutItem']);
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a claim whose write fails is taken back where possible, and the failure is a store error', async () => {
    const { tableName, records } = await fresh();
    const failing = createStepRecords({
      tableName,
      client: new DynamoDBClient({
        ...dynamoClientConfig,
        endpoint: `http://127.0.0.1:${await closedPort()}`,
      }),
      keyPrefix: PREFIX,
      sendingRecordSeconds: 60,
    });
    await expect(failing.releaseSending('step-1', 'owner-a')).rejects.toThrow(
      /could not be used for releasing the sending record of step step-1 \(ECONNREFUSED\)/,
    );
    // Releasing what is not there, or what another owner holds, is no error.
    await records.releaseSending('step-9', 'owner-a');
  });

  it('a table that cannot be reached is an IdempotencyStoreError naming the cause, never a claim', async () => {
    const client = new DynamoDBClient({
      ...dynamoClientConfig,
      endpoint: `http://127.0.0.1:${await closedPort()}`,
    });
    const records = createStepRecords({
      tableName: 't',
      client,
      keyPrefix: PREFIX,
      sendingRecordSeconds: 60,
    });
    const claim = records.claimSending('step-1', 'owner-a', VERSIONS);
    await expect(claim).rejects.toBeInstanceOf(IdempotencyStoreError);
    await expect(claim).rejects.toThrow(
      /could not be used for the sending record of step step-1 \(ECONNREFUSED\)/,
    );
    await expect(records.guardDelivery('http:m', 'm', 'h')).rejects.toBeInstanceOf(IdempotencyStoreError);
    client.destroy();
  });
});
