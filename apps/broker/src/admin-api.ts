/**
 * The JSON admin API under `/api/` (admin rights needed, see access.ts):
 *
 * - `GET /api/overview`: `broker.metrics()`, the retained count, node id;
 * - `GET /api/clients?search=&connected=true|false&limit=`: sessions (with queue and inflight);
 * - `GET /api/clients/<clientId>`: one session with its subscriptions;
 * - `POST /api/clients/<clientId>/disconnect`: close its connection (5.0: DISCONNECT 0x98);
 * - `GET /api/retained?filter=<filter>&limit=`: retained topics under a filter (default `#`),
 *   those the caller may read.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { describeSession, listSessions } from '@culex/broker'
import { validateFilter } from '@culex/trie'
import type { HttpIdentity } from './access.ts'
import { HttpError, methodNotAllowed, sendJson, type HttpContext } from './http.ts'

function limitOf (url: URL, fallback: number): number {
  const raw = url.searchParams.get('limit')
  if (raw === null) return fallback
  if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1) throw new HttpError(400, `bad limit: expected an integer from 1 to 9999999, got ${JSON.stringify(raw.slice(0, 20))}`)
  return Number(raw)
}

function decode (raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new HttpError(400, 'bad client id: invalid percent-encoding')
  }
}

/** Handle `/api/<rest>`. */
export async function handleAdmin (ctx: HttpContext, who: HttpIdentity, req: IncomingMessage, res: ServerResponse, rest: string, url: URL): Promise<void> {
  if (!ctx.access.isAdmin(who)) throw new HttpError(403, 'the admin API needs the --http-token or write access to $CULEX/admin in the ACL file')
  const method = req.method ?? 'GET'
  const broker = ctx.broker
  if (rest === 'overview') {
    if (method !== 'GET') throw methodNotAllowed('GET')
    sendJson(res, 200, { nodeId: broker.id, retained: await broker.store.countRetained(), metrics: broker.metrics() })
    return
  }
  if (rest === 'clients') {
    if (method !== 'GET') throw methodNotAllowed('GET')
    const connected = url.searchParams.get('connected')
    if (connected !== null && connected !== 'true' && connected !== 'false') throw new HttpError(400, 'bad connected: expected true or false')
    const search = url.searchParams.get('search')
    sendJson(res, 200, listSessions(broker, {
      limit: limitOf(url, 1000),
      ...(search === null ? {} : { search }),
      ...(connected === null ? {} : { connected: connected === 'true' })
    }))
    return
  }
  if (rest.startsWith('clients/')) {
    const tail = rest.slice('clients/'.length)
    if (tail.endsWith('/disconnect')) {
      if (method !== 'POST') throw methodNotAllowed('POST')
      const clientId = decode(tail.slice(0, -'/disconnect'.length))
      const client = broker.client(clientId)
      if (client === undefined) throw new HttpError(404, `no connected client ${JSON.stringify(clientId)}`)
      client.close(0x98, 'disconnected by an administrator')
      ctx.logger.info({ clientId, by: who.username ?? 'token' }, 'client disconnected by an administrator')
      sendJson(res, 200, { disconnected: clientId })
      return
    }
    if (method !== 'GET') throw methodNotAllowed('GET')
    const clientId = decode(tail)
    const info = describeSession(broker, clientId)
    if (info === undefined) throw new HttpError(404, `no session ${JSON.stringify(clientId)}`)
    sendJson(res, 200, info)
    return
  }
  if (rest === 'retained') {
    if (method !== 'GET') throw methodNotAllowed('GET')
    const filter = url.searchParams.get('filter') ?? '#'
    const bad = validateFilter(filter, broker.topicLimits)
    if (bad !== null) throw new HttpError(400, `bad filter: ${bad.message}`)
    const limit = limitOf(url, 1000)
    const all = await broker.store.matchRetained(filter)
    const visible = all.filter((m) => m.payload.length > 0 && ctx.access.canRead(who, m.topic))
    visible.sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0)
    sendJson(res, 200, {
      total: visible.length,
      retained: visible.slice(0, limit).map((m) => ({
        topic: m.topic,
        qos: m.qos,
        bytes: m.payload.length,
        contentType: m.properties?.contentType ?? null,
        // a short UTF-8 preview for the console; binary payloads show as base64
        preview: preview(m.payload)
      }))
    })
    return
  }
  throw new HttpError(404, 'not found')
}

function preview (payload: Buffer): { utf8: string } | { base64: string } {
  const head = payload.subarray(0, 256)
  const text = head.toString('utf8')
  return text.includes('\uFFFD') ? { base64: head.toString('base64') } : { utf8: text }
}
