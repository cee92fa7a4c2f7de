/**
 * Which long-running processes a keys-file reload leaves out of their
 * client's reach, and which running calls it takes from their client. A
 * process is bound to the client that started it, and only process_read and
 * process_kill see or stop it; once the client may call neither (disabled,
 * removed, or its `tools` or `readOnly` changed), nobody can, and it would run
 * on unwatched until its idle limit. Those are killed, with the reason this
 * module gives. A call is bound to the key it was made with (revokedCallReason).
 */
import type { Caller } from '../exec/process-caller.ts';
import type { KeyStore } from '../security/keys.ts';
import { reachesProcesses } from '../tools/process.ts';
import { type ToolDefinition, toolPermitted } from '../tools/types.ts';

export const CLIENT_REVOKED = 'its client was disabled or removed from the keys file';
export const KEY_REPLACED = 'the key it was made with no longer signs in its client (replaced, disabled or removed in the keys file)';
export const PROCESS_TOOLS_REVOKED = 'its client may no longer call process_read or process_kill (its tools or readOnly in the keys file)';

/**
 * Why `caller`'s processes are out of its reach under the keys now loaded, or
 * null when it can still read or kill them.
 */
export function unreachableReason(keys: Pick<KeyStore, 'enabledClient'>, caller: Caller): string | null {
  // Started without an API key (authentication off, an OAuth token): the keys file never governed it.
  if (caller.apiKeyHash === null) return null;
  const client = keys.enabledClient(caller.clientId);
  if (client === null) return CLIENT_REVOKED;
  return reachesProcesses({ allowedTools: client.tools, readOnly: client.readOnly }) ? null : PROCESS_TOOLS_REVOKED;
}

/**
 * Why a call still running with `apiKeyHash`'s key is one its client may no
 * longer make under the keys now loaded (disabled, removed, or the tool taken
 * away by `tools` or `readOnly`), or null when it may: such a call is stopped,
 * as its client's processes are, rather than run on to its timeout.
 */
export function revokedCallReason(keys: Pick<KeyStore, 'enabledClient' | 'clientOfKey'>, clientId: string, apiKeyHash: string | null, tool: ToolDefinition | null): string | null {
  // Made without an API key (authentication off, an OAuth token): the keys file never governed it.
  if (apiKeyHash === null) return null;
  if (keys.enabledClient(clientId) === null) return CLIENT_REVOKED;
  // Unlike a process, which its client sees and stops with any of its keys, a call runs unseen: one made with a key
  // replaced in place (the answer to a leaked key) stops with the key.
  const client = keys.clientOfKey(apiKeyHash);
  if (client === null || client.clientId !== clientId) return KEY_REPLACED;
  const grant = { allowedTools: client.tools, readOnly: client.readOnly };
  if (tool !== null && !toolPermitted(tool, grant)) {
    return `its client may no longer call ${tool.name} (its tools or readOnly in the keys file)`;
  }
  // A start still on its way would make a process its client can neither read nor stop, as none is started for it now.
  if (tool?.name === 'process_start' && !reachesProcesses(grant)) return PROCESS_TOOLS_REVOKED;
  return null;
}
