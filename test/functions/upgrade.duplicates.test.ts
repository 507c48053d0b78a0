import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { replies } from '../../stand-ins/taurusdb.ts';
import { type HttpAnswer, sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

/**
 * "Never twice" through the whole handler, duplicate suppression on: a batch makes at most one step
 * per proxy. Two items naming one proxy are refused before anything is sent, an all_proxies listing
 * yields to an explicit item for the same proxy, and a batch answers 200 however many items it holds.
 * Each test uses instances of its own, so listings and versions never leak from one to another.
 */

const PROJECT = '054e292c9880d4992f02c0196d3ea468';
const SOURCE = '2.23.12.000';
const TARGET = '2.24.03.000';

describe('one step per proxy through the handler', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true });
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
  });

  function post(body: unknown, id?: string): Promise<HttpAnswer> {
    return world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', body, id === undefined ? {} : { id }));
  }

  const item = (instance: string, proxy: string, fields: Record<string, unknown> = {}) => ({
    project_id: PROJECT,
    instance_id: instance,
    proxy_id: proxy,
    source_version: SOURCE,
    target_version: TARGET,
    ...fields,
  });

  const wholeInstance = (instance: string, fields: Record<string, unknown> = {}) => ({
    project_id: PROJECT,
    instance_id: instance,
    all_proxies: true,
    target_version: 'latest',
    ...fields,
  });

  /** Upgrade POSTs that reached the stand-in, by proxy (however they were answered). */
  function postsByProxy(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const request of world.taurusDb.requests) {
      const proxy = /\/proxy\/([^/]+)\/upgrade-version$/.exec(request.url)?.[1];
      if (request.method === 'POST' && proxy !== undefined) counts[proxy] = (counts[proxy] ?? 0) + 1;
    }
    return counts;
  }

  function targetOutcomeLines(since: number) {
    return world
      .logLines()
      .slice(since)
      .filter((line): line is Record<string, unknown> => typeof line === 'object')
      .filter((line) => line.message === 'target outcome');
  }

  describe('two items naming one proxy: 400 naming both, nothing sent', () => {
    const instance = 'dup-instance-in07';
    const proxy = 'dup-proxy-po01';
    const names = `project ${PROJECT}, instance ${instance}, proxy ${proxy}`;

    it.each([
      ['an explicit source and an omitted one', { source_version: undefined }],
      ['an explicit target and "latest"', { target_version: 'latest' }],
      ['the same target spelt 2.24.3.0', { target_version: '2.24.3.0' }],
      ['a real run and a dry run', { dry_run: true }],
    ])('%s', async (_name, spelling) => {
      const answer = await post({
        upgrades: [
          item(instance, proxy),
          item(instance, 'dup-other-po01'),
          item('dup-elsewhere-in07', proxy),
          item(instance, proxy, spelling),
        ],
      });

      expect(answer.statusCode).toBe(400);
      expect(answer.json).toEqual({
        message: 'invalid upgrade request',
        issues: [
          { path: 'upgrades[3]', message: `upgrades[0] and upgrades[3] name the same proxy (${names})` },
        ],
        request_id: expect.any(String),
      });
      // Refused as a whole: not even the version read of the items that were fine.
      expect(world.taurusDb.requests).toHaveLength(0);
      expect(world.eventBridge.calls).toHaveLength(0);
    });

    it('a pipeline event naming one proxy twice rejects with ValidationError before any call', async () => {
      const event = sample('pipeline-event.json');
      const [first] = event.detail.upgrades;
      event.detail.upgrades.push({ ...first, source_version: undefined, target_version: 'latest' });
      const failure = await world.invoke(event).catch((error: unknown) => error);

      expect(failure).toBeInstanceOf(world.errors.ValidationError);
      expect((failure as Error).message).toBe(
        `upgrades[2]: upgrades[0] and upgrades[2] name the same proxy (project ${first.project_id}, instance ${first.instance_id}, proxy ${first.proxy_id})`,
      );
      expect(world.taurusDb.requests).toHaveLength(0);
      expect(world.eventBridge.calls).toHaveLength(0);
    });

    it('two all_proxies items for one instance', async () => {
      world.taurusDb.setProxies(instance, [proxy]);
      const answer = await post({
        upgrades: [
          wholeInstance(instance),
          wholeInstance(instance, { dry_run: true, target_version: TARGET }),
        ],
      });

      expect(answer.statusCode).toBe(400);
      expect(answer.json.issues).toEqual([
        {
          path: 'upgrades[1]',
          message: `upgrades[0] and upgrades[1] both ask for every proxy of the same instance (project ${PROJECT}, instance ${instance})`,
        },
      ]);
      expect(world.taurusDb.reads('proxies')).toBe(0);
      expect(world.taurusDb.requests).toHaveLength(0);
      expect(world.eventBridge.calls).toHaveLength(0);
    });
  });

  describe('an all_proxies item beside an explicit item of its instance', () => {
    it('upgrades the shared proxy once, as the explicit item asks, and says it absorbed the listing', async () => {
      const instance = 'merge-instance-in07';
      const [first, named, last] = ['merge-a-po01', 'merge-b-po01', 'merge-c-po01'];
      world.taurusDb.setProxies(instance, [first, named, last]);
      const before = world.logLines().length;
      const answer = await post({ upgrades: [item(instance, named), wholeInstance(instance)] });

      expect(answer.statusCode).toBe(200);
      expect(postsByProxy()).toEqual({ [first]: 1, [named]: 1, [last]: 1 });
      expect(world.taurusDb.reads('version')).toBe(3);
      expect(
        world.taurusDb.upgrades.map((upgrade) => [
          upgrade.proxyId,
          upgrade.sourceVersion,
          upgrade.targetVersion,
        ]),
      ).toEqual(expect.arrayContaining([[named, SOURCE, TARGET]]));
      const outcomes = answer.json.outcomes as Array<Record<string, unknown>>;
      expect(outcomes).toMatchObject([
        { proxy_id: named, source_version: SOURCE, outcome: 'accepted', merged_from: 'upgrades[1]' },
        { proxy_id: first, all_proxies: true, outcome: 'accepted' },
        { proxy_id: last, all_proxies: true, outcome: 'accepted' },
      ]);
      expect(outcomes[0]).not.toHaveProperty('all_proxies');
      expect(outcomes.slice(1).map((outcome) => outcome.merged_from)).toEqual([undefined, undefined]);
      // One event per step; the merge is the answer's and the log's business, not the events'.
      const events = world.eventBridge.events();
      expect(
        events.map((entry) => (entry.Detail as { request: { proxy_id: string } }).request.proxy_id).sort(),
      ).toEqual([first, named, last].sort());
      expect(JSON.stringify(events)).not.toContain('merged_from');
      expect(targetOutcomeLines(before)).toEqual(
        expect.arrayContaining([expect.objectContaining({ proxy_id: named, merged_from: 'upgrades[1]' })]),
      );
    });

    it('a listing that repeats a proxy still gives it one step, one POST', async () => {
      const instance = 'merge-repeat-instance-in07';
      const [proxyA, proxyB] = ['merge-repeat-a-po01', 'merge-repeat-b-po01'];
      world.taurusDb.setProxies(instance, [proxyA, proxyB, proxyA]);
      const answer = await post(wholeInstance(instance));

      expect(answer.statusCode).toBe(200);
      expect(postsByProxy()).toEqual({ [proxyA]: 1, [proxyB]: 1 });
      expect(answer.json.outcomes).toHaveLength(2);
    });

    it("keeps the explicit item's dry run for its proxy, and a redelivery sends no POST again", async () => {
      const instance = 'merge-dry-instance-in07';
      const [named, other] = ['merge-dry-a-po01', 'merge-dry-b-po01'];
      world.taurusDb.setProxies(instance, [named, other]);
      const body = { upgrades: [wholeInstance(instance), item(instance, named, { dry_run: true })] };
      const id = `msg_merge_${process.pid}_${Date.now()}`;
      const answer = await post(body, id);

      expect(answer.statusCode).toBe(200);
      expect(postsByProxy()).toEqual({ [other]: 1 });
      expect(answer.json.outcomes).toMatchObject([
        { proxy_id: other, all_proxies: true, outcome: 'accepted' },
        { proxy_id: named, dry_run: true, outcome: 'planned', would: 'upgrade', merged_from: 'upgrades[0]' },
      ]);

      world.forgetTraffic();
      const again = await post(body, id);
      expect(again.statusCode).toBe(200);
      expect(postsByProxy()).toEqual({});
      expect(again.json.outcomes).toMatchObject([
        { proxy_id: other, outcome: 'accepted', replayed: true },
        { proxy_id: named, outcome: 'planned', merged_from: 'upgrades[0]' },
      ]);
    });
  });

  describe("a batch of one answers 200, a single request its target's status", () => {
    it.each([
      ['TaurusDB 5xx', replies.serverError(), 502],
      ['TaurusDB 4xx', replies.alreadyLatest(), 400],
    ])('%s', async (_name, reply, singleStatus) => {
      const instance = 'batch-of-one-in07';
      world.taurusDb.script(reply);
      const batch = await post({ upgrades: [item(instance, 'one-a-po01')] });
      expect(batch.statusCode).toBe(200);
      expect(batch.json.outcomes).toMatchObject([{ proxy_id: 'one-a-po01', outcome: 'failed' }]);

      world.taurusDb.script(reply);
      const single = await post(item(instance, 'one-b-po01'));
      expect(single.statusCode).toBe(singleStatus);
      expect(single.json.outcomes).toMatchObject([{ proxy_id: 'one-b-po01', outcome: 'failed' }]);
      expect(world.taurusDb.upgradeRequests()).toBe(2);
    });
  });
});
