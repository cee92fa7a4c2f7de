import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSeccompFilter, SECCOMP_DENIED, type SeccompPolicy, type Syscall, syscallNumbers } from '../../src/sandbox/seccomp.ts';

const PROBE = join(import.meta.dir, 'fixtures/seccomp-probe.ts');
const OFF: SeccompPolicy = { network: 'off', protectedPids: [], allowPidNamespace: false };

/** Well inside the test timeout: a probe that hangs is killed and the test fails saying so. */
const PROBE_DEADLINE_MS = 20_000;

/** Runs the probe (a fresh process: a filter cannot be removed) and returns its JSON report. */
async function probe(input: Record<string, unknown>): Promise<unknown> {
  const p = Bun.spawn([process.execPath, PROBE, JSON.stringify(input)], { stdout: 'pipe', stderr: 'pipe' });
  let deadline: ReturnType<typeof setTimeout> | undefined;
  // Not waiting for the pipes then: a child the probe left stopped may hold them open.
  const hung = new Promise<never>((_, reject) => {
    deadline = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`probe ${String(input.suite)} did not finish within ${PROBE_DEADLINE_MS} ms and was killed`));
    }, PROBE_DEADLINE_MS);
  });
  const finished = Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const [out, err, code] = await Promise.race([finished, hung]).finally(() => clearTimeout(deadline));
  if (code !== 0) throw new Error(`probe exited ${code} (${p.signalCode}): ${err}`);
  return JSON.parse(out);
}

// ---------------------------------------------------------------------------
// The program itself, run through a classic-BPF interpreter for both arches.

const AUDIT = { x64: 0xc000003e, arm64: 0xc00000b7, i386: 0x40000003, arm: 0x40000028 };

/** Runs the filter on one seccomp_data; 'allow', 'kill' or the errno name. */
function verdict(program: Uint8Array, arch: number, nr: number, args: (number | bigint)[] = []): string {
  const data = new DataView(new ArrayBuffer(64));
  data.setUint32(0, nr >>> 0, true);
  data.setUint32(4, arch >>> 0, true);
  args.forEach((a, i) => data.setBigUint64(16 + 8 * i, BigInt.asUintN(64, BigInt(a)), true));
  const code = new DataView(program.buffer, program.byteOffset, program.byteLength);
  let acc = 0;
  for (let pc = 0, steps = 0; steps < 10_000; steps++) {
    if (pc * 8 >= program.length) throw new Error(`pc ${pc} ran off the program`);
    const op = code.getUint16(pc * 8, true);
    const jt = code.getUint8(pc * 8 + 2);
    const jf = code.getUint8(pc * 8 + 3);
    const k = code.getUint32(pc * 8 + 4, true);
    switch (op) {
      case 0x20: // ld [k]
        if (k % 4 !== 0 || k > 60) throw new Error(`bad load offset ${k}`);
        acc = data.getUint32(k, true);
        pc++;
        break;
      case 0x05: // ja
        pc += 1 + k;
        break;
      case 0x15: // jeq
        pc += 1 + (acc === k ? jt : jf);
        break;
      case 0x35: // jge
        pc += 1 + (acc >= k ? jt : jf);
        break;
      case 0x45: // jset
        pc += 1 + ((acc & k) >>> 0 !== 0 ? jt : jf);
        break;
      case 0x54: // and k
        acc = (acc & k) >>> 0;
        pc++;
        break;
      case 0x06: // ret
        if (k === 0x7fff0000) return 'allow';
        if (k === 0x80000000) return 'kill';
        if ((k & 0xffff0000) === 0x00050000) return { 1: 'EPERM', 38: 'ENOSYS' }[k & 0xffff] ?? `errno ${k & 0xffff}`;
        return `ret ${k.toString(16)}`;
      default:
        throw new Error(`unexpected opcode ${op.toString(16)} at ${pc}`);
    }
  }
  throw new Error('no return');
}

/** Builds for another architecture by pretending to run on it. */
function buildFor(arch: string, policy: SeccompPolicy): Uint8Array {
  const saved = Object.getOwnPropertyDescriptor(process, 'arch')!;
  Object.defineProperty(process, 'arch', { ...saved, value: arch });
  try {
    return buildSeccompFilter(policy);
  } finally {
    Object.defineProperty(process, 'arch', saved);
  }
}

const GUARD = 4242;
const POLICY: SeccompPolicy = { network: 'off', protectedPids: [GUARD], allowPidNamespace: false };
const CLONE_THREAD_FLAGS = 0x3d0f00; // what pthread_create passes
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const O_CREAT = 0o100;
const AT_FDCWD = -100;

/**
 * Refused whatever their arguments and whatever the policy: each by name, on both architectures, so taking one out of
 * its row shows (a sample of them, checked elsewhere, would not).
 */
const ALWAYS_REFUSED: readonly Syscall[] = [
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd',
  'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  'io_setup', 'io_destroy', 'io_submit', 'io_cancel', 'io_getevents', 'io_pgetevents',
  'fanotify_init', 'fanotify_mark',
  'bpf', 'perf_event_open', 'userfaultfd', 'memfd_secret', 'add_key', 'request_key', 'keyctl',
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'swapon', 'swapoff', 'reboot', 'acct', 'quotactl', 'quotactl_fd', 'file_setattr',
  'mount', 'umount2', 'pivot_root', 'chroot', 'open_tree', 'move_mount', 'fsopen', 'fsmount', 'fspick', 'mount_setattr',
  'name_to_handle_at', 'open_by_handle_at',
];

describe('calls refused whatever their arguments', () => {
  for (const [arch, audit, column] of [['x64', AUDIT.x64, 0], ['arm64', AUDIT.arm64, 1]] as const) {
    test(`${arch}: every one gets EPERM, under either network setting`, () => {
      for (const network of ['off', 'on'] as const) {
        const prog = buildFor(arch, { ...POLICY, network });
        const allowed = ALWAYS_REFUSED.filter((name) => {
          const nr = syscallNumbers(name)[column];
          return nr !== null && verdict(prog, audit, nr, [0, 0, 0, 0, 0, 0]) !== 'EPERM';
        });
        expect({ network, allowed }).toEqual({ network, allowed: [] });
      }
    });
  }
});

describe('the BPF program', () => {
  test('x86_64: numbers, argument tests and foreign ABIs', () => {
    const prog = buildFor('x64', POLICY);
    const v = (nr: number, ...args: (number | bigint)[]) => verdict(prog, AUDIT.x64, nr, args);
    expect({
      read: v(0, 3, 0, 10),
      i386: verdict(prog, AUDIT.i386, 0),
      x32Socket: v(0x40000000 + 41, 2, 1, 0),
      socket: v(41, 2, 1, 0),
      socketpair: v(53, 1, 1, 0, 0),
      socketpairSeqpacket: v(53, 1, 5, 0, 0),
      socketpairDgram: v(53, 1, 2, 0, 0),
      socketpairInet: v(53, 2, 1, 0, 0),
      socketpairVsock: v(53, 40, 5, 0, 0),
      socketpairUnixHighJunk: v(53, (1n << 32n) + 1n, 1, 0, 0),
      mmapAnon: v(9, 0, 4096, 3, 0x22, -1, 0),
      mmapHugetlb: v(9, 0, 2 << 20, 3, 0x22 | 0x40000, -1, 0),
      memfdHugetlb: v(319, 0, 4 | 1),
      memfdPlain: v(319, 0, 1),
      ptrace: v(101, 16, 1),
      pidfd_getfd: v(438, 3, 0, 0),
      process_vm_writev: v(311),
      io_uring_enter: v(426),
      keyctl: v(250),
      mount: v(165),
      open_by_handle_at: v(304),
      cloneThread: v(56, CLONE_THREAD_FLAGS),
      cloneNewUser: v(56, CLONE_NEWUSER | 17),
      cloneNewNet: v(56, 0x40000000 | 17),
      cloneParent: v(56, 0x8000 | 17),
      clone3: v(435, 0, 88),
      prlimitSelf: v(302, 0, 7, 0, 0),
      prlimitOther: v(302, GUARD + 1, 7, 0, 0),
      unsharePid: v(272, CLONE_NEWPID),
      setnsPid: v(308, 3, CLONE_NEWPID),
      chmod4755: v(90, 0, 0o4755),
      chmod0755: v(90, 0, 0o755),
      fchmodat2_2755: v(452, AT_FDCWD, 0, 0o2755, 0),
      openCreate4755: v(2, 0, O_CREAT | 1, 0o4755),
      openReadJunkMode: v(2, 0, 0, 0o4755),
      openatCreate6755: v(257, AT_FDCWD, 0, O_CREAT, 0o6755),
      openatTmpfile4755: v(257, AT_FDCWD, 0, 0o20200000 | 2, 0o4755),
      openatCreate0644: v(257, AT_FDCWD, 0, O_CREAT, 0o644),
      openat2: v(437, AT_FDCWD, 0, 0, 24),
      creat2755: v(85, 0, 0o2755),
      mknod4644: v(133, 0, 0o104644, 0),
      mknodat0644: v(259, AT_FDCWD, 0, 0o100644, 0),
      personalityQuery: v(135, 0xffffffff),
      personalityLinux32: v(135, 8),
      personalityNoRandomize: v(135, 0x40000),
      killGuard: v(62, GUARD, 9),
      killGuardGroup: v(62, -GUARD, 9),
      killGuardHighJunk: v(62, (0xdeadn << 32n) + BigInt(GUARD), 9),
      killAll: v(62, -1, 9),
      killOther: v(62, GUARD + 1, 9),
      killOtherGroup: v(62, -(GUARD + 1), 9),
      tkillGuard: v(200, GUARD, 9),
      tgkillTid: v(234, 1000, GUARD, 9),
      tgkillOther: v(234, 1000, 1001, 9),
      rt_tgsigqueueinfoTid: v(297, 1000, GUARD, 9, 0),
      pidfdOpenGuard: v(434, GUARD, 0),
      pidfdOpenOther: v(434, GUARD + 1, 0),
      fcntlSetLease: v(72, 3, 1024, 1),
      fcntlSetLeaseHighJunk: v(72, 3, (1n << 32n) + 1024n, 1),
      fcntlGetLease: v(72, 3, 1025, 0),
      fcntlSetLock: v(72, 3, 6, 0),
    }).toEqual({
      read: 'allow',
      i386: 'kill',
      x32Socket: 'EPERM',
      socket: 'EPERM',
      socketpair: 'allow',
      socketpairSeqpacket: 'allow',
      socketpairDgram: 'EPERM',
      socketpairInet: 'EPERM',
      socketpairVsock: 'EPERM',
      socketpairUnixHighJunk: 'allow',
      mmapAnon: 'allow',
      mmapHugetlb: 'EPERM',
      memfdHugetlb: 'EPERM',
      memfdPlain: 'allow',
      ptrace: 'EPERM',
      pidfd_getfd: 'EPERM',
      process_vm_writev: 'EPERM',
      io_uring_enter: 'EPERM',
      keyctl: 'EPERM',
      mount: 'EPERM',
      open_by_handle_at: 'EPERM',
      cloneThread: 'allow',
      cloneNewUser: 'EPERM',
      cloneNewNet: 'EPERM',
      cloneParent: 'EPERM',
      clone3: 'ENOSYS',
      prlimitSelf: 'allow',
      prlimitOther: 'EPERM',
      unsharePid: 'EPERM',
      setnsPid: 'EPERM',
      chmod4755: 'EPERM',
      chmod0755: 'allow',
      fchmodat2_2755: 'EPERM',
      openCreate4755: 'EPERM',
      openReadJunkMode: 'allow',
      openatCreate6755: 'EPERM',
      openatTmpfile4755: 'EPERM',
      openatCreate0644: 'allow',
      openat2: 'ENOSYS',
      creat2755: 'EPERM',
      mknod4644: 'EPERM',
      mknodat0644: 'allow',
      personalityQuery: 'allow',
      personalityLinux32: 'allow',
      personalityNoRandomize: 'EPERM',
      killGuard: 'EPERM',
      killGuardGroup: 'EPERM',
      killGuardHighJunk: 'EPERM',
      killAll: 'EPERM',
      killOther: 'allow',
      killOtherGroup: 'allow',
      tkillGuard: 'EPERM',
      tgkillTid: 'EPERM',
      tgkillOther: 'allow',
      rt_tgsigqueueinfoTid: 'EPERM',
      pidfdOpenGuard: 'EPERM',
      pidfdOpenOther: 'allow',
      fcntlSetLease: 'EPERM',
      fcntlSetLeaseHighJunk: 'EPERM',
      fcntlGetLease: 'allow',
      fcntlSetLock: 'allow',
    });
  });

  test('aarch64: asm-generic numbers, no legacy path calls, arm32 killed', () => {
    const prog = buildFor('arm64', { ...POLICY, allowPidNamespace: true });
    const v = (nr: number, ...args: (number | bigint)[]) => verdict(prog, AUDIT.arm64, nr, args);
    expect({
      read: v(63, 3, 0, 10),
      arm32: verdict(prog, AUDIT.arm, 198),
      x86_64: verdict(prog, AUDIT.x64, 41),
      // No x32 test on aarch64: 0x40000000 + n is just an unknown number.
      high: v(0x40000000 + 198),
      socket: v(198, 2, 1, 0),
      socketpair: v(199, 1, 1, 0, 0),
      socketpairInet6: v(199, 10, 1, 0, 0),
      mmapAnon: v(222, 0, 4096, 3, 0x22, -1, 0),
      mmapHugetlb: v(222, 0, 2 << 20, 3, 0x22 | 0x40000, -1, 0),
      ptrace: v(117, 16, 1),
      process_vm_readv: v(270),
      bpf: v(280),
      perf_event_open: v(241),
      mount: v(40),
      chroot: v(51),
      kexec_file_load: v(294),
      cloneThread: v(220, CLONE_THREAD_FLAGS),
      cloneNewPid: v(220, CLONE_NEWPID | 17),
      clone3: v(435),
      unsharePid: v(97, CLONE_NEWPID),
      unshareUser: v(97, CLONE_NEWUSER),
      setnsPid: v(268, 3, CLONE_NEWPID),
      setnsAny: v(268, 3, 0),
      fchmod4755: v(52, 3, 0o4755),
      fchmodat2755: v(53, AT_FDCWD, 0, 0o2755),
      fchmodat0755: v(53, AT_FDCWD, 0, 0o755),
      openatCreate4755: v(56, AT_FDCWD, 0, O_CREAT, 0o4755),
      openatRead: v(56, AT_FDCWD, 0, 0, 0o4755),
      mknodat4644: v(33, AT_FDCWD, 0, 0o104644, 0),
      // x86_64's creat (85) and chmod (90) mean other calls here (its open, 2, is io_submit, refused on its own).
      nr85: v(85, 0, 0o4755),
      nr90: v(90, 0, 0o4755),
      personalityNoRandomize: v(92, 0x40000),
      killGuard: v(129, GUARD, 0),
      killGuardGroup: v(129, -GUARD, 0),
      tkillGuard: v(130, GUARD, 0),
      tgkillGuard: v(131, GUARD, GUARD, 0),
      rt_sigqueueinfoGuard: v(138, GUARD, 0, 0),
      rt_tgsigqueueinfoTid: v(240, 1, GUARD, 0, 0),
      pidfdOpenGuard: v(434, GUARD, 0),
      killOther: v(129, 77, 9),
      fcntlSetLease: v(25, 3, 1024, 1),
      fcntlSetLock: v(25, 3, 6, 0),
    }).toEqual({
      read: 'allow',
      arm32: 'kill',
      x86_64: 'kill',
      high: 'allow',
      socket: 'EPERM',
      socketpair: 'allow',
      socketpairInet6: 'EPERM',
      mmapAnon: 'allow',
      mmapHugetlb: 'EPERM',
      ptrace: 'EPERM',
      process_vm_readv: 'EPERM',
      bpf: 'EPERM',
      perf_event_open: 'EPERM',
      mount: 'EPERM',
      chroot: 'EPERM',
      kexec_file_load: 'EPERM',
      cloneThread: 'allow',
      cloneNewPid: 'EPERM',
      clone3: 'ENOSYS',
      unsharePid: 'allow',
      unshareUser: 'EPERM',
      setnsPid: 'allow',
      setnsAny: 'EPERM',
      fchmod4755: 'EPERM',
      fchmodat2755: 'EPERM',
      fchmodat0755: 'allow',
      openatCreate4755: 'EPERM',
      openatRead: 'allow',
      mknodat4644: 'EPERM',
      nr85: 'allow',
      nr90: 'allow',
      personalityNoRandomize: 'EPERM',
      killGuard: 'EPERM',
      killGuardGroup: 'EPERM',
      tkillGuard: 'EPERM',
      tgkillGuard: 'EPERM',
      rt_sigqueueinfoGuard: 'EPERM',
      rt_tgsigqueueinfoTid: 'EPERM',
      pidfdOpenGuard: 'EPERM',
      killOther: 'allow',
      fcntlSetLease: 'EPERM',
      fcntlSetLock: 'allow',
    });
  });

  // Landlock looks at ioctl only on device files: filesystem ioctls through a read-only descriptor made snapshots in a
  // read-only grant (btrfs) and kernel keys past the keyring calls' refusal (fscrypt).
  for (const [arch, audit, nr] of [['x64', AUDIT.x64, 16], ['arm64', AUDIT.arm64, 29]] as const) {
    test(`${arch}: ioctl of the filesystem families, fscrypt keys and policies, verity, inode flags and project ids, pidfd info and line disciplines refused, by the low word; the rest pass; renameat2 refused a whiteout`, () => {
      const prog = buildFor(arch, POLICY);
      const ioctl = (cmd: number | bigint) => verdict(prog, audit, nr, [3, cmd, 0]);
      expect({
        btrfsSnapCreateV2: ioctl(0x50009417),
        btrfsSubvolCreate: ioctl(0x5000940e),
        btrfsSubvolSetflags: ioctl(0x4008941a),
        btrfsHighJunk: ioctl((1n << 32n) | 0x50009417n),
        f2fsPinFile: ioctl(0x4004f50d),
        bcachefsSubvolume: ioctl(0x4020bc10),
        ficlone: ioctl(0x40049409),
        ficlonerange: ioctl(0x4020940d),
        fideduperange: ioctl(0xc0189436),
        fscryptSetPolicy: ioctl(0x800c6613),
        fscryptSetPolicyOtherSize: ioctl(0x80106613),
        fscryptAddKey: ioctl(0xc0506617),
        fscryptRemoveKey: ioctl(0xc0406618),
        fscryptRemoveKeyAllUsers: ioctl(0xc0406619),
        fscryptGetPolicy: ioctl(0x400c6615),
        enableVerity: ioctl(0x40806685),
        pidfdGetInfo: ioctl(0xc048ff0b),
        pidfdGetInfoHighJunk: ioctl((7n << 32n) | 0xc048ff0bn),
        tiocsetd: ioctl(0x5423),
        tiocgetd: ioctl(0x5424),
        tcgets: ioctl(0x5401),
        tiocgwinsz: ioctl(0x5413),
        fionread: ioctl(0x541b),
        fsGetFlags: ioctl(0x80086601),
        fiemap: ioctl(0xc020660b),
        fsSetFlags: ioctl(0x40086602),
        fsSetFlags32: ioctl(0x40046602),
        fsSetXattr: ioctl(0x401c5820),
        fsGetXattr: ioctl(0x801c581f),
        fscryptPwsalt: ioctl(0x40106614),
      }).toEqual({
        btrfsSnapCreateV2: 'EPERM',
        btrfsSubvolCreate: 'EPERM',
        btrfsSubvolSetflags: 'EPERM',
        btrfsHighJunk: 'EPERM',
        f2fsPinFile: 'EPERM',
        bcachefsSubvolume: 'EPERM',
        ficlone: 'allow',
        ficlonerange: 'allow',
        fideduperange: 'allow',
        fscryptSetPolicy: 'EPERM',
        fscryptSetPolicyOtherSize: 'EPERM',
        fscryptAddKey: 'EPERM',
        fscryptRemoveKey: 'EPERM',
        fscryptRemoveKeyAllUsers: 'EPERM',
        fscryptGetPolicy: 'allow',
        enableVerity: 'EPERM',
        pidfdGetInfo: 'EPERM',
        pidfdGetInfoHighJunk: 'EPERM',
        tiocsetd: 'EPERM',
        tiocgetd: 'allow',
        tcgets: 'allow',
        tiocgwinsz: 'allow',
        fionread: 'allow',
        fsGetFlags: 'allow',
        fiemap: 'allow',
        fsSetFlags: 'EPERM',
        fsSetFlags32: 'EPERM',
        fsSetXattr: 'EPERM',
        fsGetXattr: 'allow',
        fscryptPwsalt: 'EPERM',
      });
      const renameat2 = syscallNumbers('renameat2')[arch === 'x64' ? 0 : 1]!;
      const rename = (flags: number | bigint) => verdict(prog, audit, renameat2, [-100, 0, -100, 0, flags]);
      expect([rename(0), rename(1), rename(2), rename(4), rename(5), rename((1n << 32n) | 4n)]).toEqual(['allow', 'allow', 'allow', 'EPERM', 'EPERM', 'EPERM']);
    });
  }

  test('policy switches: network on, no protected pids, PID namespace allowed', () => {
    const prog = buildFor('x64', { network: 'on', protectedPids: [], allowPidNamespace: true });
    const v = (nr: number, ...args: (number | bigint)[]) => verdict(prog, AUDIT.x64, nr, args);
    expect({
      socket: v(41, 2, 1, 0),
      killAll: v(62, -1, 0),
      kill: v(62, GUARD, 9),
      unsharePid: v(272, CLONE_NEWPID),
      unsharePidAndNet: v(272, CLONE_NEWPID | 0x40000000),
      setnsPid: v(308, 3, CLONE_NEWPID),
      setnsIpc: v(308, 3, 0x08000000),
      setnsPidAndIpc: v(308, 3, CLONE_NEWPID | 0x08000000),
      setnsNet: v(308, 3, 0x40000000),
      setnsMount: v(308, 3, 0x00020000),
      setnsUser: v(308, 3, CLONE_NEWUSER),
      ptrace: v(101),
    }).toEqual({
      socket: 'allow',
      killAll: 'allow',
      kill: 'allow',
      unsharePid: 'allow',
      unsharePidAndNet: 'EPERM',
      setnsPid: 'allow',
      setnsIpc: 'allow',
      setnsPidAndIpc: 'EPERM',
      setnsNet: 'EPERM',
      setnsMount: 'EPERM',
      setnsUser: 'EPERM',
      ptrace: 'EPERM',
    });
  });

  // x86_64 and aarch64 numbers of the signal calls and fcntl; the signal numbers are the same on both.
  const SIGNAL_CALLS = {
    x64: { kill: 62, tkill: 200, tgkill: 234, rt_sigqueueinfo: 129, rt_tgsigqueueinfo: 297, pidfd_send_signal: 424, fcntl: 72 },
    arm64: { kill: 129, tkill: 130, tgkill: 131, rt_sigqueueinfo: 138, rt_tgsigqueueinfo: 240, pidfd_send_signal: 424, fcntl: 25 },
  } as const;
  const [SIGKILL, SIGTERM, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT] = [9, 15, 19, 20, 21, 22, 18];
  const F_SETSIG = 10;
  const F_SETOWN = 8;

  for (const arch of ['x64', 'arm64'] as const) {
    test(`${arch}: stop signals refused by every call that sends one, but kill(0, …), the caller's own group; other signals pass`, () => {
      const n = SIGNAL_CALLS[arch];
      const verdicts = (policy: SeccompPolicy) => {
        const prog = buildFor(arch, policy);
        const v = (nr: number, ...args: (number | bigint)[]) => verdict(prog, AUDIT[arch], nr, args);
        const stops = (send: (sig: number) => string) => [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU].map(send);
        return {
          killLauncher: stops((s) => v(n.kill, 4000, s)),
          killLauncherHighJunk: v(n.kill, (0xbeefn << 32n) + 4000n, SIGSTOP),
          killStopHighJunk: v(n.kill, 4000, (1n << 32n) + BigInt(SIGSTOP)),
          killGroup: v(n.kill, -4000, SIGSTOP),
          killAll: v(n.kill, -1, SIGSTOP),
          killOwnGroup: v(n.kill, 0, SIGTSTP),
          killOthers: [SIGKILL, SIGTERM, SIGCONT, 0].map((s) => v(n.kill, 4000, s)),
          tkill: stops((s) => v(n.tkill, 4001, s)),
          tkillTerm: v(n.tkill, 4001, SIGTERM),
          tgkill: stops((s) => v(n.tgkill, 4000, 4001, s)),
          tgkillCont: v(n.tgkill, 4000, 4001, SIGCONT),
          rt_sigqueueinfo: v(n.rt_sigqueueinfo, 4000, SIGSTOP, 0),
          rt_tgsigqueueinfo: v(n.rt_tgsigqueueinfo, 4000, 4001, SIGTTOU, 0),
          rt_tgsigqueueinfoUsr: v(n.rt_tgsigqueueinfo, 4000, 4001, 10, 0),
          pidfd_send_signal: stops((s) => v(n.pidfd_send_signal, 5, s, 0, 0)),
          pidfdKill: v(n.pidfd_send_signal, 5, SIGKILL, 0, 0),
          fcntlSetSigStop: v(n.fcntl, 3, F_SETSIG, SIGSTOP),
          fcntlSetSigUsr: v(n.fcntl, 3, F_SETSIG, 10),
          fcntlSetOwn: v(n.fcntl, 3, F_SETOWN, SIGSTOP),
          fcntlSetLease: v(n.fcntl, 3, 1024, 1),
          tkillGuard: v(n.tkill, GUARD, SIGTERM),
          killGuard: v(n.kill, GUARD, SIGTERM),
        };
      };
      const E4 = ['EPERM', 'EPERM', 'EPERM', 'EPERM'];
      const refused = {
        killLauncher: E4,
        killLauncherHighJunk: 'EPERM',
        killStopHighJunk: 'EPERM',
        killGroup: 'EPERM',
        killAll: 'EPERM',
        killOwnGroup: 'allow',
        killOthers: ['allow', 'allow', 'allow', 'allow'],
        tkill: E4,
        tkillTerm: 'allow',
        tgkill: E4,
        tgkillCont: 'allow',
        rt_sigqueueinfo: 'EPERM',
        rt_tgsigqueueinfo: 'EPERM',
        rt_tgsigqueueinfoUsr: 'allow',
        pidfd_send_signal: E4,
        pidfdKill: 'allow',
        fcntlSetSigStop: 'EPERM',
        fcntlSetSigUsr: 'allow',
        fcntlSetOwn: 'allow',
        fcntlSetLease: 'EPERM',
      };
      // Without protected pids (the launcher's policy), with them (both tests share each call's block), and off.
      expect(verdicts({ ...OFF, refuseStopSignals: true })).toEqual({ ...refused, tkillGuard: 'allow', killGuard: 'allow' });
      expect(verdicts({ ...POLICY, refuseStopSignals: true })).toEqual({ ...refused, tkillGuard: 'EPERM', killGuard: 'EPERM' });
      const A4 = ['allow', 'allow', 'allow', 'allow'];
      expect(verdicts(OFF)).toEqual({
        ...refused,
        killLauncher: A4,
        killLauncherHighJunk: 'allow',
        killStopHighJunk: 'allow',
        killGroup: 'allow',
        killAll: 'allow',
        tkill: A4,
        tgkill: A4,
        rt_sigqueueinfo: 'allow',
        rt_tgsigqueueinfo: 'allow',
        pidfd_send_signal: A4,
        fcntlSetSigStop: 'allow',
        tkillGuard: 'allow',
        killGuard: 'allow',
      });
    });
  }

  test('stays small, long bodies jump over themselves, and bad input throws', () => {
    expect(buildSeccompFilter(POLICY).length % 8).toBe(0);
    expect(buildSeccompFilter(POLICY).length / 8).toBeLessThan(400);
    // 200 pids make kill's body longer than an 8-bit jump: the ja form must still work.
    const many = Array.from({ length: 200 }, (_, i) => 1000 + i);
    const big = buildFor('x64', { ...OFF, protectedPids: many });
    expect(big.length / 8).toBeLessThan(4096);
    expect(Array.from({ length: big.length / 8 }, (_, i) => big[i * 8]).includes(0x05)).toBe(true);
    expect([verdict(big, AUDIT.x64, 62, [1199, 9]), verdict(big, AUDIT.x64, 62, [999, 9]), verdict(big, AUDIT.x64, 41)]).toEqual(['EPERM', 'allow', 'EPERM']);
    expect(() => buildSeccompFilter({ ...OFF, protectedPids: Array.from({ length: 2000 }, (_, i) => i + 1) })).toThrow('exceeds 4096');
    expect(() => buildSeccompFilter({ ...OFF, protectedPids: [0] })).toThrow('invalid protected pid 0');
    expect(() => buildSeccompFilter({ ...OFF, protectedPids: [-5] })).toThrow('invalid protected pid -5');
    expect(() => buildFor('ia32', OFF)).toThrow('unsupported architecture ia32');
    expect(SECCOMP_DENIED.some((line) => line.startsWith('ptrace, process_vm_readv'))).toBe(true);
    expect(SECCOMP_DENIED.some((line) => line.startsWith('socket:'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// Installed for real, in probe processes.

describe.skipIf(process.platform !== 'linux')('installed', () => {
  let dir: string;
  let guard: ReturnType<typeof Bun.spawn>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hide-seccomp-'));
    // Outside the probe, leading its own process group, like a launcher.
    guard = Bun.spawn(['sleep', '60'], { detached: true });
  });
  afterAll(() => {
    guard.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('network off, a protected pid: refusals, and Bun.spawn, pipes and children still work', async () => {
    const report = await probe({ suite: 'main', policy: { ...OFF, protectedPids: [guard.pid] }, guard: guard.pid, dir });
    expect(report).toEqual({
      control: { kill0: 'ok', killGroup: 'ok', pidfd_open: 'ok', inetStream: 'ok' },
      echoed: ['hi\n', 'err\n', 0],
      childKill0: 'ok',
      childPidfd: 'ok',
      childSignal: 'SIGKILL',
      groupKill: 'ok',
      detachedSignal: 'SIGKILL',
      signals: {
        kill0: 'EPERM',
        killGroup: 'EPERM',
        killHighWord: 'EPERM',
        killAll: 'EPERM',
        tkill: 'EPERM',
        tgkill: 'EPERM',
        tgkillTid: 'EPERM',
        rt_sigqueueinfo: 'EPERM',
        rt_tgsigqueueinfo: 'EPERM',
        pidfd_open: 'EPERM',
        killOwnGroup: 'ok',
      },
      processes: {
        ptrace: 'EPERM',
        process_vm_readv: 'EPERM',
        pidfd_getfd: 'EPERM',
        io_uring_setup: 'EPERM',
        io_setup: 'EPERM',
        bpf: 'EPERM',
        mount: 'EPERM',
        unshareUser: 'EPERM',
        unsharePid: 'EPERM',
        setnsPid: 'EPERM',
        clone3: 'ENOSYS',
        personalityQuery: 'ok',
        personalityNoRandomize: 'EPERM',
      },
      modes: {
        // aarch64 has no chmod/open/creat: the probe fills in the expectation.
        chmod4755: 'EPERM',
        chmod2755: 'EPERM',
        chmod0755: 'ok',
        fchmod6755: 'EPERM',
        fchmod0700: 'ok',
        fchmodat4755: 'EPERM',
        fchmodat0750: 'ok',
        fchmodat2_2755: 'EPERM',
        openatCreate4755: 'EPERM',
        openatCreate0644: 'ok',
        openatNoCreate4755: 'ok',
        openCreate4755: 'EPERM',
        creat2755: 'EPERM',
        mknodatFifo4644: 'EPERM',
        mknodatFifo0644: 'ok',
        openat2: 'ENOSYS',
      },
      sockets: {
        inetStream: 'EPERM',
        inet6Dgram: 'EPERM',
        unixStream: 'EPERM',
        netlink: 'EPERM',
        socketpair: 'ok',
        socketpairInet: 'EPERM',
        pipe2: 'ok',
      },
      python: {
        tcp: 'EPERM',
        mptcp: 'EPERM',
        sctp: 'EPERM',
        netlink: 'EPERM',
        unixConnect: 'EPERM',
        socketpair: 'ok',
        pipe: 'ok',
        chmod4755: 'EPERM',
        chmod2755: 'EPERM',
        chmod0755: 'ok',
        openCreate4755: 'EPERM',
        // glibc tries clone3 for threads and posix_spawn; ENOSYS sends it to clone.
        fork: 'ok',
        thread: 'ok',
        subprocess: 'ok',
        posixSpawn: 'ok',
        cloneNewUser: 'EPERM',
        cloneNewNs: 'EPERM',
        clonePlain: 'ok',
        unshareUser: 'EPERM',
        unshareNet: 'EPERM',
      },
    });
    // The guard outlived every attempt.
    expect(guard.killed || guard.exitCode !== null).toBe(false);
    expect(process.kill(guard.pid, 0)).toBe(true);
  });

  test('network on: TCP sockets work, the rest stays refused', async () => {
    expect(await probe({ suite: 'network-on', policy: { ...OFF, network: 'on' } })).toEqual({
      inetStream: 'ok',
      unixStream: 'ok',
      ptrace: 'EPERM',
      clone3: 'ENOSYS',
      python: { tcpLoopback: 'ok', unix: 'ok' },
    });
  });

  test('its own pid and tids protected (as the launcher does): GC, workers, spawn and kill still work', async () => {
    expect(await probe({ suite: 'self', policy: OFF })).toEqual({
      kept: 1_000_000,
      outputs: ['0', '1', '2', '3', '4'],
      fromWorker: 200_000,
      sleeperSignal: 'SIGTERM',
      // The price: the launcher cannot signal itself either.
      selfSignal: 'EPERM',
    });
  });

  test.skipIf(process.getuid?.() !== 0)('allowPidNamespace, as root: unshare/setns with CLONE_NEWPID alone', async () => {
    expect(await probe({ suite: 'pidns', policy: { ...OFF, allowPidNamespace: true } })).toEqual({
      unsharePid: 'ok',
      firstInNewNs: true,
      setnsPid: 'ok',
      backInOwnNs: true,
      unsharePidAndMount: 'EPERM',
      unshareUser: 'EPERM',
      unshareNet: 'EPERM',
      setnsAny: 'EPERM',
      setnsNet: 'EPERM',
    });
  });
});
