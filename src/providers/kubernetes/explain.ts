/**
 * @module Reads a runner pod's status (and its Job's events) the way a user would, and says what
 * is happening in words they can act on: `Unschedulable` with the scheduler's message, an image
 * that cannot be pulled (named), a quota that refused the pod (named), `OOMKilled`, an exit
 * code, an eviction. Pure: works on
 * the documented shapes of v1 Pod status and core/v1 Event.
 */

/** The parts of a v1 Pod this module reads. */
export interface PodView {
  metadata?: { name?: string; deletionTimestamp?: unknown };
  spec?: { containers?: Array<{ name?: string; image?: string }> };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
    containerStatuses?: Array<{
      name?: string;
      image?: string;
      state?: {
        waiting?: { reason?: string; message?: string };
        running?: { startedAt?: unknown };
        terminated?: { reason?: string; message?: string; exitCode?: number };
      };
    }>;
  };
}

/** The parts of a core/v1 Event this module reads. */
export interface EventView {
  reason?: string;
  message?: string;
  type?: string;
  involvedObject?: { kind?: string; name?: string };
}

export type PodProgress =
  /** Not running yet; `reason` says why when Kubernetes said (else null: just starting). */
  | { kind: 'starting'; reason: string | null }
  | { kind: 'running' }
  /** It will never run: fail now with `reason`. */
  | { kind: 'failed'; reason: string }
  | { kind: 'finished'; reason: string };

/** Waiting reasons that never get better by waiting (the pod spec itself is wrong). */
const HOPELESS = new Set(['InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError']);
/** Waiting reasons of an image that cannot be pulled (yet). */
const PULL = new Set(['ErrImagePull', 'ImagePullBackOff']);

/** What a pod is doing, in words. */
export function podProgress(pod: PodView): PodProgress {
  const st = pod.status ?? {};
  const image = pod.spec?.containers?.[0]?.image ?? 'its image';
  // The kubelet evicted the pod (node pressure): its containers' ends say less than this.
  if (st.phase === 'Failed' && st.reason === 'Evicted')
    return {
      kind: 'failed',
      reason: `Evicted: ${st.message ?? 'the node ran short of a resource'}; lower the pod's use or raise its requests`,
    };
  for (const c of st.containerStatuses ?? []) {
    const t = c.state?.terminated;
    if (t) {
      if (t.reason === 'OOMKilled')
        return {
          kind: 'failed',
          reason: `OOMKilled: container ${c.name ?? 'agent'} ran out of memory (its memory limit); raise resources.limits.memory or the session's memory`,
        };
      const how = `container ${c.name ?? 'agent'} exited with code ${t.exitCode ?? '?'}${t.reason ? ` (${t.reason})` : ''}${t.message ? `: ${t.message}` : ''}`;
      return t.exitCode === 0 ? { kind: 'finished', reason: how } : { kind: 'failed', reason: how };
    }
    const w = c.state?.waiting;
    if (w?.reason && PULL.has(w.reason))
      return {
        kind: 'starting',
        reason: `${w.reason}: image ${c.image ?? image} cannot be pulled${w.message ? ` (${w.message})` : ''}; check the image name and the pool's imagePullSecrets`,
      };
    if (w?.reason && HOPELESS.has(w.reason))
      return { kind: 'failed', reason: `${w.reason}: ${w.message ?? `image ${c.image ?? image}`}` };
    if (c.state?.running && st.phase === 'Running') return { kind: 'running' };
  }
  if (st.phase === 'Failed')
    return {
      kind: 'failed',
      reason: `pod failed${st.reason ? ` (${st.reason})` : ''}${st.message ? `: ${st.message}` : ''}`,
    };
  if (st.phase === 'Succeeded') return { kind: 'finished', reason: 'pod succeeded' };
  if (st.phase === 'Running') return { kind: 'running' };
  const sched = st.conditions?.find((c) => c.type === 'PodScheduled');
  if (sched?.status === 'False' && sched.reason === 'Unschedulable')
    return { kind: 'starting', reason: `Unschedulable: ${sched.message ?? 'no node fits the pod'}` };
  return { kind: 'starting', reason: null };
}

/**
 * Why a Job has no pod, from its events: a quota or a policy that refused the pod
 * (`FailedCreate`), naming the quota. Null when the events say nothing of it.
 */
export function jobEventReason(events: readonly EventView[]): string | null {
  const failed = [...events].reverse().find((e) => e.reason === 'FailedCreate' && e.message);
  if (!failed?.message) return null;
  const quota = /exceeded quota: ([^,]+)/.exec(failed.message);
  if (quota) return `quota exceeded: ResourceQuota ${quota[1]} refused the pod (${failed.message})`;
  return `the Job could not create its pod: ${failed.message}`;
}

/** The newest warning event of a pod, as a last resort when its status says nothing. */
export function podEventReason(events: readonly EventView[]): string | null {
  const w = [...events].reverse().find((e) => e.type === 'Warning' && e.message);
  return w ? `${w.reason ?? 'Warning'}: ${w.message}` : null;
}
