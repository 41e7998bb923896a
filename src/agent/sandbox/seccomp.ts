/**
 * @module The seccomp filter bubblewrap installs in every nested sandbox (`bwrap --seccomp FD`):
 * a classic BPF program built here, because no seccomp library is available to the agent (neither
 * in node_modules nor as a command-line tool on a stock Debian runner; libseccomp2 is only the C
 * library). The program is small and fixed, and every rule is listed below with its reason.
 *
 * What it does, in order:
 * 1. The syscall's architecture must be the runner's own (x86_64 or aarch64); anything else (the
 *    i386 `int 0x80` entry on x86_64, for instance, which a filter on 64-bit numbers would not
 *    see) kills the process.
 * 2. On x86_64, x32 syscall numbers (bit 30 set) kill the process, for the same reason.
 * 3. `clone` with any namespace flag and `unshare`/`setns` fail with EPERM: no new user, mount,
 *    pid, network... namespaces inside the sandbox (the user namespace is the usual first step of a
 *    kernel exploit). `clone3` fails with ENOSYS: its flags sit in memory a filter cannot read, and
 *    ENOSYS makes the C library fall back to `clone` (what Docker's default profile does).
 * 4. These fail with EPERM (`DENIED` below), grouped by why: kernel and system administration
 *    (mount family, pivot_root, swapon/off, reboot, kexec, module loading, acct, quotactl, clock
 *    and time setting, sethostname/setdomainname, syslog, iopl/ioperm), kernel attack surface a
 *    task has no use for (bpf, perf_event_open, userfaultfd, keyctl/add_key/request_key,
 *    io_uring_*, lookup_dcookie, the new mount API fsopen/fsmount/..., open_by_handle_at and
 *    name_to_handle_at, which can reach files outside a bind mount), and inspecting other
 *    processes (ptrace, process_vm_readv/writev, kcmp). Everything else is allowed.
 *
 * The sandbox's other walls (namespaces, no capabilities, no new privileges, read-only system,
 * cgroup limits) do not depend on this filter; it narrows the kernel surface behind them.
 */

/** Architecture ids (AUDIT_ARCH_*) as seen in `seccomp_data.arch`. */
const AUDIT_ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 } as const;

type Arch = keyof typeof AUDIT_ARCH;

/** Syscalls added since Linux 5.1 share one number on every architecture. */
const UNIFIED: Record<string, number> = {
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  clone3: 435,
  mount_setattr: 442,
};

/** Syscall numbers per architecture, for the syscalls the filter names. */
const NR: Record<Arch, Record<string, number>> = {
  x64: {
    ptrace: 101,
    syslog: 103,
    acct: 163,
    settimeofday: 164,
    mount: 165,
    umount2: 166,
    swapon: 167,
    swapoff: 168,
    reboot: 169,
    sethostname: 170,
    setdomainname: 171,
    iopl: 172,
    ioperm: 173,
    init_module: 175,
    delete_module: 176,
    quotactl: 179,
    pivot_root: 155,
    adjtimex: 159,
    lookup_dcookie: 212,
    clock_settime: 227,
    kexec_load: 246,
    add_key: 248,
    request_key: 249,
    keyctl: 250,
    unshare: 272,
    perf_event_open: 298,
    name_to_handle_at: 303,
    open_by_handle_at: 304,
    clock_adjtime: 305,
    setns: 308,
    process_vm_readv: 310,
    process_vm_writev: 311,
    kcmp: 312,
    finit_module: 313,
    kexec_file_load: 320,
    bpf: 321,
    userfaultfd: 323,
    ...UNIFIED,
    clone: 56,
  },
  arm64: {
    ptrace: 117,
    syslog: 116,
    acct: 89,
    settimeofday: 170,
    mount: 40,
    umount2: 39,
    swapon: 224,
    swapoff: 225,
    reboot: 142,
    sethostname: 161,
    setdomainname: 162,
    iopl: -1,
    ioperm: -1,
    init_module: 105,
    delete_module: 106,
    quotactl: 60,
    pivot_root: 41,
    adjtimex: 171,
    lookup_dcookie: 18,
    clock_settime: 112,
    kexec_load: 104,
    add_key: 217,
    request_key: 218,
    keyctl: 219,
    unshare: 97,
    perf_event_open: 241,
    name_to_handle_at: 264,
    open_by_handle_at: 265,
    clock_adjtime: 266,
    setns: 268,
    process_vm_readv: 270,
    process_vm_writev: 271,
    kcmp: 272,
    finit_module: 273,
    kexec_file_load: 294,
    bpf: 280,
    userfaultfd: 282,
    ...UNIFIED,
    clone: 220,
  },
};

/** The syscalls that fail with EPERM (the reasons are in the module comment). */
export const DENIED = [
  'mount',
  'umount2',
  'pivot_root',
  'swapon',
  'swapoff',
  'reboot',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'acct',
  'quotactl',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'sethostname',
  'setdomainname',
  'syslog',
  'iopl',
  'ioperm',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'keyctl',
  'add_key',
  'request_key',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'lookup_dcookie',
  'open_tree',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'open_by_handle_at',
  'name_to_handle_at',
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  'unshare',
  'setns',
] as const;

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME. */
const CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80;

const RET_KILL_PROCESS = 0x80000000;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

// BPF opcodes (linux/bpf_common.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

/** The runner's architecture in the filter's terms; null where the filter has no table (no nested bubblewrap there). */
export function seccompArch(arch: string = process.arch): Arch | null {
  return arch === 'x64' || arch === 'arm64' ? arch : null;
}

type Insn = { code: number; jt: number | string; jf: number | string; k: number } | { label: string };

/**
 * The filter for `arch` as bytes (`struct sock_filter[]`, 8 bytes each, little-endian), what
 * `bwrap --seccomp FD` reads.
 */
export function buildSeccompFilter(arch: Arch): Buffer {
  const nr = NR[arch];
  const p: Insn[] = [];
  const op = (code: number, k: number, jt: number | string = 0, jf: number | string = 0) =>
    p.push({ code, jt, jf, k: k >>> 0 });
  op(LD_W_ABS, 4); // seccomp_data.arch
  op(JEQ_K, AUDIT_ARCH[arch], 1, 0);
  op(RET_K, RET_KILL_PROCESS);
  op(LD_W_ABS, 0); // seccomp_data.nr
  if (arch === 'x64') {
    op(JGE_K, 0x40000000, 'kill', 0);
  }
  op(JEQ_K, nr.clone as number, 'clone', 0);
  op(JEQ_K, nr.clone3 as number, 'enosys', 0);
  for (const name of DENIED) {
    const n = nr[name] as number;
    if (n >= 0) op(JEQ_K, n, 'eperm', 0);
  }
  op(RET_K, RET_ALLOW);
  p.push({ label: 'clone' });
  op(LD_W_ABS, 16); // args[0] low 32 bits (little-endian): the clone flags
  op(JSET_K, CLONE_NS_FLAGS, 'eperm', 0);
  op(RET_K, RET_ALLOW);
  p.push({ label: 'eperm' });
  op(RET_K, RET_ERRNO | EPERM);
  p.push({ label: 'enosys' });
  op(RET_K, RET_ERRNO | ENOSYS);
  p.push({ label: 'kill' });
  op(RET_K, RET_KILL_PROCESS);

  const at = new Map<string, number>();
  const code: Exclude<Insn, { label: string }>[] = [];
  for (const i of p) {
    if ('label' in i) at.set(i.label, code.length);
    else code.push(i);
  }
  const buf = Buffer.alloc(code.length * 8);
  code.forEach((i, idx) => {
    const rel = (j: number | string) => {
      if (typeof j === 'number') return j;
      const off = (at.get(j) as number) - idx - 1;
      if (off < 0 || off > 255) throw new Error(`seccomp filter: jump to ${j} out of range`);
      return off;
    };
    buf.writeUInt16LE(i.code, idx * 8);
    buf.writeUInt8(rel(i.jt), idx * 8 + 2);
    buf.writeUInt8(rel(i.jf), idx * 8 + 3);
    buf.writeUInt32LE(i.k, idx * 8 + 4);
  });
  return buf;
}
