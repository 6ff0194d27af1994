/**
 * Plugin HTTP routes on the operator's HTTP(S) listener: checked when a plugin loads
 * ({@link checkRoutes}), then matched per request ({@link PluginRoutes}).
 *
 * A route serves its path and everything under it, segment-wise; the longest path wins; a
 * path that matches with another method is 405 with `Allow`. Culex's own paths cannot be
 * taken, so a plugin never changes how `/metrics`, `/api/…` or the console answer, and a
 * path no route serves keeps its 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LoadedPlugin, PluginRequest, PluginRoute } from './index.ts'

/** Paths culex serves itself (the console owns `/`). */
const RESERVED = ['/health', '/ready', '/metrics', '/api', '/resources']
const METHOD = /^[A-Z]+$/

function normalize (path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path
}

function methodsOf (r: PluginRoute): string[] | '*' {
  const m = r.method ?? '*'
  if (m === '*') return '*'
  return typeof m === 'string' ? [m] : m
}

/** Why `routes` (as exported by a plugin) is unusable, or undefined when it is fine. */
export function checkRoutes (routes: unknown): string | undefined {
  if (!Array.isArray(routes)) return `expected routes to be a list of { method, path, public, handler }, got ${typeof routes}`
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i] as Partial<PluginRoute> | null
    const at = `routes[${i}]`
    if (r === null || typeof r !== 'object') return `expected ${at} to be { method, path, public, handler }, got ${r === null ? 'null' : typeof r}`
    if (typeof r.path !== 'string' || !r.path.startsWith('/') || /[?#\s]/.test(r.path)) return `expected ${at}.path to be a path starting with /, got ${JSON.stringify(r.path)}`
    const p = normalize(r.path)
    if (p === '') return `expected ${at}.path to be below / (the console's), got ${JSON.stringify(r.path)}`
    const taken = RESERVED.find(x => p === x || p.startsWith(x + '/') || x.startsWith(p + '/'))
    if (taken !== undefined) return `expected ${at}.path to stay clear of culex's own ${taken}, got ${JSON.stringify(r.path)}`
    const m = r.method ?? '*'
    const list = typeof m === 'string' ? [m] : m
    if (!Array.isArray(list) || list.length === 0 || list.some(x => typeof x !== 'string' || (x !== '*' && !METHOD.test(x)))) {
      return `expected ${at}.method to be an upper-case HTTP method (GET, POST, …), a list of them or *, got ${JSON.stringify(m)}`
    }
    if (r.public !== undefined && typeof r.public !== 'boolean') return `expected ${at}.public to be true or false, got ${JSON.stringify(r.public)}`
    if (typeof r.handler !== 'function') return `expected ${at}.handler to be a function (req, res, { pathname, url, identity }), got ${typeof r.handler}`
  }
  return undefined
}

/** A request's route: whether it needs credentials, and how to answer it. */
export interface RouteMatch {
  public: boolean
  /** Answer the request; @throws the handler's error, or a 405 `{ status, allow }` */
  serve: (req: IncomingMessage, res: ServerResponse, request: PluginRequest) => Promise<void>
}

interface Entry {
  path: string
  plugin: string
  route: PluginRoute
  methods: string[] | '*'
}

/** Thrown for a path served with other methods only. */
export class RouteMethodError extends Error {
  readonly allow: string
  constructor (allow: string) {
    super(`method not allowed (allowed: ${allow})`)
    this.name = 'RouteMethodError'
    this.allow = allow
  }
}

/** The routes of every plugin, longest path first. */
export class PluginRoutes {
  readonly #entries: Entry[] = []

  constructor (plugins: readonly LoadedPlugin[]) {
    for (const p of plugins) {
      for (const route of p.hooks.routes ?? []) this.#entries.push({ path: normalize(route.path), plugin: p.name, route, methods: methodsOf(route) })
    }
    this.#entries.sort((a, b) => b.path.length - a.path.length)
  }

  /** Number of routes. */
  get size (): number {
    return this.#entries.length
  }

  /** True when some route serves `pathname` (with any method). */
  has (pathname: string): boolean {
    return this.#find(pathname) !== -1
  }

  #find (pathname: string): number {
    const list = this.#entries
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!.path
      if (pathname === p || (pathname.startsWith(p) && pathname.charCodeAt(p.length) === 0x2F)) return i
    }
    return -1
  }

  /** The route for this request, or undefined when no plugin serves `pathname`. */
  match (pathname: string, method: string): RouteMatch | undefined {
    const first = this.#find(pathname)
    if (first === -1) return undefined
    const list = this.#entries
    const path = list[first]!.path
    const allow: string[] = []
    let allPublic = true
    for (let i = first; i < list.length && list[i]!.path.length === path.length; i++) {
      const e = list[i]!
      if (e.path !== path) continue
      if (e.methods === '*' || e.methods.includes(method)) {
        const { route, plugin } = e
        return {
          public: route.public === true,
          serve: async (req, res, request) => {
            try {
              await route.handler(req, res, request)
            } catch (err) {
              throw new Error(`plugin ${JSON.stringify(plugin)} route ${route.path}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
            }
          }
        }
      }
      if (e.route.public !== true) allPublic = false
      allow.push(...e.methods)
    }
    const allowed = [...new Set(allow)].join(', ')
    return { public: allPublic, serve: () => Promise.reject(new RouteMethodError(allowed)) }
  }
}
