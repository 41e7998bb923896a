/**
 * @module The stand-in kubelet's OOM handling. On a cgroup v2 node a kubelet (1.28+) sets
 * `memory.oom.group` on every container, so when the kernel's OOM killer fires inside a container
 * the whole container dies and its status says `OOMKilled`. Docker on a cgroup v1 host kills only
 * the process that ran out (the container lives on), so the stand-in listens for the engine's real
 * `oom` events of its own containers and kills that container: Docker then reports the container's
 * real end (`State.OOMKilled`, exit code 137), which the kubelet turns into the pod's status.
 * Test support only.
 */
import type Dockerode from 'dockerode';

/** Kills each container (carrying `label`) the kernel OOM-killed a process of; `stop` ends the watch. */
export async function killOnOom(docker: Dockerode, label: string): Promise<{ stop(): void }> {
  const stream = (await docker.getEvents({
    filters: { type: ['container'], event: ['oom'], label: [label] },
  })) as NodeJS.ReadableStream & { destroy?: () => void };
  let buf = '';
  stream.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      if (!line) continue;
      let id: string | undefined;
      try {
        id = (JSON.parse(line) as { id?: string }).id;
      } catch {
        continue;
      }
      if (id)
        void docker
          .getContainer(id)
          .kill()
          .catch(() => {});
    }
  });
  stream.on('error', () => {});
  return { stop: () => stream.destroy?.() };
}
