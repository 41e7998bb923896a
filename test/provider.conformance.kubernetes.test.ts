/**
 * The provider conformance suite (test/provider.conformance.ts) over `kubernetes`, against the
 * Kubernetes API stand-in (test/kube-standin/) whose pods are Docker containers on this machine,
 * so every runner really starts and dials in. Run twice: with a PVC per session (the workspace
 * survives the pod: terminate_preserve_storage) and with an emptyDir (its terminate_preserve_storage
 * goes through the server's workspace store: test/kubernetes.e2e.test.ts). With
 * MARIONETTE_TEST_KUBECONFIG it runs against that cluster; leftovers are read through the API, and
 * the storage cases, which reach the workspace through the stand-in's Docker, are skipped there.
 */
import { docker, dockerDescribe, execIn, readVolumeFile } from '../src/providers/docker/docker.test-support.js';
import { KubernetesSandboxProvider } from '../src/providers/kubernetes/provider.js';
import type { SandboxHandle } from '../src/providers/types.js';
import { type KubeTarget, kubePrefix, kubeTarget, REAL_KUBECONFIG } from './kube.support.js';
import { describeProviderConformance } from './provider.conformance.js';

async function volumeExists(name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect();
    return true;
  } catch {
    return false;
  }
}

for (const storage of [true, false]) {
  const prefix = kubePrefix();
  let target: KubeTarget;
  const standin = () => {
    if (!target.standin) throw new Error('these workspace checks need the stand-in');
    return target.standin;
  };
  const podContainer = (h: SandboxHandle) => {
    const pod = standin().pods('marionette', `${prefix}/runner=${h.metadata.runnerId as string}`)[0];
    const id = pod ? standin().containerOf(pod) : undefined;
    if (!id) throw new Error(`no running pod for ${h.externalId}`);
    return id;
  };
  dockerDescribe(`kubernetes provider conformance (${storage ? 'PVC workspace' : 'emptyDir workspace'})`, () => {
    describeProviderConformance(
      `kubernetes${storage ? '' : ' (emptyDir)'}`,
      {
        async setup() {
          target = await kubeTarget(prefix);
        },
        create: ({ installId, server }) =>
          new KubernetesSandboxProvider(
            target.config(server.gatewayPort, storage ? { storage: { size: '1Gi' } } : {}),
            {
              installId,
            },
          ),
        workspace: {
          async write(h, file, text) {
            const r = await execIn(docker, podContainer(h), [
              'sh',
              '-c',
              'printf %s "$1" > "/workspace/$0"',
              file,
              text,
            ]);
            if (r.exitCode !== 0) throw new Error(`writing /workspace/${file} failed: ${r.stderr}`);
          },
          async read(h, file) {
            const pvc = h.metadata.pvc as string | undefined;
            if (pvc === undefined) return null;
            const volume = standin().volumeOf('marionette', pvc);
            if (!(await volumeExists(volume))) return null;
            return readVolumeFile(prefix, volume, file).catch(() => null);
          },
        },
        async leftovers() {
          const left = await target.leftovers();
          await target.close();
          return left;
        },
      },
      !storage
        ? {
            skips: [
              {
                reason:
                  'an emptyDir workspace ends with its pod: terminate_preserve_storage keeps it in the server workspace store (tested end to end in kubernetes.e2e)',
                cases: ['preserve storage', 'destroy storage'],
              },
            ],
          }
        : REAL_KUBECONFIG
          ? {
              skips: [
                {
                  reason:
                    "reading a claim's files from outside needs the stand-in's Docker volumes (the provider's Role has no pods/exec)",
                  cases: ['preserve storage', 'destroy storage'],
                },
              ],
            }
          : {},
    );
  });
}
