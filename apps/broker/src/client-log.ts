/**
 * One log line per client event an operator cares about, at the default level: connect,
 * disconnect (with the reason), refused CONNECT and authentication failure, each with the
 * client id, username, remote address, transport and protocol version.
 *
 * Each error is logged once: an error that ends the connection becomes the `reason` of the
 * disconnect line (it is not logged again on its own); one that does not (a refused PUBLISH,
 * a bad topic answered with a reason code) gets its own line.
 */
import type { Broker, BrokerError, Client } from '@culex/broker'
import type { Logger } from 'pino'

const REASONS: Record<number, string> = {
  [-1]: 'connection closed without DISCONNECT',
  0x00: 'normal disconnection',
  0x04: 'disconnect with will message',
  0x8B: 'server shutting down',
  0x8E: 'session taken over',
  0x98: 'administrative action'
}

const PROTOCOL: Record<number, string> = { 3: '3.1', 4: '3.1.1', 5: '5.0' }

function who (c: Client): Record<string, unknown> {
  const info = c.info
  return {
    clientId: c.id === '' ? undefined : c.id,
    username: c.username,
    remote: info.remoteAddress === undefined ? undefined : info.remotePort === undefined ? info.remoteAddress : `${info.remoteAddress.includes(':') ? `[${info.remoteAddress}]` : info.remoteAddress}:${info.remotePort}`,
    transport: info.transport,
    protocol: PROTOCOL[c.protocolVersion]
  }
}

const hex = (n: number | undefined): string | undefined => n === undefined || n < 0 ? undefined : '0x' + n.toString(16).padStart(2, '0')

/** Log `broker`'s client events on `logger`. */
export function logClientEvents (broker: Broker, logger: Logger): void {
  // the error that is about to end a connection, if any (the disconnect event follows at once)
  const pending = new Map<Client, BrokerError>()
  let flushing = false
  const flush = (): void => {
    flushing = false
    for (const [c, err] of pending) {
      logger.info({ ...who(c), code: err.code, reasonCode: hex(err.reasonCode), err: err.message }, 'client error')
    }
    pending.clear()
  }

  broker.on('client', (c) => {
    logger.info(who(c), 'client connected')
  })

  broker.on('clientError', (c, err) => {
    if (!c.connected) {
      if (err.message.includes('CONNECT refused (')) {
        const auth = err.code === 'BROKER_ERR_NOT_AUTHORIZED'
        logger.warn({ ...who(c), code: err.code, reasonCode: hex(err.reasonCode), reason: err.message }, auth ? 'authentication failed' : 'connect refused')
      } else {
        logger.info({ ...who(c), code: err.code, reason: err.message }, 'connection closed before CONNECT completed')
      }
      return
    }
    // an error before the client's last: keep the first, which caused the rest
    if (!pending.has(c)) pending.set(c, err)
    if (!flushing) {
      flushing = true
      setImmediate(flush)
    }
  })

  broker.on('clientDisconnect', (c, reasonCode) => {
    const err = pending.get(c)
    pending.delete(c)
    const reason = err !== undefined ? err.message : REASONS[reasonCode] ?? `reason code ${hex(reasonCode)}`
    logger.info({ ...who(c), reasonCode: hex(reasonCode), ...(err === undefined ? {} : { code: err.code }), reason }, 'client disconnected')
  })
}
