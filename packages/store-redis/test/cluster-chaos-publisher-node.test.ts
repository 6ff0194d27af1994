/**
 * Chaos on a three-node cluster of real `culex --cluster` processes (see chaosCluster in
 * cluster-helpers.ts: publishers on node 1, persistent subscribers on nodes 2 and 3, each
 * client on a fixed node): the publishers' node is SIGKILLed in the middle of QoS 1 and QoS 2
 * traffic and restarted with the same --node-id; the publishers reconnect to it and resend.
 * A subscriber's node: cluster-chaos-subscriber-node.test.ts.
 */
import t from 'tap'
import { culexMissing, redisMissing } from '@culex/test-kit'
import { chaosCluster } from './cluster-helpers.ts'

const skip = culexMissing() || redisMissing()

t.test('the publishers\' node SIGKILLed and restarted: 0 acknowledged lost, 0 QoS 2 duplicates, in order', { skip, timeout: 90_000 }, async (t) => {
  const { cl, run } = await chaosCluster(t)
  const node = cl.nodes[0]!
  const pid = node.pid
  await run({
    at: [360],
    chaos: async () => {
      t.same(await node.stop('SIGKILL'), { code: null, signal: 'SIGKILL' }, 'node 1 killed')
      await node.restart()
    }
  })
  t.not(node.pid, pid, 'node 1 is a new process')
})
