/**
 * How a TaurusDB call that did not succeed becomes an error: an answer other than 200, a 200 that
 * cannot be read, a second 401, no answer at all, a caller that gave up. Messages for the cases where
 * the request was sent say that its effect (the upgrade) may have started.
 *
 * Every upstream text put into an error is scrubbed of the credentials in play, in case a gateway
 * echoes them back, and bounded: errors end up in events and logs.
 */
import { AuthenticationError, UpstreamError } from '../errors.ts';
import type { Scrubber } from './auth/scrub.ts';
import { type Body, errorFields, unknownShape } from './taurusdb-answers.ts';
import type { TaurusDbTimeouts } from './taurusdb-api.ts';
import type { ApiRequest } from './taurusdb-requests.ts';
import { socketErrorName } from './transport.ts';

const maxTextChars = 300;

/** An answer other than 200 (and other than a 401 retried), with what TaurusDB said about it. */
export function errorFromAnswer(
  status: number,
  body: Body,
  attempts: number,
  redact: Scrubber,
): UpstreamError {
  const tries = attempts > 1 ? ` (after ${attempts} attempts)` : '';
  // The gateway throttles before TaurusDB sees the call.
  const mayHaveRun = status !== 429;
  const details = errorDetails(body, redact);
  if (details === undefined) {
    const problem = body.readable ? unknownShape : body.problem;
    return new UpstreamError(`TaurusDB answered ${status} with ${problem}${tries}`, { status, mayHaveRun });
  }
  const said = [details.errorCode, details.errorMsg].filter(Boolean).join(': ');
  return new UpstreamError(`TaurusDB answered ${status} ${said}${tries}`, { status, mayHaveRun, ...details });
}

/**
 * A malformed 200 to the upgrade keeps status 200 on the UpstreamError (it maps to HTTP 502): TaurusDB
 * did answer success, so the upgrade may well be running, and whoever reads the error must not take
 * it for "nothing happened". For the same reason it is never retried.
 */
export function malformedUpgradeAnswer(shape: string): UpstreamError {
  return new UpstreamError(`TaurusDB answered 200 with ${shape}; the upgrade may have started`, {
    status: 200,
  });
}

/** A malformed 200 to a read: nothing ran. */
export function malformedReadAnswer(shape: string): UpstreamError {
  return new UpstreamError(`TaurusDB answered 200 with ${shape}`, { status: 200, mayHaveRun: false });
}

/** The 401 to the credentials fetched again after a first 401. */
export function refusedTwice(
  projectId: string,
  body: Body,
  sentHeaders: Record<string, string>,
  redact: Scrubber,
): AuthenticationError {
  const details = errorDetails(body, redact);
  const said = [details?.errorCode, details?.errorMsg].filter(Boolean).join(': ');
  // An AK/SK signature carries its own time (X-Sdk-Date) and the gateway refuses one more than 15
  // minutes off its clock ("signature expired, signature time:…,server time:…"): no fresh key fixes that.
  const signed = Object.keys(sentHeaders).some((name) => name.toLowerCase() === 'x-sdk-date');
  const clockHint = signed && /x-sdk-date|expired|server time/i.test(details?.errorMsg ?? '');
  return new AuthenticationError(
    `TaurusDB refused the credentials for project ${projectId} (401${said ? ` ${said}` : ''}) ` +
      `even after they were fetched again; check the credentials secret${clockHint ? ' and the clock' : ''}`,
  );
}

/** Where the call went and how long it waited, for the messages of calls that got no answer. */
export interface CallContext {
  origin: string;
  timeouts: TaurusDbTimeouts;
  /** Whether a failure after sending leaves an effect in doubt (a read's does not). */
  idempotent: boolean;
}

/** The last attempt got no answer: nothing was sent, or it was and what became of it is unknown. */
export function unanswered(
  request: ApiRequest,
  context: CallContext,
  failure: { error: unknown; written: boolean },
  attempts: number,
): UpstreamError {
  return new UpstreamError(
    describeFailure(request, context, failure, attempts),
    { mayHaveRun: failure.written },
    { cause: failure.error },
  );
}

function describeFailure(
  request: ApiRequest,
  { origin, timeouts, idempotent }: CallContext,
  failure: { error: unknown; written: boolean },
  attempts: number,
): string {
  const code = socketErrorName(failure.error);
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  if (!failure.written) {
    const within = code === 'UND_ERR_CONNECT_TIMEOUT' ? ` within ${timeouts.connectMs} ms` : '';
    return `TaurusDB at ${origin} could not be reached${within} (${code})${tries}; nothing was sent`;
  }
  const doubt = idempotent ? '' : `; ${request.effect} may have started`;
  if (code === 'UND_ERR_HEADERS_TIMEOUT')
    return `TaurusDB did not answer within ${timeouts.headersMs} ms${doubt}`;
  if (code === 'UND_ERR_BODY_TIMEOUT')
    return `TaurusDB stopped sending its answer for ${timeouts.bodyMs} ms${doubt}`;
  return `the connection to TaurusDB failed after the request was sent (${code})${doubt}`;
}

/** The caller's signal ended the call. */
export function abandoned(request: ApiRequest, mayHaveRun: boolean, reason: unknown): UpstreamError {
  const outcome = `${request.effect} ${mayHaveRun ? 'may have started' : 'was not started'}`;
  return new UpstreamError(
    `the TaurusDB call was abandoned by the caller; ${outcome}`,
    { mayHaveRun },
    { cause: reason },
  );
}

/**
 * Huawei: a job may take a few seconds to become visible; until then the API answers 404 (or 400
 * with DBS.200823 / "job not found").
 */
export function isJobNotYetVisible(error: unknown): boolean {
  return (
    error instanceof UpstreamError &&
    (error.status === 404 || /job.*not (be )?found|DBS\.200823/i.test(`${error.errorCode} ${error.errorMsg}`))
  );
}

function errorDetails(
  body: Body,
  redact: Scrubber,
): { errorCode: string | undefined; errorMsg: string | undefined } | undefined {
  const fields = errorFields(body);
  if (fields === undefined) return undefined;
  const details = {
    errorCode: upstreamText(fields.code, redact),
    errorMsg: upstreamText(fields.message, redact),
  };
  return details.errorCode === undefined && details.errorMsg === undefined ? undefined : details;
}

/** Upstream text, scrubbed of the credentials in play and bounded. */
function upstreamText(text: string | null | undefined, redact: Scrubber): string | undefined {
  if (!text) return undefined;
  // Scrubbed before it is cut: a cut could leave a piece shorter than the scrubber looks for.
  const scrubbed = redact(text);
  return scrubbed.length > maxTextChars ? `${scrubbed.slice(0, maxTextChars)}…` : scrubbed;
}
