/**
 * What authorises one TaurusDB call, attempt after attempt: the headers the authenticator adds, the
 * one re-authentication a 401 earns, and a scrubber of every credential in play for the texts the
 * call passes on.
 *
 * A 401 means the gateway refused the credentials before anything ran: fresh ones, once, no wait,
 * after `authenticator.invalidate(projectId, rejectedHeaders)`. The headers go back so that a 401 to
 * credentials already replaced costs no second refresh; the authenticator shares one refresh among the
 * 401s of a project, so a batch under 401s costs one secret re-read and one token exchange, not one
 * each. A second 401 fails with an AuthenticationError.
 */
import type { OutgoingRequest, RequestAuthenticator } from './auth/request-authenticator.ts';
import { createScrubber, type Scrubber } from './auth/scrub.ts';
import { bodyOf } from './taurusdb-answers.ts';
import { refusedTwice } from './taurusdb-errors.ts';
import type { ApiRequest } from './taurusdb-requests.ts';
import type { Answer } from './transport.ts';

export interface CallAuthorisation {
  /** The headers of the next attempt: the request's own and the authenticator's. */
  headers(): Promise<Record<string, string>>;
  /** The last headers were refused (401): fresh credentials once; a second refusal throws. */
  refused(answer: Answer): Promise<void>;
  /** Whether fresh credentials were fetched after a 401 (that retry counts against no attempt limit). */
  readonly reauthenticated: boolean;
  /** Removes the authenticator's credentials and those sent so far from an upstream text. */
  redactor(): Scrubber;
}

export function authoriseCall(
  authenticator: RequestAuthenticator,
  request: ApiRequest,
  url: () => URL,
): CallAuthorisation {
  const sent = new Set<string>();
  // What the last attempt was sent with; `refused` is only ever called after an attempt.
  let last: { headers: Record<string, string>; auth: Record<string, string> } = { headers: {}, auth: {} };
  let reauthenticated = false;

  function redactor(): Scrubber {
    const own = createScrubber(sent);
    const held = authenticator.redact;
    return held === undefined ? own : (text) => own(held(text));
  }

  return {
    async headers() {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (request.body !== undefined) headers['content-type'] = 'application/json';
      if (request.language !== undefined) headers['x-language'] = request.language;
      const outgoing: OutgoingRequest = {
        method: request.method,
        url: url(),
        headers,
        body: request.body ?? '',
        projectId: request.projectId,
      };
      // The authenticator's own headers are kept apart: they are what goes back on a 401.
      const auth = await authenticator.headersFor(outgoing);
      for (const value of secretHeaderValues(auth)) sent.add(value);
      last = { headers: { ...headers, ...auth }, auth };
      return last.headers;
    },
    async refused(answer) {
      if (reauthenticated) throw refusedTwice(request.projectId, bodyOf(answer), last.headers, redactor());
      await authenticator.invalidate(request.projectId, last.auth);
      reauthenticated = true;
    },
    get reauthenticated() {
      return reauthenticated;
    },
    redactor,
  };
}

/**
 * The secret parts of the headers the authenticator added: the token, the security token, and of an
 * AK/SK `Authorization` only its signature (the scheme name and signed header names are no secret,
 * and the gateway's own messages name them).
 */
function secretHeaderValues(headers: Record<string, string>): string[] {
  return Object.entries(headers).flatMap(([name, value]) => {
    const lower = name.toLowerCase();
    if (lower === 'x-auth-token' || lower === 'x-security-token') return [value];
    if (lower === 'authorization') return [/\bSignature=([0-9a-f]+)/.exec(value)?.[1] ?? value];
    return [];
  });
}
