import t from 'tap'
import { culexMissing, startCulex } from '@culex/test-kit'
import { runScenario } from '../src/index.ts'
import { quick } from './helpers.ts'

// end-to-end smoke run against the real `culex` command of this repo (apps/broker)
const skip = culexMissing()

t.test('culex-bench against culex --store memory', { skip }, async (t) => {
  // queues large enough for the generator's lag window (2000): the default of 1000 would drop, by design
  const culex = await startCulex(t, ['--store', 'memory', '--host', '127.0.0.1', '--sys-interval', '0', '--max-queued-messages', '100000'])
  const p = String(culex.port)
  const fanIn = await runScenario(quick(['fan-in', '--port', p, '--label', 'culex']))
  t.ok((fanIn.delivered ?? 0) > 0, `fan-in 4 -> 1 delivered ${fanIn.delivered}`)
  const qos1 = await runScenario(quick(['fan-out', '--port', p, '--qos', '1', '--subscribers', '5']))
  t.ok((qos1.delivered ?? 0) > 0, `QoS 1 fan-out 1 -> 5 delivered ${qos1.delivered}`)
  const storm = await runScenario(quick(['storm', '--port', p, '--clients', '100', '--pid', String(culex.pid), '--settle', '0.2']))
  t.equal(storm.connect?.clients, 100)
  t.ok(storm.memory !== undefined, 'read the broker RSS')
  const backlog = await runScenario(quick(['backlog', '--port', p, '--messages', '200']))
  t.equal(backlog.delivered, 200, 'persistent session backlog drained')
  t.ok((backlog.publishRate ?? 0) > 0, `the queueing phase is timed too (${Math.round(backlog.publishRate ?? 0)} msg/s)`)
  const shared = await runScenario(quick(['backlog', '--port', p, '--messages', '301', '--publishers', '4']))
  t.same([shared.delivered, shared.params.publishers], [301, 4], 'four publishers share an uneven count; all of it drains')
  const persistent = await runScenario(quick(['fan-in', '--port', p, '--qos', '1', '--persistent']))
  t.equal(persistent.params.persistent, true)
  t.ok((persistent.delivered ?? 0) > 0, `persistent QoS 1 fan-in delivered ${persistent.delivered}`)
  t.equal(persistent.lossPercent, 0, `nothing lost (${persistent.lossPercent} %, ${JSON.stringify(persistent.warnings)})`)
  const retained = await runScenario(quick(['retained', '--port', p, '--messages', '100']))
  t.equal(retained.delivered, 100, 'retained burst complete')
})

t.test('overload against culex with a small queue bound: every acknowledged message delivered', { skip }, async (t) => {
  const culex = await startCulex(t, ['--store', 'memory', '--host', '127.0.0.1', '--sys-interval', '0', '--max-queued-messages', '50'])
  const p = String(culex.port)
  const q1 = await runScenario(quick(['overload', '--port', p, '--messages', '4000']))
  t.same(q1.overload, { acknowledged: 4000, delivered: 4000, lostAfterAck: 0, duplicates: 0 }, 'QoS 1: all acknowledged, all delivered')
  t.equal(q1.lossPercent, 0)
  const q2 = await runScenario(quick(['overload', '--port', p, '--messages', '2001', '--qos', '2', '--persistent']))
  t.same(q2.overload, { acknowledged: 2004, delivered: 2004, lostAfterAck: 0, duplicates: 0 }, 'QoS 2, persistent: rounded up to 4 × 501, no loss, no duplicate')
  t.equal(q2.params.persistent, true)
  await t.rejects(runScenario(quick(['overload', '--port', p, '--qos', '0'])), { code: 'BENCH_ERR_BAD_ARGUMENT' }, 'QoS 0 has nothing to acknowledge')
  await t.rejects(runScenario(quick(['overload', '--port', p, '--size', '4'])), { code: 'BENCH_ERR_BAD_ARGUMENT' }, 'the payload carries 8 bytes of identity')
})
