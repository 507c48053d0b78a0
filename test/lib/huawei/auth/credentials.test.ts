import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecretError } from '../../../../lib/errors.ts';
import { parseCredentials, secretValuesOf } from '../../../../lib/huawei/auth/credentials.ts';
import { describeError } from '../../../support/secret-leaks.ts';

const SECRET_ID = 'prod/huawei/credentials';
const EXPECTED_FORMS =
  'expected a JSON object that is exactly one of {"token"} (printable, no spaces) or ' +
  '{"domain_name","user_name","password"} (each a non-empty string) or ' +
  '{"access_key","secret_key","security_token"?} (each printable, no spaces)';

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

  it('reads the AK/SK form, trimming copy-paste spaces and newlines around each value', () => {
    expect(
      parseCredentials(SECRET_ID, {
        access_key: 'HPUAEXAMPLE01\n',
        secret_key: ' sk-Zq9/Lm+2==',
        security_token: '\tstok.abc-DEF_1 ',
      }),
    ).toEqual({
      kind: 'aksk',
      accessKey: 'HPUAEXAMPLE01',
      secretKey: 'sk-Zq9/Lm+2==',
      securityToken: 'stok.abc-DEF_1',
    });
  });

  it('reads the AK/SK form without a security token as permanent keys (no securityToken key at all)', () => {
    const parsed = parseCredentials(SECRET_ID, { access_key: 'HPUAEXAMPLE01', secret_key: 'sk-1' });
    expect(parsed).toStrictEqual({ kind: 'aksk', accessKey: 'HPUAEXAMPLE01', secretKey: 'sk-1' });
  });

  it('ignores keys of no form, such as a note left by an operator', () => {
    expect(parseCredentials(SECRET_ID, { token: 'MIIT-1', note: 'rotated weekly' })).toEqual({
      kind: 'token',
      token: 'MIIT-1',
    });
    expect(
      parseCredentials(SECRET_ID, { access_key: 'AK-1', secret_key: 'sk-1', expires_at: '2026-12-01' }),
    ).toEqual({ kind: 'aksk', accessKey: 'AK-1', secretKey: 'sk-1' });
  });

  it.each([
    [
      'token and password',
      { token: 'MIIT-1', domain_name: 'acme', user_name: 'deployer', password: 'pw-both-9' },
    ],
    ['token and AK/SK', { token: 'MIIT-1', access_key: 'AK-1', secret_key: 'pw-both-9' }],
    [
      'password and AK/SK',
      {
        domain_name: 'acme',
        user_name: 'deployer',
        password: 'pw-both-9',
        access_key: 'AK-1',
        secret_key: 'sk-1',
      },
    ],
  ])('refuses a secret holding the keys of two forms (%s) instead of guessing', (_label, value) => {
    const error = refusal(value);
    expect(error.message).toBe(
      `secret prod/huawei/credentials holds the keys of more than one form; ${EXPECTED_FORMS}`,
    );
    expect(describeError(error)).not.toContain('pw-both-9');
  });

  it.each([
    ['an empty object', {}],
    ['an array', ['MIIT-in-an-array']],
    ['a bare string', 'MIIT-bare-string'],
    ['null', null],
    ['a number', 42],
    ['an object of unknown keys', { key: 'whsec_not-a-credential' }],
  ])('refuses %s, naming the secret id and the expected forms only', (_label, value) => {
    const error = refusal(value);
    expect(error.message).toBe(
      `secret prod/huawei/credentials has none of the expected forms; ${EXPECTED_FORMS}`,
    );
    expect(error.cause).toBeUndefined();
  });

  it.each([
    ['an empty token', { token: '' }, 'token'],
    ['a token with an inner space', { token: 'MIIT one' }, 'token'],
    ['a token that is not a string', { token: 1234567 }, 'token'],
    ['a password form without password', { domain_name: 'acme', user_name: 'deployer' }, 'password'],
    [
      'a password form with an empty password',
      { domain_name: 'acme', user_name: 'deployer', password: '' },
      'password',
    ],
    [
      'camel-case keys',
      { domainName: 'acme', userName: 'deployer', password: 'pw-camel-7' },
      'domain_name, user_name',
    ],
    ['an access key alone', { access_key: 'AK-1' }, 'secret_key'],
    ['a secret key with an inner space', { access_key: 'AK-1', secret_key: 'sk one' }, 'secret_key'],
    ['a secret key that is only spaces', { access_key: 'AK-1', secret_key: '   ' }, 'secret_key'],
    [
      'an empty security token',
      { access_key: 'AK-1', secret_key: 'sk-1', security_token: '' },
      'security_token',
    ],
    ['a secret key that is not a string', { access_key: 'AK-1', secret_key: 42 }, 'secret_key'],
    [
      'a non-ASCII access key and a missing secret key',
      { access_key: 'AK-ü', security_token: 'st' },
      'access_key, secret_key',
    ],
  ])('refuses %s, naming the keys to fix and no value', (_label, value, keys) => {
    const error = refusal(value);
    expect(error.message).toBe(
      `secret prod/huawei/credentials has none of the expected forms (missing or unusable: ${keys}); ${EXPECTED_FORMS}`,
    );
    expect(error.cause).toBeUndefined();
  });

  it('never shows a value of a refused secret, whatever its shape', () => {
    const marked = fc.string({ minLength: 1, maxLength: 12 }).map((text) => `S3CR3T-${text}`);
    const printable = fc.stringMatching(/^[A-Za-z0-9]{1,12}$/).map((text) => `S3CR3T-${text}`);
    const refusedSecret = fc.oneof(
      fc.record({ token: marked.map((text) => `${text} with space`) }),
      fc.record({ domain_name: marked, user_name: marked }),
      fc.record({ domain_name: marked, password: marked, extra: marked }),
      fc.record({ token: printable, domain_name: marked, user_name: marked, password: marked }),
      fc.record({ access_key: marked, secret_key: marked.map((text) => `${text} with space`) }),
      fc.record({
        access_key: printable,
        secret_key: printable,
        security_token: marked.map((t) => `${t}\n x`),
      }),
      fc.record({ access_key: printable, secret_key: printable, token: printable }),
      fc.record({ 'S3CR3T-key': marked, secret_key: marked }),
    );
    fc.assert(
      fc.property(refusedSecret, (value) => {
        const shown = describeError(refusal(value));
        expect(shown).toContain(SECRET_ID);
        expect(shown).not.toContain('S3CR3T-');
      }),
      { numRuns: 300 },
    );
  });
});

describe('secretValuesOf', () => {
  it('gives the values that unlock something, never the names of the account', () => {
    const of = (value: unknown) => secretValuesOf(parseCredentials(SECRET_ID, value));
    expect(of({ token: 'MIIT-values-of-1' })).toEqual(['MIIT-values-of-1']);
    expect(of({ domain_name: 'acme', user_name: 'bot', password: 'Pa55-values-of' })).toEqual([
      'Pa55-values-of',
    ]);
    expect(of({ access_key: 'HPUAVALUESOF01', secret_key: 'sk-values-of' })).toEqual(['sk-values-of']);
    expect(
      of({ access_key: 'HPUAVALUESOF01', secret_key: 'sk-values-of', security_token: 'stok-values-of' }),
    ).toEqual(['sk-values-of', 'stok-values-of']);
  });
});
