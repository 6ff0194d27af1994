/**
 * Plugins of the `culex` command: modules named under `plugins:` in the config file that
 * add authentication and authorization hooks next to the password and ACL files, HTTP
 * routes on the operator's HTTP(S) listener ({@link PluginRoute}, see routes.ts) and
 * listeners of their own ({@link PluginListenerStart}: started with the other listeners,
 * closed at shutdown).
 *
 * A plugin module exports an init function (`export default` or `export function init`)
 * that receives a {@link PluginContext} and returns {@link PluginHooks}, or exports the hooks
 * themselves. Modules are loaded and initialized before the engine is created (the engine
 * takes its hooks at construction), so `ctx.broker` is usable from `ready()` and from the
 * hooks, not inside init itself.
 *
 * Composition ({@link composeHooks}): for every kind of hook, the file hooks (password file,
 * ACL) and every plugin's hook must all allow; the first refusal answers. A hook kind is
 * only installed when some source has it, so the engine keeps its hook-free fast paths.
 * A hook that throws or rejects refuses (logged). A plugin's `authorizeRead` is synchronous
 * and is called for every delivery on every path (live, retained, queued, resumed, shared)
 * through the engine's `authorizeForward`, uncached: its answers change with time (token
 * expiry, cache TTLs), unlike the ACL file's, which the engine's `authorizeRead` caches.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { resolve as resolvePath, isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Broker, BrokerHooks, Client, StoredMessage } from '@culex/broker'
import type { Logger } from 'pino'
import { AppError } from '../errors.ts'
import type { HttpIdentity } from '../access.ts'
import { checkRoutes } from './routes.ts'

/** One entry of `plugins:` after parsing. */
export interface PluginSpec {
  /** `culex:http-auth`, `culex:jwt-auth`, a path (`./x.js`, `/abs/x.mjs`) or a package name. */
  module: string
  /** The entry's `options:` mapping, handed to init untouched. */
  options: Record<string, unknown>
  /** Directory relative paths (the module, files named in options) resolve against. */
  baseDir: string
}

/** What a plugin's init function receives. */
export interface PluginContext {
  /** The engine; throws if read before the engine exists (i.e. inside init itself). */
  readonly broker: Broker
  /** A child logger named after the plugin. */
  readonly logger: Logger
  /** The `options:` of this plugin's entry. */
  readonly options: Record<string, unknown>
  /** Resolve a path from the options against the config's base directory. */
  resolvePath: (path: string) => string
}

/** MQTT 5 reason codes a hook may answer with (3.x gets the nearest return code). */
export type { AuthResult } from '@culex/broker'

/** The hooks a plugin may provide. All optional, sync or async unless said otherwise. */
export interface PluginHooks {
  /** Name used in logs (default: the module specifier). */
  name?: string
  /** Before authentication, for every CONNECT. Same contract as the engine's `preConnect`. */
  preConnect?: BrokerHooks['preConnect']
  /** Check credentials; `false` → 0x86 / return code 4; `{ reasonCode }` to choose. */
  authenticate?: BrokerHooks['authenticate']
  /** May the client publish this packet? `false` → 0x87; a number is the reason code. */
  authorizePublish?: BrokerHooks['authorizePublish']
  /** May the client subscribe? `false` → 0x87/0x80; 0–2 caps the QoS; ≥ 0x80 is the SUBACK code. */
  authorizeSubscribe?: BrokerHooks['authorizeSubscribe']
  /** Synchronous, per delivery: may `client` receive a message on `topic`? */
  authorizeRead?: (client: Client, topic: string) => boolean
  /** Called once the engine exists, before the listeners open. */
  ready?: () => void | Promise<void>
  /** Called when culex stops, after the engine closed. */
  close?: () => void | Promise<void>
  /** HTTP routes served on the operator's HTTP(S) listener (`--http-port` / `--https-port`). */
  routes?: PluginRoute[]
  /** Listeners of the plugin's own, started after culex's listeners and closed at shutdown. */
  listeners?: PluginListenerStart[]
}

/** What a plugin route's handler receives besides the request and the response. */
export interface PluginRequest {
  /** The decoded path, e.g. `/hooks/github/push`. */
  pathname: string
  /** The whole request URL (query in `url.searchParams`). */
  url: URL
  /** Who sent the credentials; null on a public route. */
  identity: HttpIdentity | null
}

/**
 * An HTTP route of a plugin. It serves `path` and everything under it, segment-wise
 * (`/hooks` serves `/hooks` and `/hooks/x`, not `/hooksy`); the longest path wins. Paths of
 * culex's own routes (`/health`, `/ready`, `/metrics`, `/api/…`, `/resources/…`, `/`) are
 * refused at load time.
 */
export interface PluginRoute {
  /** `GET`, `POST`, … a list of them, or `*` for any method. Default `*`. */
  method?: string | string[]
  /** Path prefix, starting with `/`. */
  path: string
  /** Serve without credentials. Default false: the same credentials as `/metrics` and `/api/`. */
  public?: boolean
  /** Answer the request (throw or reject: 500, logged with the plugin's name). */
  handler: (req: IncomingMessage, res: ServerResponse, request: PluginRequest) => void | Promise<void>
}

/** A running plugin listener: culex calls `close()` at shutdown, before the engine closes. */
export interface PluginListener {
  close: () => void | Promise<void>
}

/**
 * Starts one plugin listener once the engine exists (e.g. a TCP server feeding
 * `broker.publish`). A throw or rejection stops culex with `CULEX_ERR_PLUGIN` naming the plugin.
 */
export type PluginListenerStart = (broker: Broker) => PluginListener | Promise<PluginListener>

/** The signature of a plugin module's init function. */
export type PluginInit = (ctx: PluginContext) => PluginHooks | undefined | Promise<PluginHooks | undefined>

/** A loaded plugin. */
export interface LoadedPlugin {
  name: string
  hooks: PluginHooks
}

/** The plugins of one server, and the engine reference their contexts hand out. */
export interface LoadedPlugins {
  plugins: LoadedPlugin[]
  /** Give the plugins the engine, then run every `ready()`. */
  start: (broker: Broker) => Promise<void>
  /** Start every plugin's listeners, in order. @throws AppError CULEX_ERR_PLUGIN (those started are closed) */
  listen: (broker: Broker) => Promise<void>
  /** Close the listeners `listen` started (idempotent); errors are logged. */
  closeListeners: () => Promise<void>
  /** Close the listeners, then run every `close()`; errors are logged. */
  close: () => Promise<void>
}

const BUILTIN: Readonly<Record<string, () => Promise<Record<string, unknown>>>> = {
  'culex:http-auth': async () => await import('./http-auth.ts') as Record<string, unknown>,
  'culex:jwt-auth': async () => await import('./jwt-auth.ts') as Record<string, unknown>
}

const HOOK_NAMES = ['preConnect', 'authenticate', 'authorizePublish', 'authorizeSubscribe', 'authorizeRead', 'ready', 'close'] as const
const EXTENSIONS = ['routes', 'listeners'] as const

function pluginError (spec: PluginSpec, message: string, cause?: unknown): AppError {
  return new AppError('CULEX_ERR_PLUGIN', `plugin ${JSON.stringify(spec.module)}: ${message}`, { option: 'plugins', cause })
}

async function importModule (spec: PluginSpec): Promise<Record<string, unknown>> {
  const builtin = BUILTIN[spec.module]
  if (builtin !== undefined) return await builtin()
  if (spec.module.startsWith('culex:')) {
    throw pluginError(spec, `expected a built-in plugin (${Object.keys(BUILTIN).join(', ')}), got an unknown name`)
  }
  const isPath = spec.module.startsWith('.') || isAbsolute(spec.module)
  const target = isPath ? pathToFileURL(resolvePath(spec.baseDir, spec.module)).href : spec.module
  try {
    return await import(target) as Record<string, unknown>
  } catch (err) {
    throw pluginError(spec, `expected a loadable ES module or package, got ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim(), err)
  }
}

function checkHooks (spec: PluginSpec, hooks: Record<string, unknown>): PluginHooks {
  const out: Record<string, unknown> = {}
  for (const k of HOOK_NAMES) {
    const v = hooks[k]
    if (v === undefined) continue
    if (typeof v !== 'function') throw pluginError(spec, `expected ${k} to be a function, got ${typeof v}`)
    out[k] = v
  }
  if (typeof hooks.name === 'string') out.name = hooks.name
  if (hooks.routes !== undefined) {
    const bad = checkRoutes(hooks.routes)
    if (bad !== undefined) throw pluginError(spec, bad)
    out.routes = hooks.routes
  }
  if (hooks.listeners !== undefined) {
    const l = hooks.listeners
    if (!Array.isArray(l) || l.some(f => typeof f !== 'function')) throw pluginError(spec, `expected listeners to be a list of functions (broker) => { close () }, got ${JSON.stringify(l) ?? typeof l}`)
    out.listeners = l
  }
  return out as PluginHooks
}

/**
 * Import and initialize the plugins of `specs`, in order.
 *
 * @throws AppError CULEX_ERR_PLUGIN (module not found, bad export, init failed or refused its options)
 */
export async function loadPlugins (specs: readonly PluginSpec[], logger: Logger): Promise<LoadedPlugins> {
  let broker: Broker | undefined
  const plugins: LoadedPlugin[] = []
  for (const spec of specs) {
    const mod = await importModule(spec)
    const init = typeof mod.default === 'function' ? mod.default as PluginInit : typeof mod.init === 'function' ? mod.init as PluginInit : undefined
    const log = logger.child({ plugin: spec.module })
    const ctx: PluginContext = {
      get broker (): Broker {
        if (broker === undefined) throw new Error('the engine does not exist yet during init; use ctx.broker in ready() or in the hooks')
        return broker
      },
      logger: log,
      options: spec.options,
      resolvePath: (p: string) => resolvePath(spec.baseDir, p)
    }
    let hooks: PluginHooks
    if (init !== undefined) {
      let got: PluginHooks | undefined
      try {
        got = await init(ctx)
      } catch (err) {
        throw pluginError(spec, `init failed: ${(err as Error).message}`, err)
      }
      hooks = checkHooks(spec, (got ?? mod) as Record<string, unknown>)
    } else {
      hooks = checkHooks(spec, mod)
    }
    if (!HOOK_NAMES.some(k => hooks[k] !== undefined) && !EXTENSIONS.some(k => hooks[k] !== undefined)) throw pluginError(spec, `expected an init function or at least one hook (${[...HOOK_NAMES, ...EXTENSIONS].join(', ')}), got none`)
    plugins.push({ name: hooks.name ?? spec.module, hooks })
  }
  let running: Array<{ plugin: string, listener: PluginListener }> = []
  const closeListeners = async (): Promise<void> => {
    const list = running.reverse()
    running = []
    for (const r of list) {
      try {
        await r.listener.close()
      } catch (err) {
        logger.error({ err, plugin: r.plugin }, 'plugin listener close() failed')
      }
    }
  }
  return {
    plugins,
    listen: async (b: Broker) => {
      for (const p of plugins) {
        const starts = p.hooks.listeners ?? []
        for (let i = 0; i < starts.length; i++) {
          let l: PluginListener
          try {
            l = await starts[i]!(b)
            if (l === null || typeof l !== 'object' || typeof l.close !== 'function') throw new Error(`expected it to return { close () }, got ${l === null ? 'null' : typeof l}`)
          } catch (err) {
            await closeListeners()
            throw new AppError('CULEX_ERR_PLUGIN', `plugin ${JSON.stringify(p.name)}: listener ${i + 1} failed to start: ${(err as Error)?.message ?? String(err)}`, { option: 'plugins', cause: err })
          }
          running.push({ plugin: p.name, listener: l })
        }
      }
    },
    closeListeners,
    start: async (b: Broker) => {
      broker = b
      for (const p of plugins) {
        try {
          await p.hooks.ready?.()
        } catch (err) {
          throw new AppError('CULEX_ERR_PLUGIN', `plugin ${JSON.stringify(p.name)}: ready() failed: ${(err as Error).message}`, { option: 'plugins', cause: err })
        }
      }
    },
    close: async () => {
      await closeListeners()
      for (const p of plugins) {
        try {
          await p.hooks.close?.()
        } catch (err) {
          logger.error({ err, plugin: p.name }, 'plugin close() failed')
        }
      }
    }
  }
}

type EngineHooks = Pick<BrokerHooks, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeRead' | 'authorizeReadFilter' | 'authorizeForward'>
type AuthAnswer = Awaited<ReturnType<NonNullable<BrokerHooks['authenticate']>>>
type AuthzAnswer = boolean | number

const NOT_AUTHORIZED = 0x87

/** A refusal of `authenticate` / `preConnect`, or undefined when allowed. */
function authRefusal (r: AuthAnswer): AuthAnswer | undefined {
  return r === true ? undefined : r
}

/**
 * Chain hooks of one kind: every one must allow, in order; the first refusal answers.
 * Synchronous answers stay synchronous until a hook returns a promise.
 */
function chainAuth<A extends unknown[]> (hooks: Array<(...a: A) => AuthAnswer | Promise<AuthAnswer>>, names: string[], kind: string, logger: Logger): (...a: A) => AuthAnswer | Promise<AuthAnswer> {
  const failed = (i: number, err: unknown): AuthAnswer => {
    logger.error({ err, plugin: names[i], hook: kind }, `${kind} hook failed; refusing`)
    return { reasonCode: NOT_AUTHORIZED, reasonString: 'authorization backend error' }
  }
  return (...a: A) => {
    const step = async (i: number, first: Promise<AuthAnswer>): Promise<AuthAnswer> => {
      let r: AuthAnswer
      try { r = await first } catch (err) { return failed(i, err) }
      for (;;) {
        const no = authRefusal(r)
        if (no !== undefined) return no
        if (++i >= hooks.length) return true
        try { r = await hooks[i]!(...a) } catch (err) { return failed(i, err) }
      }
    }
    for (let i = 0; i < hooks.length; i++) {
      let r: AuthAnswer | Promise<AuthAnswer>
      try { r = hooks[i]!(...a) } catch (err) { return failed(i, err) }
      if (r instanceof Promise) return step(i, r)
      const no = authRefusal(r)
      if (no !== undefined) return no
    }
    return true
  }
}

/** Combine two `authorizeSubscribe` answers: a refusal wins; otherwise the lower QoS cap. */
function meetSubscribe (a: AuthzAnswer, b: AuthzAnswer): AuthzAnswer {
  if (a === false || (typeof a === 'number' && a >= 0x80)) return a
  if (b === false || (typeof b === 'number' && b >= 0x80)) return b
  if (a === true) return b
  if (b === true) return a
  return Math.min(a, b)
}

function chainAuthz<A extends unknown[]> (hooks: Array<(...a: A) => AuthzAnswer | Promise<AuthzAnswer>>, names: string[], kind: 'authorizePublish' | 'authorizeSubscribe', logger: Logger): (...a: A) => AuthzAnswer | Promise<AuthzAnswer> {
  const subscribe = kind === 'authorizeSubscribe'
  const failed = (i: number, err: unknown): AuthzAnswer => {
    logger.error({ err, plugin: names[i], hook: kind }, `${kind} hook failed; refusing`)
    return false
  }
  // publish: anything but `true` refuses; subscribe: refusals win, QoS caps combine
  const refuses = (r: AuthzAnswer): boolean => subscribe ? (r === false || (typeof r === 'number' && r >= 0x80)) : r !== true
  return async (...a: A) => {
    let acc: AuthzAnswer = true
    for (let i = 0; i < hooks.length; i++) {
      let r: AuthzAnswer
      try { r = await hooks[i]!(...a) } catch (err) { r = failed(i, err) }
      if (refuses(r)) return r
      acc = subscribe ? meetSubscribe(acc, r) : true
    }
    return acc
  }
}

/**
 * The engine hooks of the password/ACL files and the plugins together. Only kinds that
 * some source provides are set.
 */
export function composeHooks (fileHooks: EngineHooks, plugins: readonly LoadedPlugin[], logger: Logger): EngineHooks {
  if (plugins.length === 0) return fileHooks
  const out: EngineHooks = {}
  const collect = <K extends 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>(k: K): { hooks: Array<NonNullable<EngineHooks[K]>>, names: string[] } => {
    const hooks: Array<NonNullable<EngineHooks[K]>> = []
    const names: string[] = []
    const own = fileHooks[k]
    if (own !== undefined) { hooks.push(own as NonNullable<EngineHooks[K]>); names.push('files') }
    for (const p of plugins) {
      const h = p.hooks[k]
      if (h !== undefined) { hooks.push(h as NonNullable<EngineHooks[K]>); names.push(p.name) }
    }
    return { hooks, names }
  }
  const pre = collect('preConnect')
  if (pre.hooks.length > 0) out.preConnect = chainAuth(pre.hooks, pre.names, 'preConnect', logger)
  const auth = collect('authenticate')
  if (auth.hooks.length > 0) out.authenticate = chainAuth(auth.hooks, auth.names, 'authenticate', logger)
  const pub = collect('authorizePublish')
  if (pub.hooks.length > 0) out.authorizePublish = pub.names.length === 1 && pub.names[0] === 'files' ? pub.hooks[0]! : chainAuthz(pub.hooks, pub.names, 'authorizePublish', logger)
  const sub = collect('authorizeSubscribe')
  if (sub.hooks.length > 0) out.authorizeSubscribe = sub.names.length === 1 && sub.names[0] === 'files' ? sub.hooks[0]! : chainAuthz(sub.hooks, sub.names, 'authorizeSubscribe', logger)

  // the files' read rights: the engine's authorizeRead, cached per (session, topic)
  if (fileHooks.authorizeRead !== undefined) out.authorizeRead = fileHooks.authorizeRead
  if (fileHooks.authorizeReadFilter !== undefined) out.authorizeReadFilter = fileHooks.authorizeReadFilter
  // plugins' read rights change with time: asked per delivery, inside authorizeForward
  const readers = plugins.filter(p => p.hooks.authorizeRead !== undefined)
  const forward = fileHooks.authorizeForward
  if (readers.length === 0) {
    if (forward !== undefined) out.authorizeForward = forward
  } else {
    const checks = readers.map(p => p.hooks.authorizeRead!)
    const names = readers.map(p => p.name)
    out.authorizeForward = (client: Client, message: StoredMessage): StoredMessage | null => {
      const m = forward === undefined ? message : forward(client, message)
      if (m === null) return null
      for (let i = 0; i < checks.length; i++) {
        let ok: boolean
        try {
          ok = checks[i]!(client, m.topic)
        } catch (err) {
          logger.error({ err, plugin: names[i], hook: 'authorizeRead' }, 'authorizeRead hook failed; refusing')
          ok = false
        }
        if (ok !== true) return null
      }
      return m
    }
  }
  return out
}
