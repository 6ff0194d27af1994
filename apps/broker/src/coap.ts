/**
 * The CoAP gateway (RFC 7252, with Observe from RFC 7641), in the style of Ponte: each MQTT
 * topic is the resource `coap://host/r/<topic>` (one Uri-Path segment per topic level,
 * percent-decoded).
 *
 * - `GET` answers the retained message (2.05 Content, with a Content-Format when the
 *   message's MQTT 5 Content Type has a CoAP number), 4.04 when there is none;
 * - `GET` with Observe 0 registers an observation: the first notification is the retained
 *   message (an empty payload when there is none), then each message published to the topic
 *   is one notification. Deregistration (Observe 1 with the same token, or a RST answering a
 *   notification, or a client that stops acknowledging confirmable notifications) removes
 *   the in-process subscription;
 * - `PUT` publishes the payload as the topic's retained message (empty clears it), `POST`
 *   publishes it not retained; `?qos=0|1|2` sets the QoS (default 0). The answer (2.04
 *   Changed) comes once `broker.publish()` resolved. The request's Content-Format travels as
 *   the MQTT 5 Content Type.
 *
 * Topics only, no filters: a notification carries no topic, so `+` and `#` are refused (4.00).
 *
 * CoAP has no credentials: every request is one identity, `--coap-username` or else an
 * anonymous client, with that identity's rights in the ACL file (the same {@link Acl} the
 * MQTT hooks use, swapped on SIGHUP). Writes need the write right, reads and each
 * notification the read right. Without `--coap-username`, when anonymous clients are not
 * allowed, every request gets 4.01.
 */
import dgram from 'node:dgram'
import { isIPv6 } from 'node:net'
import { isUtf8 } from 'node:buffer'
import { createServer, type IncomingMessage, type OutgoingMessage, type ObserveWriteStream, type Server } from 'coap'
import type { Broker } from '@culex/broker'
import type { PublishProperties, QoS } from '@culex/packet'
import { validateTopic } from '@culex/trie'
import type { Logger } from 'pino'
import type { Acl, AclSubject } from './acl.ts'
import { AppError } from './errors.ts'

/** Most observations the gateway keeps at once; beyond it a registration gets 5.03. */
export const MAX_OBSERVATIONS = 10_000

/**
 * Largest payload of one notification. A larger message is notified by its first block
 * (Block2 0/more/1024, RFC 7959 section 2.6); the client GETs the rest block-wise.
 */
const BLOCK = 1024
/** Block2 option: num 0, more, size 1024 (szx 6). */
const FIRST_OF_MORE = Buffer.of(0x0e)

/** What the gateway needs from the app. */
export interface CoapOptions {
  port: number
  hosts: string[]
  /** True when `hosts` is the default loopback pair (::1 is then best effort). */
  defaultHosts: boolean
  /** The identity of CoAP requests; undefined: anonymous. */
  username: string | undefined
  allowAnonymous: boolean
  /** The current ACL (undefined: no ACL file, everything allowed). */
  acl: () => Acl | undefined
  /** Largest payload accepted (topic + payload must fit an MQTT packet). */
  maxPacketSize: number
}

/** A running gateway. */
export interface CoapGateway {
  addresses: Array<{ host: string, port: number }>
  /** Observations currently registered. */
  readonly observations: number
  /** Ends every observation and closes the sockets. */
  close: () => Promise<void>
}

/** A CoAP error answer: code and a diagnostic payload. */
class CoapError extends Error {
  readonly coapCode: string
  constructor (coapCode: string, message: string) {
    super(message)
    this.coapCode = coapCode
  }
}

interface Observation {
  res: ObserveWriteStream
  stop: () => void
}

const IPV6_OPTIONAL = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EPROTONOSUPPORT'])

function bind (port: number, host: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false })
    const onError = (err: Error): void => { sock.close(); reject(err) }
    sock.once('error', onError)
    sock.bind({ port, address: host, exclusive: true }, () => {
      sock.off('error', onError)
      resolve(sock)
    })
  })
}

/** The Uri-Path segments of `req`, raw. */
function pathOf (req: IncomingMessage): Buffer[] {
  const out: Buffer[] = []
  for (const o of req._packet.options ?? []) {
    if (o.name === 'Uri-Path') out.push(Buffer.isBuffer(o.value) ? o.value : Buffer.from(String(o.value)))
  }
  return out
}

/** The Uri-Query options of `req` as name → value. */
function queryOf (req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>()
  for (const o of req._packet.options ?? []) {
    if (o.name !== 'Uri-Query') continue
    const text = Buffer.isBuffer(o.value) ? o.value.toString('utf8') : String(o.value)
    const eq = text.indexOf('=')
    out.set(eq === -1 ? text : text.slice(0, eq), eq === -1 ? '' : text.slice(eq + 1))
  }
  return out
}

function qosOf (query: Map<string, string>): QoS {
  const q = query.get('qos')
  if (q === undefined || q === '0') return 0
  if (q === '1') return 1
  if (q === '2') return 2
  throw new CoapError('4.00', `bad qos: expected 0, 1 or 2, got ${JSON.stringify(q.slice(0, 20))}`)
}

/** Set (or remove) the Content-Format of `res` from an MQTT 5 Content Type. */
function setFormat (res: OutgoingMessage | ObserveWriteStream, contentType: string | undefined): void {
  res._packet.options = (res._packet.options ?? []).filter(o => o.name !== 'Content-Format')
  if (contentType === undefined) return
  try {
    res.setOption('Content-Format', contentType)
  } catch {
    // no CoAP number for this media type: the answer has no Content-Format
  }
}

/**
 * Bind the gateway on every host and serve `broker`.
 *
 * @throws AppError CULEX_ERR_LISTEN
 */
export async function startCoap (broker: Broker, opts: CoapOptions, logger: Logger): Promise<CoapGateway> {
  const observations = new Map<string, Observation>()
  const subject: AclSubject | null = opts.username !== undefined
    ? { clientId: '', username: opts.username }
    : opts.allowAnonymous ? { clientId: '', username: undefined } : null
  const canWrite = (who: AclSubject, topic: string): boolean => opts.acl()?.canWrite(who, topic) ?? true
  const canRead = (who: AclSubject, topic: string): boolean => opts.acl()?.canRead(who, topic) ?? true

  const retainedOf = async (topic: string): Promise<{ payload: Buffer, contentType: string | undefined } | undefined> => {
    const found = (await broker.store.matchRetained(topic)).find((m) => m.topic === topic)
    if (found === undefined || found.payload.length === 0) return undefined
    return { payload: found.payload, contentType: found.properties?.contentType }
  }

  const keyOf = (req: IncomingMessage): string => `${req.rsinfo.address}|${req.rsinfo.port}|${req._packet.token?.toString('hex') ?? ''}`

  const deregister = (key: string): void => {
    const o = observations.get(key)
    if (o === undefined) return
    observations.delete(key)
    o.stop()
    if (!o.res.writableEnded) o.res.end()
  }

  const observe = async (req: IncomingMessage, res: ObserveWriteStream, who: AclSubject, topic: string): Promise<void> => {
    if (!canRead(who, topic)) throw new CoapError('4.03', `not allowed to read ${topic}`)
    const key = keyOf(req)
    deregister(key) // a registration with the same token replaces the earlier one
    if (observations.size >= MAX_OBSERVATIONS) throw new CoapError('5.03', 'too many observations')
    let live = false
    const notify = (payload: Buffer, contentType: string | undefined): void => {
      if (res.writableEnded) return
      setFormat(res, contentType)
      res._packet.options = (res._packet.options ?? []).filter(o => o.name !== 'Block2')
      if (payload.length > BLOCK) {
        res.setOption('Block2', FIRST_OF_MORE)
        payload = payload.subarray(0, BLOCK)
      }
      res.write(payload)
    }
    const stop = broker.subscribe(topic, (m) => {
      // each notification is checked against the current ACL (it may be reloaded)
      if (!canRead(who, m.topic)) return
      live = true
      notify(m.payload, m.properties?.contentType)
    }, { qos: 0 })
    const o: Observation = { res, stop }
    observations.set(key, o)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      stop()
      if (observations.get(key) === o) observations.delete(key)
      logger.debug({ topic, observations: observations.size }, 'coap: observation ended')
    }
    // RST to a notification, an unacknowledged confirmable notification, or our own end()
    res.once('finish', release)
    res.on('error', (err) => {
      logger.debug({ err: err.message, topic }, 'coap: observation ended by an error')
      release()
    })
    logger.debug({ topic, peer: `${req.rsinfo.address}:${req.rsinfo.port}`, observations: observations.size }, 'coap: observation registered')
    const current = await retainedOf(topic)
    // a live message that arrived meanwhile is newer than the retained one
    if (!live) notify(current?.payload ?? Buffer.alloc(0), current?.contentType)
  }

  const handle = async (req: IncomingMessage, res: OutgoingMessage | ObserveWriteStream): Promise<void> => {
    const path = pathOf(req)
    if (path.length === 0 || path[0]!.toString('utf8') !== 'r') throw new CoapError('4.04', 'resources are under /r/<topic>')
    const levels: string[] = []
    for (const seg of path.slice(1)) {
      if (!isUtf8(seg)) throw new CoapError('4.00', 'bad topic: invalid UTF-8')
      try {
        levels.push(decodeURIComponent(seg.toString('utf8')))
      } catch {
        throw new CoapError('4.00', 'bad topic: invalid percent-encoding')
      }
    }
    const topic = levels.join('/')
    const bad = validateTopic(topic, broker.topicLimits)
    if (bad !== null) throw new CoapError('4.00', `bad topic: ${bad.message}`)
    const method = req.method
    if (method !== 'GET' && method !== 'PUT' && method !== 'POST') throw new CoapError('4.05', 'allowed: GET, PUT, POST')
    if (subject === null) throw new CoapError('4.01', 'anonymous clients are not allowed (set --coap-username)')
    if (method === 'GET') {
      const obs = req.headers.Observe
      if (obs === 0) {
        await observe(req, res as ObserveWriteStream, subject, topic)
        return
      }
      if (obs === 1) deregister(keyOf(req))
      if (!canRead(subject, topic)) throw new CoapError('4.03', `not allowed to read ${topic}`)
      const current = await retainedOf(topic)
      if (current === undefined) throw new CoapError('4.04', `no retained message on ${topic}`)
      res.statusCode = '2.05'
      setFormat(res, current.contentType)
      res.end(current.payload)
      return
    }
    if (!canWrite(subject, topic)) throw new CoapError('4.03', `not allowed to publish to ${topic}`)
    const qos = qosOf(queryOf(req))
    const payload = req.payload
    // the message must fit an MQTT PUBLISH: fixed header, topic, properties
    if (payload.length + Buffer.byteLength(topic) + 64 > opts.maxPacketSize) throw new CoapError('4.13', `payload too large: ${payload.length} bytes`)
    const format = req.headers['Content-Format']
    const properties: PublishProperties | undefined = typeof format === 'string' && payload.length > 0 ? { contentType: format } : undefined
    try {
      await broker.publish({ topic, payload, qos, retain: method === 'PUT', ...(properties === undefined ? {} : { properties }) })
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'BROKER_ERR_TOPIC_INVALID') throw new CoapError('4.00', `bad topic: ${(err as Error).message}`)
      if (code === 'BROKER_ERR_CLOSED') throw new CoapError('5.03', 'the broker is closing')
      throw err
    }
    logger.debug({ topic, qos, bytes: payload.length, method, username: subject.username, coap: true }, 'published over CoAP')
    res.statusCode = '2.04'
    res.end()
  }

  const onRequest = (req: IncomingMessage, res: OutgoingMessage | ObserveWriteStream): void => {
    res.on('error', () => {})
    handle(req, res).catch((err: unknown) => {
      const known = err instanceof CoapError
      if (!known) logger.error({ err }, 'coap: request failed')
      const code = known ? err.coapCode : '5.00'
      if (res.writableEnded) return
      res.statusCode = code
      if (req.headers.Observe === 0) {
        // an error ends an observation: sent without the Observe option (and without payload)
        res.end()
      } else {
        res.end(Buffer.from(known ? err.message : 'internal error'))
      }
    })
  }

  const servers: Array<{ server: Server, sock: dgram.Socket }> = []
  const addresses: Array<{ host: string, port: number }> = []
  let actual = opts.port
  try {
    for (const host of opts.hosts) {
      let sock: dgram.Socket
      try {
        sock = await bind(actual, host)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? ''
        if (opts.defaultHosts && host === '::1' && (IPV6_OPTIONAL.has(code) || (opts.port === 0 && code === 'EADDRINUSE'))) {
          logger.debug({ host, code }, 'coap: IPv6 loopback not bound; listening on 127.0.0.1 only')
          continue
        }
        throw new AppError('CULEX_ERR_LISTEN', `listener coap: expected to bind ${host.includes(':') ? `[${host}]` : host}:${actual} (UDP), got ${code || (err as Error).message}`, { cause: err })
      }
      actual = sock.address().port
      const server = createServer({ type: isIPv6(host) ? 'udp6' : 'udp4' }, onRequest)
      server.on('error', (err: Error) => logger.warn({ err: err.message }, 'coap: socket error'))
      server.listen(sock)
      servers.push({ server, sock })
      addresses.push({ host, port: actual })
    }
  } catch (err) {
    for (const s of servers) { s.server.close(); s.sock.close() }
    throw err
  }

  return {
    addresses,
    get observations () { return observations.size },
    close: async () => {
      for (const key of [...observations.keys()]) deregister(key)
      await Promise.all(servers.map(({ server, sock }) => new Promise<void>(resolve => {
        server.close()
        sock.close(() => resolve())
      })))
      servers.length = 0
    }
  }
}
