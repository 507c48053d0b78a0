import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynaliteStandIn, startDynalite } from '../../stand-ins/dynamodb.ts';
import { type LatencyProxy, startLatencyProxy } from '../../stand-ins/latency-proxy.ts';
import {
  CREDENTIALS_SECRET_ID,
  sample,
  signedHttpEvent,
  startWorld,
  WEBHOOK_SECRET_ID,
  type World,
} from '../support/world.ts';

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const WARM_INVOCATIONS = 20;

/**
 * The round trips of issue 8, item 1, as a guard: `npm run bench` measures them over 1,000 invocations
 * of the bundle; this counts them over a few invocations of the handler, so that a change adding a call
 * per invocation fails the suite. Counts only, never timings.
 */
describe('round trips per warm invocation (password credentials, duplicate suppression on)', () => {
  let dynalite: DynaliteStandIn;
  // Zero latency: the proxy is only there to see each DynamoDB request and connection.
  let dynamo: LatencyProxy;
  let world: World;

  beforeAll(async () => {
    dynalite = await startDynalite();
    dynamo = await startLatencyProxy({ port: Number(new URL(dynalite.endpoint).port) });
    world = await startWorld({
      credentials: 'password',
      env: { AWS_ENDPOINT_URL_DYNAMODB: dynamo.url, IDEMPOTENCY_TABLE: dynalite.tableName },
    });
  });
  afterAll(async () => {
    await world.close();
    await dynamo.close();
    await dynalite.close();
  });

  const counts = () => ({
    upgrades: world.taurusDb.upgradeRequests(),
    versionReads: world.taurusDb.reads('version'),
    taurusDbRequests: world.taurusDb.requests.length,
    putEvents: world.eventBridge.calls.length,
    dynamo: dynamo.requests.map((request) => request.target?.replace(/^DynamoDB_\d+\./, '')),
    connections: {
      taurusDb: world.taurusDb.connections(),
      eventBridge: world.eventBridge.server.connections(),
      dynamoDb: dynamo.connections(),
      secretsManager: world.secretsManager.server.connections(),
      iam: world.iam.server.connections(),
    },
  });

  it('one upgrade POST, at most one version GET, one PutEvents, 3 DynamoDB writes per step + 1 per delivery; secrets and IAM once in all', async () => {
    // The container's first invocation reads the secrets, exchanges the password and opens connections.
    const first = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', REQUEST));
    expect(first.statusCode).toBe(200);
    const before = counts();

    for (let invocation = 0; invocation < WARM_INVOCATIONS; invocation += 1) {
      const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', REQUEST));
      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes).toMatchObject([{ outcome: 'accepted', replayed: false }]);
    }
    const after = counts();

    expect(after.upgrades - before.upgrades).toBe(WARM_INVOCATIONS);
    // The version read precedes the upgrade when the request does not turn it off; never more than one.
    const versionReads = after.versionReads - before.versionReads;
    expect(versionReads).toBeLessThanOrEqual(WARM_INVOCATIONS);
    expect(after.taurusDbRequests - before.taurusDbRequests).toBe(WARM_INVOCATIONS + versionReads);
    expect(after.putEvents - before.putEvents).toBe(WARM_INVOCATIONS);
    // The delivery's request hash (conditional PutItem, once per delivery), then per step: Powertools'
    // in-progress record (conditional PutItem), the durable sending record written before the POST
    // (conditional PutItem) and the result (UpdateItem).
    expect(after.dynamo.slice(before.dynamo.length)).toEqual(
      Array.from({ length: WARM_INVOCATIONS }, () => ['PutItem', 'PutItem', 'PutItem', 'UpdateItem']).flat(),
    );
    // Warm invocations reuse every keep-alive connection the first one opened.
    expect(after.connections).toEqual(before.connections);
    expect(after.connections).toEqual({
      taurusDb: 1,
      eventBridge: 1,
      dynamoDb: 1,
      secretsManager: 1,
      iam: 1,
    });
    // Once for the whole cache lifetime: each secret read and the password exchanged by the first.
    expect(world.secretsManager.reads(CREDENTIALS_SECRET_ID)).toBe(1);
    expect(world.secretsManager.reads(WEBHOOK_SECRET_ID)).toBe(1);
    expect(world.iam.tokenRequests()).toBe(1);
  });
});
