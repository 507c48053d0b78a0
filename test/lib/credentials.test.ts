import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCredentials } from '../../lib/credentials.ts';
import { SecretError } from '../../lib/errors.ts';
import { describeError } from '../support/secret-leaks.ts';

const SECRET_ID = 'prod/huawei/credentials';

function refusal(value: unknown): SecretError {
  try {
    parseCredentials(SECRET_ID, value);
  } catch (error) {
    expect(error).toBeInstanceOf(SecretError);
    return error as SecretError;
  }
  throw new Error('expected parseCredentials to refuse the secret');
}

describe('parseCredentials', () => {
  it('reads the token form, trimming a pasted newline', () => {
    expect(parseCredentials(SECRET_ID, { token: 'MIIT-abc_DEF.123\n' })).toEqual({
      kind: 'token',
      token: 'MIIT-abc_DEF.123',
    });
  });

  it('reads the password form into a tagged value, keeping the password byte for byte', () => {
    expect(
      parseCredentials(SECRET_ID, { domain_name: 'acme', user_name: 'deployer', password: ' pa ss ' }),
    ).toEqual({ kind: 'password', domainName: 'acme', userName: 'deployer', password: ' pa ss ' });
  });

  it('ignores keys of no form, such as a note left by an operator', () => {
    expect(parseCredentials(SECRET_ID, { token: 'MIIT-1', note: 'rotated weekly' })).toEqual({
      kind: 'token',
      token: 'MIIT-1',
    });
  });

  it('refuses a secret holding the keys of both forms instead of guessing', () => {
    const error = refusal({
      token: 'MIIT-1',
      domain_name: 'acme',
      user_name: 'deployer',
      password: 'pw-both-9',
    });
    expect(error.message).toBe(
      'secret prod/huawei/credentials holds the keys of more than one form; expected a JSON object that is exactly one of ' +
        '{"token"} (printable, no spaces) or {"domain_name","user_name","password"} (each a non-empty string)',
    );
    expect(describeError(error)).not.toContain('pw-both-9');
  });

  it.each([
    ['an empty object', {}],
    ['an array', ['MIIT-in-an-array']],
    ['a bare string', 'MIIT-bare-string'],
    ['null', null],
    ['a number', 42],
    ['an empty token', { token: '' }],
    ['a token with an inner space', { token: 'MIIT one' }],
    ['a token that is not a string', { token: 1234567 }],
    ['a password form without password', { domain_name: 'acme', user_name: 'deployer' }],
    ['a password form with an empty password', { domain_name: 'acme', user_name: 'deployer', password: '' }],
    ['snake-less keys', { domainName: 'acme', userName: 'deployer', password: 'pw-camel-7' }],
  ])('refuses %s, naming the secret id and the expected keys only', (_label, value) => {
    const error = refusal(value);
    expect(error.message).toBe(
      'secret prod/huawei/credentials has none of the expected forms; expected a JSON object that is exactly one of ' +
        '{"token"} (printable, no spaces) or {"domain_name","user_name","password"} (each a non-empty string)',
    );
    expect(error.cause).toBeUndefined();
  });

  it('never shows a value of a refused secret, whatever its shape', () => {
    const marked = fc.string({ minLength: 1, maxLength: 12 }).map((text) => `S3CR3T-${text}`);
    const refusedSecret = fc.oneof(
      fc.record({ token: marked.map((text) => `${text} with space`) }),
      fc.record({ domain_name: marked, user_name: marked }),
      fc.record({ domain_name: marked, password: marked, extra: marked }),
      fc.record({
        token: fc.stringMatching(/^[A-Za-z0-9]{1,12}$/).map((text) => `S3CR3T-${text}`),
        domain_name: marked,
        user_name: marked,
        password: marked,
      }),
    );
    fc.assert(
      fc.property(refusedSecret, (value) => {
        const shown = describeError(refusal(value));
        expect(shown).toContain(SECRET_ID);
        expect(shown).not.toContain('S3CR3T-');
      }),
      { numRuns: 200 },
    );
  });
});
