/**
 * `GET /metrics`: the engine's `broker.metrics()` snapshot and the process metrics in the
 * Prometheus text format (prom-client), every name prefixed `culex_`. The table of names is
 * in the README (a test keeps it in step with {@link METRIC_NAMES}).
 *
 * Nothing is counted here on the message path: values are read from the engine once per
 * scrape (one `broker.metrics()` call, one `store.countRetained()`). The store latency
 * histogram is the engine's own (`storeMetrics`, fixed buckets counted without allocation);
 * this module only prints it, for the operations called at least once.
 */
import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client'
import type { Broker, BrokerMetrics } from '@culex/broker'
import type { BridgeStats } from './bridge.ts'

/** Every culex_* metric this module defines (process metrics from prom-client come on top). */
export const METRIC_NAMES = [
  'culex_uptime_seconds',
  'culex_connections_open',
  'culex_clients_connected',
  'culex_clients_maximum',
  'culex_connections_total',
  'culex_sessions',
  'culex_subscriptions',
  'culex_local_subscriptions',
  'culex_retained_messages',
  'culex_packets_received_total',
  'culex_packets_sent_total',
  'culex_bytes_received_total',
  'culex_bytes_sent_total',
  'culex_publish_received_total',
  'culex_publish_received_bytes_total',
  'culex_publish_sent_total',
  'culex_publish_sent_bytes_total',
  'culex_publish_dropped_total',
  'culex_queued_messages',
  'culex_queued_messages_max',
  'culex_inflight_messages',
  'culex_auth_failures_total',
  'culex_store_operation_duration_seconds',
  'culex_connects_refused_total',
  'culex_http_requests_total',
  'culex_bridge_connected',
  'culex_bridge_messages_total',
  'culex_bridge_dropped_total',
  'culex_bridge_pending_messages',
  'culex_bridge_connects_total',
  'culex_bridge_errors_total'
] as const

const QOS = ['0', '1', '2'] as const
const CAUSES = ['backedUp', 'tooLarge', 'queueFull', 'expired', 'retainedLimit', 'offlineQueueFull'] as const
const CAUSE_LABEL: Record<typeof CAUSES[number], string> = {
  backedUp: 'backed_up',
  tooLarge: 'too_large',
  queueFull: 'queue_full',
  expired: 'expired',
  retainedLimit: 'retained_limit',
  offlineQueueFull: 'offline_queue_full'
}

/** The registry of one broker, and the HTTP request counter the listener bumps. */
export interface BrokerRegistry {
  registry: Registry
  httpRequests: Counter<'route' | 'status'>
  /** The text of one scrape (one engine snapshot for every metric in it). */
  scrape: () => Promise<string>
}

/** A counter whose value is read at scrape time from a monotonic source. */
function mirroredCounter<L extends string> (registry: Registry, name: string, help: string, labelNames: readonly L[], read: (set: (labels: Partial<Record<L, string>>, v: number) => void) => void): void {
  // eslint-disable-next-line no-new
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect () {
      this.reset()
      read((labels, v) => { if (v > 0) this.inc(labels, v) })
    }
  })
}

/**
 * `culex_store_operation_duration_seconds{operation}`: a histogram whose buckets the engine
 * already counted (`broker.metrics().storeOperations`), so a prom-client Histogram (which
 * observes values itself) does not fit; this collector prints the counts in its format.
 */
/** A sample as prom-client's registry prints it (its declared types have no string `type`). */
interface Sample { metricName: string, labels: Record<string, string | number>, value: number }
/** The part of a prom-client metric its Registry uses to print one. */
interface CustomMetric { name: string, help: string, type: 'histogram', aggregator: 'sum', get: () => Promise<{ name: string, help: string, type: 'histogram', aggregator: 'sum', values: Sample[] }>, reset: () => void }

function storeHistogram (m: () => BrokerMetrics): CustomMetric {
  const name = 'culex_store_operation_duration_seconds'
  const help = 'Duration of store operations (from the call to its completion), by Store method.'
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset () {},
    async get () {
      const values: Sample[] = []
      const t = m().storeOperations
      if (t !== undefined) {
        for (const [operation, o] of Object.entries(t.operations)) {
          if (o.count === 0) continue
          let acc = 0
          for (let i = 0; i < t.buckets.length; i++) {
            acc += o.counts[i]!
            values.push({ metricName: name + '_bucket', labels: { le: t.buckets[i]!, operation }, value: acc })
          }
          values.push({ metricName: name + '_bucket', labels: { le: '+Inf', operation }, value: o.count })
          values.push({ metricName: name + '_sum', labels: { operation }, value: o.sum })
          values.push({ metricName: name + '_count', labels: { operation }, value: o.count })
        }
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values }
    }
  }
}

/**
 * Build the registry for `broker`.
 *
 * @param opts - `processMetrics` (default true): prom-client's process and Node.js metrics;
 *   `bridges`: the bridges' counters, read per scrape
 */
export function createBrokerRegistry (broker: Broker, opts: { processMetrics?: boolean, bridges?: () => BridgeStats[] } = {}): BrokerRegistry {
  const registry = new Registry()
  if (opts.processMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: 'culex_' })
    // gauges named *_total, which Prometheus' own lint (promtool check metrics) rejects; the
    // per-type gauges without the suffix stay
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric('culex_' + name)
    }
  }
  // one snapshot per scrape, shared by every metric's collect
  let snap: BrokerMetrics | null = null
  const m = (): BrokerMetrics => (snap ??= broker.metrics())
  const gauge = (name: string, help: string, read: () => number): void => {
    // eslint-disable-next-line no-new
    new Gauge({ name, help, registers: [registry], collect () { this.set(read()) } })
  }
  gauge('culex_uptime_seconds', 'Seconds since the broker started.', () => m().uptimeSeconds)
  gauge('culex_connections_open', 'Open MQTT connections, including those not yet past CONNECT.', () => m().connections.open)
  gauge('culex_clients_connected', 'MQTT clients connected (past CONNACK).', () => m().connections.connected)
  gauge('culex_clients_maximum', 'Highest number of clients connected at once since start.', () => m().connections.maximum)
  mirroredCounter(registry, 'culex_connections_total', 'MQTT connections accepted since start.', [], (set) => { set({}, m().connections.total) })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'culex_sessions',
    help: 'Sessions by state: online (client connected) or offline (persistent, client away).',
    labelNames: ['state'],
    registers: [registry],
    collect () {
      const s = m().sessions
      this.set({ state: 'online' }, s.online)
      this.set({ state: 'offline' }, s.offline)
    }
  })
  gauge('culex_subscriptions', 'Subscriptions of MQTT sessions (shared-subscription members included).', () => m().subscriptions)
  gauge('culex_local_subscriptions', 'In-process subscriptions (HTTP streams, console, bridges).', () => m().localSubscriptions)
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'culex_retained_messages',
    help: 'Retained messages in the store.',
    registers: [registry],
    async collect () { this.set(await broker.store.countRetained()) }
  })
  mirroredCounter(registry, 'culex_packets_received_total', 'MQTT packets of any type received.', [], (set) => { set({}, m().packets.received) })
  mirroredCounter(registry, 'culex_packets_sent_total', 'MQTT packets of any type sent.', [], (set) => { set({}, m().packets.sent) })
  mirroredCounter(registry, 'culex_bytes_received_total', 'Bytes received on MQTT connections.', [], (set) => { set({}, m().bytes.received) })
  mirroredCounter(registry, 'culex_bytes_sent_total', 'Bytes sent on MQTT connections.', [], (set) => { set({}, m().bytes.sent) })
  const byQos = (name: string, help: string, pick: (x: BrokerMetrics) => number[]): void => {
    mirroredCounter(registry, name, help, ['qos'], (set) => {
      const v = pick(m())
      for (let q = 0; q < 3; q++) set({ qos: QOS[q]! }, v[q]!)
    })
  }
  byQos('culex_publish_received_total', 'PUBLISH packets received from clients, by QoS.', (x) => x.publish.received)
  byQos('culex_publish_received_bytes_total', 'Payload bytes of PUBLISH packets received from clients, by QoS.', (x) => x.publish.receivedBytes)
  byQos('culex_publish_sent_total', 'PUBLISH packets sent to clients, by QoS.', (x) => x.publish.sent)
  byQos('culex_publish_sent_bytes_total', 'Bytes of PUBLISH packets sent to clients, by QoS.', (x) => x.publish.sentBytes)
  mirroredCounter(registry, 'culex_publish_dropped_total', 'Deliveries and retained messages dropped, by cause.', ['cause'], (set) => {
    const d = m().dropped
    for (const c of CAUSES) set({ cause: CAUSE_LABEL[c] }, d[c])
  })
  gauge('culex_queued_messages', 'QoS 1/2 deliveries waiting in connected clients\' queues.', () => m().queued)
  gauge('culex_queued_messages_max', 'Longest queue of a connected client.', () => m().queuedMax)
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'culex_inflight_messages',
    help: 'QoS 1/2 messages not yet acknowledged: out (sent to clients) or in (received from clients).',
    labelNames: ['direction'],
    registers: [registry],
    collect () {
      const x = m()
      this.set({ direction: 'out' }, x.inflightOut)
      this.set({ direction: 'in' }, x.inflightIn)
    }
  })
  mirroredCounter(registry, 'culex_auth_failures_total', 'CONNECTs refused for bad credentials or not authorized.', [], (set) => { set({}, m().auth.failures) })
  mirroredCounter(registry, 'culex_connects_refused_total', 'CONNECTs refused for any reason.', [], (set) => { set({}, m().auth.connectsRefused) })
  registry.registerMetric(storeHistogram(m) as unknown as Parameters<Registry['registerMetric']>[0])
  const bridges = opts.bridges ?? (() => [])
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'culex_bridge_connected',
    help: 'Bridges: 1 when connected to the remote broker, 0 otherwise.',
    labelNames: ['bridge'],
    registers: [registry],
    collect () {
      this.reset()
      for (const b of bridges()) this.set({ bridge: b.name }, b.connected ? 1 : 0)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'culex_bridge_pending_messages',
    help: 'Bridges: messages taken for the remote and not yet acknowledged by it.',
    labelNames: ['bridge'],
    registers: [registry],
    collect () {
      this.reset()
      for (const b of bridges()) this.set({ bridge: b.name }, b.pending)
    }
  })
  mirroredCounter(registry, 'culex_bridge_messages_total', 'Bridges: messages bridged, by direction (in: remote to local, out: local to remote).', ['bridge', 'direction'], (set) => {
    for (const b of bridges()) { set({ bridge: b.name, direction: 'in' }, b.messagesIn); set({ bridge: b.name, direction: 'out' }, b.messagesOut) }
  })
  mirroredCounter(registry, 'culex_bridge_dropped_total', 'Bridges: messages not bridged (refused by the remote for good, not publishable locally), by direction.', ['bridge', 'direction'], (set) => {
    for (const b of bridges()) { set({ bridge: b.name, direction: 'in' }, b.droppedIn); set({ bridge: b.name, direction: 'out' }, b.droppedOut) }
  })
  mirroredCounter(registry, 'culex_bridge_connects_total', 'Bridges: successful connections to the remote broker.', ['bridge'], (set) => {
    for (const b of bridges()) set({ bridge: b.name }, b.connects)
  })
  mirroredCounter(registry, 'culex_bridge_errors_total', 'Bridges: errors (failed connects, lost connections, refused publishes or subscriptions).', ['bridge'], (set) => {
    for (const b of bridges()) set({ bridge: b.name }, b.errors)
  })
  const httpRequests = new Counter<'route' | 'status'>({
    name: 'culex_http_requests_total',
    help: 'Requests to the operator HTTP(S) listener, by route and status code.',
    labelNames: ['route', 'status'],
    registers: [registry]
  })
  const scrape = async (): Promise<string> => {
    snap = null
    try {
      return await registry.metrics()
    } finally {
      snap = null
    }
  }
  return { registry, httpRequests, scrape }
}
