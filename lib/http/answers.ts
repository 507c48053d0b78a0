import { HttpError } from '@middy/util';
import {
  AppError,
  AuthorizationError,
  InProgressError,
  PublishError,
  RouteError,
  SignatureError,
  UpstreamError,
  ValidationError,
} from '../errors.ts';
import { failureStatus } from '../upgrade/error-codes.ts';
import { failureIn, outcomeFacts } from '../upgrade/outcome.ts';
import type { TargetReport } from '../upgrade/report.ts';
import { targetOf } from '../upgrade/request.ts';
import type { Delivery } from './triggers.ts';

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/**
 * Each error's status is its class's own (`statusCode`, lib/errors.ts, or Middy's HttpError); only
 * the body is chosen here, by class.
 */
function errorBody(error: unknown): {
  statusCode: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
} {
  if (error instanceof ValidationError) {
    return {
      statusCode: error.statusCode,
      body: { message: 'invalid upgrade request', issues: error.issues },
    };
  }
  if (error instanceof AuthorizationError) {
    const message = error instanceof SignatureError ? 'webhook signature rejected' : 'request not authorised';
    return { statusCode: error.statusCode, body: { message, reason: error.message } };
  }
  if (error instanceof RouteError) {
    return {
      statusCode: error.statusCode,
      body: { message: error.message },
      ...(error.allow === undefined ? {} : { headers: { allow: error.allow } }),
    };
  }
  if (error instanceof InProgressError) {
    return { statusCode: error.statusCode, body: { message: error.message } };
  }
  if (error instanceof UpstreamError) {
    return {
      statusCode: error.statusCode,
      body: {
        message: error.message,
        error: { status: error.status, error_code: error.errorCode, error_msg: error.errorMsg },
      },
    };
  }
  if (error instanceof PublishError) {
    return {
      statusCode: error.statusCode,
      body: {
        message:
          'the upgrade results could not be published to EventBridge; retry the same delivery (same webhook-id): ' +
          'its stored results are published again without a second TaurusDB call',
      },
    };
  }
  if (error instanceof AppError && error.expose) {
    return { statusCode: error.statusCode, body: { message: error.message } };
  }
  // Middy's body parser: 415 for a non-JSON content type, 422 for malformed JSON or a forbidden key.
  if (error instanceof HttpError && error.statusCode < 500) {
    const message = error.statusCode === 415 ? 'Content-Type must be application/json' : error.message;
    return { statusCode: error.statusCode, body: { message } };
  }
  return { statusCode: 500, body: { message: 'internal error' } };
}

/**
 * The one place where errors become HTTP answers. Only exposed errors say what went wrong; anything
 * else is a bare 500. No stack trace and no `cause` ever goes into a body.
 */
export function errorResponse(error: unknown, requestId?: string): HttpResult {
  const { statusCode, body, headers } = errorBody(error);
  return jsonResponse(
    statusCode,
    requestId === undefined ? body : { ...body, request_id: requestId },
    headers,
  );
}

/**
 * The answer to a processed delivery: one outcome per target (an all_proxies request gives one per
 * listed proxy). Over HTTP, a single request for one proxy answers with that target's status
 * (statusFor); a batch (`{"upgrades": [...]}`, even of one item), or an all_proxies request that
 * reached its proxies, always answers 200 and each outcome says how its target fared.
 */
export function upgradeAnswer(
  delivery: Delivery,
  reports: TargetReport[],
  requestId: string,
  shape: { batch: boolean },
) {
  const body = {
    trigger: { kind: delivery.kind, id: reports[0]?.trigger.id ?? delivery.id ?? requestId },
    request_id: requestId,
    outcomes: reports.map(outcomeView),
  };
  if (delivery.kind !== 'http') return body;
  // A batch's status must not depend on how many items it holds: its caller reads every outcome anyway.
  return jsonResponse(shape.batch ? 200 : statusFor(reports), body);
}

/**
 * The status of a single target: 200 for accepted, rejected (the outcome carries the state), skipped
 * and planned; 409 for one already in progress or a proxy not at the requested source_version; 404 for
 * an all_proxies instance without proxies; 422 for a delivery that expands past the target limit;
 * TaurusDB's own 4xx; 502 when TaurusDB (the upgrade call or the version read) answered 5xx or could
 * not be reached (failureStatus, lib/upgrade/error-codes.ts, decides a failure's status). An
 * all_proxies request answers 200 once it reached its proxies, however many.
 */
function statusFor(reports: TargetReport[]): number {
  const [only] = reports;
  if (reports.length !== 1 || only === undefined) return 200;
  if (only.request.all_proxies === true && only.request.proxy_id !== undefined) return 200;
  // Deferred: taken on, and done later (README.md "Deferred upgrades").
  if (only.outcome.kind === 'deferred') return 202;
  const failure = failureIn(only.outcome);
  return failure === undefined ? 200 : failureStatus(failure);
}

function outcomeView(report: TargetReport) {
  const facts = outcomeFacts(report.outcome);
  return {
    ...targetOf(report.request),
    outcome: facts.label,
    ...(facts.would === undefined ? {} : { would: facts.would }),
    ...(facts.reason === undefined ? {} : { reason: facts.reason }),
    ...(facts.deferred === undefined ? {} : { deferred: facts.deferred }),
    ...(facts.resolved === undefined ? {} : { resolved: facts.resolved }),
    ...(facts.versions === undefined ? {} : { versions: facts.versions }),
    ...(facts.advisory === undefined ? {} : { advisory: facts.advisory }),
    ...(facts.update_result === undefined ? {} : { update_result: facts.update_result }),
    ...(facts.error === undefined ? {} : { error: facts.error }),
    event_ids: report.event_ids,
    replayed: report.replayed,
    ...(report.merged_from === undefined ? {} : { merged_from: report.merged_from }),
  };
}
