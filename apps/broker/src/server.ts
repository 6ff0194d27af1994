/**
 * Starting and stopping the broker process: store, engine, hooks, and the TCP, TLS,
 * WebSocket and secure WebSocket listeners (the WebSocket HTTP servers also serve static
 * files and the client bundle), and the operator's HTTP(S) listener (metrics, health, REST,
 * admin API, console). `reload()` (SIGHUP) re-reads the password, ACL and TLS files.
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
import { HttpAccess } from './access.ts'
import { logClientEvents } from './client-log.ts'
import { reloadableHooks } from './reload.ts'
import { proxyProtocol } from './proxy-protocol.ts'
import { loadPlugins, composeHooks } from './plugins/index.ts'
import { PluginRoutes } from './plugins/routes.ts'
import { startBridges, bridgesReady, readBridgeTls, type Bridge } from './bridge.ts'
import { bridgeAccess, guardBridgeSessions } from './bridge-local.ts'
import type { CoapGateway } from './coap.ts'

/** One bound listener. */
export interface BoundAddress {
  /** `mqtt`, `mqtts`, `ws`, `wss`, the operator's `http`, `https`, and `coap` (UDP). */
  protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss' | 'http' | 'https' | 'coap'
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
  /**
   * Re-read the password file, ACL file and TLS certificate/key (SIGHUP). Connections stay;
   * each file that fails to load keeps its old version, and the failure is logged and returned.
   */
  reload: () => ReloadResult
}

/** What a reload did. */
export interface ReloadResult {
  /** `auth` (password and ACL files), `tls`. */
  reloaded: string[]
  failed: Array<{ what: string, error: string }>
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
  let auth = buildAuthHooks(config)
  // bridges' TLS files are checked before anything opens
  for (const b of config.bridges) readBridgeTls(b)
  const { users, aclRules } = auth
  const plugins = await loadPlugins(config.plugins, logger)
  // the files' hooks (reloadable on SIGHUP), then every plugin's: all must allow
  // bridges' local sessions pass every hook; their client ids are refused to anyone else
  const bridgeIds = bridgeAccess(config.bridges)
  const hooks = guardBridgeSessions(composeHooks(reloadableHooks(auth.hooks, () => auth.hooks), plugins.plugins, logger), bridgeIds)
  const httpOn = config.http.port !== undefined || config.http.httpsPort !== undefined
  const access = httpOn ? new HttpAccess({ passwordFile: config.passwordFile, aclFile: config.aclFile }, config.http.token) : undefined
  const readTls = (): tls.TlsOptions => {
    const opts: tls.TlsOptions = {
      cert: readPem(config.cert as string, 'cert'),
      key: readPem(config.key as string, 'key'),
      ...(config.ca === undefined ? {} : { ca: readPem(config.ca, 'ca') }),
      requestCert: config.requireClientCert,
      rejectUnauthorized: config.requireClientCert
    }
    try {
      tls.createSecureContext(opts)
    } catch (err) {
      throw new AppError('CULEX_ERR_LISTEN', `options --cert/--key/--ca: expected a matching PEM certificate and key, got ${(err as Error).message}`, { option: 'cert', cause: err })
    }
    return opts
  }
  let tlsOptions: tls.TlsOptions | undefined
  if (config.cert !== undefined && config.key !== undefined) tlsOptions = readTls()
  // servers that take the new certificate on reload
  const secureServers: Array<Pick<tls.Server, 'setSecureContext'>> = []

  const opened = await openStore(config.store, { ...(config.limits.maxQueuedMessages === undefined ? {} : { maxQueuedMessages: config.limits.maxQueuedMessages }) })
  const store: Store | undefined = opened.store
  let nodeId: string | undefined
  try {
    nodeId = config.nodeId ?? defaultNodeId(config.store, config.cluster, config.nodeIdDir)
  } catch (err) {
    await store?.close().catch(() => {})
    throw err
  }
  let bus: Bus | undefined
  if (config.cluster && config.store.kind === 'redis') {
    try {
      bus = await openRedisBus(config.store.url, nodeId, undefined, { deadAfterMs: config.clusterDeadAfter, logger: logger.child({ component: 'bus' }) })
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
      queuePolicy: config.queuePolicy,
      // the latency histogram of /metrics: timed only when that listener is on
      storeMetrics: config.http.port !== undefined || config.http.httpsPort !== undefined,
      logger: logger.child({ component: 'engine' }),
      ...hooks
    })
  } catch (err) {
    await store?.close().catch(() => {})
    await bus?.close().catch(() => {})
    throw new AppError('CULEX_ERR_INVALID_OPTION', `engine rejected the options: ${(err as Error).message}`, { cause: err })
  }
  // store and bus failures are logged once, by the engine (its logger is a child of ours)
  logClientEvents(broker, logger)
  let bridges: Bridge[] = []
  try {
    await plugins.start(broker)
    bridges = startBridges(config.bridges, broker, logger, bridgeIds)
    // the bridges' local sessions queue for their remotes before any client may publish
    await bridgesReady(bridges)
  } catch (err) {
    await Promise.all(bridges.map(b => b.close()))
    await broker.close().catch(() => {})
    await plugins.close()
    await store?.close().catch(() => {})
    await bus?.close().catch(() => {})
    throw err
  }

  const servers: Closable[] = []
  let coap: CoapGateway | undefined
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
      addresses.push({ protocol, host, port: actual, url: `${protocol}://${h}:${actual}${protocol === 'ws' || protocol === 'wss' ? (config.wsPath ?? '/mqtt') : ''}` })
    }
  }
  const bindHttp = async (protocol: 'http' | 'https', port: number, make: () => Closable): Promise<void> => {
    let actual = port
    for (const host of config.http.hosts) {
      const server = make()
      try {
        actual = await listen(server, actual, host)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? ''
        if (config.http.defaultHosts && host === '::1' && (IPV6_OPTIONAL.has(code) || (port === 0 && code === 'EADDRINUSE'))) continue
        throw new AppError('CULEX_ERR_LISTEN', `listener ${protocol}: expected to bind ${host.includes(':') ? `[${host}]` : host}:${actual}, got ${code || (err as Error).message}`, { cause: err })
      }
      servers.push(server)
      const h = host.includes(':') ? `[${host}]` : host
      addresses.push({ protocol, host, port: actual, url: `${protocol}://${h}:${actual}/` })
    }
  }

  const httpHandler = createHttpHandler(config.httpStatic, findClientBundle())
  const maxPayload = (config.limits.maxPacketSize ?? broker.limits.maxPacketSize) + 8
  const attachWs = (server: http.Server | https.Server, transport: 'ws' | 'wss'): http.Server | https.Server => {
    const wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload,
      // MQTT over WebSocket negotiates the "mqtt" subprotocol (3.1 clients: "mqttv3.1").
      handleProtocols: (protocols) => protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false
    })
    wss.on('error', (err) => logger.warn({ err }, 'websocket server error'))
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => {})
      const path = (req.url ?? '/').split('?')[0]
      if (config.wsPath !== undefined && path !== config.wsPath) {
        // a wrong path is told so, not closed silently
        const body = `MQTT over WebSocket is served on ${config.wsPath}\n`
        socket.end(`HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
        return
      }
      wss.handleUpgrade(req, socket, head, (ws) => { wss.emit('connection', ws, req) })
    })
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
        secureServers.push(server)
        return server
      })
    }
    if (config.wsPort !== undefined) {
      await bindAll('ws', config.wsPort, () => attachWs(http.createServer(httpHandler), 'ws'))
    }
    if (config.wssPort !== undefined && tlsOptions !== undefined) {
      const opts = tlsOptions
      await bindAll('wss', config.wssPort, () => {
        const server = https.createServer(opts, httpHandler)
        secureServers.push(server)
        return attachWs(server, 'wss')
      })
    }
    if (access !== undefined) {
      // loaded only when the listener is on: a broker without it does not pay for prom-client
      const [{ createOperatorHandler }, { createBrokerRegistry }, { createConsoleHandler }] =
        await Promise.all([import('./http.ts'), import('./metrics.ts'), import('./console.ts')])
      if (!access.canLogIn) logger.warn('operator HTTP listener: no --password-file and no --http-token, so every route but /health answers 401')
      const operator = createOperatorHandler({
        broker,
        access,
        metrics: createBrokerRegistry(broker, { bridges: () => bridges.map(b => b.stats()) }),
        logger: logger.child({ component: 'http' }),
        maxBody: config.http.maxBody,
        console: createConsoleHandler(),
        routes: new PluginRoutes(plugins.plugins)
      })
      if (config.http.port !== undefined) await bindHttp('http', config.http.port, () => http.createServer(operator))
      if (config.http.httpsPort !== undefined && tlsOptions !== undefined) {
        const opts = tlsOptions
        await bindHttp('https', config.http.httpsPort, () => {
          const server = https.createServer(opts, operator)
          secureServers.push(server)
          return server
        })
      }
    }
    if (config.coap !== undefined) {
      const { startCoap } = await import('./coap.ts')
      coap = await startCoap(broker, { ...config.coap, allowAnonymous: config.allowAnonymous, acl: () => auth.acl, maxPacketSize: broker.limits.maxPacketSize }, logger.child({ component: 'coap' }))
      for (const a of coap.addresses) addresses.push({ protocol: 'coap', ...a, url: `coap://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/r/` })
    }
    if (access === undefined && plugins.plugins.some(p => p.hooks.routes !== undefined && p.hooks.routes.length > 0)) {
      logger.warn({ plugins: plugins.plugins.filter(p => p.hooks.routes !== undefined).map(p => p.name) }, 'plugin HTTP routes are not served: the operator HTTP listener is off (--http-port / --https-port)')
    }
    await plugins.listen(broker)
  } catch (err) {
    for (const s of servers) s.close()
    await coap?.close()
    await Promise.all(bridges.map(b => b.close()))
    await broker.close().catch(() => {})
    await plugins.close()
    await store?.close().catch(() => {})
    await bus?.close().catch(() => {})
    throw err
  }
  for (const s of servers) {
    s.on('connection', (socket: net.Socket) => { track(socket) })
  }

  logger.info({ store: opened.description, cluster: bus !== undefined, users, aclRules, allowAnonymous: config.allowAnonymous, nodeId: broker.id, plugins: plugins.plugins.map(p => p.name), bridges: bridges.map(b => b.spec.name) }, 'culex broker started')
  for (const a of addresses) logger.info({ listener: a.protocol, host: a.host, port: a.port, url: a.url }, `listening on ${a.url}`)
  // One machine-readable line with every bound address (tests and scripts parse it).
  logger.info({ ready: true, addresses: addresses.map(a => ({ protocol: a.protocol, host: a.host, port: a.port })) }, 'ready')

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const stopped = servers.map(s => new Promise<void>(resolve => s.close(() => resolve())))
      await coap?.close()
      await plugins.closeListeners()
      for (const w of wsServers) w.close()
      await Promise.all(bridges.map(b => b.close()))
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

  const reload = (): ReloadResult => {
    const result: ReloadResult = { reloaded: [], failed: [] }
    if (config.passwordFile !== undefined || config.aclFile !== undefined) {
      try {
        // both parsed before either is used: MQTT and HTTP switch together or not at all
        const next = buildAuthHooks(config)
        const nextHttp = access?.prepare()
        auth = next
        nextHttp?.commit()
        // read decisions the engine cached per (session, topic) were made under the old rules
        broker.invalidateAuthorization()
        result.reloaded.push('auth')
        logger.info({ users: next.users, aclRules: next.aclRules }, 'reload: password and ACL files loaded')
      } catch (err) {
        result.failed.push({ what: 'auth', error: (err as Error).message })
        logger.error({ err: (err as Error).message }, 'reload: kept the previous password and ACL files')
      }
    }
    if (tlsOptions !== undefined) {
      try {
        const next = readTls()
        for (const s of secureServers) s.setSecureContext(next)
        tlsOptions = next
        result.reloaded.push('tls')
        logger.info({ servers: secureServers.length }, 'reload: TLS certificate and key loaded (new handshakes use them)')
      } catch (err) {
        result.failed.push({ what: 'tls', error: (err as Error).message })
        logger.error({ err: (err as Error).message }, 'reload: kept the previous TLS certificate and key')
      }
    }
    return result
  }
  return { broker, addresses, close, reload }
}
