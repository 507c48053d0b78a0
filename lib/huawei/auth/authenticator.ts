import type { SecretReader } from '../../aws/secrets.ts';
import { SecretError } from '../../errors.ts';
import { logger } from '../../observability.ts';
import { createIamClient, type IamClient } from '../iam-client.ts';
import type { ConnectionPools } from '../transport.ts';
import {
  type HuaweiCredentials,
  type PasswordCredentials,
  parseCredentials,
  secretValuesOf,
  type TokenCredentials,
} from './credentials.ts';
import { createProjectTokens, MAX_REUSE_MS, type TokenWarning } from './project-tokens.ts';
import type { OutgoingRequest, RequestAuthenticator } from './request-authenticator.ts';
import { createScrubber, type Scrubber } from './scrub.ts';
import { createRefresher } from './token-refresh.ts';

export interface TokenAuthenticatorOptions {
  /** Secrets Manager id of the credentials secret (any form lib/huawei/auth/credentials.ts reads). */
  secretId: string;
  /** Caches the secret itself; a 401 makes it read the secret again (`refresh`). */
  secrets: SecretReader;
  /** Base URL of IAM; used for the default IAM client. */
  iamEndpoint: string;
  /** The container's connection pools (lib/huawei/transport.ts), for the default IAM client. */
  pools?: ConnectionPools;
  iam?: IamClient;
  /** Epoch milliseconds: when tokens expire, and the `X-Sdk-Date` of AK/SK signatures. */
  now?: () => number;
  /** How long before `expires_at` a cached token is replaced. */
  refreshMarginMs?: number;
  /** Reports an IAM failure while a still valid token stays in use; given ids and reasons only. */
  warn?: TokenWarning;
}

export interface TokenAuthenticator extends RequestAuthenticator {
  /** The X-Auth-Token value for `projectId`; refused for the AK/SK form, which has no token. */
  getToken(projectId: string): Promise<string>;
  /**
   * Starts reading the credentials secret and, for the password form, the project's first IAM
   * exchange (for the AK/SK form, loading the signer), without waiting: the first request's `headersFor` then joins the read and exchange in
   * flight (lib/aws/secrets.ts, lib/huawei/auth/project-tokens.ts share them) instead of starting
   * them. Only for a project with no token yet, so a due refresh keeps its one attempt and warning;
   * a failure is left for `headersFor` to meet again and report.
   */
  prepare(projectId: string): void;
  redact: Scrubber;
}

export const defaults = {
  refreshMarginMs: 5 * 60_000,
  maxReuseMs: MAX_REUSE_MS,
};

const defaultWarn: TokenWarning = (message, details) => logger.warn(message, details);

// The AK/SK signer is loaded when the first request is signed, so a container whose secret holds a
// password or a token never loads it: it is a chunk of its own in the zip (docs/performance.md, "Cold
// start"; test/serverless-package.test.ts signs from the packaged chunk).
let signer: Promise<typeof import('./aksk-signer.ts')> | undefined;
const loadSigner = () => {
  signer ??= import('./aksk-signer.ts');
  return signer;
};

/**
 * The production RequestAuthenticator: what authorises a TaurusDB request, from the credentials secret.
 * - token form: sent as `X-Auth-Token` as is;
 * - password form: exchanged at IAM once per project, the token reused until shortly before it expires;
 * - AK/SK form: the request is signed (lib/huawei/auth/aksk-signer.ts) and carries no token; nothing is cached
 *   beyond the secret, since a signature covers one request at one time.
 * The form is decided per request from the secret as the reader's cache holds it, so a secret rotated
 * from one form to another is followed as soon as it is read again (cache expiry, or a 401's refresh).
 *
 * A 401 refreshes once per project however many requests it hit at once
 * (lib/huawei/auth/token-refresh.ts). What worked is kept when a refresh fails: a failed secret re-read
 * leaves the secret read before in use, and an IAM outage near a token's end leaves the token in use
 * until it really expires (only after a 401, which proves the token refused, is an IAM failure final).
 */
export function createTokenAuthenticator(options: TokenAuthenticatorOptions): TokenAuthenticator {
  const { secretId, secrets } = options;
  const now = options.now ?? Date.now;
  const inPlay = credentialsInPlay(() => tokens.values());
  const tokens = createProjectTokens({
    iam: options.iam ?? createIamClient({ endpoint: options.iamEndpoint, pools: options.pools }),
    now,
    refreshMarginMs: options.refreshMarginMs ?? defaults.refreshMarginMs,
    warn: options.warn ?? defaultWarn,
    onIssued: () => inPlay.changed(),
  });

  // The reader hands out the same parsed JSON while the secret is cached, so each value is validated
  // once rather than on every request (a rotated secret is a new object and is validated afresh).
  const parsed = new WeakMap<object, HuaweiCredentials>();
  async function readCredentials(): Promise<HuaweiCredentials> {
    const value = await secrets.readJson(secretId);
    if (typeof value !== 'object' || value === null) return parseCredentials(secretId, value);
    let credentials = parsed.get(value);
    if (credentials === undefined) {
      credentials = parseCredentials(secretId, value);
      parsed.set(value, credentials);
      inPlay.noteCredentials(credentials);
    }
    return credentials;
  }
  const refresher = createRefresher({ secretId, secrets, tokens, readCredentials });

  function tokenFor(credentials: TokenCredentials | PasswordCredentials, projectId: string): Promise<string> {
    // The token form is not cached here: the secret reader's own cache decides when a rotated token is used.
    return credentials.kind === 'token'
      ? Promise.resolve(credentials.token)
      : tokens.token(credentials, projectId);
  }

  return {
    async getToken(projectId) {
      await refresher.settled(projectId);
      const credentials = await readCredentials();
      if (credentials.kind === 'aksk')
        throw new SecretError(
          `secret ${secretId} holds an AK/SK pair, which signs requests and gives no token`,
        );
      return tokenFor(credentials, projectId);
    },
    async headersFor(request: OutgoingRequest) {
      const issued = await refresher.settled(request.projectId);
      const credentials = await readCredentials();
      const headers =
        credentials.kind === 'aksk'
          ? (await loadSigner()).signRequest(credentials, request, new Date(now()))
          : { 'x-auth-token': await tokenFor(credentials, request.projectId) };
      refresher.label(headers, issued);
      return headers;
    },
    prepare(projectId) {
      if (tokens.state(projectId).token !== undefined) return;
      readCredentials()
        .then((credentials): Promise<unknown> | undefined => {
          if (credentials.kind === 'password') return tokens.token(credentials, projectId);
          return credentials.kind === 'aksk' ? loadSigner() : undefined;
        })
        .catch(() => undefined);
    },
    invalidate(projectId, rejected) {
      const refreshed = refresher.refresh(projectId, rejected);
      // A caller that does not wait for the refresh learns of a failure from its next headersFor.
      refreshed.catch(() => undefined);
      return refreshed;
    },
    redact: (text) => inPlay.scrubber()(text),
  };
}

/**
 * The secret values the authenticator may have sent or may be echoed: the two latest credentials read
 * (a request signed or sent with the older one may still be answered) and each project's current
 * token. Kept as a scrubber, rebuilt only when they change.
 */
function credentialsInPlay(tokenValues: () => Array<string | undefined>) {
  let recent: string[][] = [];
  let scrubber: Scrubber | undefined;
  return {
    noteCredentials(credentials: HuaweiCredentials) {
      recent = [secretValuesOf(credentials), ...recent].slice(0, 2);
      scrubber = undefined;
    },
    changed() {
      scrubber = undefined;
    },
    scrubber(): Scrubber {
      if (scrubber === undefined) {
        const values = [...recent.flat(), ...tokenValues()].filter(
          (value): value is string => value !== undefined,
        );
        scrubber = createScrubber(values);
      }
      return scrubber;
    },
  };
}
