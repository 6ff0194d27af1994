/**
 * `culex:http-auth` — authentication and authorization asked of an HTTP service.
 *
 * - Authentication: POST `authUrl` with JSON `{ clientId, username, password }` (password as
 *   UTF-8 text, null when absent).
 * - Authorization: POST `aclUrl` with JSON `{ clientId, username, topic, access }`, `access`
 *   being `publish` (topic name), `subscribe` (topic filter as sent, `$share/…` included) or
 *   `read` (topic name of a delivery).
 * - A 2xx answer allows, a 4xx answer refuses; both are cached for `cacheTtl` ms. Anything
 *   else — a timeout (`timeout` ms), a network error, a 5xx or 3xx — refuses, is logged at
 *   warn level and is not cached.
 *
 * Reads are decided without waiting, because the engine checks each delivery synchronously:
 * a filter the service allowed at SUBSCRIBE allows reading every topic it matches, for that
 * connection. Once that decision is older than `cacheTtl`, the next delivery still uses it
 * and asks the service again in the background (`subscribe` for that filter); a refusal (or a
 * failure) then stops further deliveries. A delivery that no filter granted on this
 * connection (a persistent session resumed after a reconnect or a restart) is answered from
 * the `read` cache; on a miss it is refused, and the service is asked in the background so the
 * next message on that topic gets its answer.
 */
import { createHash } from 'node:crypto'
import type { Client } from '@culex/broker'
import type { PluginContext, PluginHooks } from './index.ts'
import { PluginOptionError, checkKnown, levelsMatch, optInt, optString, optStringMap, unshare } from './options.ts'

const KNOWN = ['authUrl', 'aclUrl', 'timeout', 'cacheTtl', 'cacheSize', 'headers'] as const

/** Access kinds sent to `aclUrl`. */
export type HttpAccess = 'publish' | 'subscribe' | 'read'

interface Grant {
  filter: string
  /** the unshared filter's levels, for matching */
  match: string[]
  checkedAt: number
  refreshing: boolean
}

/** Small TTL cache with a size bound (oldest entry evicted first). */
class TtlCache {
  readonly #map = new Map<string, { allow: boolean, expires: number }>()
  readonly ttl: number
  readonly size: number
  readonly now: () => number
  constructor (ttl: number, size: number, now: () => number) {
    this.ttl = ttl
    this.size = size
    this.now = now
  }

  get (key: string): boolean | undefined {
    const e = this.#map.get(key)
    if (e === undefined) return undefined
    if (e.expires <= this.now()) { this.#map.delete(key); return undefined }
    return e.allow
  }

  set (key: string, allow: boolean): void {
    if (this.ttl === 0) return
    this.#map.delete(key)
    this.#map.set(key, { allow, expires: this.now() + this.ttl })
    if (this.#map.size > this.size) this.#map.delete(this.#map.keys().next().value as string)
  }
}

function checkUrl (o: Record<string, unknown>, key: string): string | undefined {
  const v = optString(o, key)
  if (v === undefined) return undefined
  let u: URL
  try { u = new URL(v) } catch { throw new PluginOptionError(key, 'an http:// or https:// URL', v) }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new PluginOptionError(key, 'an http:// or https:// URL', v)
  return v
}

/**
 * Build the hooks of the HTTP auth/ACL plugin.
 *
 * @throws Error naming the option when `options` are invalid (culex: CULEX_ERR_PLUGIN)
 */
export default function httpAuth (ctx: Pick<PluginContext, 'logger' | 'options'>, clock: () => number = Date.now): PluginHooks {
  const o = ctx.options
  checkKnown(o, KNOWN, 'culex:http-auth')
  const authUrl = checkUrl(o, 'authUrl')
  const aclUrl = checkUrl(o, 'aclUrl')
  if (authUrl === undefined && aclUrl === undefined) throw new PluginOptionError('authUrl/aclUrl', 'at least one of them', undefined)
  const timeout = optInt(o, 'timeout', 1, 600_000, 2000)
  const cacheTtl = optInt(o, 'cacheTtl', 0, 86_400_000, 60_000)
  const cacheSize = optInt(o, 'cacheSize', 1, 10_000_000, 10_000)
  const headers = { 'content-type': 'application/json', ...optStringMap(o, 'headers') }
  const log = ctx.logger
  const cache = new TtlCache(cacheTtl, cacheSize, clock)
  const inflight = new Map<string, Promise<boolean>>()
  const grants = new WeakMap<Client, Grant[]>()

  /** POST `body`; true on 2xx, false on 4xx (both cached under `key`), false otherwise. */
  const ask = (url: string, key: string, body: Record<string, unknown>): boolean | Promise<boolean> => {
    const hit = cache.get(key)
    if (hit !== undefined) return hit
    const pending = inflight.get(key)
    if (pending !== undefined) return pending
    const p = (async (): Promise<boolean> => {
      try {
        const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeout) })
        await res.body?.cancel().catch(() => {})
        if (res.status >= 200 && res.status < 300) { cache.set(key, true); return true }
        if (res.status >= 400 && res.status < 500) { cache.set(key, false); return false }
        log.warn({ url, status: res.status, ...safe(body) }, 'auth service answered neither 2xx nor 4xx; refusing')
        return false
      } catch (err) {
        const e = err as Error
        log.warn({ url, err: e.name === 'TimeoutError' ? `no answer within ${timeout} ms` : e.message, ...safe(body) }, 'auth service unreachable; refusing')
        return false
      } finally {
        inflight.delete(key)
      }
    })()
    inflight.set(key, p)
    return p
  }

  const aclKey = (c: Client, topic: string, access: HttpAccess): string => `${access}\u0000${c.id}\u0000${c.username ?? ''}\u0000${topic}`
  const acl = (c: Client, topic: string, access: HttpAccess): boolean | Promise<boolean> =>
    ask(aclUrl!, aclKey(c, topic, access), { clientId: c.id, username: c.username ?? null, topic, access })

  const hooks: PluginHooks = { name: 'culex:http-auth' }
  if (authUrl !== undefined) {
    hooks.authenticate = (client, username, password) => {
      const digest = password === undefined ? '-' : createHash('sha256').update(password).digest('base64')
      return ask(authUrl, `auth\u0000${client.id}\u0000${username ?? ''}\u0000${digest}`, {
        clientId: client.id,
        username: username ?? null,
        password: password === undefined ? null : password.toString('utf8')
      })
    }
  }
  if (aclUrl !== undefined) {
    hooks.authorizePublish = (client, packet) => acl(client, packet.topic, 'publish')
    hooks.authorizeSubscribe = async (client, sub) => {
      const ok = await acl(client, sub.topic, 'subscribe')
      if (ok) {
        const list = grants.get(client) ?? []
        const i = list.findIndex(g => g.filter === sub.topic)
        const g: Grant = { filter: sub.topic, match: unshare(sub.topic).split('/'), checkedAt: clock(), refreshing: false }
        if (i === -1) list.push(g)
        else list[i] = g
        grants.set(client, list)
      }
      return ok
    }
    const refresh = (client: Client, g: Grant): void => {
      g.refreshing = true
      const done = (ok: boolean): void => {
        g.refreshing = false
        if (ok) { g.checkedAt = clock(); return }
        const list = grants.get(client)
        const i = list === undefined ? -1 : list.indexOf(g)
        if (i !== -1) list!.splice(i, 1)
        log.info({ clientId: client.id, filter: g.filter }, 'subscription no longer allowed by the auth service; deliveries stop')
      }
      const r = acl(client, g.filter, 'subscribe')
      if (typeof r === 'boolean') done(r)
      else r.then(done, () => done(false)) // ask() never rejects
    }
    hooks.authorizeRead = (client, topic) => {
      const list = grants.get(client)
      if (list !== undefined) {
        for (const g of list) {
          if (!levelsMatch(g.match, topic)) continue
          if (!g.refreshing && clock() - g.checkedAt >= cacheTtl) refresh(client, g)
          return true
        }
      }
      const r = acl(client, topic, 'read')
      if (typeof r === 'boolean') return r
      return false // decided in the background; the next delivery on this topic gets the answer
    }
  }
  return hooks
}

/** Request fields fit for a log line (never the password). */
function safe (body: Record<string, unknown>): Record<string, unknown> {
  const { password: _password, ...rest } = body
  return rest
}
