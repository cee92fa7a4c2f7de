/**
 * Removes every System V object (shared memory segment, message queue,
 * semaphore set) of the calling thread's IPC namespace. A command's objects
 * live in an IPC namespace of its own, which the kernel frees with
 * everything in it once nothing refers to it; but another process of the
 * same client can hold it open (/proc/<pid>/ns/ipc), and a segment nobody
 * has attached then keeps its memory, charged to no process and bounded by
 * no limit, for as long as that process lives. Emptied once the command's
 * last process is gone, the namespace holds nothing worth keeping.
 */
import { FFIType, ptr } from 'bun:ffi';
import { openLibc } from '../util/libc.ts';

// <linux/ipc.h>, <linux/shm.h>, <linux/msg.h>, <linux/sem.h>: the same on every architecture.
const IPC_RMID = 0;
const MSG_INFO = 12;
const MSG_STAT_ANY = 13;
const SHM_INFO = 14;
const SHM_STAT_ANY = 15;
const SEM_INFO = 19;
const SEM_STAT_ANY = 20;

const table = {
  shmctl: { args: [FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  msgctl: { args: [FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  // semctl(id, num, cmd, union semun): the union is a pointer for every command used here.
  semctl: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
} as const;

let c: ReturnType<typeof openLibc<typeof table>> | null = null;

/** Larger than any of the kernel's *_ds and *_info structures on any architecture. */
const scratch = new Uint8Array(512);

/**
 * One kind of object: `info` returns the highest index in use (-1 when none),
 * `statAny` the id at an index (-1 when the slot is free; it needs no
 * permission on the object), `remove` removes one by id.
 */
interface Kind {
  info: () => number;
  statAny: (index: number) => number;
  remove: (id: number) => number;
}

function kinds(): Kind[] {
  const l = (c ??= openLibc(table));
  // The address is taken at each call: JavaScriptCore holds a typed array's address valid only until its next call.
  return [
    { info: () => l.shmctl(0, SHM_INFO, ptr(scratch)), statAny: (i) => l.shmctl(i, SHM_STAT_ANY, ptr(scratch)), remove: (id) => l.shmctl(id, IPC_RMID, null) },
    { info: () => l.msgctl(0, MSG_INFO, ptr(scratch)), statAny: (i) => l.msgctl(i, MSG_STAT_ANY, ptr(scratch)), remove: (id) => l.msgctl(id, IPC_RMID, null) },
    { info: () => l.semctl(0, 0, SEM_INFO, ptr(scratch)), statAny: (i) => l.semctl(i, 0, SEM_STAT_ANY, ptr(scratch)), remove: (id) => l.semctl(id, 0, IPC_RMID, null) },
  ];
}

/**
 * Removes every System V object of this thread's IPC namespace and returns
 * how many it removed. A segment still attached somewhere goes once it is
 * detached; in a command's namespace nothing is attached any more once its
 * processes are gone. Objects it may not remove (another owner, no
 * CAP_SYS_ADMIN) are left.
 */
export function removeSysvObjects(): number {
  let removed = 0;
  for (const kind of kinds()) {
    const highest = kind.info();
    for (let index = 0; index <= highest; index++) {
      const id = kind.statAny(index);
      if (id >= 0 && kind.remove(id) === 0) removed++;
    }
  }
  return removed;
}
