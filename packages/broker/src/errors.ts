/**
 * Errors raised or emitted by `@culex/broker`.
 *
 * Every failure has a stable `BROKER_ERR_*` code (public API: codes are deprecated, never
 * renamed) and, where MQTT 5 defines one, the `reasonCode` the broker answers with in a
 * CONNACK or DISCONNECT. Errors about one client are emitted as `clientError` events; they
 * never crash the broker or affect other clients.
 */
import { defineErrors, registryFrom } from '@culex/errors'

/** Every error code this package can produce, with the MQTT 5 reason code it maps to. */
export const BrokerErrorCodes = {
  /** The first packet on a connection was not CONNECT [MQTT-3.1.0-1]. */
  BROKER_ERR_CONNECT_FIRST: 0x82,
  /** A second CONNECT on one connection [MQTT-3.1.0-2]. */
  BROKER_ERR_SECOND_CONNECT: 0x82,
  /** No CONNECT arrived within `limits.connectTimeout`. */
  BROKER_ERR_CONNECT_TIMEOUT: 0x87,
  /** No packet within 1.5 × keepalive [MQTT-3.1.2-24]. */
  BROKER_ERR_KEEPALIVE_TIMEOUT: 0x8D,
  /** The packet decoder rejected the bytes (malformed, too large, bad UTF-8, ...). */
  BROKER_ERR_MALFORMED_PACKET: 0x81,
  /** A packet that breaks a protocol rule the codec cannot see (bad topic alias, QoS above maximum, ...). */
  BROKER_ERR_PROTOCOL: 0x82,
  /** The client sent more unacknowledged QoS 1/2 PUBLISH than its receive maximum allows. */
  BROKER_ERR_RECEIVE_MAXIMUM: 0x93,
  /** `authenticate` refused the credentials. */
  BROKER_ERR_NOT_AUTHORIZED: 0x87,
  /** `limits.maxConnections` reached. */
  BROKER_ERR_SERVER_BUSY: 0x89,
  /** A PUBLISH topic name is invalid or has more than `limits.maxTopicLevels` levels. */
  BROKER_ERR_TOPIC_INVALID: 0x90,
  /** The client exceeded `limits.publishRatePerSecond`. */
  BROKER_ERR_RATE_LIMIT: 0x96,
  /** The same client id connected again; the older connection is closed [MQTT-3.1.4-3]. */
  BROKER_ERR_SESSION_TAKEN_OVER: 0x8E,
  /** A hook threw or rejected. */
  BROKER_ERR_HOOK: 0x80,
  /** The socket failed or a write failed. */
  BROKER_ERR_SOCKET: undefined,
  /** The store rejected an operation. */
  BROKER_ERR_STORE: 0x80,
  /** The broker (or store) is closed. */
  BROKER_ERR_CLOSED: 0x8B,
  /**
   * A subscriber's queue stayed full beyond `limits.stallTimeout` (its connection is closed),
   * or, under queuePolicy 'reject', a PUBLISH matched a full queue (PUBACK / PUBREC 0x97).
   */
  BROKER_ERR_QUOTA_EXCEEDED: 0x97
} as const satisfies Record<string, number | undefined>

/** A stable `BROKER_ERR_*` code. */
export type BrokerErrorCode = keyof typeof BrokerErrorCodes

/**
 * The one error class of @culex/broker. Check `code`, not the message text. `instanceof`
 * also holds for a `BrokerError` of another installed copy of this package.
 *
 * `new BrokerError(code, message, { reasonCode?, cause? })`: `reasonCode` overrides the code's
 * default from {@link BrokerErrorCodes}; `cause` is kept as `err.cause`.
 *
 * @example
 * ```ts
 * broker.on('clientError', (client, err) => console.log(err.code, err.reasonCode))
 * ```
 */
export class BrokerError extends defineErrors('BrokerError', registryFrom(BrokerErrorCodes)) {}

/**
 * Whether `value` is a {@link BrokerError}, even from another installed copy of this package.
 *
 * @example
 * ```ts
 * if (isBrokerError(err)) console.log(err.code)
 * ```
 */
export function isBrokerError (value: unknown): value is BrokerError {
  return value instanceof BrokerError
}
