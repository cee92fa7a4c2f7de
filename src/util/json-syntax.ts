/**
 * What JSON.parse said about a settings file, without the text it quotes.
 * Bun names the offending word (`Unexpected identifier "…"`): in a keys or
 * config file that word is most often a key or secret whose quotes were
 * forgotten, and the message goes to the terminal, CI output and — for a
 * keys file reloaded by a running server — the server's log.
 */
export function jsonSyntaxMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/Unexpected identifier/.test(message)) return 'JSON Parse error: a bare word where a value belongs (a string without its quotes?)';
  return message.replace(/"[^"]*"/g, '"…"').slice(0, 200);
}
