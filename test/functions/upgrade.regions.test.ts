import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTaurusDbStandIn, type TaurusDbStandIn } from '../../stand-ins/taurusdb.ts';
import { sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

/**
 * Any region per request (README.md "Regions"): each request's `region` picks its TaurusDB endpoint
 * (here TAURUSDB_ENDPOINTS aims cn-east-3 at a second stand-in; HUAWEI_REGION's requests go to
 * TAURUSDB_ENDPOINT), each project gets its own IAM token, and a region nothing serves is a 400
 * naming the field before any call.
 */

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const PROJECT_A = '054e292c9880d4992f02c0196d3ea468';
const PROJECT_B = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';

describe('requests in two regions', () => {
  let world: World;
  let second: TaurusDbStandIn;

  beforeAll(async () => {
    // The second region's TaurusDB accepts the tokens the world's IAM issued, as Huawei's regions do.
    second = await startTaurusDbStandIn({
      isAccepted: (token) => world.iam.issuedTokens.some((issued) => issued.token === token),
    });
    world = await startWorld({
      credentials: 'password',
      env: { HUAWEI_REGION: 'eu-west-101', TAURUSDB_ENDPOINTS: JSON.stringify({ 'cn-east-3': second.url }) },
    });
  });
  afterAll(async () => {
    await world.close();
    await second.close();
  });

  it("reach each region's endpoint, each with its own project's token", async () => {
    const batch = {
      upgrades: [
        { ...REQUEST, project_id: PROJECT_A, region: 'eu-west-101', proxy_id: 'region-a-po01' },
        { ...REQUEST, project_id: PROJECT_B, region: 'cn-east-3', proxy_id: 'region-b-po01' },
        { ...REQUEST, project_id: PROJECT_A, proxy_id: 'region-default-po01' },
      ],
    };
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', batch));

    expect(answer.json.outcomes.map((outcome: { outcome: string }) => outcome.outcome)).toStrictEqual([
      'accepted',
      'accepted',
      'accepted',
    ]);
    expect(
      world.taurusDb.upgrades.map((upgrade) => [upgrade.projectId, upgrade.proxyId]).sort(),
    ).toStrictEqual([
      [PROJECT_A, 'region-a-po01'],
      [PROJECT_A, 'region-default-po01'],
    ]);
    expect(second.upgrades.map((upgrade) => [upgrade.projectId, upgrade.proxyId])).toStrictEqual([
      [PROJECT_B, 'region-b-po01'],
    ]);
    const tokenOf = (projectId: string) =>
      world.iam.issuedTokens
        .filter((issued) => issued.token.includes(projectId))
        .map((issued) => issued.token);
    expect(tokenOf(PROJECT_B)).toContain(second.upgrades[0]?.token);
    expect(tokenOf(PROJECT_A)).toContain(world.taurusDb.upgrades[0]?.token);
    expect(second.upgrades[0]?.token).not.toBe(world.taurusDb.upgrades[0]?.token);
    const regions = world.eventBridge
      .events()
      .map((entry) => (entry.Detail as { request: { region?: string } }).request.region);
    expect(regions.sort()).toStrictEqual(['cn-east-3', 'eu-west-101', undefined]);
  });

  it('refuse a region nothing serves, naming the field, before any call', async () => {
    world.forgetTraffic();
    const before = second.requests.length;
    const answer = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', {
        upgrades: [
          { ...REQUEST, region: 'eu-west-101' },
          { ...REQUEST, proxy_id: 'region-x-po01', region: 'mars-north-1' },
        ],
      }),
    );
    expect(answer.statusCode).toBe(400);
    expect(answer.json.issues).toStrictEqual([
      {
        path: 'upgrades[1].region',
        message:
          'is not a region TaurusDB is known in here (mars-north-1); name a Huawei region, or add its endpoint to TAURUSDB_ENDPOINTS',
      },
    ]);
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(second.requests.length).toBe(before);
  });
});
