/** The few ELF header facts a release check needs: class, byte order, type, machine and the program interpreter. */
import { closeSync, openSync, readSync } from 'node:fs';

export interface ElfFacts {
  class64: boolean;
  littleEndian: boolean;
  /** e_type: 2 executable, 3 shared object / PIE. */
  type: number;
  /** e_machine: 62 x86-64, 183 AArch64. */
  machine: number;
  /** PT_INTERP, the dynamic loader; undefined for a static binary. */
  interpreter: string | undefined;
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  readSync(fd, buf, 0, length, offset);
  return buf;
}

/** Reads a 64-bit little-endian ELF file's header and PT_INTERP; throws on anything else. */
export function readElf(path: string): ElfFacts {
  const fd = openSync(path, 'r');
  try {
    const h = readAt(fd, 0, 64);
    if (h.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path}: not an ELF file`);
    const class64 = h[4] === 2;
    const littleEndian = h[5] === 1;
    if (!class64 || !littleEndian) return { class64, littleEndian, type: 0, machine: 0, interpreter: undefined };
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    let interpreter: string | undefined;
    for (let i = 0; i < phnum; i++) {
      const ph = readAt(fd, phoff + i * phentsize, phentsize);
      if (ph.readUInt32LE(0) !== 3) continue; // PT_INTERP
      const off = Number(ph.readBigUInt64LE(8));
      const size = Number(ph.readBigUInt64LE(32));
      interpreter = readAt(fd, off, size).toString('latin1').replace(/\0+$/, '');
    }
    return { class64, littleEndian, type: h.readUInt16LE(16), machine: h.readUInt16LE(18), interpreter };
  } finally {
    closeSync(fd);
  }
}
