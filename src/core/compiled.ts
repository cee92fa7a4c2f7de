/** True inside a `bun build --compile` executable, whose modules live in Bun's embedded file system (/$bunfs). */
export function isCompiled(): boolean {
  return Bun.main.startsWith('/$bunfs/') || Bun.main.startsWith('B:\\~BUN\\');
}
