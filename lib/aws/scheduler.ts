import type { CreateScheduleCommand } from '@aws-sdk/client-scheduler';
import { DeferralError } from '../errors.ts';
import { type AwsCallSettings, awsClientOptions } from './call-budget.ts';
import { awsErrorName } from './error-name.ts';

/**
 * Deferred attempts as one-time EventBridge Scheduler schedules: `at(...)` in UTC, flexible window
 * off (the attempt is due at its time, not within a window), deleted by Scheduler once it invoked the
 * target, in this stack's schedule group, invoking the upgrade function through the role Scheduler
 * assumes. The schedule's name is the attempt's identity: creating a name that exists answers
 * ConflictException, which means this attempt is already scheduled (a redelivery of the delivery that
 * deferred it), not a failure.
 */

/** The slice of the Scheduler client this module uses; tests pass the real client aimed at a stand-in. */
export interface SchedulerLike {
  send(command: CreateScheduleCommand, options?: { abortSignal?: AbortSignal | undefined }): Promise<unknown>;
}

export interface DeferralSchedulerOptions {
  groupName: string;
  /** The upgrade function's ARN (the schedule's target). */
  targetArn: string;
  /** The role Scheduler assumes to invoke it. */
  roleArn: string;
  /** Where Scheduler puts an attempt it could not deliver after its retries (an SQS queue). */
  deadLetterArn?: string | undefined;
  client?: SchedulerLike;
  awsCalls?: AwsCallSettings;
}

export interface DeferredAttempt {
  /** 1 to 64 characters of [0-9a-zA-Z-_.] (lib/upgrade/deferral.ts makes it). */
  name: string;
  at: Date;
  /** The upgrade request the attempt delivers, as the Scheduler trigger's input. */
  input: unknown;
}

export interface DeferralScheduler {
  /** `created`, or `existing` when a schedule of that name is already there. Throws DeferralError. */
  schedule(attempt: DeferredAttempt, signal?: AbortSignal): Promise<'created' | 'existing'>;
}

/** Scheduler's `at()` takes whole seconds without a zone: `at(2026-12-02T03:05:00)`, read as UTC. */
export function atExpression(at: Date): string {
  const whole = new Date(Math.ceil(at.getTime() / 1000) * 1000);
  return `at(${whole.toISOString().slice(0, 19)})`;
}

// Loaded on the first deferral, not at every cold start: only a delivery that finds an instance busy
// or outside its window schedules anything (docs/performance.md, "Cold start").
const schedulerSdk = () => import('@aws-sdk/client-scheduler');

export function createDeferralScheduler(options: DeferralSchedulerOptions): DeferralScheduler {
  let client = options.client;
  const clientOf = async () => {
    client ??= new (await schedulerSdk()).SchedulerClient(awsClientOptions(options.awsCalls));
    return client;
  };
  return {
    async schedule(attempt, signal) {
      const { ConflictException, CreateScheduleCommand } = await schedulerSdk();
      const command = new CreateScheduleCommand({
        Name: attempt.name,
        GroupName: options.groupName,
        ScheduleExpression: atExpression(attempt.at),
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        // The name, not the SDK's random token: a retried call after a lost answer is the same request.
        ClientToken: attempt.name,
        Target: {
          Arn: options.targetArn,
          RoleArn: options.roleArn,
          Input: JSON.stringify(attempt.input),
          ...(options.deadLetterArn === undefined
            ? {}
            : { DeadLetterConfig: { Arn: options.deadLetterArn } }),
        },
      });
      try {
        await (await clientOf()).send(command, { abortSignal: signal });
        return 'created';
      } catch (error) {
        if (error instanceof ConflictException) return 'existing';
        throw new DeferralError(
          `the deferred attempt ${attempt.name} could not be scheduled in schedule group ${options.groupName} (${awsErrorName(error)}); nothing was sent to TaurusDB, retry the same delivery`,
          { cause: error },
        );
      }
    },
  };
}
