import type { Context } from 'aws-lambda';
import type { SchedulerStandIn, StoredSchedule } from '../stand-ins/scheduler.ts';
import { createLambdaContext } from './http-adapter.ts';

/**
 * What EventBridge Scheduler does with the deferred attempts' one-time schedules, played in the
 * sandbox process: every second the schedules whose `at()` has come are fired into the upgrade
 * handler with their input, as Scheduler's Lambda target would (an asynchronous invocation; a failed
 * one is reported, as Lambda's retries and failure destination would take it), and deleted
 * (ActionAfterCompletion DELETE). Nothing outlives `close`.
 */

export type UpgradeHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface LocalSchedulerOptions {
  scheduler: SchedulerStandIn;
  handler: UpgradeHandler;
  region: string;
  /** One JSON line per fired schedule, for the console. */
  onFired: (schedule: StoredSchedule) => void;
  log: (text: string) => void;
  functionName?: string;
  pollMs?: number;
}

export function createLocalScheduler(options: LocalSchedulerOptions): { close(): void } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    for (const schedule of options.scheduler.due(Date.now())) {
      const input = options.scheduler.fire(schedule.name, schedule.groupName);
      options.onFired(schedule);
      running = running
        .then(() =>
          options.handler(
            input,
            createLambdaContext({
              functionName: options.functionName ?? 'taurusdb-proxy-upgrader-sandbox-upgrade',
              region: options.region,
              timeoutMs: 29_000,
            }),
          ),
        )
        .catch((error: unknown) =>
          options.log(
            `sandbox: the deferred attempt ${schedule.name} failed (${error instanceof Error ? error.message : String(error)}); Lambda would retry it\n`,
          ),
        );
    }
  }, options.pollMs ?? 1_000);
  return { close: () => clearInterval(timer) };
}
