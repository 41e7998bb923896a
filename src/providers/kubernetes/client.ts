/**
 * @module The Kubernetes API calls the provider makes, behind a small structural interface
 * (`KubeApi`) over plain objects, and its one implementation on @kubernetes/client-node: the
 * kubeconfig (a path and context from the config, else the standard `KUBECONFIG` chain) or the
 * pod's service account. Errors become ProviderUnavailable with the API server's own message; a
 * 404 on a read or delete is "gone", never an error.
 */
import * as k8s from '@kubernetes/client-node';
import { ProviderUnavailable } from '../../core/errors.js';

type Obj = Record<string, unknown>;
/** An object as the API returns it. */
export type KubeObject = Obj & {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
};

export type KubeKind = 'jobs' | 'pods' | 'persistentvolumeclaims' | 'networkpolicies' | 'secrets';

/** A watch in progress; `stop` ends it. */
export interface KubeWatch {
  stop(): void;
}

/** What the provider needs of the Kubernetes API. */
export interface KubeApi {
  /** The API server's address, for messages. */
  readonly server: string;
  /** Lists at most one Job of the namespace: the API answers, the credentials hold, and the Role lets us in. */
  probe(namespace: string): Promise<void>;
  create(kind: KubeKind, namespace: string, body: Obj): Promise<KubeObject>;
  read(kind: KubeKind, namespace: string, name: string): Promise<KubeObject | null>;
  list(kind: KubeKind, namespace: string, labelSelector: string): Promise<KubeObject[]>;
  /** Deletes one object; false when it was already gone. Jobs take their pods with them (background). */
  remove(kind: KubeKind, namespace: string, name: string, gracePeriodSeconds?: number): Promise<boolean>;
  /** Deletes the pods matching a selector now (grace period as given). */
  removePods(namespace: string, labelSelector: string, gracePeriodSeconds: number): Promise<void>;
  events(namespace: string, kind: string, name: string): Promise<KubeObject[]>;
  podLog(namespace: string, name: string): Promise<string>;
  /** Watches objects matching a selector: `onEvent` for each change, `onEnd` when the stream ends (with why). */
  watch(
    kind: KubeKind,
    namespace: string,
    selector: { label?: string; field?: string },
    onEvent: (type: string, o: KubeObject) => void,
    onEnd: (err: unknown) => void,
  ): Promise<KubeWatch>;
}

/** The status code of an API error, if it has one. */
export function apiCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown; statusCode?: unknown })?.code ?? (e as { statusCode?: unknown })?.statusCode;
  return typeof c === 'number' ? c : undefined;
}

/** The API status of a failed call of a `KubeApi` (kept in the error's details), if any. */
export function apiStatus(e: unknown): number | undefined {
  const s = (e as { details?: { status?: unknown } })?.details?.status;
  return typeof s === 'number' ? s : undefined;
}

/** The API server's message of an error (its Status `message`), else the error's own. */
export function apiMessage(e: unknown): string {
  const body = (e as { body?: unknown })?.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = body;
    }
  }
  const m = (parsed as { message?: unknown })?.message;
  if (typeof m === 'string' && m) return m;
  if (typeof parsed === 'string' && parsed.trim()) return parsed.trim().slice(0, 500);
  return e instanceof Error ? e.message : String(e);
}

/** Where the kubeconfig comes from. */
export interface KubeConnection {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  inCluster?: boolean | undefined;
}

/** A KubeConfig from `conn` (the standard chain when nothing is given). Throws ProviderUnavailable with why. */
export function loadKubeConfig(conn: KubeConnection): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    if (conn.inCluster) kc.loadFromCluster();
    else if (conn.kubeconfig) kc.loadFromFile(conn.kubeconfig);
    else kc.loadFromDefault();
    if (conn.context) kc.setCurrentContext(conn.context);
  } catch (e: unknown) {
    throw new ProviderUnavailable(
      `kubernetes: cannot load the kubeconfig${conn.kubeconfig ? ` ${conn.kubeconfig}` : ''}: ${apiMessage(e)}`,
    );
  }
  if (!kc.getCurrentCluster())
    throw new ProviderUnavailable(
      `kubernetes: no cluster in the kubeconfig${conn.kubeconfig ? ` ${conn.kubeconfig}` : ' (KUBECONFIG, ~/.kube/config)'}${conn.context ? ` for context ${conn.context}` : ''}`,
    );
  return kc;
}

/**
 * Every API call the provider makes, as RBAC rules: the least a Role must grant it in its
 * namespace (deploy/kubernetes/rbac.yaml grants exactly this; a test holds them together).
 */
export const PROVIDER_ACCESS: ReadonlyArray<{ apiGroup: string; resource: string; verbs: readonly string[] }> = [
  { apiGroup: 'batch', resource: 'jobs', verbs: ['create', 'get', 'list', 'delete'] },
  { apiGroup: '', resource: 'pods', verbs: ['list', 'watch', 'deletecollection'] },
  { apiGroup: '', resource: 'pods/log', verbs: ['get'] },
  { apiGroup: '', resource: 'events', verbs: ['list'] },
  { apiGroup: '', resource: 'persistentvolumeclaims', verbs: ['create', 'get', 'list', 'delete'] },
  { apiGroup: 'networking.k8s.io', resource: 'networkpolicies', verbs: ['create', 'list', 'delete'] },
  // The runner's registration token: created beside its Job, owned by it (the cluster deletes it with
  // the Job). Create only: the server can neither read nor delete a Secret of the namespace.
  { apiGroup: '', resource: 'secrets', verbs: ['create'] },
];

const PATHS: Record<KubeKind, { api: string; plural: string }> = {
  jobs: { api: '/apis/batch/v1', plural: 'jobs' },
  pods: { api: '/api/v1', plural: 'pods' },
  persistentvolumeclaims: { api: '/api/v1', plural: 'persistentvolumeclaims' },
  networkpolicies: { api: '/apis/networking.k8s.io/v1', plural: 'networkpolicies' },
  secrets: { api: '/api/v1', plural: 'secrets' },
};

/** `KubeApi` on @kubernetes/client-node. */
export function clientNodeApi(kc: k8s.KubeConfig): KubeApi {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const net = kc.makeApiClient(k8s.NetworkingV1Api);
  const server = kc.getCurrentCluster()?.server ?? '(no cluster)';
  const fail = (what: string, e: unknown): never => {
    throw new ProviderUnavailable(`kubernetes API ${server}: ${what} failed: ${apiMessage(e)}`, {
      details: { status: apiCode(e) ?? null },
    });
  };
  const orNull = async <T>(what: string, p: Promise<T>): Promise<T | null> => {
    try {
      return await p;
    } catch (e: unknown) {
      if (apiCode(e) === 404) return null;
      return fail(what, e);
    }
  };
  const obj = (v: unknown) => v as KubeObject;
  return {
    server,
    async probe(namespace) {
      try {
        await batch.listNamespacedJob({ namespace, limit: 1 });
      } catch (e: unknown) {
        fail(`listing jobs in ${namespace}`, e);
      }
    },
    async create(kind, namespace, body) {
      const name = (body.metadata as { name?: string }).name;
      const what = `creating ${kind} ${namespace}/${name}`;
      try {
        switch (kind) {
          case 'jobs':
            return obj(await batch.createNamespacedJob({ namespace, body: body as k8s.V1Job }));
          case 'pods':
            return obj(await core.createNamespacedPod({ namespace, body: body as k8s.V1Pod }));
          case 'persistentvolumeclaims':
            return obj(
              await core.createNamespacedPersistentVolumeClaim({
                namespace,
                body: body as k8s.V1PersistentVolumeClaim,
              }),
            );
          case 'networkpolicies':
            return obj(await net.createNamespacedNetworkPolicy({ namespace, body: body as k8s.V1NetworkPolicy }));
          case 'secrets':
            return obj(await core.createNamespacedSecret({ namespace, body: body as k8s.V1Secret }));
        }
      } catch (e: unknown) {
        return fail(what, e);
      }
    },
    async read(kind, namespace, name) {
      const what = `reading ${kind} ${namespace}/${name}`;
      switch (kind) {
        case 'jobs':
          return obj(await orNull(what, batch.readNamespacedJob({ name, namespace })));
        case 'pods':
          return obj(await orNull(what, core.readNamespacedPod({ name, namespace })));
        case 'persistentvolumeclaims':
          return obj(await orNull(what, core.readNamespacedPersistentVolumeClaim({ name, namespace })));
        case 'networkpolicies':
          return obj(await orNull(what, net.readNamespacedNetworkPolicy({ name, namespace })));
        case 'secrets':
          return obj(await orNull(what, core.readNamespacedSecret({ name, namespace })));
      }
    },
    async list(kind, namespace, labelSelector) {
      const what = `listing ${kind} in ${namespace}`;
      try {
        const q = { namespace, labelSelector };
        const r =
          kind === 'jobs'
            ? await batch.listNamespacedJob(q)
            : kind === 'pods'
              ? await core.listNamespacedPod(q)
              : kind === 'persistentvolumeclaims'
                ? await core.listNamespacedPersistentVolumeClaim(q)
                : kind === 'secrets'
                  ? await core.listNamespacedSecret(q)
                  : await net.listNamespacedNetworkPolicy(q);
        return (r.items ?? []) as unknown as KubeObject[];
      } catch (e: unknown) {
        return fail(what, e);
      }
    },
    async remove(kind, namespace, name, gracePeriodSeconds) {
      const what = `deleting ${kind} ${namespace}/${name}`;
      const q = {
        name,
        namespace,
        propagationPolicy: 'Background',
        ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
      };
      const r =
        kind === 'jobs'
          ? await orNull(what, batch.deleteNamespacedJob(q))
          : kind === 'pods'
            ? await orNull(what, core.deleteNamespacedPod(q))
            : kind === 'persistentvolumeclaims'
              ? await orNull(what, core.deleteNamespacedPersistentVolumeClaim(q))
              : kind === 'secrets'
                ? await orNull(what, core.deleteNamespacedSecret(q))
                : await orNull(what, net.deleteNamespacedNetworkPolicy(q));
      return r !== null;
    },
    async removePods(namespace, labelSelector, gracePeriodSeconds) {
      try {
        await core.deleteCollectionNamespacedPod({ namespace, labelSelector, gracePeriodSeconds });
      } catch (e: unknown) {
        fail(`deleting pods ${labelSelector} in ${namespace}`, e);
      }
    },
    async events(namespace, kind, name) {
      try {
        const r = await core.listNamespacedEvent({
          namespace,
          fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}`,
        });
        return (r.items ?? []) as unknown as KubeObject[];
      } catch (e: unknown) {
        return fail(`listing events of ${kind} ${namespace}/${name}`, e);
      }
    },
    async podLog(namespace, name) {
      try {
        return await core.readNamespacedPodLog({ name, namespace });
      } catch (e: unknown) {
        return fail(`reading the log of pod ${namespace}/${name}`, e);
      }
    },
    async watch(kind, namespace, selector, onEvent, onEnd) {
      const w = new k8s.Watch(kc);
      const q: Record<string, string> = {};
      if (selector.label) q.labelSelector = selector.label;
      if (selector.field) q.fieldSelector = selector.field;
      const ctl = await w.watch(
        `${PATHS[kind].api}/namespaces/${namespace}/${PATHS[kind].plural}`,
        q,
        (type, o) => onEvent(type, o as KubeObject),
        onEnd,
      );
      return { stop: () => ctl.abort() };
    },
  };
}
