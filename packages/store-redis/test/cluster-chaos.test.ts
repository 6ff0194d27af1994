/**
 * Chaos on a three-node cluster of real `culex --cluster` processes (see chaosCluster in
 * cluster-helpers.ts: publishers on node 1, persistent subscribers on nodes 2 and 3, each
 * client on a fixed node): the Redis connections of every node are killed again and again
 * (CLIENT KILL) while QoS 1 and QoS 2 traffic crosses the nodes. Every acknowledged message
 * arrives at both subscribers, none of the QoS 2 ones twice, each publisher's in order.
 * Node kills: cluster-chaos-publisher-node.test.ts, cluster-chaos-subscriber-node.test.ts.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { culexMissing, redisMissing } from '@culex/test-kit'
import { chaosCluster } from './cluster-helpers.ts'

t.test('QoS 1/2 across three nodes while the Redis connections of every node are killed again and again', { skip: culexMissing() || redisMissing(), timeout: 90_000 }, async (t) => {
  const { cl, run } = await chaosCluster(t)
  const admin = new Redis(cl.store)
  t.teardown(() => { admin.disconnect() })
  let killed = 0
  await run({
    at: [150, 300, 450, 600, 750, 900],
    chaos: async (round) => {
      // the blocking stream readers, the pub/sub connections, then (every other round) every
      // normal connection: the stores' and the bus writers' too. On a loaded machine a node may
      // still be reconnecting from the previous round: wait (bounded) until all three nodes'
      // readers and subscribers are back, so every round kills them all
      let list = ''
      for (const end = Date.now() + 10_000; Date.now() < end;) {
        list = await admin.client('LIST') as string
        const lines = list.split('\n')
        if (lines.filter((l) => l.includes(' cmd=xread')).length >= 3 && lines.filter((l) => /\bflags=\S*P/.test(l)).length >= 3) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      for (const line of list.split('\n')) {
        if (line.includes(' cmd=xread')) killed += Number(await admin.client('KILL', 'ID', /id=(\d+)/.exec(line)![1]!).catch(() => 0))
      }
      killed += Number(await admin.client('KILL', 'TYPE', 'pubsub').catch(() => 0))
      if (round % 2 === 1) killed += Number(await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes').catch(() => 0))
    }
  })
  // per round: 3 readers and 3 pub/sub connections at least, and every other round ≥ 6 more
  t.ok(killed >= 6 * 6 + 3 * 6, `${killed} Redis connections killed`)
})
