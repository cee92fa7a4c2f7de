/**
 * Public surface of the kernel sandbox, for the exec module and the CLI:
 * Landlock detection, the launcher (server side and internal-mode entry),
 * default rules and the request/result shapes.
 */
export { landlockAbi, type LandlockRules, type RestrictReport, restrictSelf } from './landlock.ts';
export { LAUNCHER_COMMAND, launcherArgv, runLauncher } from './launcher.ts';
export { SandboxLauncher, type SandboxLauncherOptions } from './launcher-client.ts';
export type { SandboxRunRequest, SandboxRunResult } from './protocol.ts';
export { type ResourceLimits, setResourceLimits } from './rlimits.ts';
export { DEFAULT_DEVICES, DEFAULT_PROC, DEFAULT_READ_ONLY, type SandboxRuleOptions, sandboxRules } from './rules.ts';
