import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MIN_SECRET_RUN } from '../../lib/huawei/auth/scrub.ts';
import { replies } from '../../stand-ins/taurusdb.ts';
import { generateWebhookKey } from '../support/webhook-signing.ts';
import {
  CREDENTIALS_SECRET_ID,
  STATIC_TOKEN,
  sample,
  signedHttpEvent,
  startWorld,
  WEBHOOK_SECRET_ID,
  type World,
} from '../support/world.ts';

/**
 * Issue 12, "never twice, even when our own side fails": what the function keeps doing when its own
 * collaborators fail — Secrets Manager down, TaurusDB refusing a token — and that no credential comes
 * back out of an upstream text. Through the whole handler, every collaborator a server on 127.0.0.1.
 */

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const ACCEPTED = 'Proxy Upgrade Accepted';
const REJECTED = 'Proxy Upgrade Rejected';

interface PipelineResult {
  outcomes: Array<{ proxy_id: string; outcome: string; error?: unknown }>;
}

/** A `Proxy Upgrade Requested` event for these targets, under an event id of its own. */
function pipelineEvent(upgrades: unknown[]) {
  const event = sample('pipeline-event.json');
  event.id = randomUUID();
  event.detail = { upgrades };
  return event;
}

/** `count` targets on one project, each its own instance and proxy. */
function targets(count: number) {
  return Array.from({ length: count }, (_, index) => ({
    ...REQUEST,
    instance_id: `outage-instance-${index}in07`,
    proxy_id: `outage-proxy-${index}po01`,
  }));
}

/** Whether any run of MIN_SECRET_RUN characters of `secret` occurs in `text`. */
function holdsPieceOf(text: string, secret: string): boolean {
  for (let at = 0; at + MIN_SECRET_RUN <= secret.length; at += 1) {
    if (text.includes(secret.slice(at, at + MIN_SECRET_RUN))) return true;
  }
  return false;
}

describe('a Secrets Manager outage keeps what was read before', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
    world.secretsManager.failing = false;
  });

  it('a forged webhook during the outage does not make the next genuine webhook 401', async () => {
    expect((await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'))).statusCode).toBe(200);
    const readsBefore = world.secretsManager.reads(WEBHOOK_SECRET_ID);
    world.forgetTraffic();

    world.secretsManager.failing = true;
    const forged = signedHttpEvent(world, 'http-api-v2.json', undefined, { key: generateWebhookKey() });
    const refused = await world.invokeHttp(forged);
    const genuine = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));

    expect(refused.statusCode).toBe(401);
    expect(refused.json.reason).toBe('no signature matches');
    // The forged signature did make the key be read again (the SDK retrying the 503 itself); that read
    // failed and evicted nothing.
    expect(world.secretsManager.reads(WEBHOOK_SECRET_ID)).toBeGreaterThan(readsBefore);
    expect(genuine.statusCode).toBe(200);
    expect(genuine.json.outcomes[0].outcome).toBe('accepted');
    expect(world.taurusDb.upgradeRequests()).toBe(1);
  });

  it('a 401 during the outage retries with the credentials read before, and the upgrade runs', async () => {
    expect((await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'))).statusCode).toBe(200);
    world.forgetTraffic();

    world.secretsManager.failing = true;
    // The version read, which goes first, is refused once: the re-read of the secret fails.
    world.taurusDb.scriptRead(replies.unauthorized());
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));

    expect(answer.statusCode).toBe(200);
    expect(answer.json.outcomes[0].outcome).toBe('accepted');
    expect(world.taurusDb.reads('version')).toBe(2);
    expect(world.taurusDb.upgrades.map((upgrade) => upgrade.token)).toEqual([STATIC_TOKEN]);
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual([ACCEPTED]);
  });
});

describe('a batch under TaurusDB 401s refreshes the credentials once', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ credentials: 'password' });
  });
  afterAll(() => world.close());

  it('50 targets refused the revoked token: 2 secret reads and 2 IAM calls in all, every target accepted', async () => {
    const warmUp = (await world.invoke(pipelineEvent(targets(1)))) as PipelineResult;
    expect(warmUp.outcomes.map((outcome) => outcome.outcome)).toEqual(['accepted']);
    const [revoked] = world.iam.issuedTokens;
    if (revoked === undefined) throw new Error('IAM issued no token');
    world.iam.revoke(revoked.token);
    world.secrets.push(revoked.token);
    world.forgetTraffic();

    const batch = targets(50);
    const result = (await world.invoke(pipelineEvent(batch))) as PipelineResult;

    expect(result.outcomes.map((outcome) => outcome.outcome)).toEqual(batch.map(() => 'accepted'));
    // Counted where they crossed the wire: the warm-up's read and exchange, and one refresh.
    expect(world.secretsManager.reads(CREDENTIALS_SECRET_ID)).toBe(2);
    expect(world.iam.tokenRequests()).toBe(2);
    const [fresh] = world.iam.issuedTokens;
    expect(new Set(world.taurusDb.upgrades.map((upgrade) => upgrade.token))).toEqual(new Set([fresh?.token]));
    expect(world.taurusDb.upgradeRequests()).toBe(50);
  });
});

describe('credentials echoed by TaurusDB', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());
  beforeEach(() => world.forgetTraffic());

  it('a 200 whose error_message holds the token and a 20-character piece of it: neither in the answer nor the event', async () => {
    const piece = STATIC_TOKEN.slice(6, 26);
    world.taurusDb.script(replies.reject(`token ${STATIC_TOKEN} lacks a right; token …${piece}… is refused`));
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));

    expect(answer.statusCode).toBe(200);
    const outcome = answer.json.outcomes[0];
    expect(outcome.outcome).toBe('rejected');
    const [event, ...more] = world.eventBridge.events();
    expect(more).toEqual([]);
    expect(event?.DetailType).toBe(REJECTED);
    const said = 'token [redacted] lacks a right; token …[redacted]… is refused';
    expect(event?.Detail).toMatchObject({ result: { state: 'REJECT', error_message: said } });
    for (const text of [JSON.stringify(answer.json), JSON.stringify(event)]) {
      expect(text).toContain(said);
      expect(text).not.toContain(piece);
      expect(holdsPieceOf(text, STATIC_TOKEN)).toBe(false);
    }
  });
});
