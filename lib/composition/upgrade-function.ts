import type { AwsCallSettings } from '../aws/call-budget.ts';
import { createIdempotentRunner, type IdempotentRunner } from '../aws/idempotency.ts';
import { createDeferralScheduler } from '../aws/scheduler.ts';
import { createSecretReader, type SecretReader } from '../aws/secrets.ts';
import type { Config } from '../config.ts';
import { createWebhookVerifier, type WebhookVerifier } from '../http/webhook-verifier.ts';
import { createUpgradeService } from '../upgrade/service.ts';
import { createPublisher, createTaurusDb, deferralSettingsOf, servesRegion } from './shared.ts';

export interface Dependencies {
  webhookVerifier: WebhookVerifier;
  /** The AWS SDK settings of every client; the handler derives its deadline reserve from them. */
  awsCalls: AwsCallSettings;
  idempotency: IdempotentRunner;
  upgrades: ReturnType<typeof createUpgradeService>;
  /** Whether a request's region has a TaurusDB endpoint. */
  servesRegion: (region: string) => boolean;
}

/**
 * The composition root: the production collaborators built from the configuration. It runs once per
 * container (functions/upgrade.ts calls it at module load), and every adapter it builds makes its own
 * AWS client and takes the Huawei connection pools from here, so each is created once per container
 * and reused by every invocation; no module keeps a client of its own at module scope.
 */
export function createDependencies(
  config: Config,
  secrets: SecretReader = createSecretReader(),
): Dependencies {
  const idempotency = createIdempotentRunner({
    tableName: config.idempotencyTable,
    windowSeconds: config.idempotencyWindowSeconds,
    awsCalls: config.awsCalls,
  });
  return {
    webhookVerifier: createWebhookVerifier({ secretId: config.webhookSecretId, secrets }),
    awsCalls: config.awsCalls,
    idempotency,
    servesRegion: servesRegion(config),
    upgrades: createUpgradeService({
      client: createTaurusDb(config, secrets),
      publisher: createPublisher(config),
      idempotency,
      concurrency: config.upgradeConcurrency,
      scheduler:
        config.deferral === undefined
          ? undefined
          : createDeferralScheduler({ ...config.deferral, awsCalls: config.awsCalls }),
      deferralSettings: deferralSettingsOf(config),
    }),
  };
}
