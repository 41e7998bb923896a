/**
 * @module Waits, on a watch of the runner's pods, until its pod runs; fails at once when the pod
 * can never run (a bad image name, a container that exited), and at `timeoutMs` with the last
 * reason Kubernetes gave (unschedulable, image not pulled, a quota refusing the pod). A watch that
 * ends early is resumed from a fresh list, so no change is missed.
 */
import { ProviderUnavailable, toError } from '../../core/errors.js';
import type { KubeApi, KubeObject, KubeWatch } from './client.js';
import { type EventView, jobEventReason, type PodView, podEventReason, podProgress } from './explain.js';

export interface WaitForPod {
  namespace: string;
  /** Label selector of the runner's pods. */
  selector: string;
  /** The Job's name (its events explain a pod that never came). */
  job: string;
  timeoutMs: number;
  /** What is waited for, for the error message. */
  what: string;
}

/** Resolves when a pod of `w.selector` runs; rejects with ProviderUnavailable naming why it does not. */
export async function waitForPod(api: KubeApi, w: WaitForPod): Promise<void> {
  const seen: { reason: string | null; pod: string | null } = { reason: null, pod: null };
  let watch: KubeWatch | undefined;
  let settle: ((err: Error | null) => void) | undefined;
  const done = new Promise<Error | null>((resolve) => {
    settle = resolve;
  });
  let finished = false;
  const finish = (err: Error | null) => {
    if (finished) return;
    finished = true;
    settle?.(err);
  };
  const look = (pod: KubeObject) => {
    if ((pod.metadata as { deletionTimestamp?: unknown } | undefined)?.deletionTimestamp) return;
    seen.pod = pod.metadata?.name ?? seen.pod;
    const p = podProgress(pod as PodView);
    if (p.kind === 'running') finish(null);
    else if (p.kind === 'failed' || p.kind === 'finished')
      finish(new ProviderUnavailable(`${w.what} failed: ${p.reason}`, { details: { reason: p.reason } }));
    else if (p.reason !== null) seen.reason = p.reason;
  };
  const timer = setTimeout(() => finish(new Error('timeout')), w.timeoutMs);
  let restarts = 0;
  const start = async (): Promise<void> => {
    if (finished) return;
    try {
      for (const pod of await api.list('pods', w.namespace, w.selector)) look(pod);
      if (finished) return;
      watch = await api.watchPods(
        w.namespace,
        w.selector,
        (type, pod) => {
          if (type === 'ADDED' || type === 'MODIFIED') look(pod);
        },
        (err) => {
          if (finished) return;
          // A watch ends now and then (server timeouts): list again and watch again, a bounded number of times.
          if (++restarts > 50) finish(toError(err ?? new Error('the pod watch kept ending')));
          else setTimeout(() => void start(), Math.min(2000, 100 * restarts)).unref();
        },
      );
      if (finished) watch.stop();
    } catch (e: unknown) {
      finish(toError(e));
    }
  };
  await start();
  const err = await done;
  clearTimeout(timer);
  watch?.stop();
  if (err === null) return;
  if (err.message !== 'timeout') throw err;
  let reason = seen.reason;
  const lastPod = seen.pod;
  try {
    if (reason === null && lastPod === null)
      reason = jobEventReason((await api.events(w.namespace, 'Job', w.job)) as EventView[]);
    if (reason === null && lastPod !== null)
      reason = podEventReason((await api.events(w.namespace, 'Pod', lastPod)) as EventView[]);
  } catch {
    // The events only add detail; the timeout is the error either way.
  }
  const secs = Math.round(w.timeoutMs / 1000);
  throw new ProviderUnavailable(
    `${w.what} did not start within ${secs}s: ${reason ?? (lastPod === null ? 'the Job created no pod' : 'it is still pending')}`,
    {
      hint: 'see `kubectl describe pod` in that namespace, or raise providers.kubernetes.startTimeout',
      details: { reason },
    },
  );
}
