/**
 * The Node entry: `Client` with the net / tls / ws transports, and `connect()`.
 */
import { ClientCore } from './client.ts'
import { nodeTransport } from './transport-node.ts'
import type { ClientOptions } from './types.ts'

/**
 * MQTT client for Node.js: mqtt://, mqtts://, ws://, wss:// URLs.
 * @example
 * import { Client } from '@culex/client'
 * const client = new Client({ url: 'mqtt://localhost:1883', protocolVersion: 5 })
 * await client.connect()
 * await client.publish('hello', 'world', { qos: 1 })
 * await client.end()
 */
export class Client extends ClientCore {
  /** @param opts - see {@link ClientOptions}; `url` is required */
  constructor (opts: ClientOptions) {
    super(opts, nodeTransport)
  }
}

/**
 * Creates a client and connects it.
 * @param url - mqtt://, mqtts://, ws:// or wss:// URL
 * @param opts - see {@link ClientOptions}
 * @returns the connected client
 * @throws ClientError as `Client.connect()` does
 * @example
 * const client = await connect('mqtt://localhost:1883')
 * const sub = await client.subscribe('mqtt/+')
 * await client.publish('mqtt/demo', 'hello')
 * for await (const msg of sub) { console.log(msg.topic, msg.payload.toString()); break }
 * await client.end()
 */
export async function connect (url: string, opts: Omit<ClientOptions, 'url'> = {}): Promise<Client> {
  const client = new Client({ ...opts, url })
  await client.connect()
  return client
}
