import { describe, expect, it } from 'vitest';
import { judgeInstance, parseWindow, windowPosition } from '../../../lib/upgrade/window.ts';

const at = (iso: string) => new Date(iso);

describe('maintenance windows', () => {
  it('reads HH:MM-HH:MM in UTC and refuses anything else', () => {
    expect(parseWindow('18:00-22:00')).toStrictEqual({ start: 1080, end: 1320 });
    expect(parseWindow('22:00-02:00')).toStrictEqual({ start: 1320, end: 120 });
    expect(parseWindow('00:00-24:00')).toStrictEqual({ start: 0, end: 0 });
    for (const bad of ['', '18:00', '25:00-26:00', '18-22', '18:00-22:00 CST']) {
      expect(parseWindow(bad), bad).toBeUndefined();
    }
  });

  it('a window later today opens today; one just closed opens tomorrow', () => {
    const window = { start: 18 * 60, end: 22 * 60 };
    expect(windowPosition(window, at('2026-12-02T10:15:00Z'))).toStrictEqual({
      inside: false,
      opensAt: at('2026-12-02T18:00:00Z'),
    });
    expect(windowPosition(window, at('2026-12-02T19:59:00Z'))).toStrictEqual({ inside: true });
    expect(windowPosition(window, at('2026-12-02T22:00:30Z'))).toStrictEqual({
      inside: false,
      opensAt: at('2026-12-03T18:00:00Z'),
    });
  });

  it('a window crossing midnight holds both sides of it', () => {
    const window = { start: 22 * 60, end: 2 * 60 };
    expect(windowPosition(window, at('2026-12-02T23:30:00Z'))).toStrictEqual({ inside: true });
    expect(windowPosition(window, at('2026-12-03T01:59:00Z'))).toStrictEqual({ inside: true });
    expect(windowPosition(window, at('2026-12-03T02:00:00Z'))).toStrictEqual({
      inside: false,
      opensAt: at('2026-12-03T22:00:00Z'),
    });
  });

  it('ACTIVE inside the window goes; a transient status is busy; FROZEN, FAILED, STORAGE FULL need a human', () => {
    const noon = at('2026-12-02T12:00:00Z');
    expect(judgeInstance('i', { status: 'ACTIVE', maintenance_window: '11:00-13:00' }, noon)).toStrictEqual({
      go: true,
    });
    expect(
      judgeInstance('i', { status: 'BACKING UP', maintenance_window: '11:00-13:00' }, noon),
    ).toMatchObject({
      go: false,
      kind: 'busy',
    });
    for (const status of ['FROZEN', 'FAILED', 'STORAGE FULL']) {
      expect(judgeInstance('i', { status, maintenance_window: '11:00-13:00' }, noon), status).toMatchObject({
        kind: 'unavailable',
      });
    }
    expect(judgeInstance('i', { status: 'ACTIVE', maintenance_window: null }, noon)).toMatchObject({
      kind: 'unavailable',
      reason: expect.stringContaining('no readable maintenance window'),
    });
  });
});
