import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

/**
 * Huawei's advisory travels with the upgrade (README.md "Huawei's upgrade advisory"): the `risk` of
 * the proxy-version answer goes into the answer and the Planned, Accepted, Skipped and Deferred
 * events; `only_if_advised` upgrades only advised proxies; `upgrade_duration` sizes the tracker's
 * first re-check. Through the real handlers against the stand-ins.
 */

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const RISK = {
  level: 1,
  suggest: 'Fixes a connection leak under heavy load.',
  influence: 'Connections through the proxy are interrupted briefly.',
  guidance: 'Upgrade during off-peak hours.',
  service_impact_duration: '10 seconds',
  upgrade_duration: '15',
};

let counter = 0;
function advisedTarget(risk: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) {
  counter += 1;
  return { ...REQUEST, proxy_id: `advisory-proxy-${counter}-po01`, ...extra, risk };
}

describe("Huawei's upgrade advisory", () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ tracking: true });
  });
  afterAll(() => world.close());

  function prepare(target: ReturnType<typeof advisedTarget>) {
    const { risk, ...request } = target;
    world.taurusDb.setProxyVersion(request.instance_id, request.proxy_id, {
      current_version: '2.23.12.000',
      latest_version: '2.24.03.000',
      can_upgrade: true,
      ...(risk === undefined ? {} : { risk }),
    });
    return request;
  }
  const detailsOf = (type: string) =>
    world.eventBridge
      .events()
      .filter((entry) => entry.DetailType === type)
      .map((entry) => entry.Detail as Record<string, unknown>);

  it('is carried in the answer and the Accepted event, texts cut to 1000 characters', async () => {
    const request = prepare(advisedTarget({ ...RISK, guidance: 'x'.repeat(1500) }));
    world.forgetTraffic();
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', request));

    expect(answer.json.outcomes[0]).toMatchObject({
      outcome: 'accepted',
      advisory: { level: 1, suggest: RISK.suggest },
    });
    const [accepted] = detailsOf('Proxy Upgrade Accepted');
    const advisory = accepted?.advisory as Record<string, string>;
    expect(advisory).toMatchObject({ level: 1, upgrade_duration: '15', influence: RISK.influence });
    expect(advisory.guidance).toBe(`${'x'.repeat(1000)}…`);
  });

  it('is carried in a dry run, and in a Skipped event', async () => {
    const request = prepare(advisedTarget(RISK, { dry_run: true }));
    world.forgetTraffic();
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', request));
    expect(detailsOf('Proxy Upgrade Planned')[0]).toMatchObject({ would: 'upgrade', advisory: { level: 1 } });

    const at = advisedTarget(undefined);
    world.taurusDb.setProxyVersion(at.instance_id, at.proxy_id, {
      current_version: '2.24.03.000',
      latest_version: '2.24.03.000',
      can_upgrade: false,
      risk: RISK,
    });
    const { risk: _none, ...skipped } = at;
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', skipped));
    expect(detailsOf('Proxy Upgrade Skipped')[0]).toMatchObject({ advisory: { suggest: RISK.suggest } });
    expect(world.taurusDb.upgradeRequests()).toBe(0);
  });

  it('only_if_advised: an advised proxy is upgraded, one without advisory skipped with the reason', async () => {
    const advised = prepare(advisedTarget(RISK, { only_if_advised: true }));
    const plain = prepare(advisedTarget(undefined, { only_if_advised: true }));
    world.forgetTraffic();
    const answer = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', { upgrades: [advised, plain] }),
    );

    expect(answer.json.outcomes.map((outcome: { outcome: string }) => outcome.outcome)).toStrictEqual([
      'accepted',
      'skipped',
    ]);
    expect(answer.json.outcomes[1].reason).toBe(
      'TaurusDB gives no upgrade advisory (risk) for the proxy at 2.23.12.000, and the request says only_if_advised',
    );
    expect(world.taurusDb.upgrades.map((upgrade) => upgrade.proxyId)).toStrictEqual([advised.proxy_id]);
  });

  it('only_if_advised without the version read is refused, naming the field', async () => {
    const answer = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', { ...REQUEST, only_if_advised: true, preflight: false }),
    );
    expect(answer.statusCode).toBe(400);
    expect(answer.json.issues).toContainEqual({
      path: 'only_if_advised',
      message: 'needs the version read, which carries the advisory; remove "preflight": false',
    });
  });

  it("upgrade_duration sizes the tracker's first re-check; one that does not read is ignored", async () => {
    const tracking = world.tracking;
    if (!tracking) throw new Error('the world has no tracker');
    for (const [duration, expected] of [
      ['15', 900],
      ['PT5M', 300],
      ['about a quarter of an hour', 30],
    ] as const) {
      const request = prepare(advisedTarget({ ...RISK, upgrade_duration: duration }));
      world.forgetTraffic();
      tracking.sqs.reset();
      await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', request));
      const [accepted] = world.eventBridge
        .events()
        .filter((entry) => entry.DetailType === 'Proxy Upgrade Accepted');
      world.taurusDb.setJob(
        String((accepted?.Detail as { result?: { workflow_id?: string } } | undefined)?.result?.workflow_id),
        {
          status: 'Running',
        },
      );
      await tracking.invoke({ ...sample('tracking-accepted-event.json'), detail: accepted?.Detail });
      expect(
        tracking.sqs.sent.map((message) => message.delaySeconds),
        duration,
      ).toStrictEqual([expected]);
    }
  });
});
