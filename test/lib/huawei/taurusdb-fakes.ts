/** What the TaurusDB client tests share: the call, the tokens, a fake authenticator and a fake clock. */
import type {
  OutgoingRequest,
  RequestAuthenticator,
} from '../../../lib/huawei/auth/request-authenticator.ts';
import {
  createTaurusDbClient,
  type TaurusDbClientOptions,
  type UpgradeCall,
} from '../../../lib/huawei/taurusdb-client.ts';

export const TOKEN = 'MIIT-secret-token-value-0001';
export const TOKEN_2 = 'MIIT-secret-token-value-0002';

export const CALL: UpgradeCall = {
  projectId: '054e292c9880d4992f02c0196d3ea468',
  instanceId: '517ea793ab91438cbfcd9c4b1c958b1ein07',
  proxyId: '0f46fc46396e4fb19a0cb52f578e9511po01',
  sourceVersion: '2.23.12.000',
  targetVersion: '2.24.03.000',
};
export const UPGRADE_PATH = `/v3/${CALL.projectId}/instances/${CALL.instanceId}/proxy/${CALL.proxyId}/upgrade-version`;

/** Hands out the tokens in order, moving to the next one on every invalidate, as a token cache would. */
export function fakeAuthenticator(tokens: string[] = [TOKEN]) {
  const seen: OutgoingRequest[] = [];
  const invalidated: string[] = [];
  const handedOut: Array<Record<string, string>> = [];
  const refused: Array<Readonly<Record<string, string>> | undefined> = [];
  const authenticator: RequestAuthenticator = {
    async headersFor(request) {
      seen.push(request);
      const headers = { 'X-Auth-Token': tokens[Math.min(invalidated.length, tokens.length - 1)] ?? '' };
      handedOut.push(headers);
      return headers;
    },
    invalidate(projectId, rejected) {
      invalidated.push(projectId);
      refused.push(rejected);
    },
  };
  return { authenticator, seen, invalidated, handedOut, refused };
}

/** A clock that only moves when the client sleeps; the waits are recorded instead of slept. */
export function fakeTime(start = Date.parse('2026-11-27T10:00:00.000Z')) {
  let clock = start;
  const waits: number[] = [];
  return {
    waits,
    now: () => clock,
    sleep: async (ms: number) => {
      waits.push(ms);
      clock += ms;
    },
  };
}

export async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error,
  );
}

/** The client under test against a stand-in: a fake authenticator and clock, a fixed jitter. */
export function clientOn(
  taurusDb: { url: string },
  time: ReturnType<typeof fakeTime>,
  overrides: Partial<TaurusDbClientOptions> = {},
) {
  return createTaurusDbClient({
    endpoint: taurusDb.url,
    authenticator: fakeAuthenticator().authenticator,
    sleep: time.sleep,
    now: time.now,
    random: () => 0.5,
    ...overrides,
  });
}
