import { describe, expect, it } from 'vitest';
import { FrameLanes } from './lanes.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('connection lanes', () => {
  it('pauses the socket when the data lane is full and resumes it when it drains', async () => {
    const calls: string[] = [];
    const lanes = new FrameLanes({ pause: () => calls.push('pause'), resume: () => calls.push('resume') }, 3, 1);
    const gates: (() => void)[] = [];
    const batch = () => lanes.enqueueData(() => new Promise<void>((r) => gates.push(r)));
    batch();
    batch();
    expect(calls).toEqual([]);
    batch();
    expect(calls).toEqual(['pause']);
    expect(lanes.isPaused).toBe(true);
    await tick();
    gates.shift()!(); // 2 left
    await tick();
    expect(calls).toEqual(['pause']);
    gates.shift()!(); // 1 left: resume
    await tick();
    expect(calls).toEqual(['pause', 'resume']);
    gates.shift()!();
    await tick();
    expect(lanes.dataQueued).toBe(0);
  });

  it('runs control frames without waiting for data, and task.finished only after the data before it', async () => {
    const order: string[] = [];
    const lanes = new FrameLanes({ pause: () => {}, resume: () => {} });
    let release!: () => void;
    lanes.enqueueData(async () => {
      await new Promise<void>((r) => {
        release = r;
      });
      order.push('logs');
    });
    lanes.enqueueAfterData(async () => {
      order.push('finished');
    });
    lanes.enqueueData(async () => {
      order.push('later logs');
    });
    await tick();
    expect(order).toEqual([]);
    release();
    await tick();
    // task.finished ran after the batch before it (the batch after it is not ordered against it:
    // an agent sends nothing for a task after task.finished).
    expect(order.indexOf('finished')).toBeGreaterThan(order.indexOf('logs'));
    expect(order).toHaveLength(3);
    const other = new FrameLanes({ pause: () => {}, resume: () => {} });
    other.enqueueData(() => new Promise(() => {})); // never finishes
    let ran = false;
    other.enqueueControl(async () => {
      ran = true;
    });
    await tick();
    expect(ran).toBe(true);
  });
});
