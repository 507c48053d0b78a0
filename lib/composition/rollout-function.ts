import { createRolloutExecutions } from '../aws/executions.ts';
import { createIdempotentRunner, type IdempotentRunner, ROLLOUT_WINDOW_SECONDS } from '../aws/idempotency.ts';
import { createRolloutStore } from '../aws/rollout-store.ts';
import { createSecretReader, type SecretReader } from '../aws/secrets.ts';
import type { RolloutConfig } from '../config.ts';
import { createWebhookVerifier, type WebhookVerifier } from '../http/webhook-verifier.ts';
import { announcerFor } from '../rollouts/announcer.ts';
import { createRolloutTasks } from '../rollouts/tasks.ts';
import { runRolloutUpgrade } from '../rollouts/upgrade-runner.ts';
import { pollTarget } from '../rollouts/workflow-poller.ts';
import { createUpgradeService } from '../upgrade/service.ts';
import { createPublisher, createTaurusDb, deferralSettingsOf } from './shared.ts';

export interface RolloutDependencies {
  webhookVerifier: WebhookVerifier;
  /** Duplicate suppression of the upgrade steps; each task invocation registers its Lambda context. */
  idempotency: IdempotentRunner;
  tasks: ReturnType<typeof createRolloutTasks>;
}

/**
 * The rollouts function's composition root (functions/rollouts.ts, once per container). Its upgrade
 * service is the upgrade function's, with duplicate suppression on the same table, and WITHOUT a
 * Scheduler: inside a rollout the loop runs a busy instance's next attempt itself (one driver per
 * target), when the step's deferral says (lib/rollouts/upgrade-runner.ts).
 */
export function createRolloutDependencies(
  config: RolloutConfig,
  secrets: SecretReader = createSecretReader(),
  /**
   * The rollouts' clock: soaks, approvals, busy retries, tracking limits and the upgrade step's
   * maintenance windows. A test passes its own; the sandbox runs a faster one.
   */
  now: () => Date = () => new Date(),
): RolloutDependencies {
  const taurusDb = createTaurusDb(config, secrets);
  const idempotency = createIdempotentRunner({
    tableName: config.idempotencyTable,
    windowSeconds: config.idempotencyWindowSeconds,
    awsCalls: config.awsCalls,
  });
  const publisher = createPublisher(config);
  const upgrades = createUpgradeService({
    client: taurusDb,
    publisher,
    idempotency,
    concurrency: 1,
    // The step applies BUSY_RETRY_* to a busy target, and the loop runs the attempt it defers to.
    deferralSettings: deferralSettingsOf(config),
    now,
  });
  const { rollouts } = config;
  const announce = announcerFor(publisher, { trackingMaxSeconds: rollouts.trackingMaxSeconds, now });
  const settings = {
    trackingMaxMs: rollouts.trackingMaxSeconds * 1000,
    resumeWindowMs: ROLLOUT_WINDOW_SECONDS * 1000,
  };
  return {
    webhookVerifier: createWebhookVerifier({ secretId: config.webhookSecretId, secrets }),
    idempotency,
    tasks: createRolloutTasks({
      store: createRolloutStore({ tableName: rollouts.tableName, awsCalls: config.awsCalls }),
      executions: createRolloutExecutions({
        stateMachineArn: rollouts.stateMachineArn,
        awsCalls: config.awsCalls,
      }),
      fleet: taurusDb,
      tickCollaborators: (record) => ({
        startUpgrade: (target, deliveryId) =>
          runRolloutUpgrade(upgrades, record, target, deliveryId, {
            getInstance: (instance, signal) => taurusDb.getInstance(instance, signal),
            now,
          }),
        pollWorkflow: (target) => pollTarget(taurusDb, record, target),
        announce: announce(record),
        publishRollout: async (events) => {
          await publisher.publish(events);
        },
        now,
        settings,
        parallelism: config.upgradeConcurrency,
      }),
      tickSeconds: rollouts.tickSeconds,
      maxTicks: rollouts.ticksPerExecution,
      readConcurrency: config.upgradeConcurrency,
      now,
    }),
  };
}
