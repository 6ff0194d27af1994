/**
 * Browser transport: ws:// and wss:// over the global WebSocket. No Node built-ins.
 */
import { ClientError } from './errors.ts'
import type { TransportFactory } from './transport.ts'

/** WebSocket writes report backpressure above this many buffered bytes. */
const WS_HIGH_WATER = 1 << 20

/** The part of the DOM WebSocket this transport uses (the package builds without DOM types). */
interface BrowserWebSocket {
  binaryType: string
  readonly readyState: number
  readonly bufferedAmount: number
  onopen: (() => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onerror: (() => void) | null
  onclose: (() => void) | null
  send: (data: Uint8Array) => void
  close: () => void
}
type BrowserWebSocketCtor = new (url: string, protocol: string) => BrowserWebSocket

/** The URL string to open, with credentials removed (they travel in CONNECT). */
export function wsUrl (url: URL): string {
  const u = new URL(url.href)
  u.username = ''
  u.password = ''
  return u.href
}

/** The browser transport factory (global `WebSocket`). */
export const browserTransport: TransportFactory = (url, opts, h) => {
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ClientError('CLIENT_ERR_INVALID_OPTION', `url: browsers support ws:// and wss:// only, got "${url.protocol}//"`)
  }
  const WS = (globalThis as { WebSocket?: BrowserWebSocketCtor }).WebSocket
  if (WS === undefined) throw new ClientError('CLIENT_ERR_TRANSPORT', 'no global WebSocket in this runtime')
  const ws = new WS(wsUrl(url), opts.wsProtocol)
  ws.binaryType = 'arraybuffer'
  let closed = false
  let failure: Error | undefined
  let drainTimer: ReturnType<typeof setInterval> | undefined
  const stopDrain = (): void => {
    if (drainTimer !== undefined) clearInterval(drainTimer)
    drainTimer = undefined
  }
  ws.onopen = () => h.onOpen()
  ws.onmessage = (ev) => {
    h.onData(Buffer.from(ev.data as ArrayBuffer))
  }
  ws.onerror = () => {
    failure = new ClientError('CLIENT_ERR_TRANSPORT', `${url.protocol}//${url.host}: WebSocket error`)
  }
  ws.onclose = () => {
    stopDrain()
    if (closed) return
    closed = true
    h.onClose(failure)
  }
  return {
    write: (data) => {
      if (ws.readyState !== 1) return true
      ws.send(data)
      if (ws.bufferedAmount < WS_HIGH_WATER) return true
      if (drainTimer === undefined) {
        drainTimer = setInterval(() => {
          if (ws.bufferedAmount < WS_HIGH_WATER) {
            stopDrain()
            h.onDrain()
          }
        }, 10)
      }
      return false
    },
    end: () => { ws.close() },
    destroy: () => { ws.close() }
  }
}
