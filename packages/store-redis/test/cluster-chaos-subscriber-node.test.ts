/**
 * Chaos on a three-node cluster of real `culex --cluster` processes (see chaosCluster in
 * cluster-helpers.ts: publishers on node 1, persistent subscribers on nodes 2 and 3, each
 * client on a fixed node): a subscriber's node (node 2) is SIGKILLed in the middle of QoS 1 and
 * QoS 2 traffic and restarted with the same --node-id; its subscriber reconnects to it. The
 * publishers' node: cluster-chaos-publisher-node.test.ts.
 */
import t from 'tap'
import { culexMissing, redisMissing } from '@culex/test-kit'
import { chaosCluster, noneLost, publishAll, record, until } from './cluster-helpers.ts'

const skip = culexMissing() || redisMissing()

// Published while node 2 is down: node 1 keeps routing to node 2 (a node's routes stay until
// it is adopted), into its inbox; restarted with its id, node 2 reads it for sub-2's offline
// session once its sessions are restored. Entries node 2 had read and delivered (in flight to
// sub-2, stored by persistInflight) just before the kill, but whose read position was not
// saved yet, are read again after the restart and queued: sub-2 gets them resent (DUP) from
// its in-flight state and once more from its queue.
const RESTART_DUP = 'inbox entries delivered just before the kill, position not yet saved, are queued again after the restart: sent twice (in flight and queued)'
// What node 2 had in its inbox, unread or read but not yet stored for sub-2, when it was
// killed is kept: the bus moves its read position only past a batch whose store writes are
// done, and the restarted node reads it once its sessions are restored. None is lost.

t.test('a subscriber\'s node SIGKILLed and restarted: the other subscriber loses nothing; none twice, in order', { skip, timeout: 90_000 }, async (t) => {
  const { cl, subs, pubs, run } = await chaosCluster(t)
  const node = cl.nodes[1]!
  const pid = node.pid
  let before: number[][] = []
  const { got } = await run({
    at: [360],
    chaos: async (_round, acked) => {
      before = acked.map((a) => [...a])
      t.same(await node.stop('SIGKILL'), { code: null, signal: 'SIGKILL' }, 'node 2 killed')
      await node.restart()
    },
    dupTodo: [RESTART_DUP, undefined]
  })
  t.not(node.pid, pid, 'node 2 is a new process')
  t.ok(before[0]!.length > 0 && before[1]!.length > 0, `${before[0]!.length} QoS 1 and ${before[1]!.length} QoS 2 acknowledged before the kill`)
  // acknowledged before the kill: in node 2's inbox, its session's queue or in flight to sub-2
  // once sub-2 is connected to the restarted node again, it gets what is published on node 1
  t.ok(await until(() => subs[0]!.connected, 10_000), 'sub-2 connected to node 2 again')
  const later = [record(subs[0]!, 'chaos/later/1'), record(subs[0]!, 'chaos/later/2')]
  const ackedLater = await publishAll([
    { pub: pubs[0]!, topic: 'chaos/later/1', qos: 1, total: 50 },
    { pub: pubs[1]!, topic: 'chaos/later/2', qos: 2, total: 50 }
  ], 20_000)
  await until(() => later[0]!.length >= 50 && later[1]!.length >= 50, 5000)
  t.same(later, [ackedLater[0], ackedLater[1]], 'sub-2 back on node 2: 50 QoS 1 and 50 QoS 2 published after arrive, once, in order')
  noneLost(t, 'QoS 1 on node 2, acknowledged before the kill', before[0]!, got[0]![0]!)
  noneLost(t, 'QoS 2 on node 2, acknowledged before the kill', before[1]!, got[0]![1]!)
})
