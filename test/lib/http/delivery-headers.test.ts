import { describe, expect, it } from 'vitest';
import { HeaderError } from '../../../lib/errors.ts';
import {
  idempotencyKeyOf,
  signatureEntriesOf,
  webhookHeadersOf,
} from '../../../lib/http/delivery-headers.ts';

const A = `${'A'.repeat(43)}=`;
const B = `${'B'.repeat(43)}=`;

describe('signatureEntriesOf', () => {
  it.each([
    ['one entry', `v1,${A}`, [['v1', A]]],
    [
      'space-separated, as the specification writes it',
      `v1,${A} v1,${B}`,
      [
        ['v1', A],
        ['v1', B],
      ],
    ],
    [
      'comma-joined, as a repeated header arrives',
      `v1,${A},v1,${B}`,
      [
        ['v1', A],
        ['v1', B],
      ],
    ],
    [
      'comma and space',
      `v1,${A}, v1a,${B}`,
      [
        ['v1', A],
        ['v1a', B],
      ],
    ],
    ['no version', A, []],
    ['a stray token before an entry', `${A} v1,${B}`, [['v1', B]]],
    ['a version without a signature', 'v1,', []],
    ['another scheme', `sha256=${A}`, []],
  ])('%s', (_name, header, entries) => {
    expect(signatureEntriesOf(header).map((entry) => [entry.version, entry.signature])).toEqual(entries);
  });
});

describe('webhookHeadersOf', () => {
  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])(
    'takes the webhook family when only %s of it is there',
    (name) => {
      const svix = { 'svix-id': 'msg_s', 'svix-timestamp': '1', 'svix-signature': 'v1,x' };
      expect(webhookHeadersOf({ ...svix, [name]: 'v' }).family).toBe('webhook');
    },
  );

  it('reads only strings as header values', () => {
    const headers = { 'webhook-id': 42, 'webhook-timestamp': '1' } as unknown as Record<string, string>;
    expect(webhookHeadersOf(headers)).toEqual({
      family: 'webhook',
      id: undefined,
      timestamp: '1',
      signature: undefined,
    });
  });

  it('reads svix-* when no webhook-* header is there, webhook-* when any is', () => {
    const svix = { 'svix-id': 'msg_s', 'svix-timestamp': '1', 'svix-signature': 'v1,x' };
    expect(webhookHeadersOf(svix)).toEqual({
      family: 'svix',
      id: 'msg_s',
      timestamp: '1',
      signature: 'v1,x',
    });
    expect(webhookHeadersOf({ ...svix, 'webhook-id': 'msg_w' })).toEqual({
      family: 'webhook',
      id: 'msg_w',
      timestamp: undefined,
      signature: undefined,
    });
  });
});

describe('idempotencyKeyOf', () => {
  it.each([
    [
      'a structured-field string',
      '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
      '8e03978e-40d5-43e8-bc93-6894a57f9324',
    ],
    ['a bare token', 'CHG0031339', 'CHG0031339'],
    ['escapes in a quoted string', '"a\\"b\\\\c"', 'a"b\\c'],
    ['surrounding spaces', '  CHG1  ', 'CHG1'],
    ['quotes inside a bare token', 'x"abc"', 'x"abc"'],
    ['a quoted string followed by more', '"abc"x', '"abc"x'],
    ['128 characters', 'k'.repeat(128), 'k'.repeat(128)],
  ])('reads %s', (_name, header, key) => {
    expect(idempotencyKeyOf({ 'idempotency-key': header }, '/upgrades/oauth')).toBe(key);
  });

  it.each([
    ['missing', undefined, /^Idempotency-Key header is required on POST \/upgrades\/oauth/],
    ['empty', '', /is required/],
    ['an empty quoted string', '""', /must be 1 to 128 printable ASCII characters/],
    ['too long', 'k'.repeat(129), /must be 1 to 128/],
    ['not ASCII', 'clé', /must be 1 to 128/],
    ['a control character', 'a\u0007b', /must be 1 to 128/],
  ])('refuses a key that is %s with a 400', (_name, header, message) => {
    const run = () => idempotencyKeyOf({ 'idempotency-key': header }, '/upgrades/oauth');
    expect(run).toThrow(HeaderError);
    expect(run).toThrow(message);
  });
});
