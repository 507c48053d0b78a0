import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Publisher } from '../../lib/upgrade/service.ts';
import type { UpgradeClient } from '../../lib/upgrade/step.ts';

/**
 * Crashes injected in-process: an invocation armed with a crash point freezes the moment it reaches
 * it. From then on none of its calls to a collaborator (DynamoDB, TaurusDB, EventBridge) ever
 * settles and none it had not started yet is made, so nothing of it runs past that point, as when
 * Lambda loses the sandbox. Each invocation runs in its own AsyncLocalStorage context, so the
 * collaborators, shared by every invocation as in production, know whose call they carry.
 */

export const CRASH_POINTS = [
  /** The step's conditional sending PutItem never leaves. */
  'before-sending',
  /** The sending PutItem reached DynamoDB; its answer is never seen. */
  'after-sending',
  /** The upgrade POST reached TaurusDB; its answer is never seen. */
  'after-post',
  /** Powertools' completion UpdateItem reached DynamoDB; its answer is never seen. */
  'after-completion',
  /** PutEvents reached EventBridge; the invocation never returns. */
  'after-publish',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export type Ending<T> =
  | { kind: 'crashed' }
  | { kind: 'returned'; value: T }
  | { kind: 'threw'; error: unknown };

interface Life {
  armed: CrashPoint | undefined;
  dead: boolean;
  die(): void;
}

/** Where a call stands with respect to the crash points. */
export interface CallPoints {
  before?: CrashPoint;
  after?: CrashPoint;
}

const frozen = <T>(): Promise<T> => new Promise<T>(() => undefined);

export function createCrashSwitch() {
  const lives = new AsyncLocalStorage<Life>();
  const inflight = new Set<Promise<unknown>>();

  function die<T>(life: Life): Promise<T> {
    life.dead = true;
    life.die();
    return frozen();
  }

  return {
    /** Runs one invocation armed with `point` (none: it cannot crash); settles when it ends or dies. */
    run<T>(point: CrashPoint | undefined, invocation: () => Promise<T>): Promise<Ending<T>> {
      return new Promise<Ending<T>>((resolve) => {
        const life: Life = { armed: point, dead: false, die: () => resolve({ kind: 'crashed' }) };
        lives.run(life, invocation).then(
          (value) => resolve({ kind: 'returned', value }),
          (error: unknown) => resolve({ kind: 'threw', error }),
        );
      });
    },

    /** Settles once every call a frozen invocation had on the wire has reached its collaborator. */
    async quiet(): Promise<void> {
      await Promise.allSettled([...inflight]);
    },

    /** `call`, made on behalf of the current invocation, which dies here when armed with a point of it. */
    async through<T>(call: () => Promise<T>, points: CallPoints = {}): Promise<T> {
      const life = lives.getStore();
      if (life === undefined) return call();
      if (life.dead) return frozen();
      if (points.before !== undefined && life.armed === points.before) return die(life);
      const pending = call();
      const settled = pending.then(
        () => undefined,
        () => undefined,
      );
      inflight.add(settled);
      void settled.then(() => inflight.delete(settled));
      try {
        return await pending;
      } finally {
        // Whether it answered or failed, the call did reach its collaborator: the crash comes after.
        if (life.dead) await frozen();
        if (points.after !== undefined && life.armed === points.after) await die(life);
      }
    },
  };
}

export type CrashSwitch = ReturnType<typeof createCrashSwitch>;

interface WireRequest {
  headers?: Record<string, string>;
  body?: unknown;
}

/** The SDK hands the serialised body over as a string, or as an object that stringifies to it. */
function bodyText(body: unknown): string {
  return body instanceof Uint8Array ? new TextDecoder().decode(body) : String(body);
}

/** The crash points of a DynamoDB request, told by its operation and the record id it writes. */
function dynamoPoints(request: WireRequest | undefined): CallPoints {
  const headers = request?.headers ?? {};
  const target = Object.entries(headers).find(([name]) => name.toLowerCase() === 'x-amz-target')?.[1] ?? '';
  const operation = target.slice(target.indexOf('.') + 1);
  // Powertools' completion is the only UpdateItem a step makes.
  if (operation === 'UpdateItem') return { after: 'after-completion' };
  if (operation !== 'PutItem' || request?.body === undefined) return {};
  const item = (JSON.parse(bodyText(request.body)) as { Item?: { id?: { S?: string } } }).Item;
  if (!item?.id?.S?.includes('.sending#')) return {};
  return { before: 'before-sending', after: 'after-sending' };
}

/** Every request `client` sends (whichever DocumentClient wraps it) goes through the switch. */
export function crashableDynamo(client: DynamoDBClient, crash: CrashSwitch): DynamoDBClient {
  client.middlewareStack.add(
    (next) => (args) => crash.through(() => next(args), dynamoPoints(args.request as WireRequest)),
    // After serialisation (the operation and the body are known), before the SDK's retries.
    { step: 'build', name: 'crashPoints' },
  );
  return client;
}

export function crashableTaurusDb(client: UpgradeClient, crash: CrashSwitch): UpgradeClient {
  return {
    upgradeProxyVersion: (call, signal) =>
      crash.through(() => client.upgradeProxyVersion(call, signal), { after: 'after-post' }),
    getProxyVersion: (proxy, signal) => crash.through(() => client.getProxyVersion(proxy, signal)),
    listProxies: (instance, signal) => crash.through(() => client.listProxies(instance, signal)),
    getInstance: (instance, signal) => crash.through(() => client.getInstance(instance, signal)),
  };
}

export function crashablePublisher(publisher: Publisher, crash: CrashSwitch): Publisher {
  return { publish: (events) => crash.through(() => publisher.publish(events), { after: 'after-publish' }) };
}
