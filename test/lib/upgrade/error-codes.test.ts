import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../lib/errors.ts';
import { ERROR_CODES, failureStatus, OWN_ERROR_STATUS } from '../../../lib/upgrade/error-codes.ts';

describe("a single target's failure as an HTTP status", () => {
  it.each([
    [ERROR_CODES.versionMismatch, 409],
    [ERROR_CODES.noProxies, 404],
    [ERROR_CODES.tooManyTargets, 422],
    [ERROR_CODES.unreadableVersion, 502],
    [ERROR_CODES.authenticationFailed, 502],
    [ERROR_CODES.credentialsUnavailable, 502],
    [ERROR_CODES.inProgress, 409],
  ])('%s answers %i', (error_code, status) => {
    expect(failureStatus({ error_code, error_msg: 'x' })).toBe(status);
  });

  it("decides the function's own codes by the table, whatever status the failure carries", () => {
    expect(failureStatus({ status: 200, error_code: ERROR_CODES.unreadableVersion, error_msg: 'x' })).toBe(
      502,
    );
    for (const [kind, code] of Object.entries(ERROR_CODES)) {
      expect(failureStatus({ error_code: code, error_msg: 'x' })).toBe(
        OWN_ERROR_STATUS[kind as keyof typeof ERROR_CODES],
      );
    }
  });

  it("answers TaurusDB's failures as the UpstreamError they came from: its own 4xx, anything else 502", () => {
    for (const status of [undefined, 200, 400, 403, 404, 409, 429, 499, 500, 503]) {
      const upstream = new UpstreamError('TaurusDB failed', { status, errorCode: 'DBS.05000008' });
      expect(failureStatus({ status, error_code: 'DBS.05000008', error_msg: 'x' })).toBe(upstream.statusCode);
    }
    expect(failureStatus({ status: 403, error_msg: 'Forbidden.' })).toBe(403);
    expect(failureStatus({ status: 200, error_msg: 'an empty update_result' })).toBe(502);
    expect(failureStatus({ error_msg: 'no answer came back' })).toBe(502);
  });
});
