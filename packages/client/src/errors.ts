/**
 * Errors of @culex/client.
 *
 * Every failure has a stable `code` (public API: codes are deprecated, never renamed). When
 * the failure comes from the server (a refused CONNACK, a PUBACK/PUBREC with a failure
 * reason, a DISCONNECT) or maps to an MQTT 5 reason code, the error carries `reasonCode`
 * (an MQTT 5 reason code, also for 3.1.1 connections: CONNACK return codes are mapped).
 */
import { defineErrors, registryFrom } from '@culex/errors'

/** Every error code this client can raise, with a one-line description. */
export const ClientErrorCodes = {
  /** The server refused the connection (CONNACK with a failure reason / return code). */
  CLIENT_ERR_CONNACK_REFUSED: 'the server refused the connection',
  /** No CONNACK arrived within `connectTimeout`. */
  CLIENT_ERR_CONNECT_TIMEOUT: 'no CONNACK within connectTimeout',
  /** No PINGRESP arrived in time: the connection is considered dead. */
  CLIENT_ERR_KEEPALIVE_TIMEOUT: 'no PINGRESP within the keepalive window',
  /** PUBACK, PUBREC or PUBCOMP carried a failure reason code (0x80 and above). */
  CLIENT_ERR_PUBLISH_FAILED: 'the server rejected a PUBLISH',
  /** The server closed the connection with a DISCONNECT packet (MQTT 5). */
  CLIENT_ERR_SERVER_DISCONNECT: 'the server sent DISCONNECT',
  /** The connection was lost and the operation could not complete (reconnect disabled). */
  CLIENT_ERR_CONNECTION_LOST: 'the connection was lost',
  /** The operation was attempted after `end()` or was pending when `end()` ran. */
  CLIENT_ERR_CLIENT_CLOSED: 'the client is closed',
  /** The offline queue is full (`offlineQueueLimit`). */
  CLIENT_ERR_QUEUE_FULL: 'the offline queue is full',
  /** The server broke the protocol (malformed packet, unknown topic alias, unexpected packet). */
  CLIENT_ERR_PROTOCOL: 'protocol error from the server',
  /** A topic name or topic filter is not valid. */
  CLIENT_ERR_INVALID_TOPIC: 'invalid topic name or filter',
  /** An option has a value that is not allowed (URL, QoS, keepalive, ...). */
  CLIENT_ERR_INVALID_OPTION: 'invalid option',
  /** The encoded packet exceeds the server's Maximum Packet Size. */
  CLIENT_ERR_PACKET_TOO_LARGE: 'packet larger than the server accepts',
  /** The requested QoS or retain is above what the server announced it supports. */
  CLIENT_ERR_NOT_SUPPORTED: 'the server does not support this feature',
  /** The transport (socket, TLS, WebSocket) failed. */
  CLIENT_ERR_TRANSPORT: 'transport error',
  /** Enhanced authentication failed (no `onAuth` hook, or the hook threw). */
  CLIENT_ERR_AUTH: 'enhanced authentication failed',
  /** The `handleMessage` option threw or rejected: the message was not acknowledged. */
  CLIENT_ERR_HANDLER_FAILED: 'handleMessage failed; the message was not acknowledged'
} as const

/** One of the codes in {@link ClientErrorCodes}. */
export type ClientErrorCode = keyof typeof ClientErrorCodes

/**
 * The one error class of @culex/client. Check `err.code` (or use {@link isClientError});
 * `instanceof` also holds for a `ClientError` of another installed copy of this package.
 * @example
 * try { await client.publish('a', 'x', { qos: 1 }) } catch (err) {
 *   if (isClientError(err) && err.code === 'CLIENT_ERR_PUBLISH_FAILED') console.log(err.reasonCode)
 * }
 */
export class ClientError extends defineErrors('ClientError', registryFrom(ClientErrorCodes)) {
  /** Reason string sent by the server (MQTT 5), if any. */
  readonly reasonString: string | undefined

  /**
   * @param code - one of {@link ClientErrorCodes}
   * @param message - what was expected, what arrived, and where
   * @param opts - `reasonCode` (MQTT 5, server answers mapped to 5.0 codes), `reasonString`, `cause`
   */
  constructor (code: ClientErrorCode, message: string, opts: { reasonCode?: number | undefined, reasonString?: string | undefined, cause?: unknown } = {}) {
    super(code, message, opts)
    this.reasonString = opts.reasonString
  }
}

/**
 * True when `err` is a {@link ClientError} from any installed copy of this package.
 * @param err - anything caught
 */
export function isClientError (err: unknown): err is ClientError {
  return err instanceof ClientError
}

/** MQTT 3.1.1 CONNACK return codes (1..5) mapped to the MQTT 5 reason codes with the same meaning. */
export const CONNACK_RETURN_CODE_TO_REASON: Readonly<Record<number, number>> = {
  1: 0x84, // unacceptable protocol version → Unsupported Protocol Version
  2: 0x85, // identifier rejected → Client Identifier not valid
  3: 0x88, // server unavailable → Server unavailable
  4: 0x86, // bad user name or password → Bad User Name or Password
  5: 0x87 // not authorized → Not authorized
}

/** Short names of the MQTT 5 reason codes used in error messages. */
export const REASON_NAMES: Readonly<Record<number, string>> = {
  0x04: 'Disconnect with Will Message',
  0x10: 'No matching subscribers',
  0x11: 'No subscription existed',
  0x80: 'Unspecified error',
  0x81: 'Malformed Packet',
  0x82: 'Protocol Error',
  0x83: 'Implementation specific error',
  0x84: 'Unsupported Protocol Version',
  0x85: 'Client Identifier not valid',
  0x86: 'Bad User Name or Password',
  0x87: 'Not authorized',
  0x88: 'Server unavailable',
  0x89: 'Server busy',
  0x8a: 'Banned',
  0x8b: 'Server shutting down',
  0x8c: 'Bad authentication method',
  0x8d: 'Keep Alive timeout',
  0x8e: 'Session taken over',
  0x8f: 'Topic Filter invalid',
  0x90: 'Topic Name invalid',
  0x91: 'Packet Identifier in use',
  0x92: 'Packet Identifier not found',
  0x93: 'Receive Maximum exceeded',
  0x94: 'Topic Alias invalid',
  0x95: 'Packet too large',
  0x96: 'Message rate too high',
  0x97: 'Quota exceeded',
  0x98: 'Administrative action',
  0x99: 'Payload format invalid',
  0x9a: 'Retain not supported',
  0x9b: 'QoS not supported',
  0x9c: 'Use another server',
  0x9d: 'Server moved',
  0x9e: 'Shared Subscriptions not supported',
  0x9f: 'Connection rate exceeded',
  0xa0: 'Maximum connect time',
  0xa1: 'Subscription Identifiers not supported',
  0xa2: 'Wildcard Subscriptions not supported'
}

/** `0x87 (Not authorized)` style label for messages. */
export function reasonLabel (code: number): string {
  const name = REASON_NAMES[code]
  const hex = '0x' + code.toString(16).padStart(2, '0')
  return name === undefined ? hex : `${hex} (${name})`
}
