import { describe, expect, it } from 'vitest';
import { createScrubber, MIN_SECRET_RUN, scrub, scrubDeep } from '../../../../lib/huawei/auth/scrub.ts';

const TOKEN = 'MIIT-Qm7Zr2Lx9Vb4Nc8Tp1Hd6Jw3Fy5Ks0';
const PASSWORD = 'Pa55w0rd!-never-shown-8e2f';

/** Whether any run of MIN_SECRET_RUN characters of `secret` occurs in `text`. */
function holdsPieceOf(text: string, secret: string): boolean {
  for (let at = 0; at + MIN_SECRET_RUN <= secret.length; at += 1) {
    if (text.includes(secret.slice(at, at + MIN_SECRET_RUN))) return true;
  }
  return false;
}

describe('scrub', () => {
  it('redacts the whole secret and a run of exactly 12 of its characters', () => {
    const piece = TOKEN.slice(7, 7 + 12);
    expect(scrub(`token ${TOKEN} refused`, [TOKEN])).toBe('token [redacted] refused');
    expect(scrub(`saw ${piece}!`, [TOKEN])).toBe('saw [redacted]!');
  });

  it('keeps a run of 11 characters: too short to tell from ordinary text', () => {
    const text = `saw ${TOKEN.slice(7, 7 + 11)}!`;
    expect(scrub(text, [TOKEN])).toBe(text);
  });

  it('redacts a run wherever it starts and ends inside the secret, as one redaction', () => {
    const piece = TOKEN.slice(3, 3 + 20);
    expect(scrub(`<${piece}>`, [TOKEN])).toBe('<[redacted]>');
  });

  it('merges overlapping runs of one secret and of two, and keeps the text between runs', () => {
    // The token's tail followed at once by the password's head: two runs that touch, one redaction.
    const joined = `${TOKEN.slice(-15)}${PASSWORD.slice(0, 14)}`;
    expect(scrub(`a ${joined} b`, [TOKEN, PASSWORD])).toBe('a [redacted] b');
    // The same piece twice with an overlap that is itself a run of the secret.
    const overlapping = `${TOKEN.slice(0, 20)}${TOKEN.slice(8, 30)}`;
    expect(scrub(overlapping, [TOKEN])).toBe('[redacted]');
    const apart = `${TOKEN.slice(0, 13)} and ${TOKEN.slice(10, 25)}`;
    expect(scrub(apart, [TOKEN])).toBe('[redacted] and [redacted]');
  });

  it('handles several secrets at once, leaving nothing of any', () => {
    const secretKey = 'sk-Xq2Lm9Zr4Vb7Nc1Tp0Wd';
    const text = `user bot, password ${PASSWORD.slice(2, 18)}, key ${secretKey}, token …${TOKEN.slice(-12)}`;
    const scrubbed = scrub(text, [TOKEN, PASSWORD, secretKey]);
    expect(scrubbed).toBe('user bot, password [redacted], key [redacted], token …[redacted]');
    for (const secret of [TOKEN, PASSWORD, secretKey]) expect(holdsPieceOf(scrubbed, secret)).toBe(false);
  });

  it('removes a secret shorter than the run only whole, and ignores very short ones', () => {
    expect(scrub('pw hunter2-x was wrong', ['hunter2-x'])).toBe('pw [redacted] was wrong');
    expect(scrub('pw hunter2 was wrong', ['hunter2-x'])).toBe('pw hunter2 was wrong');
    expect(scrub('admin said no', ['admin'])).toBe('admin said no');
  });

  it('leaves text with no secret in it as it is, and works with no secrets at all', () => {
    const text = 'Upgrade failed due to insufficient subnet ip';
    expect(scrub(text, [TOKEN, PASSWORD])).toBe(text);
    expect(createScrubber([])(text)).toBe(text);
  });

  it('scrubs every string of a parsed answer and keeps its shape', () => {
    const scrubber = createScrubber([TOKEN]);
    const answer = {
      update_result: [{ instance_id: null, state: 'REJECT', error_message: `bad ${TOKEN}`, n: 1 }],
    };
    expect(scrubDeep(answer, scrubber)).toEqual({
      update_result: [{ instance_id: null, state: 'REJECT', error_message: 'bad [redacted]', n: 1 }],
    });
  });
});
