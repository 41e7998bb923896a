/**
 * @module Waits, on a watch of the runner's pods, until its pod runs; fails at once when the pod
 * can never run (a bad image name, a container that exited), and at `timeoutMs` with the last
 * reason Kubernetes gave (unschedulable, image not pulled, a quota refusing the pod). A watch that
 * ends early is resumed from a fresh list, so no change is missed.
 */
import { ProviderUnavailable, toError } from '../../core/errors.js';
import type { KubeApi, KubeKind, KubeObject, KubeWatch } from './client.js';
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
      watch = await api.watch(
        'pods',
        w.namespace,
        { label: w.selector },
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
  // Not awaited: the timeout stands even if the watch never connects.
  void start();
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

/**
 * Resolves once nothing of `kind` matches `selector` in `namespace` (after a delete): listed at
 * once, then again on each change a watch reports. Throws ProviderUnavailable naming what is
 * still there after `timeoutMs`.
 */
export async function waitGone(
  api: KubeApi,
  kind: KubeKind,
  namespace: string,
  selector: { label?: string; field?: string },
  timeoutMs: number,
): Promise<void> {
  const left = async () => {
    const all = await api.list(kind, namespace, selector.label ?? '');
    const name = selector.field?.startsWith('metadata.name=') ? selector.field.slice('metadata.name='.length) : null;
    return all.filter((o) => name === null || o.metadata?.name === name);
  };
  if ((await left()).length === 0) return;
  let wake: () => void = () => {};
  let watch: KubeWatch | undefined;
  const changed = () => wake();
  const deadline = Date.now() + timeoutMs;
  let stopped = false;
  // Not awaited: the loop below lists again at least every second whether the watch connects or not.
  void api
    .watch(kind, namespace, selector, changed, changed)
    .then((w) => {
      if (stopped) w.stop();
      else watch = w;
    })
    .catch(() => {});
  try {
    for (;;) {
      const now = await left();
      if (now.length === 0) return;
      if (Date.now() > deadline)
        throw new ProviderUnavailable(
          `${kind} ${now.map((o) => o.metadata?.name).join(', ')} in ${namespace} still there ${Math.round(timeoutMs / 1000)}s after being deleted`,
        );
      // Until the watch reports a change (or a second passes: a watch that ended says nothing more).
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    stopped = true;
    watch?.stop();
  }
}
