/**
 * Starting and stopping the broker process: store, engine, hooks, and the TCP, TLS,
 * WebSocket and secure WebSocket listeners (the WebSocket HTTP servers also serve static
 * files and the client bundle).
 *
 * The engine never opens sockets; each listener hands its streams to `broker.handle` with
 * the transport and peer address. Close order: stop accepting, `broker.close()` (5.0
 * clients get DISCONNECT 0x8B), close the store, then drop whatever sockets remain.
 */
import net from 'node:net'
import tls from 'node:tls'
import http from 'node:http'
import https from 'node:https'
import { readFileSync } from 'node:fs'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { Broker, type Bus, type Store } from '@culex/broker'
import type { Logger } from 'pino'
import { AppError } from './errors.ts'
import type { Config } from './config.ts'
import { buildAuthHooks } from './auth.ts'
import { defaultNodeId, openStore, openRedisBus } from './stores.ts'
import { createHttpHandler, findClientBundle } from './static.ts'
import { proxyProtocol } from './proxy-protocol.ts'
import { loadPlugins, composeHooks } from './plugins/index.ts'

/** One bound listener. */
export interface BoundAddress {
  /** `mqtt`, `mqtts`, `ws`, `wss`. */
  protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss'
  host: string
  port: number
  /** e.g. `mqtt://127.0.0.1:1883`, `ws://[::1]:8080/mqtt`. */
  url: string
}

/** A running broker process. */
export interface RunningServer {
  broker: Broker
  addresses: BoundAddress[]
  /** Stop everything; resolves when sockets, engine and store are closed. Idempotent. */
  close: () => Promise<void>
}

type Closable = net.Server

const IPV6_OPTIONAL = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EPROTONOSUPPORT'])

function listen (server: Closable, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { server.off('listening', onListening); reject(err) }
    const onListening = (): void => {
      server.off('error', onError)
      resolve((server.address() as net.AddressInfo).port)
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ port, host, exclusive: true })
  })
}

function readPem (file: string, option: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new AppError('CULEX_ERR_LISTEN', `option --${option}: expected a readable PEM file, got ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { option, cause: err })
  }
}

/**
 * Start the broker described by `config`.
 *
 * @throws AppError CULEX_ERR_PASSWORD_FILE, CULEX_ERR_ACL_FILE, CULEX_ERR_STORE, CULEX_ERR_LISTEN
 */
export async function startServer (config: Config, logger: Logger): Promise<RunningServer> {
  const { hooks: fileHooks, users, aclRules } = buildAuthHooks(config)
  const plugins = await loadPlugins(config.plugins, logger)
  const hooks = composeHooks(fileHooks, plugins.plugins, logger)
  let tlsOptions: tls.TlsOptions | undefined
  if (config.cert !== undefined && config.key !== undefined) {
    tlsOptions = {
      cert: readPem(config.cert, 'cert'),
      key: readPem(config.key, 'key'),
      ...(config.ca === undefined ? {} : { ca: readPem(config.ca, 'ca') }),
      requestCert: config.requireClientCert,
      rejectUnauthorized: config.requireClientCert
    }
    try {
      tls.createSecureContext(tlsOptions)
    } catch (err) {
      throw new AppError('CULEX_ERR_LISTEN', `options --cert/--key/--ca: expected a matching PEM certificate and key, got ${(err as Error).message}`, { option: 'cert', cause: err })
    }
  }

  const opened = await openStore(config.store, { ...(config.limits.maxQueuedMessages === undefined ? {} : { maxQueuedMessages: config.limits.maxQueuedMessages }) })
  const store: Store | undefined = opened.store
  let nodeId: string | undefined
  try {
    nodeId = config.nodeId ?? defaultNodeId(config.store, config.cluster)
  } catch (err) {
    await store?.close().catch(() => {})
    throw err
  }
  let bus: Bus | undefined
  if (config.cluster && config.store.kind === 'redis') {
    try {
      bus = await openRedisBus(config.store.url, nodeId)
    } catch (err) {
      await store?.close().catch(() => {})
      throw err
    }
  }
  let broker: Broker
  try {
    broker = new Broker({
      ...(nodeId === undefined ? {} : { id: nodeId }),
      ...(store === undefined ? {} : { store }),
      ...(bus === undefined ? {} : { bus }),
      limits: config.limits,
      sysInterval: config.sysInterval,
      persistInflight: config.persistInflight,
      logger: logger.child({ component: 'engine' }),
      ...hooks
    })
  } catch (err) {
    await store?.close().catch(() => {})
    await bus?.close().catch(() => {})
    throw new AppError('CULEX_ERR_INVALID_OPTION', `engine rejected the options: ${(err as Error).message}`, { cause: err })
  }
  try {
    await plugins.start(broker)
  } catch (err) {
    await broker.close().catch(() => {})
    await plugins.close()
    await store?.close().catch(() => {})
    await bus?.close().catch(() => {})
    throw err
  }
  broker.on('error', (err) => logger.error({ err }, 'broker error'))
  broker.on('clientError', (client, err) => logger.debug({ clientId: client.id, code: err.code, reasonCode: err.reasonCode, msg2: err.message }, 'client error'))
  broker.on('client', (client) => logger.debug({ clientId: client.id, username: client.username, transport: client.info.transport, remote: client.info.remoteAddress }, 'client connected'))
  broker.on('clientDisconnect', (client, reason) => logger.debug({ clientId: client.id, reason }, 'client disconnected'))

  const servers: Closable[] = []
  const wsServers: WebSocketServer[] = []
  const sockets = new Set<Duplex>()
  const addresses: BoundAddress[] = []
  const track = (s: Duplex): void => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  }
  const bindAll = async (protocol: BoundAddress['protocol'], port: number, make: () => Closable): Promise<void> => {
    let actual = port
    for (let i = 0; i < config.hosts.length; i++) {
      const host = config.hosts[i] as string
      const server = make()
      try {
        actual = await listen(server, actual, host)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? ''
        // ::1 is best effort for the default loopback pair: IPv6 may be off, and a free port
        // picked for 127.0.0.1 (port 0) may happen to be taken on ::1.
        if (config.defaultHosts && host === '::1' && (IPV6_OPTIONAL.has(code) || (port === 0 && code === 'EADDRINUSE'))) {
          logger.debug({ host, code }, `${protocol}: IPv6 loopback not bound; listening on 127.0.0.1 only`)
          continue
        }
        throw new AppError('CULEX_ERR_LISTEN', `listener ${protocol}: expected to bind ${host.includes(':') ? `[${host}]` : host}:${actual}, got ${code || (err as Error).message}`, { cause: err })
      }
      servers.push(server)
      const h = host.includes(':') ? `[${host}]` : host
      addresses.push({ protocol, host, port: actual, url: `${protocol}://${h}:${actual}${protocol === 'ws' || protocol === 'wss' ? '/mqtt' : ''}` })
    }
  }

  const httpHandler = createHttpHandler(config.httpStatic, findClientBundle())
  const maxPayload = (config.limits.maxPacketSize ?? broker.limits.maxPacketSize) + 8
  const attachWs = (server: http.Server | https.Server, transport: 'ws' | 'wss'): http.Server | https.Server => {
    const wss = new WebSocketServer({
      server,
      path: '/mqtt',
      perMessageDeflate: false,
      maxPayload,
      // MQTT over WebSocket negotiates the "mqtt" subprotocol (3.1 clients: "mqttv3.1").
      handleProtocols: (protocols) => protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false
    })
    wss.on('error', (err) => logger.warn({ err }, 'websocket server error'))
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws)
      stream.on('error', () => {})
      track(stream)
      const peer = req.socket
      broker.handle(stream, {
        transport,
        ...(peer.remoteAddress === undefined ? {} : { remoteAddress: peer.remoteAddress }),
        ...(peer.remotePort === undefined ? {} : { remotePort: peer.remotePort }),
        ...(transport === 'wss' ? { tlsCertificate: (peer as tls.TLSSocket).getPeerCertificate?.() } : {})
      })
    })
    wsServers.push(wss)
    return server
  }

  // --proxy-protocol: the TCP and TLS handlers get the address from the PROXY header.
  const proxy = proxyProtocol({ enabled: config.proxyProtocol, timeout: config.limits.connectTimeout ?? 30_000, logger })
  try {
    await bindAll('mqtt', config.port, () => net.createServer({ noDelay: true }, proxy.tcp((socket, peer) => {
      track(socket)
      socket.on('error', () => {})
      broker.handle(socket, { transport: 'tcp', ...peer })
    })))
    if (config.tlsPort !== undefined && tlsOptions !== undefined) {
      const opts = tlsOptions
      await bindAll('mqtts', config.tlsPort, () => {
        const server = proxy.tlsServer(opts, (socket, peer) => {
          track(socket)
          socket.on('error', () => {})
          socket.setNoDelay(true)
          broker.handle(socket, { transport: 'tls', ...peer, tlsCertificate: socket.getPeerCertificate() })
        })
        server.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'))
        return server
      })
    }
    if (config.wsPort !== undefined) {
      await bindAll('ws', config.wsPort, () => attachWs(http.createServer(httpHandler), 'ws'))
    }
    if (config.wssPort !== undefined && tlsOptions !== undefined) {
      const opts = tlsOptions
      await bindAll('wss', config.wssPort, () => attachWs(https.createServer(opts, httpHandler), 'wss'))
    }
  } catch (err) {
    for (const s of servers) s.close()
    await broker.close().catch(() => {})
    await plugins.close()
    await store?.close().catch(() => {})
    await bus?.close().catch(() => {})
    throw err
  }
  for (const s of servers) {
    s.on('connection', (socket: net.Socket) => { track(socket) })
  }

  logger.info({ store: opened.description, cluster: bus !== undefined, users, aclRules, allowAnonymous: config.allowAnonymous, nodeId: broker.id, plugins: plugins.plugins.map(p => p.name) }, 'culex broker started')
  for (const a of addresses) logger.info({ listener: a.protocol, host: a.host, port: a.port, url: a.url }, `listening on ${a.url}`)
  // One machine-readable line with every bound address (tests and scripts parse it).
  logger.info({ ready: true, addresses: addresses.map(a => ({ protocol: a.protocol, host: a.host, port: a.port })) }, 'ready')

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const stopped = servers.map(s => new Promise<void>(resolve => s.close(() => resolve())))
      for (const w of wsServers) w.close()
      await broker.close().catch((err: unknown) => logger.error({ err }, 'error while closing the engine'))
      await plugins.close()
      await store?.close().catch((err: unknown) => logger.error({ err }, 'error while closing the store'))
      await bus?.close().catch((err: unknown) => logger.error({ err }, 'error while closing the cluster bus'))
      // Let the DISCONNECTs flush; sockets still open after a grace period (e.g. in a TLS
      // handshake, idle HTTP keep-alive) are dropped.
      const open = [...sockets].filter(s => !s.destroyed)
      let grace: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all(open.map(s => new Promise(resolve => s.once('close', resolve)))),
        new Promise(resolve => { grace = setTimeout(resolve, 1000) })
      ])
      clearTimeout(grace)
      for (const s of sockets) s.destroy()
      await Promise.all(stopped)
    })()
    return closing
  }
  return { broker, addresses, close }
}
