/**
 * What one row of the settings table (settings.ts) holds. A row is the only
 * place a setting is described: the schema (schema.ts), the loader and masking
 * (load.ts), `.env.example` and the docs' tables (docs.ts) are all read off it,
 * so they cannot drift apart.
 */
import type * as v from 'valibot';

/** What a computed default may depend on. */
export interface LoadContext {
  /** The working directory relative paths are resolved against. */
  cwd: string;
  env: Record<string, string | undefined>;
  /** Whether stderr is a terminal. */
  isTTY: boolean;
}

type Schema = v.GenericSchema;

interface Row<P extends string, S extends Schema> {
  /** Dotted path in the Config object and in the JSON config file. */
  path: P;
  /** The canonical environment name (HIDE_*). */
  env: string;
  /** The seeds' environment names, tried in order after `env`. */
  envAliases?: readonly string[];
  /** The seeds' dotted JSON-file paths (appsettings sections), tried after `path`. */
  jsonAliases?: readonly string[];
  /** Coerces and checks the value, whichever source it came from. */
  schema: S;
  /** One line for `.env.example` and the docs' tables. */
  doc: string;
  /** A value `.env.example` shows when the default is unset or computed. */
  example?: string;
  /**
   * Kept out of `check-config`'s output and out of error messages: `true`
   * masks the whole value, 'url-password' only the credentials of a URL
   * (the rest of a Redis URL is worth seeing).
   */
  secret?: true | 'url-password';
  /** Fixes the parsed value at load time, e.g. a path made absolute against the working directory. */
  finish?(value: v.InferOutput<S>, ctx: LoadContext): v.InferOutput<S>;
}

/** A fixed default, shown as is in the docs unless `defaultDoc` says it better. */
interface FixedDefault<S extends Schema> {
  default: v.InferInput<S>;
  defaultDoc?: string;
}

/** A default computed at load time; the docs cannot show a value, so `defaultDoc` is required. */
interface ComputedDefault<S extends Schema> {
  default: (ctx: LoadContext) => v.InferInput<S>;
  defaultDoc: string;
}

export type SettingSpec<P extends string = string, S extends Schema = Schema> = Row<P, S> & (FixedDefault<S> | ComputedDefault<S>);

/**
 * Types one row: the path stays a literal (the Config type is built from the
 * paths) and the default is checked against the schema's input.
 *
 * @example
 * setting({ path: 'port', env: 'HIDE_PORT', schema: int(0, 65535), default: 5000, doc: 'TCP port.' })
 */
export function setting<const P extends string, S extends Schema>(spec: SettingSpec<P, S>): SettingSpec<P, S> {
  return spec;
}

/** The default for this load, computed when it depends on the context. */
export function defaultOf(spec: SettingSpec, ctx: LoadContext): unknown {
  const d: unknown = spec.default;
  return typeof d === 'function' ? (d as (ctx: LoadContext) => unknown)(ctx) : d;
}

/** The variable naming a JSON config file; not a setting itself, since it says where the settings are. */
export const CONFIG_FILE_ENV = 'HIDE_CONFIG';
