/**
 * The operator's HTTP(S) listener (off by default): `/health` (no credentials), `/ready`,
 * `/metrics` (Prometheus), the Ponte-style REST API under `/resources/<topic>` (rest.ts), the
 * JSON admin API under `/api/` (admin-api.ts) and the web console (console.ts).
 *
 * Every route but `/health` needs credentials (see access.ts); a wrong or missing one is 401,
 * a topic or admin action the caller has no right to is 403. Bad input is a 4xx answer,
 * never a crash: each handler's failure is caught here, logged once and answered 500.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Broker } from '@culex/broker'
import type { Logger } from 'pino'
import type { HttpAccess, HttpIdentity } from './access.ts'
import type { BrokerRegistry } from './metrics.ts'
import { handleResources } from './rest.ts'
import { handleAdmin } from './admin-api.ts'
import { RouteMethodError, type PluginRoutes } from './plugins/routes.ts'

/** What the routes need. */
export interface HttpContext {
  broker: Broker
  access: HttpAccess
  metrics: BrokerRegistry
  logger: Logger
  /** Largest request body, bytes. */
  maxBody: number
  /** Serves the console (GET of `/` and its assets); false when it has nothing for the path. */
  console?: ((req: IncomingMessage, res: ServerResponse, pathname: string) => boolean) | undefined
  /** Plugin routes: public ones before the credentials check, the others after it. */
  routes?: PluginRoutes | undefined
}

/** A request answered with an HTTP error status. */
export class HttpError extends Error {
  readonly status: number
  readonly headers: Record<string, string>
  constructor (status: number, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'HttpError'
    this.status = status
    this.headers = headers
  }
}

/** Send a JSON body. */
export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

/** 405 with the methods a route accepts. */
export function methodNotAllowed (allow: string): HttpError {
  return new HttpError(405, `method not allowed (allowed: ${allow})`, { allow })
}

/**
 * Read the request body, at most `max` bytes.
 *
 * @throws HttpError 413 when it is larger (the connection is closed after the answer)
 */
export function readBody (req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > max) {
    return Promise.reject(new HttpError(413, `request body of ${declared} bytes is larger than ${max} bytes (--http-max-body)`, { connection: 'close' }))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > max) {
        req.off('data', onData)
        req.resume()
        reject(new HttpError(413, `request body larger than ${max} bytes (--http-max-body)`, { connection: 'close' }))
        return
      }
      chunks.push(chunk)
    }
    req.on('data', onData)
    req.once('end', () => { if (size <= max) resolve(Buffer.concat(chunks, size)) })
    req.once('error', reject)
    // a client gone before the end of its body: settled, so nothing waits for it
    req.once('close', () => { if (!req.complete) reject(new HttpError(400, 'request body incomplete')) })
  })
}

function routeOf (pathname: string): string {
  if (pathname.startsWith('/resources/')) return 'resources'
  if (pathname.startsWith('/api/')) return 'api'
  if (pathname === '/metrics' || pathname === '/health' || pathname === '/ready') return pathname.slice(1)
  return 'console'
}

async function ready (broker: Broker): Promise<string | null> {
  if (broker.closed) return 'the broker is closing'
  const timeout = new Promise<string>((resolve) => { setTimeout(() => resolve('timed out after 2 s'), 2000).unref() })
  const check = async (what: string, fn: () => Promise<unknown>): Promise<string | null> => {
    try {
      const r = await Promise.race([fn().then(() => null), timeout])
      return r === null ? null : `${what}: ${r}`
    } catch (err) {
      return `${what}: ${(err as Error).message}`
    }
  }
  return await check('store', () => broker.store.countRetained()) ?? await check('bus', () => broker.bus.aliveNodes())
}

/** The request handler of the operator listener. */
export function createOperatorHandler (ctx: HttpContext): (req: IncomingMessage, res: ServerResponse) => void {
  const { access, logger } = ctx
  const handle = async (req: IncomingMessage, res: ServerResponse, pathname: string, url: URL): Promise<void> => {
    const method = req.method ?? 'GET'
    if (pathname === '/health') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET, HEAD')
      sendJson(res, 200, { status: 'ok' })
      return
    }
    const plugin = ctx.routes?.match(pathname, method)
    if (plugin?.public === true) {
      await plugin.serve(req, res, { pathname, url, identity: null })
      return
    }
    const who: HttpIdentity | null = access.identify(req)
    if (who === null) {
      // the console's login page itself is public (it asks for the credentials)
      if (ctx.console !== undefined && method === 'GET' && !pathname.startsWith('/api/') && !pathname.startsWith('/resources/') &&
        pathname !== '/metrics' && pathname !== '/ready' && ctx.console(req, res, pathname)) return
      // a Basic challenge makes browsers prompt: only when no credentials came at all (a
      // script that sent wrong ones, such as the console, handles the 401 itself)
      const given = req.headers.authorization !== undefined
      throw new HttpError(401, given ? 'wrong credentials' : 'credentials required',
        { 'www-authenticate': given ? 'Bearer realm="culex"' : 'Basic realm="culex", charset="UTF-8"' })
    }
    if (plugin !== undefined) {
      await plugin.serve(req, res, { pathname, url, identity: who })
      return
    }
    if (pathname === '/ready') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET, HEAD')
      const problem = await ready(ctx.broker)
      sendJson(res, problem === null ? 200 : 503, problem === null ? { status: 'ready' } : { status: 'not ready', reason: problem })
      return
    }
    if (pathname === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET, HEAD')
      const text = await ctx.metrics.scrape()
      res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType, 'cache-control': 'no-store' })
      res.end(method === 'HEAD' ? undefined : text)
      return
    }
    if (pathname.startsWith('/resources/')) {
      await handleResources(ctx, who, req, res, pathname.slice('/resources/'.length), url)
      return
    }
    if (pathname.startsWith('/api/')) {
      await handleAdmin(ctx, who, req, res, pathname.slice('/api/'.length), url)
      return
    }
    if (ctx.console !== undefined && method === 'GET' && ctx.console(req, res, pathname)) return
    throw new HttpError(404, 'not found')
  }

  return (req, res) => {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://culex')
    } catch {
      url = new URL('http://culex/')
    }
    const pathname = url.pathname
    const route = ctx.routes?.has(pathname) === true ? 'plugin' : routeOf(pathname)
    res.once('finish', () => { ctx.metrics.httpRequests.inc({ route, status: String(res.statusCode) }) })
    handle(req, res, pathname, url).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      if (err instanceof RouteMethodError) err = methodNotAllowed(err.allow)
      if (err instanceof HttpError) {
        if (err.status >= 500) logger.error({ err: err.message, path: pathname }, 'http request failed')
        const body = JSON.stringify({ error: err.message })
        res.writeHead(err.status, { ...err.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
        res.end(body)
        return
      }
      logger.error({ err: (err as Error)?.message ?? String(err), path: pathname, method: req.method }, 'http request failed')
      sendJson(res, 500, { error: 'internal error' })
    })
  }
}
