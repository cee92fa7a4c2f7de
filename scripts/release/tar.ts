/**
 * A one-file .tar.gz, written here rather than by the system's tar: the same
 * bytes on any build machine (owner root, fixed mode and time, no host user or
 * group names), and no dependence on GNU tar's flags. Plain ustar, which every
 * tar reads — GNU, BSD, busybox.
 */

const BLOCK = 512;

function field(header: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length > length) throw new Error(`tar: '${value}' does not fit ${length} bytes`);
  header.set(bytes, offset);
}

const octal = (n: number, digits: number) => `${n.toString(8).padStart(digits, '0')}\0`;

/** The ustar header of one regular file. */
export function tarHeader(name: string, size: number, opts: { mode: number; mtime: number }): Uint8Array {
  const h = new Uint8Array(BLOCK);
  field(h, 0, 100, name);
  field(h, 100, 8, octal(opts.mode, 7));
  field(h, 108, 8, octal(0, 7)); // uid
  field(h, 116, 8, octal(0, 7)); // gid
  field(h, 124, 12, octal(size, 11));
  field(h, 136, 12, octal(opts.mtime, 11));
  field(h, 148, 8, '        '); // checksum, counted as spaces
  field(h, 156, 1, '0'); // regular file
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  field(h, 265, 32, 'root');
  field(h, 297, 32, 'root');
  const sum = h.reduce((a, b) => a + b, 0);
  field(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/**
 * A gzip-compressed tar holding `data` as `name`.
 *
 * @example
 * await Bun.write('hide-linux-x64.tar.gz', tarGz('hide', await Bun.file('hide-linux-x64').bytes(), { mtime: 0 }));
 */
export function tarGz(name: string, data: Uint8Array, opts: { mode?: number; mtime: number }): Uint8Array {
  const padded = Math.ceil(data.length / BLOCK) * BLOCK;
  const tar = new Uint8Array(BLOCK + padded + 2 * BLOCK); // header, data, two zero blocks
  tar.set(tarHeader(name, data.length, { mode: opts.mode ?? 0o755, mtime: opts.mtime }), 0);
  tar.set(data, BLOCK);
  return Bun.gzipSync(tar, { level: 6 });
}
