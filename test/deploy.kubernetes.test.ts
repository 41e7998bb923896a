/**
 * deploy/kubernetes validates: every manifest (as `kubectl apply -k` would render it: the files
 * the kustomization lists) fits the Kubernetes API models of @kubernetes/client-node, field by
 * field; the Role grants exactly what the provider calls (PROVIDER_ACCESS) and nothing
 * cluster-wide; the ConfigMap's marionette.yaml is a valid server config whose gateway is the
 * Service's gateway port; the probes hit endpoints the server serves without a token; the
 * Service and the Deployment agree on labels and port names; the Secret keys exist.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ROUTE_ACCESS } from '../src/api/roles.js';
import { PROVIDER_ACCESS } from '../src/providers/kubernetes/client.js';
import { parseKubernetesConfig } from '../src/providers/kubernetes/config.js';
import { validateKubeObject } from './kube-models.js';

const DIR = join(import.meta.dirname, '..', 'deploy', 'kubernetes');

// biome-ignore lint/suspicious/noExplicitAny: manifests are read as the API server reads them
type Doc = Record<string, any>;

function docs(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
}

const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
const rendered = kustomization.resources.flatMap(docs);
const secretExample = docs('secret.example.yaml');
const find = (kind: string, name?: string) =>
  rendered.find((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));

describe('deploy/kubernetes', () => {
  it('the kustomization lists every manifest but the Secret example, and each exists', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'secret.example.yaml').sort());
  });

  it('every object fits its model in the client library', () => {
    expect(rendered.length).toBeGreaterThanOrEqual(7);
    for (const d of [...rendered, ...secretExample])
      expect(validateKubeObject(d), `${d.kind} ${d.metadata?.name}`).toEqual([]);
  });

  it('the model check refuses a misspelt field, naming its path (it can fail)', () => {
    const bad = structuredClone(find('Deployment')!);
    bad.spec.template.spec.containers[0].readinesProbe = bad.spec.template.spec.containers[0].readinessProbe;
    bad.spec.replicas = 'one';
    expect(validateKubeObject(bad)).toEqual([
      'spec.replicas: expected a number, got "one"',
      'spec.template.spec.containers[0].readinesProbe: unknown field (not in V1Container)',
    ]);
  });

  it('the Role grants exactly what the provider calls, in its namespace only', () => {
    const role = find('Role')!;
    expect(rendered.some((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding')).toBe(false);
    const granted = role.rules.flatMap((r: Doc) =>
      r.apiGroups.flatMap((g: string) =>
        r.resources.flatMap((res: string) => r.verbs.map((v: string) => `${g}/${res}:${v}`)),
      ),
    );
    const needed = PROVIDER_ACCESS.flatMap((a) => a.verbs.map((v) => `${a.apiGroup}/${a.resource}:${v}`));
    expect([...granted].sort()).toEqual([...needed].sort());
    const binding = find('RoleBinding')!;
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
    const sa = find('ServiceAccount')!;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'marionette' }]);
    expect(find('Deployment')!.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
  });

  it("the ConfigMap's marionette.yaml configures the provider, dialling the Service's gateway port", () => {
    const yaml = parse(find('ConfigMap')!.data['marionette.yaml']) as Doc;
    const k = parseKubernetesConfig(yaml.providers.kubernetes);
    expect(k.inCluster).toBe(true);
    const svc = find('Service')!;
    const gw = svc.spec.ports.find((p: Doc) => p.name === 'gateway');
    expect(k.gateway).toBe(`ws://${svc.metadata.name}.${svc.metadata.namespace}.svc:${gw.port}`);
    expect(yaml.server.gateway_port).toBe(9090);
    // The egress NetworkPolicies let runner pods reach pods with these labels: the server's.
    const podLabels = find('Deployment')!.spec.template.metadata.labels;
    expect(podLabels).toMatchObject(k.gatewayPeer.podLabels);
  });

  it('the Service selects the server pods and names their ports; the probes need no token', () => {
    const dep = find('Deployment')!;
    const svc = find('Service')!;
    expect(dep.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
    expect(dep.spec.selector.matchLabels).toEqual(svc.spec.selector);
    const c = dep.spec.template.spec.containers[0];
    const portNames = c.ports.map((p: Doc) => p.name);
    for (const p of svc.spec.ports) expect(portNames).toContain(p.targetPort);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/v1/healthz', port: 'api' });
    expect(ROUTE_ACCESS.health).toMatchObject({ role: 'public' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'gateway' });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(dep.spec.template.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('the Secret the Deployment reads has the keys it names', () => {
    const keys = new Set(Object.keys(secretExample[0]!.stringData));
    const refs = find('Deployment')!
      .spec.template.spec.containers[0].env.filter((e: Doc) => e.valueFrom?.secretKeyRef)
      .map((e: Doc) => e.valueFrom.secretKeyRef);
    expect(refs.length).toBe(2);
    for (const r of refs) {
      expect(r.name).toBe(secretExample[0]!.metadata.name);
      expect(keys.has(r.key)).toBe(true);
    }
  });
});
