/**
 * The browser entry (`@culex/client/browser`): `Client` over the global WebSocket,
 * ws:// and wss:// only. Imports no Node built-ins; the bundle carries @culex/packet and a
 * small Buffer implementation (see `browser-buffer.ts`).
 */
import { ClientCore } from './client.ts'
import { browserTransport } from './transport-browser.ts'
import type { ClientOptions } from './types.ts'

/**
 * MQTT client for browsers (WebSocket).
 * @example
 * import { connect } from '/culex-client.js'
 * const client = await connect('ws://localhost:8080')
 */
export class Client extends ClientCore {
  /** @param opts - see {@link ClientOptions}; `url` is required (ws:// or wss://) */
  constructor (opts: ClientOptions) {
    super(opts, browserTransport)
  }
}

/**
 * Creates a browser client and connects it.
 * @param url - ws:// or wss:// URL
 * @param opts - see {@link ClientOptions}
 */
export async function connect (url: string, opts: Omit<ClientOptions, 'url'> = {}): Promise<Client> {
  const client = new Client({ ...opts, url })
  await client.connect()
  return client
}

export { ClientCore, Subscription } from './client.ts'
export { MessageStream } from './message-stream.ts'
export { ClientError, ClientErrorCodes, isClientError } from './errors.ts'
export type { ClientErrorCode } from './errors.ts'
export { matches as matchTopic } from '@culex/trie'
export type {
  ClientOptions, ConnectResult, EndOptions, Granted, Message, Payload, PublishOptions,
  PublishResult, SubscribeOptions, WillOptions
} from './types.ts'
