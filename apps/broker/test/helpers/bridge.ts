// Shared pieces of the bridge tests (bridge, bridge-durable, bridge-in-process): @culex/client
// connections that reconnect fast and end at the test's teardown, a message collector, and
// a poll until a condition holds.
import { connect, type Client, type Message } from '@culex/client'

export { until } from './plugins.ts'

/** A @culex/client connection (reconnecting within 50-200 ms), ended at `t`'s teardown. */
export async function client (t: { teardown: (fn: () => unknown) => void }, url: string, opts: Parameters<typeof connect>[1] = {}): Promise<Client> {
  const c = await connect(url, { reconnect: { initialDelay: 50, maxDelay: 200, factor: 2, jitter: 0.5 }, ...opts })
  t.teardown(() => c.end({ force: true }).catch(() => {}))
  return c
}

/** Collect the messages of `c` into an array. */
export function collect (c: Client): Message[] {
  const got: Message[] = []
  c.on('message', (m) => got.push(m))
  return got
}
