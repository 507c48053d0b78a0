import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';

/** dynalite ships no types; this is the slice of its factory the suite uses. */
type DynaliteFactory = (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

export interface DynaliteStandIn {
  /** `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_DYNAMODB` in handler tests. */
  endpoint: string;
  /** The idempotency table created at start, laid out as Powertools expects (partition key `id`). */
  tableName: string;
  /** A real SDK client aimed at dynalite; destroyed by `close`. */
  client(): DynamoDBClient;
  /** Another table with the same layout, for a test that needs to see only its own records. */
  createTable(name?: string): Promise<string>;
  /** Every item of a table, unmarshalled. */
  scan(tableName?: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** Test credentials and region: dynalite checks neither, but the SDK refuses to sign without them. */
export const dynamoClientConfig = {
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-access-key' },
  // One attempt: a test about an unreachable store must fail at once, not after backoff.
  maxAttempts: 1,
};

const ACTIVE_POLLS = 50;

/**
 * DynamoDB over its real JSON protocol, in memory, on 127.0.0.1 with an OS-chosen port. Tables become
 * ACTIVE without dynalite's default 500 ms CREATING delay.
 */
export async function startDynalite(options: { tableName?: string } = {}): Promise<DynaliteStandIn> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: DynamoDBClient[] = [];
  let tableCount = 0;

  function client(): DynamoDBClient {
    const created = new DynamoDBClient({ endpoint, ...dynamoClientConfig });
    clients.push(created);
    return created;
  }
  const admin = client();
  const documents = DynamoDBDocumentClient.from(admin);

  async function createTable(name = `idempotency-${++tableCount}`): Promise<string> {
    await admin.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    for (let poll = 0; poll < ACTIVE_POLLS; poll += 1) {
      const { Table } = await admin.send(new DescribeTableCommand({ TableName: name }));
      if (Table?.TableStatus === 'ACTIVE') return name;
      await sleep(10);
    }
    throw new Error(`dynalite table ${name} did not become ACTIVE after ${ACTIVE_POLLS} polls`);
  }

  const tableName = await createTable(options.tableName);
  return {
    endpoint,
    tableName,
    client,
    createTable,
    async scan(name = tableName) {
      const { Items = [] } = await documents.send(new ScanCommand({ TableName: name, ConsistentRead: true }));
      return Items;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const created of clients) created.destroy();
        // The SDK keeps connections alive; dynalite's close waits for them otherwise.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
