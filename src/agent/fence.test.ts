/** @module The agent's lease fence: when it fires, measured from the oldest unanswered renewal, on both clocks. */
import { afterEach, describe, expect, it } from 'vitest';
import { fenceMargin, LeaseFence } from './fence.js';

let now = { mono: 0, wall: 1_000_000 };
const fences: LeaseFence[] = [];
function fence(): { f: LeaseFence; fired: number[] } {
  const fired: number[] = [];
  const f = new LeaseFence(
    (ms) => fired.push(ms),
    () => now,
  );
  fences.push(f);
  return { f, fired };
}
const advance = (ms: number, wallMs = ms) => {
  now = { mono: now.mono + ms, wall: now.wall + wallMs };
};
afterEach(() => {
  for (const f of fences.splice(0)) f.stop();
  now = { mono: 0, wall: 1_000_000 };
});

describe('lease fence', () => {
  it('keeps a margin of a fifth of the lease, between 200 ms and 5 s', () => {
    expect(fenceMargin(30_000)).toBe(5000);
    expect(fenceMargin(3000)).toBe(600);
    expect(fenceMargin(500)).toBe(200);
  });

  it('never fires before a server has confirmed a lease (older servers send none)', () => {
    const { f, fired } = fence();
    f.sent();
    advance(3_600_000);
    f.check();
    expect(fired).toEqual([]);
  });

  it('fires once the last confirmed renewal is lease - margin old, counted from when that frame was sent', () => {
    const { f, fired } = fence();
    f.sent(); // hello at 0
    advance(100);
    f.renewed(3000); // answered at 100: the lease runs from 0
    advance(2300); // 2400 since the hello: exactly lease - margin
    expect(f.lapsed()).toBe(true);
    f.check();
    f.check();
    expect(fired).toEqual([2400]); // once per lapse
  });

  it('takes answers in order: a late answer covers the oldest unanswered heartbeat only', () => {
    const { f, fired } = fence();
    f.sent(); // t=0
    f.renewed(3000);
    advance(1000);
    f.sent(); // t=1000
    advance(1000);
    f.sent(); // t=2000
    advance(1000);
    f.renewed(3000); // answers the t=1000 heartbeat
    advance(1300); // 3300 since t=1000 >= 2400
    f.check();
    expect(fired).toHaveLength(1);
    f.renewed(3000); // answers t=2000; a new lapse can fire again later
    expect(f.lapsed()).toBe(false);
  });

  it('forgets unanswered frames when the connection closes', () => {
    const { f } = fence();
    f.sent();
    f.renewed(3000);
    advance(2000);
    f.sent(); // never answered: the connection dies
    f.disconnected();
    advance(100);
    f.sent(); // hello on the new connection
    f.renewed(3000);
    // The answer is the new hello's (sent at 2100), not the lost heartbeat's.
    advance(2300);
    expect(f.silentMs()).toBe(2300);
  });

  it('counts wall-clock time too: a machine that slept fences as soon as it wakes', () => {
    const { f, fired } = fence();
    f.sent();
    f.renewed(30_000);
    advance(10, 3_600_000); // the monotonic clock stood still during sleep
    f.check();
    expect(fired).toEqual([3_600_000]);
  });
});
