import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { replies } from '../../stand-ins/taurusdb.ts';
import { expectDetailsMatchSchemas } from '../support/detail-schemas.ts';
import { type HttpAnswer, sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

/**
 * Version-aware upgrades through the whole handler: the version read before each upgrade ("latest",
 * an omitted source, the skip, the source check), `preflight: false`, dry runs and whole instances
 * (`all_proxies`), against the TaurusDB stand-in over real sockets. Each test uses proxies and
 * instances of its own, so the versions one sets never leak into another.
 */

const PROJECT = '054e292c9880d4992f02c0196d3ea468';
const SAMPLE = JSON.parse(sample('http-api-v2.json').body);

const versions = (current_version: string, latest_version: string, can_upgrade = true) => ({
  current_version,
  latest_version,
  can_upgrade,
});

let proxies = 0;
/** A proxy id no other test uses. */
function freshProxy(label = 'proxy'): string {
  proxies += 1;
  return `${label}-${proxies}-po01`;
}

const upgradeUrl = (instance: string, proxy: string) =>
  `/v3/${PROJECT}/instances/${instance}/proxy/${proxy}/upgrade-version`;
const versionUrl = (instance: string, proxy: string) =>
  `/v3/${PROJECT}/instances/${instance}/proxy/${proxy}/taurusproxy/proxy-version`;

describe('version-aware upgrades through the handler', () => {
  let world: World;
  const INSTANCE = 'versions-instance-in07';

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
  });

  function post(body: unknown, id?: string): Promise<HttpAnswer> {
    return world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', body, id === undefined ? {} : { id }));
  }

  /** A request for `proxy` of the instance, with what `fields` add or replace (undefined removes). */
  function request(proxy: string, fields: Record<string, unknown> = {}) {
    return { project_id: PROJECT, instance_id: INSTANCE, proxy_id: proxy, ...fields };
  }

  function wire() {
    return world.taurusDb.requests.map((received) => `${received.method} ${received.url}`);
  }

  it('"latest" without a source: the version read first, then the upgrade to latest_version from current_version', async () => {
    const proxy = freshProxy();
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.23.12.000', '2.24.09.000'));
    const answer = await post(request(proxy, { target_version: 'latest' }), 'msg_latest_1');

    expect(wire()).toEqual([`GET ${versionUrl(INSTANCE, proxy)}`, `POST ${upgradeUrl(INSTANCE, proxy)}`]);
    expect(world.taurusDb.requests[1]?.body).toBe(
      '{"source_version":"2.23.12.000","target_version":"2.24.09.000"}',
    );
    expect(answer.statusCode).toBe(200);
    expect(answer.json.outcomes).toEqual([
      {
        project_id: PROJECT,
        instance_id: INSTANCE,
        proxy_id: proxy,
        target_version: 'latest',
        outcome: 'accepted',
        resolved: { source_version: '2.23.12.000', target_version: '2.24.09.000' },
        versions: versions('2.23.12.000', '2.24.09.000'),
        update_result: [expect.objectContaining({ state: 'ACCEPT' })],
        event_ids: [expect.any(String)],
        replayed: false,
      },
    ]);
    const events = world.eventBridge.events();
    expect(events).toMatchObject([
      {
        DetailType: 'Proxy Upgrade Accepted',
        Detail: {
          event_id: answer.json.outcomes[0].event_ids[0],
          request: { project_id: PROJECT, instance_id: INSTANCE, proxy_id: proxy, target_version: 'latest' },
          resolved: { source_version: '2.23.12.000', target_version: '2.24.09.000' },
          versions: versions('2.23.12.000', '2.24.09.000'),
        },
      },
    ]);
    expect((events[0]?.Detail as { request?: object } | undefined)?.request).not.toHaveProperty(
      'source_version',
    );
    await expectDetailsMatchSchemas(events);
  });

  it('an omitted source with an explicit target: the source is the version the proxy runs', async () => {
    const proxy = freshProxy();
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.23.6.0', '2.24.09.000'));
    const answer = await post(request(proxy, { target_version: '2.24.03.000' }));

    expect(answer.statusCode).toBe(200);
    expect(world.taurusDb.upgrades).toMatchObject([
      { proxyId: proxy, sourceVersion: '2.23.6.0', targetVersion: '2.24.03.000' },
    ]);
    expect(answer.json.outcomes[0]).toMatchObject({
      outcome: 'accepted',
      resolved: { source_version: '2.23.6.0', target_version: '2.24.03.000' },
    });
  });

  it('a proxy already at the target: no upgrade call, a Skipped event with the versions found', async () => {
    const proxy = freshProxy();
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.24.03.000', '2.24.03.000', false));
    // The same change sent again after it completed: the old source no longer matches, and that is fine.
    const answer = await post(
      request(proxy, { source_version: '2.23.12.000', target_version: '2.24.3' }),
      'msg_skip_1',
    );

    expect(world.taurusDb.upgradeRequests()).toBe(0);
    expect(world.taurusDb.reads('version')).toBe(1);
    expect(answer.statusCode).toBe(200);
    const reason = 'proxy is already at 2.24.03.000';
    expect(answer.json.outcomes).toEqual([
      {
        project_id: PROJECT,
        instance_id: INSTANCE,
        proxy_id: proxy,
        source_version: '2.23.12.000',
        target_version: '2.24.3',
        outcome: 'skipped',
        reason,
        resolved: { source_version: '2.23.12.000', target_version: '2.24.3' },
        versions: versions('2.24.03.000', '2.24.03.000', false),
        event_ids: [expect.any(String)],
        replayed: false,
      },
    ]);
    const events = world.eventBridge.events();
    expect(events).toEqual([
      {
        Source: 'taurusdb.proxy-upgrader',
        DetailType: 'Proxy Upgrade Skipped',
        EventBusName: expect.any(String),
        Detail: {
          event_id: answer.json.outcomes[0].event_ids[0],
          request: {
            project_id: PROJECT,
            instance_id: INSTANCE,
            proxy_id: proxy,
            source_version: '2.23.12.000',
            target_version: '2.24.3',
          },
          resolved: { source_version: '2.23.12.000', target_version: '2.24.3' },
          versions: versions('2.24.03.000', '2.24.03.000', false),
          reason,
          trigger: { kind: 'http', id: 'msg_skip_1' },
          occurred_at: expect.any(String),
        },
      },
    ]);
    await expectDetailsMatchSchemas(events);
  });

  it('counts skipped and planned targets as metrics and logs what the read found', async () => {
    // Two proxies at the same versions: one batch may not name a proxy twice.
    const [proxy, planned] = [freshProxy(), freshProxy()];
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.24.03.000', '2.24.03.000'));
    world.taurusDb.setProxyVersion(INSTANCE, planned, versions('2.24.03.000', '2.24.03.000'));
    const before = world.logLines().length;
    await post({
      upgrades: [
        request(proxy, { target_version: 'latest' }),
        request(planned, { target_version: 'latest', dry_run: true }),
      ],
    });

    const lines = world
      .logLines()
      .slice(before)
      .filter((line): line is Record<string, unknown> => typeof line === 'object');
    expect(lines.filter((line) => '_aws' in line)).toMatchObject([{ Skipped: 1, Planned: 1 }]);
    // Both targets run concurrently: their lines come in either order.
    const outcomes = lines.filter((line) => line.message === 'target outcome');
    expect(outcomes).toHaveLength(2);
    expect(outcomes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          outcome: 'skipped',
          proxy_id: proxy,
          versions: versions('2.24.03.000', '2.24.03.000'),
          reason: 'proxy is already at 2.24.03.000',
        }),
        expect.objectContaining({ outcome: 'planned', proxy_id: planned, would: 'skip', dry_run: true }),
      ]),
    );
  });

  it('a proxy past the target is skipped too, saying so', async () => {
    const proxy = freshProxy();
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.24.09.000', '2.24.09.000'));
    const answer = await post(request(proxy, { target_version: '2.24.03.000' }));

    expect(world.taurusDb.upgradeRequests()).toBe(0);
    expect(answer.json.outcomes[0]).toMatchObject({
      outcome: 'skipped',
      reason: 'proxy is already at 2.24.09.000, newer than the target 2.24.03.000',
    });
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual(['Proxy Upgrade Skipped']);
  });

  it('"latest" while TaurusDB says can_upgrade false: skipped; an explicit target is still sent', async () => {
    const [blocked, explicit] = [freshProxy(), freshProxy()];
    for (const proxy of [blocked, explicit]) {
      world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.23.12.000', '2.24.03.000', false));
    }
    const answer = await post({
      upgrades: [
        request(blocked, { target_version: 'latest' }),
        request(explicit, { source_version: '2.23.12.000', target_version: '2.24.03.000' }),
      ],
    });

    expect(answer.statusCode).toBe(200);
    expect(answer.json.outcomes.map((outcome: { outcome: string }) => outcome.outcome)).toEqual([
      'skipped',
      'accepted',
    ]);
    expect(answer.json.outcomes[0].reason).toBe(
      'TaurusDB reports no upgrade available for the proxy at 2.23.12.000 (can_upgrade is false)',
    );
    expect(world.taurusDb.upgrades.map((upgrade) => upgrade.proxyId)).toEqual([explicit]);
    await expectDetailsMatchSchemas(world.eventBridge.events());
  });

  it('a source_version the proxy is not at: refused before the upgrade call with 409 and a Failed event', async () => {
    const proxy = freshProxy();
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.24.03.000', '2.24.09.000'));
    const answer = await post(
      request(proxy, { source_version: '2.23.12.000', target_version: '2.24.09.000' }),
    );

    expect(world.taurusDb.upgradeRequests()).toBe(0);
    expect(answer.statusCode).toBe(409);
    const error = {
      error_code: 'VERSION_MISMATCH',
      error_msg: 'proxy is at 2.24.03.000, request says 2.23.12.000',
    };
    expect(answer.json.outcomes).toMatchObject([
      { outcome: 'failed', error, versions: versions('2.24.03.000', '2.24.09.000') },
    ]);
    const events = world.eventBridge.events();
    expect(events).toMatchObject([
      {
        DetailType: 'Proxy Upgrade Failed',
        Detail: {
          event_id: answer.json.outcomes[0].event_ids[0],
          resolved: { source_version: '2.23.12.000', target_version: '2.24.09.000' },
          versions: versions('2.24.03.000', '2.24.09.000'),
          error,
        },
      },
    ]);
    await expectDetailsMatchSchemas(events);
  });

  it('"preflight": false goes straight to the upgrade call with the request\'s own versions', async () => {
    const proxy = freshProxy();
    // A proxy the read would refuse: without the read, nothing stops the call.
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.24.03.000', '2.24.09.000'));
    const answer = await post(
      request(proxy, { source_version: '2.23.12.000', target_version: '2.24.09.000', preflight: false }),
    );

    expect(wire()).toEqual([`POST ${upgradeUrl(INSTANCE, proxy)}`]);
    expect(world.taurusDb.requests[0]?.body).toBe(
      '{"source_version":"2.23.12.000","target_version":"2.24.09.000"}',
    );
    expect(answer.statusCode).toBe(200);
    expect(answer.json.outcomes[0]).toMatchObject({ outcome: 'accepted' });
    expect(answer.json.outcomes[0]).not.toHaveProperty('versions');
    const events = world.eventBridge.events();
    expect(events[0]?.Detail).not.toHaveProperty('versions');
    await expectDetailsMatchSchemas(events);
  });

  it('"preflight": false with "latest" or no source: 400 naming both, nothing sent', async () => {
    const answer = await post({
      preflight: false,
      upgrades: [
        request(freshProxy(), { target_version: 'latest' }),
        request(freshProxy(), { target_version: '2.24.03.000' }),
      ],
    });

    expect(answer.statusCode).toBe(400);
    expect(answer.json.issues).toEqual([
      {
        path: 'upgrades[0].source_version',
        message: 'is required with "preflight": false: only the version read can fill it in',
      },
      {
        path: 'upgrades[0].target_version',
        message: '"latest" needs the version read; remove "preflight": false',
      },
      {
        path: 'upgrades[1].source_version',
        message: 'is required with "preflight": false: only the version read can fill it in',
      },
    ]);
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
  });

  it('a version read failing with 5xx after its retries: a Failed event, no upgrade call', async () => {
    const proxy = freshProxy();
    world.taurusDb.scriptRead(replies.serverError(), replies.serverError(), replies.serverError());
    const answer = await post(request(proxy, { target_version: 'latest' }));

    // Reads are idempotent: retried up to the attempt limit (3), unlike the upgrade call.
    expect(world.taurusDb.reads('version')).toBe(3);
    expect(world.taurusDb.upgradeRequests()).toBe(0);
    expect(answer.statusCode).toBe(502);
    const error = {
      status: 500,
      error_code: 'DBS.05000000',
      error_msg: 'the version read failed, so no upgrade was attempted: Server failure.',
    };
    expect(answer.json.outcomes).toMatchObject([{ outcome: 'failed', error }]);
    expect(answer.json.outcomes[0]).not.toHaveProperty('resolved');
    const events = world.eventBridge.events();
    expect(events).toMatchObject([{ DetailType: 'Proxy Upgrade Failed', Detail: { error } }]);
    expect(events[0]?.Detail).not.toHaveProperty('versions');
    await expectDetailsMatchSchemas(events);
  });

  it('a version read answering something that is not a version: a Failed event, no upgrade call', async () => {
    const proxy = freshProxy();
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.23.12.000', 'next'));
    const answer = await post(request(proxy, { target_version: 'latest' }));

    expect(world.taurusDb.upgradeRequests()).toBe(0);
    expect(answer.statusCode).toBe(502);
    expect(answer.json.outcomes[0].error).toEqual({
      status: 200,
      error_code: 'UNREADABLE_VERSION',
      error_msg:
        'the version read answered a current_version or latest_version that is not a dotted version number, so no upgrade was attempted',
    });
    await expectDetailsMatchSchemas(world.eventBridge.events());
  });

  describe('dry runs', () => {
    it('the dry-run sample: only reads, no upgrade call, a Planned event saying it would upgrade', async () => {
      world.taurusDb.setProxyVersion(
        SAMPLE.instance_id,
        SAMPLE.proxy_id,
        versions('2.23.12.000', '2.24.09.000'),
      );
      const event = signedHttpEvent(world, 'http-dry-run.json');
      const answer = await world.invokeHttp(event);

      expect(world.taurusDb.requests.every((received) => received.method === 'GET')).toBe(true);
      expect(world.taurusDb.reads('version')).toBe(1);
      expect(world.taurusDb.upgradeRequests()).toBe(0);
      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes).toMatchObject([
        {
          proxy_id: SAMPLE.proxy_id,
          target_version: 'latest',
          dry_run: true,
          outcome: 'planned',
          would: 'upgrade',
          resolved: { source_version: '2.23.12.000', target_version: '2.24.09.000' },
          replayed: false,
        },
      ]);
      const events = world.eventBridge.events();
      expect(events).toMatchObject([
        {
          DetailType: 'Proxy Upgrade Planned',
          Detail: {
            request: { proxy_id: SAMPLE.proxy_id, target_version: 'latest', dry_run: true },
            would: 'upgrade',
            resolved: { source_version: '2.23.12.000', target_version: '2.24.09.000' },
            versions: versions('2.23.12.000', '2.24.09.000'),
            trigger: { kind: 'http', id: event.headers['webhook-id'], change_id: 'CHG0031340' },
          },
        },
      ]);
      expect(events[0]?.Detail).not.toHaveProperty('reason');
      await expectDetailsMatchSchemas(events);
    });

    it('a dry-run batch says per proxy whether it would upgrade, skip or refuse, and calls nothing that changes state', async () => {
      const [upgrade, skip, refuse] = [freshProxy(), freshProxy(), freshProxy()];
      world.taurusDb.setProxyVersion(INSTANCE, upgrade, versions('2.23.12.000', '2.24.03.000'));
      world.taurusDb.setProxyVersion(INSTANCE, skip, versions('2.24.03.000', '2.24.03.000'));
      world.taurusDb.setProxyVersion(INSTANCE, refuse, versions('2.24.01.000', '2.24.03.000'));
      const answer = await post({
        dry_run: true,
        upgrades: [upgrade, skip, refuse].map((proxy) =>
          request(proxy, { source_version: '2.23.12.000', target_version: 'latest' }),
        ),
      });

      expect(world.taurusDb.requests.map((received) => received.method)).toEqual(['GET', 'GET', 'GET']);
      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes).toMatchObject([
        { proxy_id: upgrade, outcome: 'planned', would: 'upgrade' },
        { proxy_id: skip, outcome: 'planned', would: 'skip', reason: 'proxy is already at 2.24.03.000' },
        {
          proxy_id: refuse,
          outcome: 'planned',
          would: 'refuse',
          reason: 'proxy is at 2.24.01.000, request says 2.23.12.000',
        },
      ]);
      const events = world.eventBridge.events();
      expect(events.map((entry) => entry.DetailType)).toEqual([
        'Proxy Upgrade Planned',
        'Proxy Upgrade Planned',
        'Proxy Upgrade Planned',
      ]);
      await expectDetailsMatchSchemas(events);
    });

    it('a dry run over a whole instance lists it and reads each proxy, and that is all', async () => {
      const instance = 'dry-run-instance-in07';
      const listed = [freshProxy(), freshProxy()];
      world.taurusDb.setProxies(instance, listed);
      const answer = await post({
        project_id: PROJECT,
        instance_id: instance,
        all_proxies: true,
        target_version: 'latest',
        dry_run: true,
      });

      expect(world.taurusDb.requests.map((received) => received.method)).toEqual(['GET', 'GET', 'GET']);
      expect(world.taurusDb.reads('proxies')).toBe(1);
      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes).toMatchObject(
        listed.map((proxy) => ({ proxy_id: proxy, all_proxies: true, outcome: 'planned', would: 'upgrade' })),
      );
      await expectDetailsMatchSchemas(world.eventBridge.events());
    });
  });

  describe('whole instances (all_proxies)', () => {
    it('lists the instance and gives each proxy its own read, upgrade, outcome and event', async () => {
      const instance = 'three-proxies-in07';
      const [behind, current, elsewhere] = [freshProxy(), freshProxy(), freshProxy()];
      world.taurusDb.setProxies(instance, [behind, current, elsewhere]);
      world.taurusDb.setProxyVersion(instance, behind, versions('2.23.12.000', '2.24.03.000'));
      world.taurusDb.setProxyVersion(instance, current, versions('2.24.03.000', '2.24.03.000'));
      world.taurusDb.setProxyVersion(instance, elsewhere, versions('2.24.01.000', '2.24.03.000'));
      const event = sample('pipeline-latest-all-proxies.json');
      event.detail.instance_id = instance;
      const result = (await world.invoke(event)) as {
        outcomes: Array<{ proxy_id: string; outcome: string; all_proxies: boolean }>;
      };

      expect(world.taurusDb.requests[0]?.url).toBe(
        `/v3/${PROJECT}/instances/${instance}/proxies?offset=0&limit=100`,
      );
      expect(world.taurusDb.reads('proxies')).toBe(1);
      expect(world.taurusDb.reads('version')).toBe(3);
      expect(
        world.taurusDb.upgrades.map((upgrade) => [
          upgrade.proxyId,
          upgrade.sourceVersion,
          upgrade.targetVersion,
        ]),
      ).toEqual(
        expect.arrayContaining([
          [behind, '2.23.12.000', '2.24.03.000'],
          [elsewhere, '2.24.01.000', '2.24.03.000'],
        ]),
      );
      expect(world.taurusDb.upgrades).toHaveLength(2);
      expect(result.outcomes).toMatchObject([
        { proxy_id: behind, all_proxies: true, outcome: 'accepted' },
        { proxy_id: current, all_proxies: true, outcome: 'skipped' },
        { proxy_id: elsewhere, all_proxies: true, outcome: 'accepted' },
      ]);
      const events = world.eventBridge.events();
      expect(
        events.map((entry) => [
          entry.DetailType,
          (entry.Detail as { request: { proxy_id: string } }).request.proxy_id,
        ]),
      ).toEqual(
        expect.arrayContaining([
          ['Proxy Upgrade Accepted', behind],
          ['Proxy Upgrade Skipped', current],
          ['Proxy Upgrade Accepted', elsewhere],
        ]),
      );
      expect(new Set(events.map((entry) => (entry.Detail as { event_id: string }).event_id)).size).toBe(3);
      await expectDetailsMatchSchemas(events);
    });

    it('answers 200 once the instance is expanded, whatever its proxies answered', async () => {
      const instance = 'one-proxy-instance-in07';
      const only = freshProxy();
      world.taurusDb.setProxies(instance, [only]);
      world.taurusDb.script(replies.serverError());
      const answer = await post({
        project_id: PROJECT,
        instance_id: instance,
        all_proxies: true,
        target_version: 'latest',
      });

      // One request, but not one named proxy: its outcomes say how each proxy fared.
      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes).toMatchObject([
        { proxy_id: only, outcome: 'failed', error: { status: 500, error_code: 'DBS.05000000' } },
      ]);
    });

    it('follows the listing over pages: 120 proxies in two pages, 120 upgrades, 200 over HTTP', async () => {
      const instance = 'big-instance-in07';
      const listed = Array.from({ length: 120 }, () => freshProxy('p'));
      world.taurusDb.setProxies(instance, listed);
      const answer = await post({
        project_id: PROJECT,
        instance_id: instance,
        all_proxies: true,
        target_version: 'latest',
      });

      expect(world.taurusDb.reads('proxies')).toBe(2);
      expect(
        world.taurusDb.requests
          .filter((received) => received.url.includes('/proxies?'))
          .map((received) => received.url.split('?')[1]),
      ).toEqual(['offset=0&limit=100', 'offset=100&limit=100']);
      expect(world.taurusDb.reads('version')).toBe(120);
      expect(world.taurusDb.upgrades.map((upgrade) => upgrade.proxyId).sort()).toEqual([...listed].sort());
      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes.map((outcome: { proxy_id: string }) => outcome.proxy_id)).toEqual(listed);
      expect(world.eventBridge.events()).toHaveLength(120);
      // Ten entries per PutEvents call.
      expect(world.eventBridge.calls.map((call) => call.length)).toEqual(Array(12).fill(10));
    });

    it('an instance that expands past 200 targets is refused whole: 422, no read of any proxy, no upgrade', async () => {
      const instance = 'huge-instance-in07';
      world.taurusDb.setProxies(
        instance,
        Array.from({ length: 201 }, () => freshProxy('h')),
      );
      const answer = await post({
        project_id: PROJECT,
        instance_id: instance,
        all_proxies: true,
        target_version: 'latest',
      });

      expect(world.taurusDb.reads('proxies')).toBe(3);
      expect(world.taurusDb.reads('version')).toBe(0);
      expect(world.taurusDb.upgradeRequests()).toBe(0);
      expect(answer.statusCode).toBe(422);
      const error = {
        error_code: 'TOO_MANY_TARGETS',
        error_msg: `instance ${instance} lists 201 proxies; the delivery expands to 201 targets, more than the 200 one delivery may upgrade, so nothing in it was upgraded: split it into smaller deliveries`,
      };
      expect(answer.json.outcomes).toEqual([
        {
          project_id: PROJECT,
          instance_id: instance,
          all_proxies: true,
          target_version: 'latest',
          outcome: 'failed',
          error,
          event_ids: [expect.any(String)],
          replayed: false,
        },
      ]);
      const events = world.eventBridge.events();
      expect(events).toMatchObject([{ DetailType: 'Proxy Upgrade Failed', Detail: { error } }]);
      await expectDetailsMatchSchemas(events);
    });

    it('a batch the instances make too large is refused as a whole, its named proxies too', async () => {
      const instance = 'half-instance-in07';
      const named = freshProxy();
      world.taurusDb.setProxies(
        instance,
        Array.from({ length: 200 }, () => freshProxy('k')),
      );
      const answer = await post({
        upgrades: [
          request(named, { target_version: '2.24.03.000' }),
          { project_id: PROJECT, instance_id: instance, all_proxies: true, target_version: '2.24.03.000' },
        ],
      });

      expect(world.taurusDb.reads('version')).toBe(0);
      expect(world.taurusDb.upgradeRequests()).toBe(0);
      expect(answer.statusCode).toBe(200);
      expect(answer.json.outcomes).toMatchObject([
        { proxy_id: named, outcome: 'failed', error: { error_code: 'TOO_MANY_TARGETS' } },
        { all_proxies: true, outcome: 'failed', error: { error_code: 'TOO_MANY_TARGETS' } },
      ]);
      expect(answer.json.outcomes[1].error.error_msg).toMatch(
        /^instance half-instance-in07 lists 200 proxies; .* 201 targets/,
      );
    });

    it('an instance without proxies: 404 and a Failed NO_PROXIES event, nothing dropped silently', async () => {
      const instance = 'empty-instance-in07';
      world.taurusDb.setProxies(instance, []);
      const answer = await post({
        project_id: PROJECT,
        instance_id: instance,
        all_proxies: true,
        target_version: 'latest',
      });

      expect(answer.statusCode).toBe(404);
      const error = {
        error_code: 'NO_PROXIES',
        error_msg: `instance ${instance} lists no proxies, so there is nothing to upgrade`,
      };
      expect(answer.json.outcomes).toMatchObject([{ instance_id: instance, outcome: 'failed', error }]);
      const events = world.eventBridge.events();
      expect(events).toMatchObject([
        {
          DetailType: 'Proxy Upgrade Failed',
          Detail: {
            request: {
              project_id: PROJECT,
              instance_id: instance,
              all_proxies: true,
              target_version: 'latest',
            },
            error,
          },
        },
      ]);
      expect((events[0]?.Detail as { request?: object } | undefined)?.request).not.toHaveProperty('proxy_id');
      await expectDetailsMatchSchemas(events);
    });

    it('a listing that fails with 5xx after its retries: 502 and a Failed event for the instance', async () => {
      const instance = 'unlistable-instance-in07';
      world.taurusDb.scriptRead(replies.serverError(), replies.serverError(), replies.serverError());
      const answer = await post({
        project_id: PROJECT,
        instance_id: instance,
        all_proxies: true,
        target_version: 'latest',
      });

      expect(world.taurusDb.reads('proxies')).toBe(3);
      expect(world.taurusDb.upgradeRequests()).toBe(0);
      expect(answer.statusCode).toBe(502);
      expect(answer.json.outcomes[0].error).toEqual({
        status: 500,
        error_code: 'DBS.05000000',
        error_msg: `the proxies of instance ${instance} could not be listed, so none was upgraded: Server failure.`,
      });
      await expectDetailsMatchSchemas(world.eventBridge.events());
    });
  });
});

describe('version awareness with duplicate suppression (dynalite)', () => {
  let world: World;
  const INSTANCE = 'suppressed-instance-in07';

  beforeAll(async () => {
    world = await startWorld({ idempotency: true });
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
  });

  function post(body: unknown, id: string): Promise<HttpAnswer> {
    return world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', body, { id }));
  }

  it('a redelivered skip replays the stored outcome: no second read, the identical Skipped event', async () => {
    const proxy = freshProxy();
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.24.03.000', '2.24.03.000'));
    const body = { project_id: PROJECT, instance_id: INSTANCE, proxy_id: proxy, target_version: 'latest' };
    const first = await post(body, 'msg_versions_skip');
    // Whatever TaurusDB would say now, the redelivery does not ask.
    world.taurusDb.setProxyVersion(INSTANCE, proxy, versions('2.24.03.000', '2.24.09.000'));
    const second = await post(body, 'msg_versions_skip');

    expect(world.taurusDb.reads('version')).toBe(1);
    expect(world.taurusDb.upgradeRequests()).toBe(0);
    expect(second.json.outcomes[0]).toEqual({ ...first.json.outcomes[0], replayed: true });
    const [published, republished] = world.eventBridge.events();
    expect(world.eventBridge.events()).toHaveLength(2);
    expect(published?.DetailType).toBe('Proxy Upgrade Skipped');
    expect(republished).toEqual(published);
  });

  it('a dry run is not stored: the real run of the same delivery upgrades, with events of its own', async () => {
    const proxy = freshProxy();
    const body = {
      project_id: PROJECT,
      instance_id: INSTANCE,
      proxy_id: proxy,
      source_version: '2.23.12.000',
      target_version: '2.24.03.000',
    };
    const plan = await post({ ...body, dry_run: true }, 'msg_versions_plan');
    const real = await post(body, 'msg_versions_plan');

    expect(plan.json.outcomes[0]).toMatchObject({ outcome: 'planned', would: 'upgrade' });
    expect(real.json.outcomes[0]).toMatchObject({ outcome: 'accepted', replayed: false });
    expect(world.taurusDb.upgrades).toMatchObject([{ proxyId: proxy }]);
    const [planned, accepted] = world.eventBridge.events();
    expect([planned?.DetailType, accepted?.DetailType]).toEqual([
      'Proxy Upgrade Planned',
      'Proxy Upgrade Accepted',
    ]);
    expect(real.json.outcomes[0].event_ids).not.toEqual(plan.json.outcomes[0].event_ids);

    // And the real run is what is stored: its redelivery replays it.
    const again = await post(body, 'msg_versions_plan');
    expect(again.json.outcomes[0]).toMatchObject({ outcome: 'accepted', replayed: true });
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });

  it('a version read that failed is not stored: the redelivery reads again and upgrades', async () => {
    const proxy = freshProxy();
    const body = { project_id: PROJECT, instance_id: INSTANCE, proxy_id: proxy, target_version: 'latest' };
    world.taurusDb.scriptRead(replies.serverError(), replies.serverError(), replies.serverError());
    const failed = await post(body, 'msg_versions_read');
    const retried = await post(body, 'msg_versions_read');

    expect([failed.statusCode, retried.statusCode]).toEqual([502, 200]);
    expect(retried.json.outcomes[0]).toMatchObject({ outcome: 'accepted', replayed: false });
    expect(world.taurusDb.reads('version')).toBe(4);
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });

  it('an instance redelivered after a publish failure: each proxy replays its own stored step', async () => {
    const instance = 'replayed-instance-in07';
    const listed = [freshProxy(), freshProxy()];
    world.taurusDb.setProxies(instance, listed);
    const body = { project_id: PROJECT, instance_id: instance, all_proxies: true, target_version: 'latest' };
    world.eventBridge.script({ failDetailType: 'Proxy Upgrade Accepted', errorCode: 'InternalFailure' });
    const failed = await post(body, 'msg_versions_instance');
    expect(failed.statusCode).toBe(500);
    world.eventBridge.reset();

    const redelivery = await post(body, 'msg_versions_instance');
    expect(redelivery.statusCode).toBe(200);
    expect(redelivery.json.outcomes).toMatchObject(
      listed.map((proxy) => ({ proxy_id: proxy, outcome: 'accepted', replayed: true })),
    );
    expect(world.taurusDb.upgradeRequests()).toBe(2);
    // The listing is a read and runs again; the proxies' version reads do not.
    expect(world.taurusDb.reads('proxies')).toBe(2);
    expect(world.taurusDb.reads('version')).toBe(2);
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual([
      'Proxy Upgrade Accepted',
      'Proxy Upgrade Accepted',
    ]);
  });
});
