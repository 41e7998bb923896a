/**
 * @module Checks plain Kubernetes objects against the API models of @kubernetes/client-node (its
 * generated `attributeTypeMap` per model): every field must exist in the model and hold the
 * model's type, recursively. Used by the Kubernetes API stand-in (which refuses an unknown field
 * as a server with strict field validation does) and by the deploy/kubernetes manifest test.
 */
import * as k8s from '@kubernetes/client-node';

/** The model class of each apiVersion + kind the project writes. */
export const MODEL_OF: Record<string, string> = {
  'v1 Namespace': 'V1Namespace',
  'v1 Pod': 'V1Pod',
  'v1 Service': 'V1Service',
  'v1 ServiceAccount': 'V1ServiceAccount',
  'v1 Secret': 'V1Secret',
  'v1 ConfigMap': 'V1ConfigMap',
  'v1 ResourceQuota': 'V1ResourceQuota',
  'v1 PersistentVolumeClaim': 'V1PersistentVolumeClaim',
  'v1 Event': 'CoreV1Event',
  'batch/v1 Job': 'V1Job',
  'apps/v1 Deployment': 'V1Deployment',
  'networking.k8s.io/v1 NetworkPolicy': 'V1NetworkPolicy',
  'rbac.authorization.k8s.io/v1 Role': 'V1Role',
  'rbac.authorization.k8s.io/v1 RoleBinding': 'V1RoleBinding',
};

type AttributeMap = Array<{ name: string; baseName: string; type: string }>;

function modelAttributes(type: string): AttributeMap | null {
  const cls = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap }>)[type];
  return cls?.getAttributeTypeMap ? cls.getAttributeTypeMap() : null;
}

function check(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (!Array.isArray(value)) out.push(`${path}: expected a list (${type})`);
    else
      value.forEach((v, i) => {
        check(v, arr[1]!, `${path}[${i}]`, out);
      });
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) out.push(`${path}: expected a map (${type})`);
    else for (const [k, v] of Object.entries(value)) check(v, map[1]!, `${path}.${k}`, out);
    return;
  }
  switch (type) {
    case 'any':
      return;
    case 'string':
      if (typeof value !== 'string') out.push(`${path}: expected a string, got ${JSON.stringify(value)}`);
      return;
    case 'number':
      if (typeof value !== 'number') out.push(`${path}: expected a number, got ${JSON.stringify(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push(`${path}: expected a boolean, got ${JSON.stringify(value)}`);
      return;
    case 'Date':
      if (typeof value !== 'string' && !(value instanceof Date)) out.push(`${path}: expected a timestamp`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && typeof value !== 'number') out.push(`${path}: expected an int or a string`);
      return;
  }
  const attrs = modelAttributes(type);
  if (attrs === null) {
    out.push(`${path}: no model ${type} in the client library`);
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    out.push(`${path}: expected an object (${type})`);
    return;
  }
  const known = new Map(attrs.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const t = known.get(k);
    if (t === undefined) out.push(`${path ? `${path}.` : ''}${k}: unknown field (not in ${type})`);
    else check(v, t, path ? `${path}.${k}` : k, out);
  }
}

/**
 * The problems of `obj` against its model (by apiVersion and kind, or `type`): [] when it fits.
 * @example validateKubeObject({ apiVersion: 'v1', kind: 'Pod', spec: { containerz: [] } }) // ['spec.containerz: unknown field (not in V1PodSpec)']
 */
export function validateKubeObject(obj: unknown, type?: string): string[] {
  const o = obj as { apiVersion?: string; kind?: string };
  const model = type ?? MODEL_OF[`${o?.apiVersion} ${o?.kind}`];
  if (!model) return [`no model for apiVersion ${o?.apiVersion} kind ${o?.kind}`];
  const out: string[] = [];
  check(obj, model, '', out);
  return out;
}
