/**
 * `echo '{…}' | hide stdio` answers and exits when its input closes, with the
 * sandbox on too (its launchers must not keep the process alive, nor start
 * after the session ended).
 */
import { expect, test } from 'bun:test';
import { join } from 'node:path';
import { landlockAbi } from '../../src/sandbox/landlock.ts';
import { tempDir } from '../helpers/temp.ts';

const MAIN = join(import.meta.dir, '..', '..', 'src', 'main.ts');
const CALL = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shell_execute","arguments":{"command":"echo","arguments":["hi"]}}}';

test.each(landlockAbi() > 0 ? ['auto', 'required', 'off'] : ['off'])('HIDE_SANDBOX=%s: stdio answers and exits 0 when stdin closes', async (mode) => {
  const ws = tempDir('hide-stdio-exit-');
  for (const input of ['{"jsonrpc":"2.0","id":1,"method":"ping"}\n', `${CALL}\n`]) {
    await using proc = Bun.spawn([process.execPath, MAIN, 'stdio', '--workspace', ws], {
      env: { PATH: '/usr/bin:/bin', HIDE_SANDBOX: mode, HIDE_AUDIT_LOG_FILE: join(ws, '..', `${mode}-audit.jsonl`), HIDE_LOG_LEVEL: 'warn' },
      stdin: new Blob([input]),
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [out, err, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
    expect({ code, answered: out.includes('"id":1'), warnings: err }).toEqual({ code: 0, answered: true, warnings: '' });
  }
});
