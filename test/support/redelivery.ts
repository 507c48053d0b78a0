import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import type { ReceivedEntry } from '../../stand-ins/eventbridge.ts';
import { lambdaContext } from './lambda-context.ts';
import type { World } from './world.ts';

/**
 * Helpers of the tests where our own side fails (a crash, a lost or stalled DynamoDB write) and the
 * delivery comes back: what reached TaurusDB and EventBridge per proxy, and bounded waits.
 */

/** `promise`, or a failure naming `what` once `ms` passed: no wait in these tests is unbounded. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls until no Powertools in-progress record is live any more (its `in_progress_expiration`, set
 * from the invocation's remaining time, has passed), so that a redelivery may take the step over.
 */
export async function inProgressExpired(world: World, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const items = (await world.dynalite?.scan()) ?? [];
    const live = items.filter(
      (item) => item.status === 'INPROGRESS' && Number(item.in_progress_expiration) >= Date.now(),
    );
    if (live.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${live.length} in-progress record(s) still live`);
    await sleep(100);
  }
}

/** Upgrade POSTs TaurusDB received for a proxy, from any process. */
export function postsTo(world: World, proxyId: string): number {
  return world.taurusDb.upgrades.filter((upgrade) => upgrade.proxyId === proxyId).length;
}

/** Every entry EventBridge accepted about a proxy, in order. */
export function eventsFor(world: World, proxyId: string): ReceivedEntry[] {
  return world.eventBridge
    .events()
    .filter((entry) => (entry.Detail as { request?: { proxy_id?: string } }).request?.proxy_id === proxyId);
}

/** A Lambda context whose deadline is `ms` from now, and that deadline (epoch ms). */
export function contextWithDeadline(ms: number): { context: Context; deadline: number } {
  const deadline = Date.now() + ms;
  return {
    context: lambdaContext({ getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) }),
    deadline,
  };
}

/**
 * The invocation's result, or a failure if it is still running at `deadline`: past it Lambda would
 * have ended the sandbox with nothing published. Middy itself answers (a bare 500 over HTTP, a
 * rejection otherwise) 5 ms before the deadline of a handler that has not finished, so the caller
 * also checks that the answer is the outcome's own.
 */
export function beforeDeadline<T>(invocation: Promise<T>, deadline: number): Promise<T> {
  return within(invocation, Math.max(0, deadline - Date.now()), 'the invocation ending before its deadline');
}
