import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Simulated time for the fleet bench (bench/fleet.ts) and its test: a discrete-event clock. Work
 * runs in "actors" (a state-machine execution, a Terraform worker); the clock stands still while any
 * actor is busy (HTTP calls to the stand-ins, the handlers' own work: task time counts as zero, see
 * docs/performance.md "How it is measured") and, once every actor sleeps, jumps to the earliest
 * wake-up. So a 10-minute workflow is 600,000 ms of this clock whatever the machine, and a rollout's
 * simulated minutes are a count of the waits it made, deterministic for a deterministic program.
 */
export interface VirtualClock {
  /** Epoch milliseconds of simulated time. */
  now(): number;
  date(): Date;
  /** Runs `work` as an actor: the clock does not move while it is busy, only while it sleeps. */
  actor<T>(work: () => Promise<T>): Promise<T>;
  /** Inside an actor: wakes `ms` of simulated time later. */
  sleep(ms: number): Promise<void>;
}

interface Sleeper {
  at: number;
  order: number;
  wake: () => void;
}

export function createVirtualClock(origin = Date.parse('2026-12-02T01:00:00Z')): VirtualClock {
  let now = origin;
  let busy = 0;
  let order = 0;
  let checking = false;
  const sleepers: Sleeper[] = [];

  /**
   * Once nothing is busy, the earliest sleepers wake: every one due at that instant, together (they
   * run side by side, as they would). Checked a few event-loop turns later, so an actor an answer is
   * about to resume, or one that just woke, counts as busy by then.
   */
  async function advance() {
    if (checking) return;
    checking = true;
    try {
      for (;;) {
        for (let turn = 0; turn < 3; turn += 1) await nextTurn();
        if (busy > 0 || sleepers.length === 0) return;
        sleepers.sort((a, b) => a.at - b.at || a.order - b.order);
        const at = (sleepers[0] as Sleeper).at;
        now = Math.max(now, at);
        const later = sleepers.findIndex((sleeper) => sleeper.at > at);
        const due = sleepers.splice(0, later === -1 ? sleepers.length : later);
        busy += due.length;
        for (const sleeper of due) sleeper.wake();
      }
    } finally {
      checking = false;
    }
  }

  const idle = () => {
    busy -= 1;
    if (busy === 0) void advance();
  };

  return {
    now: () => now,
    date: () => new Date(now),
    async actor(work) {
      busy += 1;
      try {
        return await work();
      } finally {
        idle();
      }
    },
    sleep(ms) {
      // Outside an actor nothing would wake the clock (and the count of busy actors would be wrong).
      if (busy <= 0) return Promise.reject(new Error('VirtualClock.sleep outside an actor'));
      return new Promise<void>((resolve) => {
        order += 1;
        sleepers.push({ at: now + Math.max(0, ms), order, wake: resolve });
        idle();
      });
    },
  };
}
