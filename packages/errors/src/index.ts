/**
 * The one error factory of every Culex package (private: its source is bundled into each
 * package's `dist` by tsup and its types are inlined in each `.d.ts`, so no published package
 * depends on it).
 *
 * One registry shape: `code → { reasonCode? }`. One brand: every Culex error carries
 * `Symbol.for('culex.error')` (on its class prototype) whose value is the class name, so
 * `err instanceof BrokerError` holds for an error made by another installed copy of
 * `@culex/broker` too: the check is "same brand name and a code of this registry", never the
 * identity of the class. Code that catches should still prefer `err.code`.
 *
 * Messages are written at the throw site (what was expected, what arrived, where); codes and
 * reason codes come from the registry.
 */

/** The brand every Culex error carries; its value is the error's class name (e.g. `'BrokerError'`). */
export const ERROR_BRAND: unique symbol = Symbol.for('culex.error') as never

/** What the registry knows about one code. */
export interface ErrorSpec {
  /** The MQTT 5 reason code the failure maps to, when one does (the default of `err.reasonCode`). */
  readonly reasonCode?: number | undefined
}

/** The one registry shape: every code of a package → its {@link ErrorSpec}. */
export type ErrorRegistry<C extends string> = { readonly [K in C]: ErrorSpec }

/** Options every Culex error constructor accepts. */
export interface CulexErrorOptions {
  /** Overrides the registry's reason code for this one error. */
  reasonCode?: number | undefined
  /** The error this one wraps, kept as `err.cause`. */
  cause?: unknown
}

/** The instance shape shared by every Culex error. */
export interface CulexError<C extends string> extends Error {
  /** Stable code (public API: deprecated, never renamed). */
  readonly code: C
  /** MQTT 5 reason code, when the failure maps to one. */
  readonly reasonCode: number | undefined
}

/** The class {@link defineErrors} returns; a package extends it (or uses it as is). */
export interface CulexErrorClass<C extends string> {
  new (code: C, message: string, opts?: CulexErrorOptions): CulexError<C>
  readonly prototype: CulexError<C>
  /** The registry the class was made from. */
  readonly registry: ErrorRegistry<C>
  /** True for an error of this class from any installed copy of its package. */
  [Symbol.hasInstance] (value: unknown): boolean
}

/**
 * Makes the error class of one package.
 *
 * @param name - the class name, also the brand value (`'BrokerError'`); unique per package
 * @param registry - every code of the package with what is known about it
 * @returns a class `new (code, message, { reasonCode?, cause? })` whose `reasonCode` defaults to
 *   the registry's, with a cross-copy `instanceof`
 * @example
 * ```ts
 * export class TrieError extends defineErrors('TrieError', { TRIE_ERR_EMPTY: { reasonCode: 0x90 } }) {}
 * new TrieError('TRIE_ERR_EMPTY', 'expected a topic, got ""').reasonCode // 0x90
 * ```
 */
export function defineErrors<const C extends string> (name: string, registry: ErrorRegistry<C>): CulexErrorClass<C> {
  const Base = class extends Error {
    readonly code: C
    readonly reasonCode: number | undefined
    static readonly registry = registry

    constructor (code: C, message: string, opts: CulexErrorOptions = {}) {
      super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
      this.name = name
      this.code = code
      this.reasonCode = opts.reasonCode ?? registry[code]?.reasonCode
    }

    static override [Symbol.hasInstance] (value: unknown): boolean {
      return isCulexError(value, name) && Object.hasOwn(registry, value.code)
    }
  }
  Object.defineProperty(Base.prototype, ERROR_BRAND, { value: name })
  Object.defineProperty(Base, 'name', { value: name })
  return Base
}

/**
 * True when `value` carries the Culex error brand (of class `name`, when given), from any
 * package and any installed copy of it.
 *
 * @param value - anything caught or returned
 * @param name - the class name to require, e.g. `'BrokerError'`
 */
export function isCulexError (value: unknown, name?: string): value is CulexError<string> {
  if (typeof value !== 'object' || value === null) return false
  const brand = (value as { [ERROR_BRAND]?: unknown })[ERROR_BRAND]
  return typeof brand === 'string' && (name === undefined || brand === name) &&
    typeof (value as { code?: unknown }).code === 'string'
}

/**
 * A registry whose specs come from a `code → reasonCode` table (the shape of
 * `PacketErrorCodes` and `BrokerErrorCodes`), or `code → anything else` (no reason code).
 *
 * @param table - the package's public code table
 * @example
 * ```ts
 * registryFrom({ A_ERR_X: 0x81, A_ERR_Y: undefined }) // { A_ERR_X: { reasonCode: 0x81 }, A_ERR_Y: {} }
 * ```
 */
export function registryFrom<const C extends string> (table: { readonly [K in C]: unknown }): ErrorRegistry<C> {
  const out: Record<string, ErrorSpec> = {}
  for (const [code, value] of Object.entries(table)) {
    out[code] = typeof value === 'number' ? { reasonCode: value } : {}
  }
  return out as ErrorRegistry<C>
}

/**
 * A registry (without reason codes) from a list of codes, e.g. the values of a
 * `{ EMPTY: 'TRIE_ERR_EMPTY', … }` table.
 *
 * @param codes - every code of the package
 */
export function registryOf<const C extends string> (codes: readonly C[]): ErrorRegistry<C> {
  const out: Record<string, ErrorSpec> = {}
  for (const code of codes) out[code] = {}
  return out as ErrorRegistry<C>
}
