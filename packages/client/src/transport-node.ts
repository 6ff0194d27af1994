/**
 * Node transports: mqtt:// (net), mqtts:// (tls), ws:// and wss:// (the `ws` package).
 */
import { connect as netConnect, isIP } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import WebSocket from 'ws'
import { ClientError } from './errors.ts'
import type { Transport, TransportFactory, TransportHandlers, TransportOptions } from './transport.ts'
import { wsUrl } from './transport-browser.ts'

/** WebSocket writes report backpressure above this many buffered bytes. */
const WS_HIGH_WATER = 1 << 20

function socketTransport (url: URL, opts: TransportOptions, h: TransportHandlers, secure: boolean): Transport {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  const port = url.port === '' ? (secure ? 8883 : 1883) : Number(url.port)
  const sock = secure
    ? tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...opts.tls }, () => h.onOpen())
    : netConnect({ host, port }, () => h.onOpen())
  sock.setNoDelay(true)
  let closed = false
  let failure: Error | undefined
  sock.on('data', h.onData)
  sock.on('drain', h.onDrain)
  sock.on('error', (err) => {
    failure = new ClientError('CLIENT_ERR_TRANSPORT', `${url.protocol}//${url.host}: ${err.message}`, { cause: err })
  })
  sock.on('close', () => {
    if (closed) return
    closed = true
    h.onClose(failure)
  })
  return {
    write: (data) => sock.write(data),
    end: () => { sock.end() },
    destroy: () => { sock.destroy() }
  }
}

function wsTransport (url: URL, opts: TransportOptions, h: TransportHandlers): Transport {
  const ws = new WebSocket(wsUrl(url), opts.wsProtocol, { ...opts.tls, ...opts.wsOptions, perMessageDeflate: false })
  let closed = false
  let failure: Error | undefined
  ws.binaryType = 'nodebuffer'
  ws.on('open', () => h.onOpen())
  ws.on('message', (data) => { h.onData(data as Buffer) })
  ws.on('error', (err) => {
    failure = new ClientError('CLIENT_ERR_TRANSPORT', `${url.protocol}//${url.host}: ${err.message}`, { cause: err })
  })
  ws.on('close', () => {
    if (closed) return
    closed = true
    h.onClose(failure)
  })
  const drained = (): void => {
    if (ws.bufferedAmount < WS_HIGH_WATER) h.onDrain()
  }
  return {
    write: (data) => {
      if (ws.readyState !== WebSocket.OPEN) return true
      if (ws.bufferedAmount + data.length < WS_HIGH_WATER) {
        ws.send(data)
        return true
      }
      ws.send(data, drained)
      return false
    },
    end: () => { ws.close() },
    destroy: () => { ws.terminate() }
  }
}

/** The Node transport factory: picks net, tls or ws from the URL scheme. */
export const nodeTransport: TransportFactory = (url, opts, handlers) => {
  switch (url.protocol) {
    case 'mqtt:':
    case 'tcp:':
      return socketTransport(url, opts, handlers, false)
    case 'mqtts:':
    case 'ssl:':
    case 'tls:':
      return socketTransport(url, opts, handlers, true)
    case 'ws:':
    case 'wss:':
      return wsTransport(url, opts, handlers)
    default:
      throw new ClientError('CLIENT_ERR_INVALID_OPTION', `url: expected mqtt://, mqtts://, ws:// or wss://, got "${url.protocol}//"`)
  }
}
