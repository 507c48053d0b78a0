/**
 * Property-based crash points (issue 12, "never twice, even when our own side fails"). Random
 * interleavings of deliveries, each either clean or armed with a crash point (before the sending
 * write, after it, after the POST, after the completion write, after PutEvents: see
 * test/support/crash-points.ts), over dynalite, the TaurusDB and EventBridge stand-ins, through the
 * handler of functions/upgrade.ts wired like production except that its collaborators go through
 * the crash switch. Between deliveries the crashed invocations' time runs out (their in-progress
 * records expire), unless a delivery is drawn as an early one that arrives while they still count.
 * The last delivery is the trigger's retry that finally runs clean.
 *
 * For every interleaving:
 * - TaurusDB received at most one upgrade POST per (delivery, proxy);
 * - every target ends with an event, and all of a target's events are one event (the same
 *   event_id and DetailType, republished): no redelivery ever reports another outcome;
 * - the outcome agrees with what happened: a target never POSTed can only be Unconfirmed (an earlier
 *   attempt claimed it); Accepted, Rejected and Failed come from its one POST's answer; Skipped only
 *   when that POST moved the proxy to the target.
 *
 * FUZZ_SCALE=N multiplies the run count; a failure prints fast-check's seed and path to replay it.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replies, type TaurusDbReply } from '../../stand-ins/taurusdb.ts';
import {
  CRASH_POINTS,
  type CrashPoint,
  type CrashSwitch,
  crashableDynamo,
  crashablePublisher,
  crashableTaurusDb,
  createCrashSwitch,
  type Ending,
} from '../support/crash-points.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { eventsFor, postsTo, within } from '../support/redelivery.ts';
import { type Handler, sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

const SCALE = Number(process.env.FUZZ_SCALE ?? '1');
const RUNS = Math.max(1, Math.round(25 * SCALE));
const BASE = JSON.parse(sample('http-api-v2.json').body);
const TARGET_VERSION = '2.24.03.000';
const INVOCATION_DEADLINE_MS = 15_000;

type Answer = 'accept' | 'reject' | 'serverError';
const REPLIES: Record<Answer, () => TaurusDbReply> = {
  accept: () => replies.accept(),
  reject: () => replies.reject(),
  serverError: () => replies.serverError(),
};
/** The outcome a stored answer of the one POST gives. */
const OUTCOME_OF: Record<Answer, string> = { accept: 'accepted', reject: 'rejected', serverError: 'failed' };

interface Delivery {
  crash: CrashPoint | undefined;
  /** Arrives while the crashed invocations' in-progress records still count (before their deadline). */
  early: boolean;
}

interface Scenario {
  trigger: 'http' | 'event';
  targets: Array<{ answer: Answer; lands: boolean }>;
  deliveries: Delivery[];
}

const scenarios: fc.Arbitrary<Scenario> = fc.record({
  trigger: fc.constantFrom('http' as const, 'event' as const),
  targets: fc.array(
    fc.record({ answer: fc.constantFrom<Answer>('accept', 'reject', 'serverError'), lands: fc.boolean() }),
    { minLength: 1, maxLength: 3 },
  ),
  deliveries: fc.array(
    fc.record({
      crash: fc.option(fc.constantFrom(...CRASH_POINTS), { nil: undefined, freq: 4 }),
      early: fc.integer({ min: 0, max: 4 }).map((draw) => draw === 0),
    }),
    { minLength: 1, maxLength: 4 },
  ),
});

/** One crash at each point, first delivery, for each trigger: every point is played in every run. */
const EVERY_POINT: Array<[Scenario]> = CRASH_POINTS.flatMap((crash) =>
  (['http', 'event'] as const).map((trigger): [Scenario] => [
    {
      trigger,
      targets: [
        { answer: 'accept', lands: false },
        { answer: 'accept', lands: true },
      ],
      deliveries: [{ crash, early: false }],
    },
  ]),
);

/**
 * functions/upgrade.ts' handler with createDependencies' wiring (lib/composition/upgrade-function.ts), its
 * collaborators through `crash`, storing in `tableName` (one table per run keeps each run's records,
 * and the scans of them, its own). The modules are imported after the world set the environment,
 * from the module graph the world's handler uses, so error classes are the ones its error mapping
 * knows.
 */
async function crashableWiring(crash: CrashSwitch) {
  const { createHandler } = await import('../../functions/upgrade.ts');
  const { loadConfig } = await import('../../lib/config.ts');
  const { awsClientOptions } = await import('../../lib/aws/call-budget.ts');
  const { createEventPublisher } = await import('../../lib/aws/event-publisher.ts');
  const { createIdempotentRunner } = await import('../../lib/aws/idempotency.ts');
  const { createSecretReader } = await import('../../lib/aws/secrets.ts');
  const { createTaurusDbClient } = await import('../../lib/huawei/taurusdb-client.ts');
  const { createTokenAuthenticator } = await import('../../lib/huawei/auth/authenticator.ts');
  const { createUpgradeService } = await import('../../lib/upgrade/service.ts');
  const { createWebhookVerifier } = await import('../../lib/http/webhook-verifier.ts');
  const { servesRegion } = await import('../../lib/composition/shared.ts');
  const config = loadConfig();
  const secrets = createSecretReader();
  const authenticator = createTokenAuthenticator({
    secretId: config.credentialsSecretId,
    secrets,
    iamEndpoint: config.iamEndpoint,
  });
  const dynamo = crashableDynamo(new DynamoDBClient(awsClientOptions(config.awsCalls)), crash);
  const taurusDb = crashableTaurusDb(
    createTaurusDbClient({ endpoint: config.taurusDbEndpoint, authenticator, timeouts: config.timeouts }),
    crash,
  );
  const publisher = crashablePublisher(
    createEventPublisher({ busName: config.eventBusName, source: config.eventSource }),
    crash,
  );
  const webhookVerifier = createWebhookVerifier({ secretId: config.webhookSecretId, secrets });
  return {
    dynamo,
    handlerFor(tableName: string): Handler {
      const idempotency = createIdempotentRunner({
        tableName,
        windowSeconds: config.idempotencyWindowSeconds,
        client: dynamo,
      });
      const upgrades = createUpgradeService({
        client: taurusDb,
        publisher,
        idempotency,
        concurrency: config.upgradeConcurrency,
      });
      return createHandler({
        webhookVerifier,
        idempotency,
        upgrades,
        awsCalls: config.awsCalls,
        servesRegion: servesRegion(config),
      }) as Handler;
    },
  };
}

type Outcomes = Array<{ proxy_id: string; outcome: string; event_ids: string[] }>;

function outcomesOf(ending: Ending<unknown>, trigger: Scenario['trigger']): Outcomes {
  if (ending.kind !== 'returned') throw new Error(`the clean redelivery ${ending.kind}`);
  const answer = ending.value as { body?: string; outcomes?: Outcomes };
  const outcomes = trigger === 'http' ? JSON.parse(answer.body ?? '{}').outcomes : answer.outcomes;
  if (!Array.isArray(outcomes)) throw new Error(`the clean redelivery answered ${JSON.stringify(answer)}`);
  return outcomes;
}

describe('crash points: random interleavings of crashes and redeliveries (in-process, over dynalite)', () => {
  let world: World;
  let crash: CrashSwitch;
  let wiring: Awaited<ReturnType<typeof crashableWiring>>;
  let store: DynamoDBDocumentClient;
  let run = 0;
  /** Crash points some invocation actually died at, over all runs. */
  const crashedAt = new Set<CrashPoint>();

  beforeAll(async () => {
    world = await startWorld({ idempotency: true });
    crash = createCrashSwitch();
    wiring = await crashableWiring(crash);
    store = DynamoDBDocumentClient.from(world.dynalite?.client() as DynamoDBClient);
  });
  afterAll(async () => {
    wiring.dynamo.destroy();
    await world.close();
  });

  /**
   * The crashed invocations' deadlines pass: their Powertools in-progress records expire, as their
   * remaining time (in_progress_expiration) says they would; the sending records stay, as they do.
   * Moving the expiry, rather than invoking with ~0 ms remaining: Middy's early timeout would answer
   * such an invocation at once while its handler went on running, unfrozen, beside the next one.
   */
  async function deadlinesPass(tableName: string): Promise<void> {
    const items = (await world.dynalite?.scan(tableName)) ?? [];
    for (const item of items.filter((candidate) => candidate.status === 'INPROGRESS')) {
      await store.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { id: item.id },
          UpdateExpression: 'SET in_progress_expiration = :past',
          ExpressionAttributeValues: { ':past': Date.now() - 1 },
        }),
      );
    }
  }

  /** TaurusDB's side of each target: its answer, and whether the upgrade moves the proxy at once. */
  function scriptTaurusDb(proxies: string[], scenario: Scenario): void {
    world.taurusDb.onUpgrade((upgrade) => {
      const target = scenario.targets[proxies.indexOf(upgrade.proxyId)];
      if (target === undefined) return undefined;
      if (target.lands) {
        world.taurusDb.setProxyVersion(upgrade.instanceId, upgrade.proxyId, {
          current_version: TARGET_VERSION,
          latest_version: TARGET_VERSION,
          can_upgrade: false,
        });
      }
      return REPLIES[target.answer]();
    });
  }

  function deliveryOf(scenario: Scenario, requests: unknown[]): () => unknown {
    const id = randomUUID();
    const body = { upgrades: requests };
    if (scenario.trigger === 'http') {
      return () => signedHttpEvent(world, 'http-api-v2.json', body, { id: `msg_${id}` });
    }
    return () => ({ ...sample('pipeline-event.json'), id, detail: body });
  }

  async function play(scenario: Scenario): Promise<{ proxies: string[]; final: Outcomes }> {
    run += 1;
    const proxies = scenario.targets.map((_, index) => `crash-${run}-${index}`);
    scriptTaurusDb(proxies, scenario);
    const tableName = (await world.dynalite?.createTable()) ?? '';
    const handler = wiring.handlerFor(tableName);
    const next = deliveryOf(
      scenario,
      proxies.map((proxy_id) => ({ ...BASE, proxy_id })),
    );
    const clean: Delivery = { crash: undefined, early: false };
    let ending: Ending<unknown> = { kind: 'crashed' };
    for (const delivery of [...scenario.deliveries, clean]) {
      await crash.quiet();
      if (!delivery.early) await deadlinesPass(tableName);
      const invocation = crash.run(delivery.crash, () => handler(next(), lambdaContext()));
      ending = await within(invocation, INVOCATION_DEADLINE_MS, 'an invocation ending or crashing');
      if (ending.kind === 'crashed' && delivery.crash !== undefined) crashedAt.add(delivery.crash);
    }
    return { proxies, final: outcomesOf(ending, scenario.trigger) };
  }

  /** The invariants of one interleaving, per target. */
  function check(scenario: Scenario, proxies: string[], final: Outcomes): void {
    proxies.forEach((proxy, index) => {
      const target = scenario.targets[index] as Scenario['targets'][number];
      const posts = postsTo(world, proxy);
      const outcome = final.find((entry) => entry.proxy_id === proxy)?.outcome;
      const events = eventsFor(world, proxy);
      const what = `${proxy} (${JSON.stringify(target)}): ${posts} POST(s), outcome ${outcome}`;
      expect(posts, what).toBeLessThanOrEqual(1);
      expect(events.length, `${what}: no event`).toBeGreaterThan(0);
      const distinct = new Set(
        events.map((entry) => `${entry.DetailType} ${(entry.Detail as { event_id: string }).event_id}`),
      );
      expect([...distinct], `${what}: conflicting events`).toHaveLength(1);
      if (posts === 0) expect(outcome, what).toBe('unconfirmed');
      if (outcome === 'skipped') expect(target.lands && posts === 1, what).toBe(true);
      if (outcome === 'unconfirmed') expect(posts === 0 || !target.lands, what).toBe(true);
      if (outcome !== 'skipped' && outcome !== 'unconfirmed')
        expect(outcome, what).toBe(OUTCOME_OF[target.answer]);
    });
  }

  it(
    `POSTs at most once per (delivery, proxy), and every target ends with one event (${RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarios, async (scenario) => {
          const { proxies, final } = await play(scenario);
          check(scenario, proxies, final);
        }),
        { numRuns: RUNS, examples: EVERY_POINT },
      );
      // The examples reach each point; random interleavings alone might miss one in a short run.
      expect([...crashedAt].sort()).toEqual([...CRASH_POINTS].sort());
    },
    60_000 * SCALE,
  );
});
