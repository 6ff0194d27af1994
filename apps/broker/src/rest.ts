/**
 * The REST API in the style of Ponte, under `/resources/<topic>` (the topic URL-encoded as
 * needed; `/` separates levels as in MQTT):
 *
 * - `PUT` publishes the body as the topic's retained message (an empty body clears it);
 * - `POST` publishes the body, not retained;
 * - `GET` (and `HEAD`) answers the retained payload with its content type, 404 when none;
 * - `DELETE` clears the retained message.
 *
 * `GET` with `Accept: text/event-stream` streams the messages matching `<topic>` (a filter:
 * `+` and `#` allowed, as `%2B` and `%23`) as Server-Sent Events, one `message` event per
 * message the caller may read: `{"topic", "qos", "retain", "payload"}` with the payload as
 * UTF-8, or `"payloadBase64"` when it is not text. A reader that falls 1 MiB behind is
 * disconnected. Streams use the engine's in-process `broker.subscribe`.
 *
 * `?qos=0|1|2` sets the QoS of a PUT or POST (default 0); the answer (204) comes once the
 * broker accepted the message (retained stored, offline queues written). The request's
 * Content-Type travels as the MQTT 5 Content Type. Publishing needs the ACL's write right on
 * the topic, reading its read right, exactly as for an MQTT client of the same username.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { PublishProperties, QoS } from '@culex/packet'
import { validateFilter, validateTopic } from '@culex/trie'
import type { HttpIdentity } from './access.ts'
import { HttpError, methodNotAllowed, readBody, type HttpContext } from './http.ts'

const ALLOW = 'GET, HEAD, PUT, POST, DELETE'
/** An event stream whose client reads slower than this many buffered bytes is closed. */
const STREAM_MAX_BUFFERED = 1024 * 1024

function topicOf (ctx: HttpContext, raw: string): string {
  let topic: string
  try {
    topic = decodeURIComponent(raw)
  } catch {
    throw new HttpError(400, 'bad topic: invalid percent-encoding')
  }
  const bad = validateTopic(topic, ctx.broker.topicLimits)
  if (bad !== null) throw new HttpError(400, `bad topic: ${bad.message}`)
  return topic
}

function qosOf (url: URL): QoS {
  const q = url.searchParams.get('qos')
  if (q === null || q === '0') return 0
  if (q === '1') return 1
  if (q === '2') return 2
  throw new HttpError(400, `bad qos: expected 0, 1 or 2, got ${JSON.stringify(q.slice(0, 20))}`)
}

/** Handle `/resources/<raw>`. */
export async function handleResources (ctx: HttpContext, who: HttpIdentity, req: IncomingMessage, res: ServerResponse, raw: string, url: URL): Promise<void> {
  const method = req.method ?? 'GET'
  if (!ALLOW.split(', ').includes(method)) throw methodNotAllowed(ALLOW)
  if (method === 'GET' && (req.headers.accept ?? '').includes('text/event-stream')) {
    stream(ctx, who, req, res, raw)
    return
  }
  const topic = topicOf(ctx, raw)
  if (method === 'GET' || method === 'HEAD') {
    if (!ctx.access.canRead(who, topic)) throw new HttpError(403, `not allowed to read ${topic}`)
    const found = (await ctx.broker.store.matchRetained(topic)).find((m) => m.topic === topic)
    if (found === undefined || found.payload.length === 0) throw new HttpError(404, `no retained message on ${topic}`)
    res.writeHead(200, {
      'content-type': found.properties?.contentType ?? 'application/octet-stream',
      'content-length': found.payload.length,
      'cache-control': 'no-store',
      'x-mqtt-qos': String(found.qos)
    })
    res.end(method === 'HEAD' ? undefined : found.payload)
    return
  }
  if (!ctx.access.canWrite(who, topic)) throw new HttpError(403, `not allowed to publish to ${topic}`)
  const qos = method === 'DELETE' ? 0 : qosOf(url)
  const payload = method === 'DELETE' ? Buffer.alloc(0) : await readBody(req, ctx.maxBody)
  const type = req.headers['content-type']
  const properties: PublishProperties | undefined = type !== undefined && method !== 'DELETE' && payload.length > 0 ? { contentType: type } : undefined
  try {
    await ctx.broker.publish({ topic, payload, qos, retain: method !== 'POST', ...(properties === undefined ? {} : { properties }) })
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'BROKER_ERR_TOPIC_INVALID') throw new HttpError(400, `bad topic: ${(err as Error).message}`)
    if (code === 'BROKER_ERR_CLOSED') throw new HttpError(503, 'the broker is closing')
    throw err
  }
  ctx.logger.debug({ topic, qos, bytes: payload.length, method, username: who.username, http: true }, 'published over HTTP')
  res.writeHead(204, { 'cache-control': 'no-store' })
  res.end()
}

function stream (ctx: HttpContext, who: HttpIdentity, req: IncomingMessage, res: ServerResponse, raw: string): void {
  let filter: string
  try {
    filter = decodeURIComponent(raw)
  } catch {
    throw new HttpError(400, 'bad filter: invalid percent-encoding')
  }
  const bad = validateFilter(filter, ctx.broker.topicLimits)
  if (bad !== null || filter.startsWith('$share/')) throw new HttpError(400, `bad filter: ${bad?.message ?? 'shared subscriptions are for MQTT clients'}`)
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' })
  res.write(': culex\n\n')
  const stop = ctx.broker.subscribe(filter, (m) => {
    // each message is checked against the caller's current rights (the ACL may be reloaded)
    if (!ctx.access.canRead(who, m.topic)) return
    const text = m.payload.toString('utf8')
    const binary = text.includes('\uFFFD')
    const event = { topic: m.topic, qos: m.qos, retain: m.retain, ...(binary ? { payloadBase64: m.payload.toString('base64') } : { payload: text }) }
    res.write(`event: message\ndata: ${JSON.stringify(event)}\n\n`)
    if (res.writableLength > STREAM_MAX_BUFFERED) {
      ctx.logger.info({ filter, username: who.username }, 'event stream closed: the reader fell behind')
      res.destroy()
    }
  })
  req.socket.setTimeout(0)
  res.once('close', stop)
  ctx.logger.debug({ filter, username: who.username }, 'event stream opened')
}
