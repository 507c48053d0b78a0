/** The stand-ins of `startUpstreams` (bench/upstreams.ts), in their own process, driven over IPC. */
import { startDynalite } from '../stand-ins/dynamodb.ts';
import { startEventBridgeStandIn } from '../stand-ins/eventbridge.ts';
import { startIamStandIn } from '../stand-ins/iam.ts';
import { startSecretsManagerStandIn } from '../stand-ins/secrets-manager.ts';
import { startTaurusDbStandIn } from '../stand-ins/taurusdb.ts';
import { generateWebhookKey } from '../test/support/webhook-signing.ts';
import {
  BARE_TOKEN,
  CREDENTIALS_SECRET_ID,
  IAM_USER,
  type StandInCounts,
  type StandInsReady,
  type StandInsRequest,
  WEBHOOK_SECRET_ID,
} from './upstreams.ts';

const iam = await startIamStandIn({ users: [IAM_USER] });
const [taurusDb, eventBridge, secretsManager, dynalite] = await Promise.all([
  startTaurusDbStandIn({
    // The bare loop's token; the function's comes from IAM, as on Huawei Cloud.
    acceptedTokens: [BARE_TOKEN],
    isAccepted: (token) => iam.issuedTokens.some((issued) => issued.token === token),
  }),
  startEventBridgeStandIn(),
  startSecretsManagerStandIn(),
  startDynalite(),
]);
const webhookKey = generateWebhookKey();
secretsManager.put(WEBHOOK_SECRET_ID, { key: webhookKey });
// The password form: the one that costs an IAM call, so the IAM count means something.
secretsManager.put(CREDENTIALS_SECRET_ID, {
  domain_name: IAM_USER.domainName,
  user_name: IAM_USER.userName,
  password: IAM_USER.password,
});

function counts(): StandInCounts {
  const upgrades = taurusDb.upgradeRequests();
  const versionReads = taurusDb.reads('version');
  return {
    taurusDb: { upgrades, versionReads, otherRequests: taurusDb.requests.length - upgrades - versionReads },
    eventBridge: {
      calls: eventBridge.calls.length,
      entries: eventBridge.calls.reduce((total, call) => total + call.length, 0),
    },
    secretsManager: {
      credentialsReads: secretsManager.reads(CREDENTIALS_SECRET_ID),
      webhookKeyReads: secretsManager.reads(WEBHOOK_SECRET_ID),
      connections: secretsManager.server.connections(),
    },
    iam: { tokenRequests: iam.tokenRequests(), connections: iam.server.connections() },
  };
}

let closing: Promise<unknown> | undefined;
function close() {
  closing ??= Promise.allSettled([
    taurusDb.close(),
    eventBridge.close(),
    secretsManager.close(),
    iam.close(),
    dynalite.close(),
  ]);
  return closing;
}

process.on('message', (message: StandInsRequest) => {
  if (message.op === 'counts') {
    process.send?.({ id: message.id, result: counts() });
    return;
  }
  void close().then(() => {
    process.send?.({ id: message.id, result: null });
    process.disconnect();
  });
});
// The parent going away ends this process too, whatever state the run was left in.
process.on('disconnect', () => void close().finally(() => process.exit(0)));

const ready: StandInsReady = {
  ports: {
    taurusDb: taurusDb.server.port,
    eventBridge: eventBridge.server.port,
    dynamoDb: Number(new URL(dynalite.endpoint).port),
  },
  secretsManager: secretsManager.server.url,
  iam: iam.url,
  tableName: dynalite.tableName,
  webhookKey,
};
process.send?.({ ready });
